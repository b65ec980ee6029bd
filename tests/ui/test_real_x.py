"""The app at a real till: for each till set-up (screen size, window manager or none,
full screen or a window), a fresh Xvfb, and the tests of ``tests/ui/desk`` run in a
process of their own whose Qt draws on it through xcb, typed at with real key events.

A process per set-up because Qt picks its platform once per process (this one is
offscreen) and an Xvfb's screen size is fixed when it starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.paths import REPO
from tests.ui.desk.conftest import SCREEN_ENV
from tests.xserver import Screen, XServer, missing_programs

Result = subprocess.CompletedProcess[str]

DESK_TIMEOUT_S = 600  # for one set-up's whole run; it takes one to three minutes
SCREENS = (
    Screen(1024, 768, wm=False, full_screen=True),  # a 15" till, no window manager
    Screen(1920, 1080, wm=True, full_screen=True),  # a wide till under a window manager
)
# A laptop, the app in a window: the fit, and the taps a window frame moves; every desk
# test there too with TILLMESH_ALL_SCREENS=1 (the whole desk is ~100 s a set-up).
WINDOWED = Screen(1366, 768, wm=True, full_screen=False)
WINDOW_TESTS: tuple[str, ...] = (
    "tests/ui/desk/test_screens_fit.py", "tests/ui/desk/test_banner_tap.py",
    "tests/ui/desk/test_change_screen.py", "tests/ui/desk/test_scan_into_pin.py")
# The fit of every screen (only) at other till set-ups: the tightest of each size. With
# TILLMESH_ALL_SCREENS=1, every size with and without a window manager, full screen and
# windowed (13 more X servers, about three minutes: too long for every run).
FIT_ONLY: tuple[Screen, ...] = (
    Screen(1024, 768, wm=True, full_screen=False),  # a 15" screen, a window with a frame
    Screen(1280, 800, wm=False, full_screen=True),
    Screen(1280, 800, wm=True, full_screen=False),
    Screen(1366, 768, wm=False, full_screen=True),
    Screen(1920, 1080, wm=False, full_screen=False),
)
if os.environ.get("TILLMESH_ALL_SCREENS") == "1":
    WINDOW_TESTS = ("tests/ui/desk",)
    FIT_ONLY = tuple(
        Screen(w, h, wm=wm, full_screen=full)
        for w, h in ((1024, 768), (1280, 800), (1366, 768), (1920, 1080))
        for wm in (False, True) for full in (True, False)
        if Screen(w, h, wm=wm, full_screen=full) not in (*SCREENS, WINDOWED))


# Each set-up is an X server and a process of its own, sharing nothing: they run two at
# a time (the machine's cores), started together by the first test; each test checks its own.
SET_UPS = ((*((s, ("tests/ui/desk",)) for s in SCREENS), (WINDOWED, WINDOW_TESTS),
            *((s, ("tests/ui/desk/test_screens_fit.py",)) for s in FIT_ONLY)))


@pytest.fixture(scope="module")
def desk_runs(tmp_path_factory) -> Iterator[dict[Screen, Future[Result]]]:
    assert not missing_programs(), (f"{', '.join(missing_programs())} missing: ./dev.sh "
                                    "installs xvfb, openbox, xdotool and x11-utils")
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = {screen: pool.submit(_desk, screen, tmp_path_factory.mktemp(screen.name), tests)
                for screen, tests in SET_UPS}
        yield runs
        for run in runs.values():  # a test that failed early leaves nothing running
            run.cancel()


@pytest.mark.slow
@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: s.name)
def test_the_app_at_a_real_till(screen: Screen, desk_runs) -> None:
    _passed(desk_runs[screen].result())


@pytest.mark.slow
def test_the_app_in_a_window(desk_runs) -> None:
    _passed(desk_runs[WINDOWED].result())


@pytest.mark.slow
@pytest.mark.parametrize("screen", FIT_ONLY, ids=lambda s: s.name)
def test_every_screen_fits_at_every_till_size(screen: Screen, desk_runs) -> None:
    _passed(desk_runs[screen].result())


def _desk(screen: Screen, tmp_path: Path, tests: tuple[str, ...]) -> Result:
    with XServer(screen, tmp_path) as x:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider",
             *tests],
            env={**x.env, SCREEN_ENV: screen.name}, cwd=REPO, capture_output=True,
            text=True, timeout=DESK_TIMEOUT_S, check=False)


def _passed(result: Result) -> None:
    said = result.stdout[-8000:] + result.stderr[-2000:]
    assert result.returncode == 0, said
    assert re.search(r"\d+ passed", result.stdout) and "skipped" not in result.stdout, said
