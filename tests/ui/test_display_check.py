"""``tillmesh ui --check``: what a fresh Debian lacks to draw the app, named as packages,
and a real start of Qt on a real X server."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.proc import TILLMESH
from tests.xserver import Screen, XServer, missing_programs
from tillmesh.ui.display_check import check, debian_package, missing_libraries, platform_for

# What `ldd libqxcb.so` printed on a fresh Debian 12 with only PySide6 from PyPI.
FRESH_DEBIAN_LDD = """\
\tlinux-vdso.so.1 (0x00007ffd6b7f2000)
\tlibQt6XcbQpa.so.6 => /opt/venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f0c)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-cursor.so.0 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0c6a)
"""


def test_every_missing_library_is_named_once_in_order() -> None:
    assert missing_libraries(FRESH_DEBIAN_LDD) == (
        "libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1",
        "libxkbcommon-x11.so.0")
    assert missing_libraries("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == ()


@pytest.mark.parametrize(("soname", "package"), [
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libEGL.so.1", "libegl1"),
    ("libdbus-1.so.3", "libdbus-1-3"),
    ("libglib-2.0.so.0", "libglib2.0-0"),  # seen on a fresh minimal Debian 12 (try-install)
    ("libgthread-2.0.so.0", "libglib2.0-0"),
    ("libwayland-cursor.so.0", "libwayland-cursor0"),
])
def test_a_missing_library_is_named_as_the_debian_package_that_ships_it(
        soname: str, package: str) -> None:
    assert debian_package(soname) == package


def test_the_platform_is_the_one_the_app_will_use() -> None:
    assert platform_for({"DISPLAY": ":0"}) == "xcb"
    assert platform_for({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}) == "wayland"
    assert platform_for({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "w"}) == "xcb"


def test_without_a_display_only_the_libraries_are_checked() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = check("xcb", env)
    assert result.started is None
    assert result.ok, result.report()  # ./dev.sh installs every library xcb needs
    assert "no display to try" in result.report()


def test_an_unknown_platform_is_refused_clearly() -> None:
    result = check("directfb", {})
    assert not result.ok
    assert "unknown platform" in result.report()


@pytest.mark.slow
def test_the_app_starts_on_a_real_x_server(tmp_path) -> None:
    assert not missing_programs()
    with XServer(Screen(1024, 768, wm=False, full_screen=True), tmp_path) as x:
        result = check(None, x.env)
        assert result.ok and result.started, result.report()
        said = subprocess.run([str(TILLMESH), "ui", "--check"], env=x.env, text=True,
                              capture_output=True, timeout=60, check=False)
    assert said.returncode == 0, said.stderr
    assert "can run here on xcb" in said.stdout


def test_a_machine_without_ldd_gets_an_answer_not_a_traceback(monkeypatch) -> None:
    """`ui --check` on a system without glibc's ldd (or one that hangs) says so."""
    monkeypatch.setenv("PATH", "/nonexistent")
    found = check("xcb", {"DISPLAY": ":99"})
    assert not found.ok and found.problem.startswith("cannot run ldd on libqxcb")
