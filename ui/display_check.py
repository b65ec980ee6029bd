"""``tillmesh ui --check``: can the app draw on this counter's display?

Qt loads its platform plugin (xcb for X11, wayland) only when the app starts, and on a
fresh Debian it aborts there naming one missing library at a time (libxcb-cursor0, then
libxcb-icccm4, then libxcb-keysyms1...). This asks the dynamic linker for every library
the plugin needs at once and names the Debian packages that hold them; with a display it
then starts Qt on that platform in a child process (a failing plugin aborts its process).

The parsing is pure; ``ldd`` and the child process are the thin shell around it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PLATFORMS = ("xcb", "wayland")
LDD_TIMEOUT_S = 20.0  # ldd walks a few dozen libraries: well under a second
START_TIMEOUT_S = 30.0  # the child imports PySide6 and opens one connection to the display
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")
_SONAME = re.compile(r"^(lib[\w+.-]*?)\.so\.(\d+)")
_START = ("from PySide6.QtWidgets import QApplication; app = QApplication([]); "
          "print(app.platformName())")


@dataclass(frozen=True)
class DisplayCheck:
    platform: str
    missing: tuple[str, ...]  # sonames the plugin needs that the linker cannot find
    started: bool | None  # Qt started on the display; None: no display to try
    problem: str  # what Qt said when it did not start

    @property
    def ok(self) -> bool:
        return not self.missing and self.started is not False

    def report(self) -> str:
        if self.missing:
            packages = " ".join(sorted({debian_package(s) for s in self.missing}))
            return (f"The app cannot draw on {self.platform}: missing "
                    f"{', '.join(self.missing)}. Install them with: apt-get install "
                    f"{packages}")
        if self.started is False:
            return f"Qt did not start on {self.platform}: {self.problem}"
        if self.started is None:
            return (f"The libraries for {self.platform} are all here; no display to try "
                    "(set DISPLAY or WAYLAND_DISPLAY to start the app on one)")
        return f"The app can run here on {self.platform}"


def missing_libraries(ldd_output: str) -> tuple[str, ...]:
    """The sonames ``ldd`` reports as not found, each once, in the order given."""
    found = (m.group(1) for line in ldd_output.splitlines() if (m := _NOT_FOUND.match(line)))
    return tuple(dict.fromkeys(found))


# Libraries whose package the naming policy does not give (an API version in the name).
_PACKAGE_OF = {f"lib{name}-2.0.so.0": "libglib2.0-0"
               for name in ("glib", "gthread", "gobject", "gio", "gmodule")}


def debian_package(soname: str) -> str:
    """The Debian package that ships ``soname``, by Debian's library naming policy:
    libxcb-cursor.so.0 → libxcb-cursor0, libxkbcommon-x11.so.0 → libxkbcommon-x11-0."""
    if soname in _PACKAGE_OF:
        return _PACKAGE_OF[soname]
    match = _SONAME.match(soname)
    if match is None:
        return soname
    name, major = match.group(1).lower(), match.group(2)
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def platform_for(environ: dict[str, str]) -> str:
    """The platform the app will use: QT_QPA_PLATFORM if set, else wayland on a Wayland
    session, else xcb."""
    chosen = environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if chosen:
        return chosen
    return "wayland" if environ.get("WAYLAND_DISPLAY") else "xcb"


def has_display(platform: str, environ: dict[str, str]) -> bool:
    return bool(environ.get("WAYLAND_DISPLAY" if platform == "wayland" else "DISPLAY"))


def plugin_path(platform: str) -> Path:
    import PySide6  # only the path: no Qt library is loaded

    return Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / f"libq{platform}.so"


def check(platform: str | None = None, environ: dict[str, str] | None = None) -> DisplayCheck:
    env = dict(os.environ if environ is None else environ)
    platform = platform or platform_for(env)
    if platform not in PLATFORMS:
        return DisplayCheck(platform, (), None if platform == "offscreen" else False,
                            f"unknown platform (this checks {', '.join(PLATFORMS)})")
    plugin = plugin_path(platform)
    if not plugin.exists():
        return DisplayCheck(platform, (), False, f"PySide6 has no plugin {plugin}")
    try:
        ldd = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True,
                             timeout=LDD_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:  # no ldd (not glibc), or it hung
        return DisplayCheck(platform, (), False, f"cannot run ldd on {plugin.name}: {exc}")
    missing = missing_libraries(ldd.stdout)
    if missing or not has_display(platform, env):
        return DisplayCheck(platform, missing, None, "")
    try:
        child = subprocess.run([sys.executable, "-c", _START], capture_output=True,
                               text=True, timeout=START_TIMEOUT_S, check=False,
                               env={**env, "QT_QPA_PLATFORM": platform})
    except subprocess.TimeoutExpired:
        return DisplayCheck(platform, (), False, f"Qt did not start on the display within "
                                                 f"{START_TIMEOUT_S:.0f} s")
    said = (child.stderr.strip().splitlines() or ["(nothing)"])
    return DisplayCheck(platform, (), child.returncode == 0, said[-1])
