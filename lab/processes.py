"""``tillmesh`` commands and ``tillmesh run`` processes of demo counters, on this machine.

Loopback only: replication on 127.0.0.1 with kernel-chosen ports, no mDNS. A counter's
output goes to ``run.log`` beside its data dir, which the caller names in any error.
"""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

from tillmesh.node.api.client import Client
from tillmesh.node.errors import NodeUnavailable
from tillmesh.node.ops.config import load

START_DEADLINE_S = 30.0  # seconds for `tillmesh run` to answer (a loaded 2-core machine)
PING_TIMEOUT_S = 0.25  # seconds per readiness ping
STOP_TIMEOUT_S = 10.0  # seconds between SIGTERM and SIGKILL
LOOPBACK = ("--listen", "tcp://127.0.0.1:0", "--join-listen", "tcp://127.0.0.1:0",
            "--advertise", "127.0.0.1", "--no-mdns")  # one counter: nobody dials it


_PORTS_GIVEN: set[tuple[int, int]] = set()  # (socket kind, port) handed out by this process
_FIXED_PORTS_FROM = 10000  # the kernel never hands out a port below its ephemeral range


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nothing uses now and that the kernel will not give away.

    A port the kernel picked for ``bind(0)`` lies in its ephemeral range, so between the
    choice and the counter's own bind an outgoing connection of any process may take it
    as its local port (CI saw "Address already in use" so). Ports below that range are
    only ever taken by name; each is given out once per process, picked at random so
    that concurrent test processes rarely meet, and checked free by binding it.
    """
    first_ephemeral = _ephemeral_range_start()
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(_FIXED_PORTS_FROM, first_ephemeral)
        if (kind, port) in _PORTS_GIVEN:
            continue
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_GIVEN.add((kind, port))
        return port
    raise RuntimeError(f"no free port between {_FIXED_PORTS_FROM} and {first_ephemeral}")


def _ephemeral_range_start() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    return max(low, _FIXED_PORTS_FROM + 1000)


def network(*extra: str) -> tuple[str, ...]:
    """Loopback replication settings with fixed ports: the other counters dial the port
    a counter's enrolment names, which must stay the same across its restarts."""
    return ("--listen", f"tcp://127.0.0.1:{free_port()}",
            "--join-listen", f"tcp://127.0.0.1:{free_port()}", "--advertise", "127.0.0.1",
            "--no-mdns", *extra)


def tillmesh(*args: str) -> list[str]:
    """The command line of ``tillmesh ARGS`` with this Python."""
    return [sys.executable, "-m", "tillmesh.node.ops.cli", *args]


class CounterProcess:
    """``tillmesh run`` on ``data_dir``: ``start`` returns once its local API answers.
    ``prefix`` runs it inside something, e.g. ``ip netns exec HOST`` (a test's host)."""

    def __init__(self, data_dir: Path, prefix: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.prefix = prefix
        self.log = data_dir.parent / f"{data_dir.name}-run.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return load(self.data_dir).api_endpoint

    def start(self) -> None:
        with open(self.log, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([*self.prefix, *tillmesh("--data-dir", str(self.data_dir),
                                                                  "run")],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + START_DEADLINE_S
        with Client(self.endpoint, timeout=PING_TIMEOUT_S) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the counter in {self.data_dir} exited; see {self.log}")
                with contextlib.suppress(NodeUnavailable):
                    client.call("methods")
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the counter in {self.data_dir} did not answer in "
                                       f"{START_DEADLINE_S} s; see {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
