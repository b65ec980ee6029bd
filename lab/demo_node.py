"""A throw-away demo node for the screenshots and the UI benchmark, and a Qt wait helper.

:class:`DemoNode` runs ``tillmesh init --demo`` into a fresh short path under /tmp (IPC
socket paths are limited to ~107 bytes), optionally lets the caller add data while the
node is stopped, then ``tillmesh run``; on exit it stops the node and removes the dir.
Loopback only: replication on 127.0.0.1 with kernel-chosen ports, no mDNS.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QEventLoop, QTimer

from tillmesh.lab.processes import LOOPBACK, CounterProcess, tillmesh

ADMIN_PIN = "1234"  # the demo admin's PIN (README: admin / 1234)
INIT_TIMEOUT_S = 120.0  # seconds for `tillmesh init --demo` (hashes three PINs)
WAIT_TICK_MS = 5  # ms between checks of a wait_until predicate; events run as they come


class DemoNode:
    def __init__(self, prepare: Callable[[Path], None] | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tmui", dir="/tmp"))
        self.data_dir = self.root / "d"
        self._prepare = prepare
        self.counter = CounterProcess(self.data_dir)
        self.endpoint = ""

    def __enter__(self) -> DemoNode:
        try:
            subprocess.run(tillmesh("--data-dir", str(self.data_dir), "init", "--demo",
                                    *LOOPBACK), input=f"{ADMIN_PIN}\n".encode(),
                           check=True, capture_output=True, timeout=INIT_TIMEOUT_S)
            if self._prepare is not None:
                self._prepare(self.data_dir)
            self.endpoint = self.counter.endpoint
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def start(self) -> None:
        """``tillmesh run``; returns once the local API answers."""
        self.counter.start()

    def close(self) -> None:
        self.counter.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def pump(ms: int = WAIT_TICK_MS) -> None:
    """Run the Qt event loop for ``ms``: posted events (layouts, answers) get processed.
    It sleeps between events, never spinning a core."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Process Qt events until ``predicate()`` holds; TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting after {timeout_s} s")
        pump()
