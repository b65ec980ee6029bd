"""A throw-away demo node for the screenshots and the UI benchmark, and a Qt wait helper.

:class:`DemoNode` runs ``tillmesh init --demo`` into a fresh short path under /tmp (IPC
socket paths are limited to ~107 bytes), optionally lets the caller add data while the
node is stopped, then ``tillmesh run``; on exit it stops the node and removes the dir.
Loopback only: replication on 127.0.0.1 with kernel-chosen ports, no mDNS.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QEventLoop, QTimer

from tillmesh.node.api.client import Client
from tillmesh.node.errors import NodeUnavailable
from tillmesh.node.ops.config import load

ADMIN_PIN = "1234"  # the demo admin's PIN (README: admin / 1234)
START_DEADLINE_S = 30.0  # seconds for `tillmesh run` to answer (a loaded 2-core machine)
PING_TIMEOUT_S = 0.25  # seconds per readiness ping
STOP_TIMEOUT_S = 10.0  # seconds between SIGTERM and SIGKILL
INIT_TIMEOUT_S = 120.0  # seconds for `tillmesh init --demo` (hashes three PINs)
WAIT_TICK_MS = 5  # ms between checks of a wait_until predicate; events run as they come
LOOPBACK = ("--listen", "tcp://127.0.0.1:0", "--join-listen", "tcp://127.0.0.1:0",
            "--advertise", "127.0.0.1", "--no-mdns")


def _tillmesh(*args: str) -> list[str]:
    return [sys.executable, "-m", "tillmesh.node.ops.cli", *args]


class DemoNode:
    def __init__(self, prepare: Callable[[Path], None] | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tmui", dir="/tmp"))
        self.data_dir = self.root / "d"
        self._prepare = prepare
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    def __enter__(self) -> DemoNode:
        try:
            subprocess.run(_tillmesh("--data-dir", str(self.data_dir), "init", "--demo",
                                     *LOOPBACK), input=f"{ADMIN_PIN}\n".encode(),
                           check=True, capture_output=True, timeout=INIT_TIMEOUT_S)
            if self._prepare is not None:
                self._prepare(self.data_dir)
            self.endpoint = load(self.data_dir).api_endpoint
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def start(self) -> None:
        """``tillmesh run``; returns once the local API answers."""
        log = open(self.root / "run.log", "ab")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen(_tillmesh("--data-dir", str(self.data_dir), "run"),
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + START_DEADLINE_S
        with Client(self.endpoint, timeout=PING_TIMEOUT_S) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the demo node exited; see {self.root / 'run.log'}")
                with contextlib.suppress(NodeUnavailable):
                    client.call("methods")
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the demo node did not answer in {START_DEADLINE_S} s")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
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
