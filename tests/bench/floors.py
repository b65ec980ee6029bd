"""The physical floor under the counter's figures, measured in the same run.

Machines of one kind differ by 2x and more, so a figure alone says little; the same figure
as a multiple of what the machine can do at all says how much work the counter adds. Three
floors, each the median of many tries:

* ``commit``: a durable single-row SQLite commit (WAL, ``synchronous=FULL``) in a plain
  SQLite file on the filesystem the stores use: the least a durable sale can cost.
* ``ipc``: a ZeroMQ round trip over an ``ipc://`` socket to another process that echoes:
  the least a call through the local API can cost.
* ``codec``: msgpack encode and decode of a real sale's body: the least replaying or
  relaying one sale event can cost.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import zmq

TRIES = 500


@dataclass(frozen=True)
class Floors:
    commit_ms: float
    ipc_ms: float
    codec_ms: float

    def header(self) -> str:
        return (f"floors: durable SQLite commit {self.commit_ms:.3f} ms, ZeroMQ IPC round "
                f"trip {self.ipc_ms:.3f} ms, msgpack encode+decode of a sale "
                f"{self.codec_ms * 1000:.1f} us")


def _median_ms(fn: Callable[[], object], tries: int) -> float:
    samples = []
    for _ in range(tries):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def commit_floor(directory: Path, tries: int = TRIES) -> float:
    conn = sqlite3.connect(directory / "floor.sqlite", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
        row = b"x" * 200

        def one() -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (body) VALUES (?)", (row,))
            conn.execute("COMMIT")
        return _median_ms(one, tries)
    finally:
        conn.close()


def _echo(endpoint: str) -> None:
    sock: Any = zmq.Context.instance().socket(zmq.ROUTER)
    sock.bind(endpoint)
    while True:
        frames = sock.recv_multipart()
        sock.send_multipart(frames)
        if frames[-1] == b"stop":
            return


def ipc_floor(directory: Path, tries: int = TRIES) -> float:
    endpoint = f"ipc://{directory}/floor.sock"
    child = multiprocessing.get_context("spawn").Process(target=_echo, args=(endpoint,))
    child.start()
    sock: Any = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        request = b"r" * 300  # about a cart_scan call

        def one() -> None:
            sock.send(request)
            sock.recv()
        for _ in range(50):  # the first tries pay for the connection
            one()
        return _median_ms(one, tries)
    finally:
        sock.send(b"stop")
        sock.recv()
        sock.close()
        child.join(10)


def codec_floor(sale_body: dict[str, Any], tries: int = TRIES * 4) -> float:
    return _median_ms(lambda: msgpack.unpackb(msgpack.packb(sale_body)), tries)


def measure(sale_body: dict[str, Any]) -> Floors:
    directory = Path(tempfile.mkdtemp(prefix="tmfloor", dir="/tmp"))  # where stores live
    return Floors(commit_floor(directory), ipc_floor(directory), codec_floor(sale_body))
