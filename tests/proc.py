"""Real node processes for tests: ``tillmesh init`` and ``tillmesh run`` as subprocesses.

    with Nodes() as nodes:                      # or the ``nodes`` fixtures of the tests
        data_dir = nodes.init()                 # a demo counter C01, admin PIN 1234
                                                # (demo=False: a real one, ADMIN_PIN)
        node = nodes.start(data_dir)            # returns once the local API answers
        with node.client() as client: ...
        node.kill()                             # SIGKILL, like a power cut
        node = nodes.start(data_dir)            # the same store again

Everything a :class:`Nodes` started is stopped (SIGTERM, then SIGKILL) and every data dir
it made is removed when it closes, also when the test failed. Data dirs are short paths
under /tmp (``/tmp/tmXXXXXXXX``): the local API is an IPC socket in the data dir, and a
socket path is limited to about 107 bytes, which pytest's ``tmp_path`` can exceed.
Each ``tillmesh run`` writes its stdout and stderr to ``run-<n>.out`` / ``run-<n>.err``
in its data dir; a node that does not come up fails the test with that stderr.

Also here: ``tillmesh(...)`` runs one CLI command, ``ok`` / ``one_clear_line`` check its
outcome, ``demo_barcodes`` and ``sell_one`` sell from the demo catalog.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tillmesh.lab.demo_data import demo_master_docs
from tillmesh.lab.processes import free_port as free_port  # the tests import them from here
from tillmesh.lab.processes import network as network
from tillmesh.node.api.client import Client
from tillmesh.node.errors import NodeUnavailable
from tillmesh.node.ops.config import load

TILLMESH = Path(sys.executable).parent / "tillmesh"
# Replication of a test node: loopback only, ports the kernel picks, no mDNS at all.
LOOPBACK = ("--listen", "tcp://127.0.0.1:0", "--join-listen", "tcp://127.0.0.1:0",
            "--advertise", "127.0.0.1", "--no-mdns")
START_DEADLINE_S = 15.0  # seconds for `tillmesh run` to answer; ~1 s is usual (imports, open)
PING_TIMEOUT_S = 0.25  # seconds per readiness ping; a live local node answers in ms
STOP_TIMEOUT_S = 10.0  # seconds between SIGTERM and SIGKILL
COMMAND_TIMEOUT_S = 60.0  # seconds for one CLI command (init hashes three PINs)
DEMO_ADMIN_PIN = "1234"  # the demo store's admin (README)
ADMIN_PIN = "246810"  # the first admin of a real (non-demo) test store: 6 digits, as asked
CLIENT_TIMEOUT_S = 5.0  # seconds a test client waits for an answer


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 for an isolated mDNS (never the real 5353)."""
    return free_port(socket.SOCK_DGRAM)


class NodeFailed(AssertionError):
    """The node did not start or stop as expected (an AssertionError, so pytest shows it)."""


def short_tmp() -> Path:
    """A fresh empty directory with a short path (IPC socket paths are limited)."""
    return Path(tempfile.mkdtemp(prefix="tm", dir="/tmp"))


def tillmesh(data_dir: Path, *args: str, timeout: float = COMMAND_TIMEOUT_S, stdin: str = "",
             ) -> subprocess.CompletedProcess[str]:
    """Run ``tillmesh --data-dir DATA_DIR ARGS…`` to completion; output captured as text.
    ``stdin`` is its standard input (a PIN goes there, never into ``args``)."""
    return subprocess.run(
        [str(TILLMESH), "--data-dir", str(data_dir), *args], input=stdin,
        capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no output)"


class NodeProcess:
    """One running ``tillmesh run``; made by :meth:`Nodes.start`."""

    def __init__(self, data_dir: Path, number: int, logs: Path | None = None) -> None:
        self.data_dir = data_dir
        self.endpoint = load(data_dir).api_endpoint
        self.out_path = (logs or data_dir) / f"run-{number}.out"
        self.err_path = (logs or data_dir) / f"run-{number}.err"
        self._out: IO[bytes] = open(self.out_path, "wb")  # noqa: SIM115 (closed in wait)
        self._err: IO[bytes] = open(self.err_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(TILLMESH), "--data-dir", str(data_dir), "run"],
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        return _tail(self.err_path)

    def wait_ready(self, deadline_s: float = START_DEADLINE_S) -> None:
        """Return once the local API answers ``methods``; raise NodeFailed otherwise."""
        deadline = time.monotonic() + deadline_s
        with Client(self.endpoint, timeout=PING_TIMEOUT_S) as client:
            while True:
                if not self.running:
                    self._close_files()
                    raise NodeFailed(
                        f"`tillmesh run` in {self.data_dir} exited with {self.proc.returncode} "
                        f"before answering; its stderr:\n{self.stderr()}")
                try:
                    client.call("methods")
                    return
                except NodeUnavailable:
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    raise NodeFailed(
                        f"`tillmesh run` in {self.data_dir} did not answer within {deadline_s} s;"
                        f" its stderr:\n{self.stderr()}")

    def client(self, timeout: float = CLIENT_TIMEOUT_S) -> Client:
        return Client(self.endpoint, timeout=timeout)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; returns the exit code."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.wait()

    def kill(self) -> int:
        """SIGKILL: the process gets no chance to clean up (a power cut, for the store)."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
        return self.wait()

    def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:
        code = self.proc.wait(timeout)
        self._close_files()
        return code

    def _close_files(self) -> None:
        self._out.close()
        self._err.close()


class Nodes:
    """Starts nodes and makes data dirs for one test (or module); cleans up on close."""

    def __init__(self) -> None:
        self.processes: list[NodeProcess] = []
        self.dirs: list[Path] = []
        self._runs = 0

    def tmp(self) -> Path:
        path = short_tmp()
        self.dirs.append(path)
        return path

    def init(self, *extra: str, node: str = "C01", pin: str | None = None, demo: bool = True,
             data_dir: Path | None = None) -> Path:
        """``tillmesh init`` into a new data dir (default: the demo counter), the admin's
        PIN on standard input; returns the data dir."""
        data_dir = data_dir or self.tmp() / "d"
        args = ["init", "--node", node, *(["--demo"] if demo else []), *LOOPBACK, *extra]
        pin = pin or (DEMO_ADMIN_PIN if demo else ADMIN_PIN)
        result = tillmesh(data_dir, *args, stdin=f"{pin}\n")
        if result.returncode != 0:
            raise NodeFailed(f"tillmesh init failed ({result.returncode}): {result.stderr}")
        return data_dir

    def copy(self, data_dir: Path) -> Path:
        """An independent copy of a stopped node's data dir (modes kept): saves an init."""
        target = self.tmp() / "d"
        shutil.copytree(data_dir, target, symlinks=True)
        target.chmod(data_dir.stat().st_mode & 0o777)
        return target

    def spawn(self, data_dir: Path, logs: Path | None = None) -> NodeProcess:
        """``tillmesh run`` without waiting for it (for tests of refusals); its output in
        ``logs`` (a folder), or in the data dir."""
        self._runs += 1
        node = NodeProcess(data_dir, self._runs, logs)
        self.processes.append(node)
        return node

    def start(self, data_dir: Path, deadline_s: float = START_DEADLINE_S,
              logs: Path | None = None) -> NodeProcess:
        """``tillmesh run`` on ``data_dir``; returns once its local API answers."""
        node = self.spawn(data_dir, logs)
        node.wait_ready(deadline_s)
        return node

    def close(self) -> None:
        for node in self.processes:
            with contextlib.suppress(Exception):
                node.stop()
            with contextlib.suppress(Exception):
                node.kill()
        self.processes.clear()
        for path in self.dirs:
            shutil.rmtree(path, ignore_errors=True)
        self.dirs.clear()

    def __enter__(self) -> Nodes:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a command that must succeed; fails the test with its stderr."""
    assert result.returncode == 0, (
        f"{' '.join(map(str, result.args[3:]))} exited {result.returncode}: {result.stderr}")
    return result.stdout


def one_clear_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Assert a clean failure: exit 1, nothing on stdout, one ``tillmesh: …`` line on stderr."""
    err = result.stderr
    assert "Traceback" not in err, err
    assert result.returncode == 1, (result.returncode, err)
    assert result.stdout == "", result.stdout
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tillmesh: "), err
    for needle in needles:
        assert needle in err, (needle, err)
    return lines[0]


def demo_barcodes(count: int) -> list[str]:
    """EAN-13 codes of enabled demo items sold per piece (read from the demo data)."""
    priced = {doc["item_code"] for doctype, doc in demo_master_docs()
              if doctype == "Item Price" and doc["uom"] == "Nos"}
    codes = [row["barcode"]
             for doctype, doc in demo_master_docs()
             if doctype == "Item" and not doc["disabled"] and doc["item_code"] in priced
             for row in doc["barcodes"]
             if len(row["barcode"]) == 13 and row.get("uom") == "Nos"]
    assert len(codes) >= count, "the demo data has too few barcoded items"
    return codes[:count]


def starts_and_sells(nodes: Nodes, data_dir: Path) -> NodeProcess:
    """Start the counter in ``data_dir``, open a shift, sell one item, stop it."""
    node = nodes.start(data_dir)
    with node.client() as client:
        client.login("cashier", "1111")
        client.shift_open({"Cash": "100.00"})
        assert sell_one(client, demo_barcodes(1)[0])["invoice"].startswith("C01-")
    node.stop()
    return node


def sell_one(client: Client, barcode: str) -> dict[str, Any]:
    """One cash sale of one scanned item, paid exactly; returns ``sale_submit``'s answer."""
    cart = client.cart_new()["cart_id"]
    due = client.cart_scan(cart, barcode)["due"]
    sale: dict[str, Any] = client.sale_submit(cart, [{"mode_of_payment": "Cash", "amount": due}])
    return sale


def with_printer(data_dir: Path, **settings: object) -> None:
    """Add a [printer] table to a stopped node's tillmesh.toml."""
    lines = [f"{k} = {v!r}".replace("'", '"') for k, v in settings.items()]
    with open(data_dir / "tillmesh.toml", "a") as toml:
        toml.write("\n[printer]\n" + "\n".join(lines) + "\n")
