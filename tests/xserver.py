"""A real X server for the app's tests: Xvfb at a till's resolution, with or without a
window manager (openbox), and xdotool to type, press keys and touch as a scanner, a
keyboard and a finger do (XTEST: the events arrive as a real device's would, not as Qt
events posted into the app).

Debian packages: xvfb, openbox, xdotool, x11-utils (``./dev.sh`` installs them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

START_DEADLINE_S = 20.0  # Xvfb and openbox start in well under a second; a loaded box more
POLL_S = 0.05  # between looks at whether the window manager is up
OPENBOX_STARTS = 3
STOP_TIMEOUT_S = 5.0
PROGRAMS = ("Xvfb", "openbox", "xdotool", "xprop")


@dataclass(frozen=True)
class Screen:
    """One till set-up: the screen's size, a window manager or none, and whether the app
    runs full screen (a till) or in a window."""

    width: int
    height: int
    wm: bool
    full_screen: bool

    @property
    def name(self) -> str:
        return (f"{self.width}x{self.height}-{'openbox' if self.wm else 'no-wm'}-"
                f"{'full' if self.full_screen else 'window'}")

    @classmethod
    def parse(cls, name: str) -> Screen:
        size, wm, mode = name.split("-", 2)
        width, height = (int(n) for n in size.split("x"))
        return cls(width, height, wm == "openbox", mode == "full")


def missing_programs() -> list[str]:
    return [p for p in PROGRAMS if shutil.which(p) is None]


class XServer:
    """``with XServer(screen) as x:`` a fresh Xvfb (and openbox when ``screen.wm``);
    ``x.env`` is the environment a client needs to open windows on it."""

    def __init__(self, screen: Screen, log_dir: Path) -> None:
        self.screen = screen
        self.log_dir = log_dir
        self.display = ""
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY",)}
        env.update(DISPLAY=self.display, QT_QPA_PLATFORM="xcb")
        return env

    def __enter__(self) -> XServer:
        try:
            self._start_xvfb()
            if self.screen.wm:
                self._start_openbox()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _log(self, name: str) -> int:
        return os.open(self.log_dir / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)

    def _start_xvfb(self) -> None:
        # -displayfd: Xvfb picks a free display and writes its number once it accepts clients
        read, write = os.pipe()
        log = self._log("xvfb")
        try:
            self._procs.append(subprocess.Popen(
                ["Xvfb", "-displayfd", str(write), "-nolisten", "tcp", "-screen", "0",
                 f"{self.screen.width}x{self.screen.height}x24"],
                pass_fds=(write,), stdout=log, stderr=log, stdin=subprocess.DEVNULL))
        finally:
            os.close(write)
            os.close(log)
        with os.fdopen(read) as ready:
            number = ready.readline().strip()
        if not number:
            raise RuntimeError(f"Xvfb did not start: {self._tail('xvfb')}")
        self.display = f":{number}"

    def _start_openbox(self) -> None:
        # A loaded machine once had openbox fail to open a display Xvfb had just announced
        # (it exits at once): start it again rather than wait out the deadline for nothing.
        deadline = time.monotonic() + START_DEADLINE_S
        for _ in range(OPENBOX_STARTS):
            log = self._log("openbox")
            try:
                openbox = subprocess.Popen(["openbox", "--sm-disable"], env=self.env,
                                           stdout=log, stderr=log, stdin=subprocess.DEVNULL)
            finally:
                os.close(log)
            self._procs.append(openbox)
            while openbox.poll() is None and time.monotonic() < deadline:
                if self._wm_running():
                    return
                time.sleep(POLL_S)  # nothing to wait on but the root window's property
            if openbox.poll() is None:
                break
        raise RuntimeError(f"openbox did not start: {self._tail('openbox')}")

    def _wm_running(self) -> bool:
        """An EWMH window manager announces itself on the root window."""
        out = subprocess.run(["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=self.env,
                             capture_output=True, text=True, check=False).stdout
        return "window id" in out

    def _tail(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")[-2000:]

    def close(self) -> None:
        for proc in reversed(self._procs):
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()
