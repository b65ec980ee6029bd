"""A new counter's snapshot: the inviting counter's events and projections, checked and copied."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.nodekit import FakeClock, Till, approver, dump, make_node, sync
from tillmesh.node.errors import StoreError, ValidationError
from tillmesh.node.store import create_key_file, open_engine, read_key_file, snapshot
from tillmesh.node.store._engine import _connect
from tillmesh.node.store.event_log import EventLog


def _store(tmp: Path, node_id: str) -> tuple[EventLog, Path, bytes]:
    tmp.mkdir()
    key = create_key_file(tmp / "key")
    return EventLog(open_engine(tmp / "db", key), node_id), tmp / "db", key


@pytest.fixture(scope="module")
def inviter(tmp_path_factory: pytest.TempPathFactory):
    """Two counters that sold, returned and closed across each other; C01 exports."""
    tmp = tmp_path_factory.mktemp("snap")
    n1, n2 = make_node(tmp / "c1", "C01", FakeClock()), make_node(tmp / "c2", "C02", FakeClock())
    ann, bob = Till(n1, "ann"), Till(n2, "bob")
    ann("shift_open", opening={"Cash": "100"})
    bob("shift_open", opening={"Cash": "50"})
    sale = ann.sell("4000000000044", "4000000000082")
    bob.sell("4000000000044")
    ann("create_customer", customer_name="Erika")
    sync(n2.log, n1.log)
    ann("return_create", invoice=sale["invoice"], approver=approver("sup"),
        lines=[{"row": f"{sale['invoice']}-1", "qty": "1"}])
    Till(n1, "sup")("shift_close", shift_id=bob("shift_current")["shift"],
                    counted={"Cash": "60", "Card": "0"})
    name, ticket = snapshot.new_ticket("C09", tmp / "snapshots")
    size = snapshot.export(n1.config.db_path, read_key_file(n1.config.key_path), ticket)
    assert size == ticket.path.stat().st_size > 0
    assert ticket.path.stat().st_mode & 0o077 == 0
    return n1, ticket


def test_an_installed_snapshot_equals_the_inviting_counter(inviter, tmp_path: Path):
    n1, ticket = inviter
    log, db, key = _store(tmp_path / "new", "C09")
    installed = snapshot.install(db, key, ticket.path, ticket.key)
    log.reload()
    assert installed == snapshot.Installed(sum(n1.log.vector().values()), tables=True)
    assert log.vector() == n1.log.vector()
    assert list(log.events()) == list(n1.log.events())
    expected = dump(n1.log)
    assert dump(log) == expected
    log.rebuild()  # the copied tables are what the copied events give
    assert dump(log) == expected
    with log.transaction() as tx:  # and the new counter records on top of them
        event = tx.append("audit.test", {"user": None})
    assert event.seq == 1 and event.hlc > max(e.hlc for e in n1.log.events())


def test_a_store_that_holds_events_refuses_a_snapshot(inviter, tmp_path: Path):
    _, ticket = inviter
    log, db, key = _store(tmp_path / "new", "C09")
    with log.transaction() as tx:
        tx.append("audit.test", {"user": None})
    with pytest.raises(ValidationError, match="already holds events"):
        snapshot.install(db, key, ticket.path, ticket.key)


def _tampered(ticket: snapshot.Ticket, tmp: Path, sql: str) -> Path:
    copy = tmp / "tampered.db"
    copy.write_bytes(ticket.path.read_bytes())
    conn = _connect(copy, ticket.key)
    conn.execute(sql)
    conn.close()
    return copy


def test_a_broken_chain_is_refused_and_nothing_is_written(inviter, tmp_path: Path):
    _, ticket = inviter
    bad = _tampered(ticket, tmp_path, "UPDATE events SET body = x'80' WHERE seq = 3")
    log, db, key = _store(tmp_path / "new", "C09")
    with pytest.raises(ValidationError, match="do not chain"):
        snapshot.install(db, key, bad, ticket.key)
    log.reload()
    assert log.vector() == {} and all(rows == [] for rows in dump(log).values())


def test_a_table_of_another_release_is_refused(inviter, tmp_path: Path):
    _, ticket = inviter
    bad = _tampered(ticket, tmp_path, "ALTER TABLE sales ADD COLUMN future TEXT")
    _, db, key = _store(tmp_path / "new", "C09")
    with pytest.raises(ValidationError, match="another shape"):
        snapshot.install(db, key, bad, ticket.key)


@pytest.mark.parametrize("sql", [
    "UPDATE projection_shape SET shape = 'an older release''s formats'",
    "DROP TABLE IF EXISTS projection_shape",  # an exporter that said nothing: older
])
def test_tables_of_another_format_are_refused(inviter, tmp_path: Path, sql: str):
    """Same columns, but rows another release wrote otherwise (sale summaries without VAT
    per rate, say): the new counter pulls the events and builds its own."""
    _, ticket = inviter
    bad = _tampered(ticket, tmp_path, sql)
    _, db, key = _store(tmp_path / "new", "C09")
    with pytest.raises(ValidationError, match="another format"):
        snapshot.install(db, key, bad, ticket.key)


def test_a_wrong_key_is_refused(inviter, tmp_path: Path):
    _, ticket = inviter
    _, db, key = _store(tmp_path / "new", "C09")
    with pytest.raises(StoreError, match="snapshot: file is not a database"):
        snapshot.install(db, key, ticket.path, b"\x00" * 32)
