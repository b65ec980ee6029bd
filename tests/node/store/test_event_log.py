"""The event log: durable appends, per-origin hash chains, idempotent receive."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from tillmesh.node.errors import StoreError, ValidationError, WrongKeyError
from tillmesh.node.store import EventRow, Meta, create_key_file, open_engine, read_key_file
from tillmesh.node.store.event_codec import data
from tillmesh.node.store.event_log import EventLog
from tillmesh.replication.const import MAX_EVENT_BODY_BYTES


@pytest.fixture
def store(tmp_path):
    key = create_key_file(tmp_path / "key")
    return tmp_path, open_engine(tmp_path / "db", key)


def test_appends_number_each_origin_without_gaps_and_chain(store):
    _, engine = store
    log = EventLog(engine, "C01")
    with log.transaction() as tx:
        a = tx.append("x.test", {"n": 1})
        b = tx.append("x.test", {"n": 2})
    assert (a.seq, b.seq) == (1, 2)
    assert b.prev_hash == a.hash and b.verify(a.hash)
    assert b.hlc > a.hlc
    assert log.vector() == {"C01": 2}


def test_many_appends_at_once_chain_and_skip_only_what_peers_would_refuse(store):
    _, engine = store
    log = EventLog(engine, "C01")
    huge = {"n": "x" * MAX_EVENT_BODY_BYTES}  # over the bound an event may travel with
    with log.transaction() as tx:
        made = tx.append_many([("x.test", {"n": 1}), ("x.test", huge), ("x.test", {"n": 3})])
        with pytest.raises(ValidationError, match="^cannot record x.test: event body "):
            tx.append("x.test", huge)
        last = tx.append("x.test", {"n": 4})
    first, refused, third = made
    assert isinstance(refused, ValidationError) and "event body" in refused.message
    assert [first.seq, third.seq, last.seq] == [1, 2, 3]
    assert third.verify(first.hash) and last.verify(third.hash)
    assert [data(e) for e in log.events()] == [{"n": 1}, {"n": 3}, {"n": 4}]
    assert log.vector() == {"C01": 3}


def test_a_failed_transaction_records_nothing_and_does_not_burn_a_seq(store):
    _, engine = store
    log = EventLog(engine, "C01")
    with pytest.raises(RuntimeError), log.transaction() as tx:
        tx.append("x.test", {"n": 1})
        raise RuntimeError("cashier's card declined")
    with log.transaction() as tx:
        ev = tx.append("x.test", {"n": 2})
    assert ev.seq == 1
    assert [data(e) for e in log.events()] == [{"n": 2}]


def test_receive_is_idempotent_and_refuses_gaps_and_tampering(store, tmp_path):
    _, engine = store
    other = EventLog(open_engine(tmp_path / "db2", create_key_file(tmp_path / "key2")), "C02")
    with other.transaction() as tx:
        evs = [tx.append("x.test", {"n": i}) for i in range(3)]
    log = EventLog(engine, "C01")
    with log.transaction() as tx:
        assert tx.receive(evs[0]) is True
        assert tx.receive(evs[0]) is False  # duplicate delivery
    with pytest.raises(StoreError, match="gap"), log.transaction() as tx:
        tx.receive(evs[2])
    forged = replace(evs[1], body=evs[1].body.replace(b"\x01", b"\x07"))
    with pytest.raises(StoreError, match="chain"), log.transaction() as tx:
        tx.receive(forged)
    assert log.vector() == {"C02": 1}
    with log.transaction() as tx:
        assert tx.receive(evs[1]) and tx.receive(evs[2])
    assert log.vector() == {"C02": 3}


def test_reopening_continues_the_chain(store):
    tmp, engine = store
    log = EventLog(engine, "C01")
    with log.transaction() as tx:
        first = tx.append("x.test", {})
    engine.dispose()
    log2 = EventLog(open_engine(tmp / "db", read_key_file(tmp / "key")), "C01")
    with log2.transaction() as tx:
        second = tx.append("x.test", {})
    assert second.seq == 2 and second.prev_hash == first.hash and second.hlc > first.hlc


def test_wrong_key_and_garbage_file_are_clear_errors(store, tmp_path):
    tmp, engine = store
    EventLog(engine, "C01")
    engine.dispose()
    with pytest.raises(WrongKeyError, match="wrong database key"):
        open_engine(tmp / "db", b"\x01" * 32)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(WrongKeyError):
        open_engine(junk, read_key_file(tmp / "key"))


def test_key_file_is_private_and_never_overwritten(tmp_path):
    create_key_file(tmp_path / "k")
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    with pytest.raises(StoreError, match="already exists"):
        create_key_file(tmp_path / "k")
    (tmp_path / "k").chmod(0o644)
    with pytest.raises(StoreError, match="readable by others"):
        read_key_file(tmp_path / "k")


def test_a_batch_commits_once_and_a_failing_part_costs_only_itself(store, tmp_path):
    _, engine = store
    other = EventLog(open_engine(tmp_path / "db2", create_key_file(tmp_path / "key2")), "C02")
    with other.transaction() as tx:
        evs = [tx.append("x.test", {"n": i}) for i in range(3)]
    log = EventLog(engine, "C01")
    announced: list[str] = []
    log.listeners.append(lambda events: announced.extend(e.id for e in events))
    with log.batch():
        with log.transaction() as tx:
            tx.receive(evs[0])
        with pytest.raises(StoreError), log.transaction() as tx:
            tx.receive(evs[1])
            tx.receive(replace(evs[2], body=b"\x80"))  # tampered: this part rolls back
        assert log.vector() == {"C02": 1}
        with log.reading() as s:  # reads share the batch's one connection
            assert s.scalar(select(func.count()).select_from(EventRow)) == 1
        assert announced == []  # nothing is announced before the batch commits
        with log.transaction() as tx:
            tx.append("x.test", {"n": "own"})
    assert log.vector() == {"C02": 1, "C01": 1}
    assert announced == [evs[0].id, "C01:1"]
    assert [e.id for e in log.events()] == [evs[0].id, "C01:1"]


def test_what_the_orm_wrote_in_a_failing_part_of_a_batch_is_undone_with_it(store):
    """Replication applies peers' events part by part in one batch; a part that fails
    after the ORM wrote (a snapshot's check records its outcome so) leaves nothing, and
    the parts before and after it keep theirs."""
    _, engine = store
    log = EventLog(engine, "C01")

    def held(s) -> dict[str, str]:
        keys = ("kept", "gone", "after")
        return {m.key: m.value for m in s.scalars(select(Meta).where(Meta.key.in_(keys)))}

    written = []  # held on to: the ORM keeps only the objects someone holds
    with log.batch():
        with log.transaction() as tx:
            tx.session.merge(Meta(key="kept", value="1"))
        with pytest.raises(RuntimeError), log.transaction() as tx:
            tx.append("x.test", {"n": 1})
            written += [tx.session.merge(Meta(key="kept", value="2")),
                        tx.session.merge(Meta(key="gone", value="1"))]
            tx.session.flush()
            raise RuntimeError("this part fails")
        with log.transaction() as tx:
            assert held(tx.session) == {"kept": "1"}
            tx.session.merge(Meta(key="after", value="1"))
            tx.session.merge(Meta(key="kept", value="3"))
    with log.reading() as s:
        assert held(s) == {"kept": "3", "after": "1"}
    assert log.vector() == {}


def test_a_part_of_a_batch_that_fills_the_disk_leaves_nothing_of_the_batch(store, tmp_path):
    """On a full disk SQLite rolls the whole transaction back by itself, not only the part
    that failed: what replication applies after it in the same batch (it retries event
    by event) must not be written on its own, outside any transaction."""
    _, engine = store
    other = EventLog(open_engine(tmp_path / "db2", create_key_file(tmp_path / "key2")), "C02")
    with other.transaction() as tx:
        small = tx.append("x.test", {"n": 1})
    third = EventLog(open_engine(tmp_path / "db3", create_key_file(tmp_path / "key3")), "C03")
    with third.transaction() as tx:
        big = tx.append("x.test", {"blob": "ab" * 60_000})
    log = EventLog(engine, "C01")
    with engine.connect() as conn:  # room for a few pages more: the big event does not fit
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
        conn.exec_driver_sql(f"PRAGMA max_page_count = {pages + 12}")
    refused = []
    with pytest.raises(StoreError, match="rolled back by an earlier error"), log.batch():
        with log.transaction() as tx:
            tx.receive(small)
        for part in ({"big": big}, {"own": None}):  # the second as a retry would come
            try:
                with log.transaction() as tx:
                    if "big" in part:
                        tx.receive(big)
                    else:
                        tx.append("x.test", {"n": "own"})
            except StoreError as exc:
                refused.append(exc.message)
    assert refused[0].endswith("database or disk is full")
    assert "rolled back by an earlier error" in refused[1]
    assert log.vector() == {}
    with log.reading() as s:
        assert s.scalar(select(func.count()).select_from(EventRow)) == 0
    with engine.connect() as conn:  # IT makes room: the same events go in
        conn.exec_driver_sql("PRAGMA max_page_count = 1073741823")
    with log.batch():
        for event in (small, big):
            with log.transaction() as tx:
                tx.receive(event)
    assert log.vector() == {"C02": 1, "C03": 1}


def test_a_long_read_goes_on_while_the_counter_sells_on_the_same_connection(tmp_path):
    # A snapshot sent in chunks or chains checked a batch at a time read on while sales
    # and their reads end; the driver's rollback() used to cut such a read off.
    from tests.nodekit import Till, make_node

    node = make_node(tmp_path)
    till = Till(node, "ann")
    till("shift_open", opening={"Cash": "0"})
    for _ in range(3):
        till.sell("4000000000044")
    with node.log.engine.connect() as c:
        conn = c.connection.dbapi_connection  # the node's one connection
    before = sum(node.log.vector().values())
    rows = conn.execute("SELECT origin, seq FROM events ORDER BY origin, seq")
    first = rows.fetchmany(5)
    till.sell("4000000000082")  # reads and a write begin and end meanwhile
    assert len(first) + len(rows.fetchall()) >= before


def test_a_write_while_another_process_holds_the_store_fails_clearly_and_records_nothing(
        store):
    tmp, engine = store
    log = EventLog(engine, "C01")
    with engine.connect() as conn:  # not the 5 s a CLI waits
        conn.exec_driver_sql("PRAGMA busy_timeout = 50")
    other = open_engine(tmp / "db", read_key_file(tmp / "key"))  # as `tillmesh` CLI would
    with other.connect() as conn:
        holder = conn.connection.driver_connection
        holder.execute("BEGIN IMMEDIATE")
        with (pytest.raises(StoreError, match="could not record: database is locked"),
              log.transaction() as tx):
            tx.append("x.test", {})
        holder.execute("ROLLBACK")
    assert log.vector() == {}
    with log.transaction() as tx:  # once the other lets go
        tx.append("x.test", {})
    assert log.vector() == {"C01": 1}
    other.dispose()


def test_what_the_orm_writes_in_a_transaction_commits_or_rolls_back_with_its_events(store):
    # A transaction is begun on the driver; the ORM, used inside, joins it (it does not
    # begin one of its own, or commit apart).
    _, engine = store
    log = EventLog(engine, "C01")
    with pytest.raises(RuntimeError), log.transaction() as tx:
        tx.append("x.test", {"n": 1})
        tx.session.merge(Meta(key="x.note", value="lost"))
        tx.session.flush()
        raise RuntimeError("the till lost power")
    with log.transaction() as tx:
        tx.session.merge(Meta(key="x.note", value="kept"))  # written before the event
        tx.append("x.test", {"n": 2})
    with log.reading() as s:
        assert s.get(Meta, "x.note").value == "kept"  # the ORM reads in the same way
        assert [data(e) for e in log.events(s)] == [{"n": 2}]
    with log.transaction() as tx:  # the reading ended: a write begins
        tx.append("x.test", {"n": 3})
    assert log.vector() == {"C01": 2}


def test_a_read_inside_an_open_read_or_write_reads_in_that_one(store):
    # The node has one connection to its store: a second transaction on it cannot begin,
    # so a read opened inside another (a helper reading for its caller) joins it.
    _, engine = store
    log = EventLog(engine, "C01")
    with log.transaction() as tx:
        tx.append("x.test", {"n": 1})
        with log.reading() as s:  # sees the write not committed yet
            assert s.scalar(select(func.count()).select_from(EventRow)) == 1
    with log.reading() as outer:
        assert outer.scalar(select(func.count()).select_from(EventRow)) == 1
        with log.reading() as inner:
            assert [data(e) for e in log.events(inner)] == [{"n": 1}]
        assert outer.scalar(select(func.count()).select_from(EventRow)) == 1  # still open
    with log.transaction() as tx:  # and everything ended: a write begins
        tx.append("x.test", {"n": 2})
        # a write inside it is refused, and what it wrote so far stays to be committed
        with pytest.raises(StoreError, match="cannot begin inside"), log.transaction():
            pass
        with log.reading(), pytest.raises(StoreError, match="cannot begin inside"), \
                log.transaction():
            pass
    assert log.vector() == {"C01": 2} and [data(e) for e in log.events()][-1] == {"n": 2}


def test_a_group_commit_does_not_wait_behind_the_loops_shared_threads(store):
    """The forwarder's requests to ERPNext and the local API's big requests run in
    threads; a sale waits for its fsync, which has a thread of its own. Here the loop's
    shared threads are all held, as a slow ERPNext would hold them."""
    tmp, engine = store
    log = EventLog(engine, "C01")
    log.enable_group_commit(tmp / "db")
    held = threading.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(1))
        holding = loop.run_in_executor(None, held.wait)
        with log.transaction() as tx:
            tx.append("x.test", {"n": 1})
        try:
            await asyncio.wait_for(log.flush(), 5)
        finally:
            held.set()
            await holding

    asyncio.run(main())
    assert log.committed == 1
