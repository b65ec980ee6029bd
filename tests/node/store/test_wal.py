"""The WAL is copied into the store by a thread of its own, not by the commit that writes.

A commit that copied 1,000 pages of WAL held the node's event loop 5-80 ms (``wal``). The
database file's size shows who copied: the writer keeps it where it was, the thread
grows it with the pages the events took.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlcipher3

from tillmesh.node.errors import DiskFull
from tillmesh.node.store import create_key_file, open_engine, read_key_file
from tillmesh.node.store import wal as wal_module
from tillmesh.node.store.event_log import EventLog
from tillmesh.node.store.wal import WalCheckpoints

EVENTS = 120
BODY_BYTES = 40_000  # 120 of them: ~1,200 pages of WAL, past SQLite's own 1,000
COPIED = EVENTS * BODY_BYTES  # bytes the database file holds once they are copied in
DEADLINE_S = 20.0


def _store(tmp_path: Path) -> tuple[Path, EventLog]:
    db = tmp_path / "db"
    return db, EventLog(open_engine(db, create_key_file(tmp_path / "key")), "C01")


def _write(log: EventLog, count: int = EVENTS) -> None:
    for n in range(count):  # a transaction each, as a counter commits its sales
        with log.transaction() as tx:
            tx.append("x.test", {"n": n, "blob": os.urandom(BODY_BYTES)})


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_the_thread_copies_what_was_written_and_the_store_reads_whole(tmp_path: Path) -> None:
    db, log = _store(tmp_path)
    checkpoints = WalCheckpoints(log.engine, every_s=0.01)
    checkpoints.start()
    try:
        _write(log)
        _until(lambda: db.stat().st_size > COPIED, "the WAL was never copied in")
        assert checkpoints.copied >= 1 and checkpoints.failure is None
    finally:
        checkpoints.close()
    log.engine.dispose()
    again = EventLog(open_engine(db, read_key_file(tmp_path / "key")), "C01")
    assert again.vector() == {"C01": EVENTS}


def test_the_writer_leaves_the_copying_to_the_thread_until_it_is_closed(
        tmp_path: Path) -> None:
    db, log = _store(tmp_path)
    before = db.stat().st_size
    checkpoints = WalCheckpoints(log.engine, every_s=3600)  # started, never looks
    checkpoints.start()
    _write(log)
    assert db.stat().st_size == before  # 1,200 pages: SQLite's writer would have copied
    checkpoints.close()
    _write(log, 1)  # the writer checkpoints again, as SQLite does
    assert db.stat().st_size > COPIED


@pytest.mark.parametrize("error", [sqlcipher3.DatabaseError("unable to open database file"),
                                   DiskFull("unable to open database file")])
def test_a_thread_that_cannot_open_the_store_says_so_once_and_the_writer_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        error: Exception) -> None:
    def refused(path: Path, key: bytes) -> None:
        raise error

    monkeypatch.setattr(wal_module, "_connect", refused)
    db, log = _store(tmp_path)
    checkpoints = WalCheckpoints(log.engine, every_s=0.01)
    with caplog.at_level(logging.WARNING, logger=wal_module.__name__):
        checkpoints.start()
        _until(lambda: checkpoints.failure is not None, "the failure was never noted")
    checkpoints.close()
    assert [r.getMessage() for r in caplog.records] == [
        f"could not copy the WAL into {db}: unable to open database file (the writer does"
        " it itself past 10000 pages)"]
    _write(log, 3)
    assert log.vector() == {"C01": 3}
