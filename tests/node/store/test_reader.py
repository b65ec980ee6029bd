"""Long reads on a connection and a thread of their own: they see what was committed,
and neither wait for the counter's write under way nor make it wait."""

from __future__ import annotations

import asyncio
import threading

from tillmesh.node.store import create_key_file, open_engine
from tillmesh.node.store.event_log import EventLog
from tillmesh.node.store.raw import raw
from tillmesh.node.store.reader import Reader


def _events(session) -> tuple[int, str]:
    return raw(session).one("SELECT count(*) FROM events")[0], threading.current_thread().name


def test_a_read_sees_what_was_committed_while_a_write_is_under_way(tmp_path):
    log = EventLog(open_engine(tmp_path / "db", create_key_file(tmp_path / "key")), "C01")
    with log.transaction() as tx:
        tx.append("x.test", {"n": 1})
    reader = Reader(log.engine, "test-reader")
    try:
        with log.transaction() as tx:  # holds the store's write lock until it commits
            tx.append("x.test", {"n": 2})
            during = asyncio.run(reader.read(_events))
            tx.append("x.test", {"n": 3})  # and the write goes on after the read
        after = asyncio.run(reader.read(_events))
    finally:
        reader.close()
    assert during[0] == 1 and during[1].startswith("test-reader")  # not this thread
    assert after[0] == 3
    assert not [t for t in threading.enumerate() if t.name.startswith("test-reader")]
