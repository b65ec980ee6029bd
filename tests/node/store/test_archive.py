"""Issue 14, points 1 and 2: a store's old events leave for the archive once ERPNext holds
them, and the store goes on exactly as before: the same tables, every event still found
(by a return against an archived invoice, by a peer asking for an old range), ``rebuild``
from the checkpoint equal to a replay of everything, and a changed archive or checkpoint
refused."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from nacl.pwhash import argon2id

from tests.node.erpnext.test_forwarder import MILK, SOAP, drain, forwarder, sell_day
from tests.nodekit import FakeClock, Till, approver, make_node
from tillmesh.lab.demo_data import POS_PROFILE, WAREHOUSE, demo_master_docs
from tillmesh.lab.erpnext_simulator import Simulator
from tillmesh.node import projections
from tillmesh.node.domain import retention
from tillmesh.node.erpnext import ErpNextClient, setup
from tillmesh.node.erpnext._forwarder import consolidated_shifts
from tillmesh.node.erpnext._pull import Direct, pull
from tillmesh.node.errors import StoreError
from tillmesh.node.membership.keys import read_keypair_file
from tillmesh.node.membership.trust import adopt_snapshot, announce_key
from tillmesh.node.ops import archiving as archive_ops
from tillmesh.node.ops import daemon, provisioning
from tillmesh.node.ops.backup import backup, restore
from tillmesh.node.ops.cli import main
from tillmesh.node.ops.config import CONFIG_NAME, load
from tillmesh.node.projections import deliveries, ledger, outbox, stock
from tillmesh.node.projections.deliveries import INVOICE, Delivery
from tillmesh.node.projections.master_data import upserted_body
from tillmesh.node.store import (
    archive,
    checkpoint,
    create_key_file,
    open_engine,
    read_key_file,
    snapshot,
    snapshot_check,
)
from tillmesh.node.store._engine import _connect, connect_store
from tillmesh.node.store.archive import KEPT
from tillmesh.node.store.event_log import EventLog
from tillmesh.node.store.raw import raw
from tillmesh.node.store.tables import digests
from tillmesh.replication.signing import Signer
from tillmesh.replication.stores import EventLogStore

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # keeps 2025 and 2026 live


def _tables(node) -> dict[str, str]:
    return _digests_of(node.config.db_path, _key(node))


def _key(node) -> bytes:
    from tillmesh.node.store import read_key_file

    return read_key_file(node.config.key_path)


def _every_sale(node) -> list[tuple]:
    return _every_sale_in(node.config.db_path, _key(node))


def _every_sale_in(db: Path, key: bytes) -> list[tuple]:
    """The ledger's sales, live and archived, as a report of an old shift reads them."""
    conn = connect_store(db, key)
    try:
        return conn.execute("SELECT * FROM every_sale ORDER BY invoice").fetchall()
    finally:
        conn.close()


def _invoices(s, table: str, column: str = "name") -> set[str]:
    return {str(name) for (name,) in raw(s).run(f"SELECT {column} FROM {table}")}


def _pages(node) -> tuple[int, int]:
    """The store's pages, and how many of them are free."""
    conn = connect_store(node.config.db_path, _key(node))
    try:
        pages, free = (int(conn.execute(f"PRAGMA main.{p}").fetchone()[0])
                       for p in ("page_count", "freelist_count"))
        return pages, free
    finally:
        conn.close()


def _count(node, table: str) -> int:
    conn = connect_store(node.config.db_path, _key(node))
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


COMPACTED = ("sales", "outbox", "stock_deltas", "deliveries",  # rows leave for the archive,
             "delivered_for_good")  # or for good; and the ranges that stand for them


def _but_compacted(tables: dict[str, str]) -> dict[str, str]:
    return {name: digest for name, digest in tables.items() if name not in COMPACTED}


def _live(node) -> list[tuple[str, int, str]]:
    return _live_in(node.config.db_path, _key(node))


def _live_in(db, key) -> list[tuple[str, int, str]]:
    conn = connect_store(db, key)
    try:
        return [(o, s, k) for o, s, k in conn.execute(
            "SELECT origin, seq, kind FROM main.events ORDER BY origin, seq")]
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path):
    """A counter that sold in 2024 (two shifts, a return) and in 2026 (one shift), with
    every document in the simulated ERPNext and every closing consolidated there."""
    with Simulator(seed="demo", job_delay=None) as sim:
        with ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
            setup(client, POS_PROFILE, lambda check: None)
        node = _demo_node(tmp_path / "c1", datetime(2024, 3, 4, 9, 0, tzinfo=UTC))
        old = [sell_day(node, sales=4), sell_day(node, sales=3)]
        fwd = forwarder(node, sim)
        drain(fwd, sim)
        node.clock.now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
        new = sell_day(node, sales=2)
        drain(fwd, sim)
        with ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
            pull(client, Direct(node.log), POS_PROFILE,
                 consolidated=lambda: consolidated_shifts(client, POS_PROFILE))
        fwd.close()
        yield node, old, new, sim


def _demo_node(folder, since: datetime):
    """``demo_node`` whose store begins at ``since`` (the HLC never goes back)."""
    clock = FakeClock()
    clock.now = since
    node = make_node(folder, "C01", clock=clock, profile=POS_PROFILE)
    with node.log.transaction() as tx:
        for doctype, doc in demo_master_docs():
            tx.append("master.upserted", upserted_body(doctype, doc))
    return node


def _signer(node):
    return read_keypair_file(node.config.node_key_path).signer


def test_old_events_move_to_the_archive_and_the_store_reads_the_same(store):
    node, old, new, sim = store
    tables, vector, sales = _tables(node), node.log.vector(), _every_sale(node)
    everything = node.log.range("C01", 1, vector["C01"])
    before = len(_live(node))
    with node.log.reading() as s:
        report = ledger.shift_sales(s, old[0][0])
        owed_before = len(outbox.owed(s))
    pages = _pages(node)

    moved = archive_ops.run(node.config, NOW, _signer(node))
    # The pages the archived events and rows held go back to the disk.
    assert _pages(node)[0] < pages[0] and _pages(node)[1] == 0

    assert moved.cutoff == datetime(2025, 1, 1, tzinfo=node.config.tz)
    assert moved.events > 0 and moved.floor["C01"] < vector["C01"]
    live = _live(node)
    below = [(s, k) for o, s, k in live if s <= moved.floor["C01"]]
    assert all(k in KEPT for s, k in below if s != moved.floor["C01"])  # only the store's members
    assert len(live) < before - moved.events + len(below) + 1
    # The 2024 sales' ledger rows left with their events; every sale still reads the same.
    # The checkpoint stands past the floor: at the first thing ERPNext does not hold yet
    # (2026's day is consolidated too), so a rebuild or a new counter starts from there.
    assert moved.floor["C01"] < moved.checkpoint["C01"] <= vector["C01"]
    assert moved.sales == len(sales) - _count(node, "main.sales") > 0
    assert node.log.vector() == vector and _every_sale(node) == sales
    assert _but_compacted(_tables(node)) == _but_compacted(tables)
    with node.log.reading() as s:
        assert ledger.shift_sales(s, old[0][0]) == report  # an old shift's report
        assert len(outbox.owed(s)) == owed_before - moved.sales - 6  # their delivery rows too
        # and what ERPNext said of them: a few ranges of invoice numbers stand for them
        left = _invoices(s, "archive.sales", "invoice")
        assert len(left) == moved.sales and _invoices(s, "archive.deliveries") == left
        assert not left & _invoices(s, "main.deliveries")
        ranges = raw(s).run("SELECT series, lo, hi FROM delivered_for_good")
        assert len(ranges) == 2 and left == {  # 2024's and 2026's numbers, one range each
            f"{series}-{n:06d}" for series, lo, hi in ranges for n in range(lo, hi + 1)}
        assert all(deliveries.get(s, INVOICE, i).delivery is Delivery.ACKED for i in left)
        # nothing is owed for the shifts whose sales left (all three: 2026's day is in
        # the checkpoint too): their openings' and closings' rows (a closing's names
        # every invoice of its shift) leave as well, what ERPNext said of them stays
        assert not raw(s).run("SELECT name FROM outbox WHERE doctype IN (?, ?)",
                              ("POS Opening Entry", "POS Closing Entry"))
        assert all(deliveries.is_settled(s, doctype, shift) for shift, _ in [*old, new]
                   for doctype in ("POS Opening Entry", "POS Closing Entry"))
    tables = _tables(node)
    assert node.log.range("C01", 1, vector["C01"]) == everything  # a peer asking gets it all
    assert archive_ops.run(node.config, NOW, _signer(node)).events == 0  # nothing twice
    lines = archive_ops.verify(node.config)
    assert "every seal and chain holds" in lines[0] and "signed by C01" in lines[1]

    # rebuild starts from the checkpoint and equals the store built event by event
    log = EventLog(node.log.engine, "C01", clock=node.clock)
    replayed = log.rebuild(trusted={"C01": _signer(node).public})
    assert replayed < len(everything) and _tables(node) == tables

    # a return against a 2024 invoice: its sale's body comes from the archive, and the
    # return reaches ERPNext though the sale's ledger and outbox rows left with it
    ann = Till(node, "ann")
    ann("shift_open", opening={"Cash": "100.00"})
    invoice = old[1][1][1]
    back = ann("return_create", invoice=invoice, approver=approver("sup"),
               lines=[{"row": f"{invoice}-1", "qty": "1"}])
    assert back["invoice"].startswith("C01-")
    fwd = forwarder(node, sim)
    drain(fwd, sim)
    fwd.close()
    booked = sim.get("POS Invoice", back["invoice"])
    assert booked["docstatus"] == 1 and booked["return_against"] == invoice
    with node.log.reading() as s:
        assert not outbox.pending(s)


def test_archived_shifts_stock_slots_leave_and_count_again_if_erpnext_drops_them(store):
    """The stock slots of the shifts whose sales left the ledger (all three: ERPNext
    consolidated them) leave the live store too; on-hand stays. A later reading of
    ERPNext's stock that no longer includes the 2024 shifts (their closings cancelled
    there) counts their sales again, from the archive; a rebuild from the checkpoint
    agrees."""
    node, _, new, _ = store
    slots = _slots(node, "main.stock_deltas")
    levels = _levels(node)
    archive_ops.run(node.config, NOW, _signer(node))
    assert _slots(node, "archive.stock_deltas") == slots != {}
    assert _slots(node, "main.stock_deltas") == {}
    assert _levels(node) == levels

    with node.log.transaction() as tx:  # ERPNext's base: 10 of each, the 2026 shift only
        tx.append(stock.BASE, stock.base_body(WAREHOUSE, {MILK: Decimal(10), SOAP: Decimal(10)},
                                              [new[0]], "2026-11-26T09:00:00+00:00"))
    moved = {item: sum(q for (i, shift), q in slots.items() if i == item and shift != new[0])
             for item in (MILK, SOAP)}
    assert _levels(node) == {item: 10 + Decimal(q) / ledger.NANO for item, q in moved.items()}
    assert all(moved.values())
    tables = _tables(node)
    node.log.rebuild(trusted={"C01": _signer(node).public})
    assert _tables(node) == tables


def _slots(node, table: str) -> dict[tuple[str, str], int]:
    conn = connect_store(node.config.db_path, _key(node))
    try:
        return {(i, s): int(q) for i, s, q in conn.execute(
            f"SELECT item_code, shift, qty_nano FROM {table} WHERE warehouse = ?", (WAREHOUSE,))}
    finally:
        conn.close()


def _levels(node) -> dict[str, Decimal]:
    with node.log.reading() as s:
        return {item: stock.on_hand(s, item, WAREHOUSE).on_hand for item in (MILK, SOAP)}


def test_a_store_made_before_gives_its_pages_back_after_one_vacuum(store, capsys, monkeypatch):
    """A store made before stores kept freed pages apart keeps an archive run's pages as
    free pages; `tillmesh archive vacuum` (node stopped) rewrites it once: smaller, the
    same sales, and the next runs give their pages back themselves."""
    node = store[0]
    node.log.engine.dispose()
    conn = connect_store(node.config.db_path, _key(node))
    try:  # as a store of an earlier release was made
        conn.execute("PRAGMA main.auto_vacuum = NONE")
        conn.execute("VACUUM main")
    finally:
        conn.close()
    sales = _every_sale(node)
    archive_ops.run(node.config, NOW, _signer(node))
    pages, free = _pages(node)
    assert free > 0
    tables = _tables(node)

    (node.config.data_dir / CONFIG_NAME).write_text(node.config.to_toml())
    with monkeypatch.context() as m:  # no room for SQLite's copy: refused, nothing changed
        m.setattr(archive_ops.shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(1, 1, 0))
        with pytest.raises(StoreError, match="free some space first"):
            archive_ops.vacuum(node.config)
    assert _pages(node) == (pages, free)
    running = provisioning._node_stopped(node.config, "serve")  # its lock, as a node holds it
    with running, pytest.raises(StoreError, match="then run `tillmesh archive vacuum` again"):
        archive_ops.vacuum(node.config)
    assert main(["--data-dir", str(node.config.data_dir), "archive", "vacuum"]) == 0
    assert "each archive run gives what it frees back" in capsys.readouterr().out
    # the used pages alone, packed, and the pointer-map page (one per 819 pages) the
    # store keeps from now on to give pages back as it frees them
    after, free_after = _pages(node)
    assert free_after == 0 and after <= pages - free + 1
    assert _every_sale(node) == sales and _tables(node) == tables
    conn = connect_store(node.config.db_path, _key(node))
    try:
        assert int(conn.execute("PRAGMA main.auto_vacuum").fetchone()[0]) == 2
    finally:
        conn.close()


def test_a_changed_archive_or_checkpoint_is_refused(store):
    node = store[0]
    archive_ops.run(node.config, NOW, _signer(node))
    key = _key(node)
    conn = connect_store(node.config.db_path, key)
    try:
        conn.execute("UPDATE archive.events SET body = x'80' WHERE origin = 'C01' AND seq = 5")
    finally:
        conn.close()
    with pytest.raises(StoreError, match="C01:5 does not chain"):
        archive_ops.verify(node.config)

    cp = connect_store(checkpoint.checkpoint_path(node.config.db_path), key)
    try:
        cp.execute("UPDATE main.shifts SET closed_by = 'mallory'")
    finally:
        cp.close()
    log = EventLog(node.log.engine, "C01", clock=node.clock)
    with pytest.raises(StoreError, match="altered"):
        log.rebuild(trusted={"C01": _signer(node).public})
    with pytest.raises(StoreError, match="not signed by C01"):
        log.rebuild(trusted={"C01": b"\x01" * 32})


def test_a_run_cut_after_its_checkpoint_is_finished_by_the_next(store, monkeypatch):
    node = store[0]
    tables, sales = _tables(node), _every_sale(node)
    real = archive_ops._lower

    def cut(conn, before, floor):
        real(conn, before, {o: (s, h) for o, (s, h) in before.items()})
        raise KeyboardInterrupt  # the power goes after the checkpoint, before the floor

    monkeypatch.setattr(archive_ops, "_lower", cut)
    with pytest.raises(KeyboardInterrupt):
        archive_ops.run(node.config, NOW, _signer(node))
    monkeypatch.setattr(archive_ops, "_lower", real)
    log = EventLog(node.log.engine, "C01", clock=node.clock)
    # nothing lost meanwhile: the live copies are all there
    assert _but_compacted(_tables(node)) == _but_compacted(tables)
    assert _every_sale(node) == sales
    assert archive_ops.run(node.config, NOW, _signer(node)).events == 0  # moved already
    assert log.floors()["C01"][0] > 0  # the floor the cut run left behind, raised
    conn = connect_store(node.config.db_path, _key(node))
    try:
        assert checkpoint.stands_on(conn, checkpoint.checkpoint_path(node.config.db_path),
                                    _key(node))
    finally:
        conn.close()
    assert _but_compacted(_tables(node)) == _but_compacted(tables) and _every_sale(node) == sales
    tables = _tables(node)
    log.rebuild(trusted={"C01": _signer(node).public})
    assert _tables(node) == tables


def test_each_delete_gives_its_pages_back_as_it_commits_and_the_store_stays_incremental(
        store, monkeypatch):
    """The run gives pages back as each of its small delete transactions commits, so the
    free list never grows with what it deletes (given back afterwards from a free list
    of a year's events, SQLite took 30 s a transaction: the till waited that long); the
    pages the node freed since the last run go back first; and the store is INCREMENTAL
    again after the run, also after one that was cut, so a sale never gives pages back."""
    node = store[0]
    _free_some(node, 300)  # what the node's own deletes leave free before the nightly run
    free_after: list[int] = []
    real = archive_ops._immediate

    @contextlib.contextmanager
    def watched(c):
        with real(c):
            yield
        free_after.append(int(c.execute("PRAGMA main.freelist_count").fetchone()[0]))

    monkeypatch.setattr(archive_ops, "_immediate", watched)
    moved = archive_ops.run(node.config, NOW, _signer(node))
    assert moved.events > 0 and len(free_after) > 3
    assert free_after == [0] * len(free_after)
    assert _pages(node)[1] == 0 and _auto_vacuum(node) == "incremental"

    def cut(*_):
        raise KeyboardInterrupt  # the power goes while it deletes

    monkeypatch.setattr(archive_ops, "_compact", cut)
    with pytest.raises(KeyboardInterrupt):
        archive_ops.run(node.config, NOW, _signer(node))
    assert _auto_vacuum(node) == "incremental"


def test_a_store_holding_more_free_pages_than_a_run_gives_back_keeps_them_till_a_vacuum(
        store, capsys, monkeypatch):
    """Giving back a free list far bigger than a run's own deletes in one commit wrote a
    WAL frame per page (17 GiB for a year's store archived by the release before): the
    run keeps such pages, says so, and `tillmesh archive vacuum` gives them back."""
    node = store[0]
    _free_some(node, 300)
    monkeypatch.setattr(archive_ops, "GIVE_BACK_AT_ONCE", 100)
    (node.config.data_dir / CONFIG_NAME).write_text(node.config.to_toml())
    args = ["--data-dir", str(node.config.data_dir), "archive"]
    assert main([*args, "run", "--now", NOW.isoformat()]) == 0
    assert "GiB of free pages, which later events fill" in capsys.readouterr().out
    assert _pages(node)[1] >= 300 and _auto_vacuum(node) == "incremental"
    sales = _every_sale(node)
    assert main([*args, "vacuum"]) == 0
    assert _pages(node)[1] == 0 and _every_sale(node) == sales


def _free_some(node, pages: int) -> None:
    """Free about ``pages`` pages of the store, as the node's own deletes do over a day."""
    conn = connect_store(node.config.db_path, _key(node))
    try:
        conn.execute("CREATE TABLE scratch (b BLOB)")
        conn.executemany("INSERT INTO scratch VALUES (randomblob(3000))", [()] * pages)
        conn.execute("DROP TABLE scratch")
        assert int(conn.execute("PRAGMA main.freelist_count").fetchone()[0]) >= pages
    finally:
        conn.close()


def _auto_vacuum(node) -> str:
    conn = connect_store(node.config.db_path, _key(node))
    try:
        mode = int(conn.execute("PRAGMA main.auto_vacuum").fetchone()[0])
    finally:
        conn.close()
    return {0: "none", 1: "full", 2: "incremental"}[mode]


def test_an_upgraded_store_archives_only_once_its_checkpoint_is_built_again(store,
                                                                            monkeypatch):
    """After an upgrade that changed the tables, ``archive run`` before the node started
    would bring the old release's checkpoint forward: refused, saying what to do."""
    node = store[0]
    archive_ops.run(node.config, NOW, _signer(node))
    monkeypatch.setattr(projections, "shape", lambda: "the next release's tables")
    with pytest.raises(StoreError, match="start the node once"):
        archive_ops.run(node.config, NOW, _signer(node))


def test_a_checkpoint_gives_back_the_pages_of_the_rows_that_left(tmp_path):
    """A checkpoint is built with the sales since the last one, whose rows then leave: the
    file put in place (and copied for the next one) keeps no page they held (unvacuumed,
    a month's archiving in the year benchmark doubled it)."""
    key = create_key_file(tmp_path / "key")
    built = tmp_path / "built.db"
    conn = _connect(built, key)
    try:
        conn.execute("CREATE TABLE sales (invoice TEXT, summary BLOB)")
        conn.executemany("INSERT INTO sales VALUES (?, randomblob(1000))",
                         [(str(n),) for n in range(2000)])
        conn.execute("DELETE FROM sales")
        conn.commit()
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] > 400
    finally:
        conn.close()
    checkpoint._put(built, tmp_path / "store-checkpoint.db", key)
    conn = _connect(tmp_path / "store-checkpoint.db", key)
    try:
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
        assert conn.execute("PRAGMA page_count").fetchone()[0] < 10
    finally:
        conn.close()


def test_nothing_owed_to_erpnext_leaves(tmp_path):
    """A store whose ERPNext never answered keeps its shifts and sales live, however old
    (the master data before them may go)."""
    node = _demo_node(tmp_path / "c1", datetime(2023, 5, 1, tzinfo=UTC))
    sell_day(node, sales=2)
    owed = [(s, k) for _, s, k in _live(node) if k.startswith(("shift.", "sale."))]
    moved = archive_ops.run(node.config, NOW, _signer(node))
    assert moved.floor == {"C01": owed[0][0] - 1}  # up to the first document owed
    assert [(s, k) for _, s, k in _live(node) if k.startswith(("shift.", "sale."))] == owed
    assert archive_ops.run(node.config, NOW, _signer(node)).events == 0


@pytest.mark.parametrize(("now", "from_checkpoint"), [
    (NOW, True), (datetime(2025, 6, 1, tzinfo=UTC), True), (NOW, False)],
    ids=["archived", "all-within-the-window", "with-the-live-events"])
def test_a_new_counter_joins_from_the_checkpoint_and_equals_a_full_replay(
        store, tmp_path, now, from_checkpoint):
    """The snapshot carries the checkpoint and the events after it, not the archive nor
    the live events the checkpoint holds (also when nothing is old enough to archive);
    or, as the inviting counter chooses (``join_from_checkpoint``), every live event too.
    The new counter's tables, a rebuild of them and the background check of them all
    equal the inviting counter's, built event by event."""
    node = store[0]
    _signing(node)
    moved = archive_ops.run(node.config, now, _signer(node))
    assert moved.checkpoint["C01"] > moved.floor.get("C01", 0)
    tables, vector = _tables(node), node.log.vector()
    name, ticket = snapshot.new_ticket("C09", tmp_path / "snapshots")
    snapshot.export(node.config.db_path, _key(node), ticket, from_checkpoint=from_checkpoint)

    assert not _has_table(ticket.path, ticket.key, "sales")  # the checkpoint's tables only

    (tmp_path / "new").mkdir()
    db, key = tmp_path / "new" / "db", create_key_file(tmp_path / "new" / "key")
    log = EventLog(open_engine(db, key), "C09")
    installed = snapshot.install(db, key, ticket.path, ticket.key)
    assert not installed.tables
    adopt_snapshot(log, installed)
    after = [e for e in _live(node) if e[1] >= moved.checkpoint["C01"] or e[2] in KEPT
             or not from_checkpoint]
    assert _live_in(db, key) == after and installed.events == len(after)
    assert installed.events < sum(vector.values()) // (4 if from_checkpoint else 1)
    assert log.vector() == vector
    # A peer asking it for events before the checkpoint gets the run it holds (the
    # store's first members) and none past the first it lacks (the kept ones after it
    # would not chain): it asks another counter. After the checkpoint, all of them.
    point = moved.checkpoint["C01"]
    early = log.range("C01", 1, point)
    assert [e.seq for e in early] == list(range(1, len(early) + 1)) and len(early) < 10
    start = moved.floor.get("C01", 0) if not from_checkpoint else point
    assert log.range("C01", len(early) + 1, start - 1) == []
    assert log.range("C01", point, vector["C01"]) == node.log.range("C01", point,
                                                                     vector["C01"])
    # Built from the checkpoint and the events after it, checked once, at the install.
    assert _digests_of(db, key) == tables
    with log.reading() as s:
        check = snapshot_check.outcome(s)
    assert check is not None and check["state"] == snapshot_check.VERIFIED
    assert check["replayed"] == len([e for e in after if e[1] > point])
    log.rebuild()
    assert _digests_of(db, key) == tables
    # Without the inviting counter's archive it knows the sales that left as delivered
    # for good (ERPNext holds them): a return of one of them is sent when it comes.
    with node.log.reading() as s:
        left = _invoices(s, "archive.deliveries")
    with log.reading() as s:
        assert left and not _invoices(s, "archive.deliveries")
        assert all(deliveries.is_settled(s, INVOICE, i) for i in left)


def test_a_counter_joined_from_the_checkpoint_fetches_its_history_and_can_rebuild_it(
        store, tmp_path):
    """The new counter holds no event before the checkpoint: its history comes from a
    counter that has it, backwards, a batch at a time, into its archive, checked against
    the events it holds (a changed one is refused, nothing stored). Whole, its archive
    verifies from event 1, it serves old ranges, and a release that reshapes the tables
    can build them from every event again (it could not before)."""
    node = store[0]
    _signing(node)
    moved = archive_ops.run(node.config, NOW, _signer(node))
    point = moved.checkpoint["C01"]
    _, ticket = snapshot.new_ticket("C09", tmp_path / "snapshots")
    snapshot.export(node.config.db_path, _key(node), ticket, from_checkpoint=True)
    (tmp_path / "new").mkdir()
    db, key = tmp_path / "new" / "db", create_key_file(tmp_path / "new" / "key")
    log = EventLog(open_engine(db, key), "C09")
    adopt_snapshot(log, snapshot.install(db, key, ticket.path, ticket.key))
    peer = EventLogStore(log)
    assert peer.history_gaps() == {"C01": point}
    assert _verified(db, key).starts == {"C01": point}
    at = {"C01": (point, node.log.range("C01", point, point)[0].hash)}
    with pytest.raises(StoreError, match="joined from a checkpoint"):
        checkpoint.from_events(db, key, at, Signer.generate(), "C09", NOW.isoformat())

    sales = _every_sale(node)
    assert len(_every_sale_in(db, key)) < len(sales)  # the sales that left, not yet
    below = node.log.range("C01", point - 10, point - 1)
    changed = [*below[:-1], replace(below[-1], body=below[-1].body + b" ")]
    assert peer.backfill(changed) == 0
    assert peer.history_gaps() == {"C01": point}
    while gap := peer.history_gaps():
        low = gap["C01"]
        assert peer.backfill(node.log.range("C01", max(1, low - 10), low - 1)) > 0

    everything = node.log.range("C01", 1, node.log.vector()["C01"])
    assert log.range("C01", 1, log.vector()["C01"]) == everything
    assert _verified(db, key).starts == {}
    # Their ledger rows came with them: a return or an old shift's report finds them here
    # as on the counter that made them, which need not be asked any more.
    assert _every_sale_in(db, key) == sales
    signer = Signer.generate()  # C09's
    checkpoint.from_events(db, key, at, signer, "C09", NOW.isoformat())
    tables = _tables(node)
    log.rebuild({"C09": signer.public})
    assert _digests_of(db, key) == tables


def _verified(db: Path, key: bytes) -> archive.Verified:
    conn = connect_store(db, key)
    try:
        return archive.verify(conn, 100)
    finally:
        conn.close()


def test_a_checkpoint_signed_by_no_counter_of_the_store_is_refused_at_the_join(
        store, tmp_path):
    """A snapshot whose checkpoint a counter the store never enrolled signed: the new
    counter refuses to build from it (its store cannot be trusted: join again)."""
    node = store[0]
    _signing(node)
    archive_ops.run(node.config, NOW, Signer.generate())
    _, ticket = snapshot.new_ticket("C09", tmp_path / "snapshots")
    snapshot.export(node.config.db_path, _key(node), ticket, from_checkpoint=True)
    (tmp_path / "new").mkdir()
    db, key = tmp_path / "new" / "db", create_key_file(tmp_path / "new" / "key")
    log = EventLog(open_engine(db, key), "C09")
    with pytest.raises(StoreError, match="not signed by"):
        adopt_snapshot(log, snapshot.install(db, key, ticket.path, ticket.key))


def _signing(node) -> None:
    """The store's counter signs from now on and announces its key (as one made before
    events were signed does): a joining counter trusts checkpoints signed with it."""
    node.log.signer = _signer(node)
    assert announce_key(node.log, node.log.signer.public)


def _digests_of(db: Path, key: bytes) -> dict[str, str]:
    conn = connect_store(db, key)
    try:
        return digests(conn)
    finally:
        conn.close()


def _has_table(path: Path, key: bytes, table: str) -> bool:
    conn = _connect(path, key)
    try:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?",
                            (table,)).fetchone() is not None
    finally:
        conn.close()


@pytest.mark.parametrize("now", [NOW, datetime(2025, 6, 1, tzinfo=UTC)],
                         ids=["archived", "a-checkpoint-only"])
def test_a_backup_carries_the_archive_and_the_checkpoint(store, tmp_path, now):
    """A counter restored from the backup of a store that archived (or only brought its
    checkpoint forward, its sales rows gone to the archive) reads, rebuilds and verifies
    as the one backed up."""
    node = store[0]
    archive_ops.run(node.config, now, _signer(node))
    tables, sales = _tables(node), _every_sale(node)
    (node.config.data_dir / "tillmesh.toml").write_text(node.config.to_toml())
    backup(node.config, tmp_path / "c1.backup", "a long backup passphrase",
           (argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN))
    (tmp_path / "back").mkdir(mode=0o700)
    restore(tmp_path / "back", tmp_path / "c1.backup", lambda: "a long backup passphrase",
            no_peers=True)
    config = load(tmp_path / "back")
    assert "every seal and chain holds" in archive_ops.verify(config)[0]
    key = read_key_file(config.key_path)
    log = EventLog(open_engine(config.db_path, key), "C01")
    assert log.rebuild(trusted={"C01": _signer(node).public}) < 10  # from the checkpoint
    conn = connect_store(config.db_path, key)
    try:
        assert digests(conn) == tables
        assert conn.execute("SELECT * FROM every_sale ORDER BY invoice").fetchall() == sales
    finally:
        conn.close()
    log.engine.dispose()


def test_the_running_node_archives_at_the_time_set(store, monkeypatch):
    """The daemon's daily task runs the same move on its own connections."""
    node = store[0]
    monkeypatch.setattr(retention, "next_run",
                        lambda now, tz, at: now + timedelta(milliseconds=50))

    async def until_archived() -> dict:
        task = asyncio.create_task(daemon._archive_daily(node))
        try:
            for _ in range(200):
                if node.log.floors():
                    return node.log.floors()
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
        return {}

    floors = asyncio.run(until_archived())
    assert floors and floors["C01"][0] < node.log.vector()["C01"]


@pytest.mark.parametrize("table", ["sales", "stock_deltas", "deliveries"])
def test_the_archive_keeps_rows_as_the_ledger_does(tmp_path, table):
    """The archive's ``sales``, ``stock_deltas`` and ``deliveries`` have the live tables'
    columns and keys, so a row moves whole."""
    node = _demo_node(tmp_path / "c1", datetime(2026, 1, 5, tzinfo=UTC))
    conn = connect_store(node.config.db_path, _key(node))
    try:
        live, archived = ([tuple(r[1:]) for r in conn.execute(
            f"PRAGMA {schema}.table_info({table})")] for schema in ("main", "archive"))
    finally:
        conn.close()
    assert live == archived


STEPS = ("sell", "deliver", "pull", "archive", "return", "months")


@settings(max_examples=3, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@example(["sell", "deliver", "pull", "archive"])  # sales rows leave, no event is old enough
@example(["sell", "sell", "deliver", "pull", "months", "months", "archive", "return",
          "deliver", "pull", "archive"])  # events archived; a return of an archived sale
@given(st.lists(st.sampled_from(STEPS), min_size=6, max_size=14))
def test_any_mix_of_trade_delivery_and_archiving_keeps_the_store_whole(tmp_path_factory, steps):
    """Whatever the order of selling, delivering, reading ERPNext's stock, archiving,
    returning old sales and months passing: every sale is still found, the archive
    verifies, and a rebuild from the checkpoint gives the tables the store holds."""
    with Simulator(seed="demo", job_delay=None) as sim, ErpNextClient(
            sim.url, sim.api_key, sim.api_secret) as client:
        setup(client, POS_PROFILE, lambda check: None)
        node = _demo_node(tmp_path_factory.mktemp("mix") / "c1",
                          datetime(2024, 3, 4, 9, 0, tzinfo=UTC))
        fwd, made, returnable = forwarder(node, sim), [], []
        try:
            for step in steps:
                if step == "sell":
                    invoices = sell_day(node, sales=3)[1]  # the first comes back that day
                    made += invoices
                    returnable += invoices[1:-1]
                elif step == "deliver":
                    drain(fwd, sim)
                elif step == "pull":
                    pull(client, Direct(node.log), POS_PROFILE,
                         consolidated=lambda: consolidated_shifts(client, POS_PROFILE))
                elif step == "archive":
                    archive_ops.run(node.config, node.clock.now, _signer(node))
                elif step == "return" and returnable:
                    made.append(_return_oldest(node, returnable))
                elif step == "months":
                    node.clock.advance(days=400)
            tables = _tables(node)
            assert "every seal and chain holds" in archive_ops.verify(node.config)[0]
            EventLog(node.log.engine, "C01", clock=node.clock).rebuild(
                trusted={"C01": _signer(node).public})
            assert _tables(node) == tables
            assert sorted(r[0] for r in _every_sale(node)) == sorted(made)
            with node.log.reading() as s:
                assert all(ledger.recorded_sale(s, i)[1]["invoice"] == i for i in made)
            drain(fwd, sim)  # returns of archived sales too
            with node.log.reading() as s:
                assert not outbox.pending(s)
            assert all(sim.get("POS Invoice", i)["docstatus"] == 1 for i in made)
        finally:
            fwd.close()


def _return_oldest(node, returnable: list[str]) -> str:
    """The oldest sale not returned yet comes back whole, in a shift of its own; the
    return's invoice."""
    ann = Till(node, "ann")
    shift = ann("shift_open", opening={"Cash": "100.00"})["shift"]
    node.clock.advance(minutes=1)
    back = ann("return_create", invoice=returnable.pop(0), approver=approver("sup"))
    node.clock.advance(minutes=1)
    ann("shift_close", shift_id=shift, counted={"Cash": "100.00", "Card": "0"})
    return str(back["invoice"])
