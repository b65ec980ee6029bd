"""Backup and restore (issue 13, point 3): the encrypted file, the online copy taken while
the counter sells, a round trip through `tillmesh backup` and `tillmesh restore` under
load, and the hold of a restored counter until it has caught up with itself.

A restored counter getting back from a peer what it recorded after its backup, with real
processes: test_backup_catch_up.py. The format tests use libsodium's smallest argon2id
limits; the commands use the real ones.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.pwhash import argon2id
from sqlalchemy import func, select

from tests.nodekit import Till, make_node
from tests.proc import Nodes, demo_barcodes, ok, one_clear_line, sell_one, tillmesh
from tillmesh.node.errors import PermissionDenied, StoreError, ValidationError
from tillmesh.node.ops.backup import backup, confirm_alone
from tillmesh.node.ops.config import load
from tillmesh.node.ops.seal import seal_passphrase
from tillmesh.node.projections.ledger import SaleRow
from tillmesh.node.store import (
    EventRow,
    Meta,
    backup_file,
    backup_restored,
    open_engine,
    read_key_file,
    sealing,
    snapshot_check,
)
from tillmesh.node.store._engine import _connect
from tillmesh.node.store.event_log import EventLog
from tillmesh.ui.models.status import counter_banner

FAST = (argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)
PHRASE = "correct horse battery staple"
WINE, BOOK = "4000000000044", "4000000000082"


# --- the file -------------------------------------------------------------------------------


def _write(tmp_path: Path, store: bytes, phrase: str = PHRASE) -> Path:
    (tmp_path / "store").write_bytes(store)
    key = sealing.new_key(phrase, *FAST)
    out = tmp_path / "counter.backup"
    with out.open("wb") as fh:
        backup_file.write(fh, key, backup_file.header(key, node="C01"), {"config": "x = 1"},
                          [tmp_path / "store"])
    return out


def _read(path: Path, phrase: str = PHRASE) -> tuple[dict, bytes]:
    with backup_file.Reader(path) as reader:
        manifest = reader.unlock(phrase)
        return manifest, b"".join(reader.store())


@settings(max_examples=25, deadline=None)
@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=4), st.integers(-2, 2))
def test_the_files_a_backup_carries_come_back_apart_byte_for_byte(tmp_path_factory, files,
                                                                  off):
    """Store, checkpoint and archive ride one stream; the manifest's sizes part them, and a
    size that does not add up is refused, never written as a short or long file."""
    tmp = tmp_path_factory.mktemp("parts")
    paths = []
    for i, data in enumerate(files):
        paths.append(tmp / f"part{i}")
        paths[-1].write_bytes(data)
    key = sealing.new_key(PHRASE, *FAST)
    out = tmp / "counter.backup"
    with out.open("wb") as fh:
        backup_file.write(fh, key, backup_file.header(key, node="C01"), {}, paths)
    sizes = [len(data) for data in files]
    with backup_file.Reader(out) as reader:
        reader.unlock(PHRASE)
        assert [b"".join(part) for part in reader.split(sizes)] == files
    if off and sizes[-1] + off >= 0:
        with backup_file.Reader(out) as reader, pytest.raises(StoreError, match="manifest"):
            reader.unlock(PHRASE)
            for part in reader.split([*sizes[:-1], sizes[-1] + off]):
                b"".join(part)


@pytest.mark.parametrize("size", [0, 1, backup_file.CHUNK_BYTES, 2 * backup_file.CHUNK_BYTES + 7])
def test_the_file_gives_back_the_manifest_and_the_store_byte_for_byte(tmp_path, size):
    store = os.urandom(size)
    path = _write(tmp_path, store)
    assert _read(path) == ({"config": "x = 1"}, store)
    assert backup_file.Reader(path).header["node"] == "C01"  # readable without the passphrase


def test_a_wrong_passphrase_an_altered_or_cut_file_is_refused_in_one_sentence(tmp_path):
    path = _write(tmp_path, os.urandom(backup_file.CHUNK_BYTES + 100))
    whole = path.read_bytes()

    with pytest.raises(StoreError, match="wrong backup passphrase"):
        _read(path, PHRASE + "!")

    path.write_bytes(whole.replace(b'"node":"C01"', b'"node":"C02"', 1))  # the clear header
    with pytest.raises(StoreError, match="wrong backup passphrase \\(or the file was altered"):
        _read(path)

    flipped = bytearray(whole)
    flipped[len(whole) // 2] ^= 1  # inside the store's first frame
    path.write_bytes(bytes(flipped))
    with pytest.raises(StoreError, match="is damaged at byte"):
        _read(path)

    for cut in (len(whole) - 1, len(whole) - 40, len(whole) // 2, 300):
        path.write_bytes(whole[:cut])
        with pytest.raises(StoreError, match="cut short|not a Tillmesh backup"):
            _read(path)

    path.write_bytes(whole + b"more")
    with pytest.raises(StoreError, match="holds data after its end"):
        _read(path)

    path.write_bytes(b"SQLite format 3\x00" + whole[:200])
    with pytest.raises(StoreError, match="is not a Tillmesh backup"):
        _read(path)


# --- the online copy -----------------------------------------------------------------------


def _state(db: Path, key: bytes) -> tuple[int, int, dict[str, str]]:
    """Sales recorded, the invoice counter and the projections' digests of a store."""
    conn = _connect(db, key)
    try:
        sales = conn.execute("SELECT count(*) FROM events WHERE kind = 'sale.submitted'"
                             ).fetchone()[0]
        seq = conn.execute("SELECT value FROM meta WHERE key = 'invoice_seq'").fetchone()
        return sales, int(seq[0]) if seq else 0, snapshot_check.digests(conn)
    finally:
        conn.close()


def test_an_online_copy_taken_while_a_counter_sells_is_the_store_as_one_commit_left_it(
        tmp_path):
    node = make_node(tmp_path / "c", "C01")
    ann = Till(node, "ann")
    ann("shift_open", opening={"Cash": "100"})
    key = read_key_file(node.config.key_path)
    acked: list[float] = []
    stop = threading.Event()

    def sell() -> None:
        while not stop.is_set():
            ann.sell(WINE, BOOK)
            acked.append(time.monotonic())

    seller = threading.Thread(target=sell)
    seller.start()
    try:
        copies = []
        while len(copies) < 8:
            if len(acked) < 3 * (len(copies) + 1):
                time.sleep(0.001)
                continue
            copy = tmp_path / f"copy{len(copies)}.db"
            began = time.monotonic()
            backup_file.copy_online(node.config.db_path, key, copy)
            copies.append((copy, sum(t < began for t in acked)))
    finally:
        stop.set()
        seller.join()
    assert len(acked) > 24  # the counter sold all along
    for copy, sold_before in copies:
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        vector = backup_file.check(copy, key)  # integrity and every hash chain
        sales, invoice_seq, tables = _state(copy, key)
        # one commit: each sale's event, its invoice number and its projections, or none
        assert sold_before <= sales == invoice_seq and vector["C01"] > sales
        log = EventLog(open_engine(copy, key), "C01")
        log.rebuild()
        log.engine.dispose()
        assert _state(copy, key)[2] == tables  # the tables are what its events build


# --- the hold of a restored counter ---------------------------------------------------------


OTHERS = ("C01", "C03", "C04")


@pytest.mark.parametrize(("have", "members", "linked", "caught"), [
    (120, OTHERS[:2], {}, False),  # nobody linked yet: it waits
    (120, (), {}, False),  # no other counter left to ask (all revoked): --confirm-alone
    # C01 was off since the backup (it holds less); C03, offline, may hold 121..150
    (120, OTHERS[:2], {"C01": 100}, False),
    (120, OTHERS[:2], {"C01": 100, "C03": 150}, False),  # C03 holds more: pull it first
    (150, OTHERS[:2], {"C01": 100, "C03": 150}, True),  # every other counter linked
    (150, OTHERS[:2], {"C01": 150, "C03": 150, "C04": 170}, True),  # C04 was revoked
])
def test_a_restored_counter_has_caught_up_only_once_every_other_counter_was_linked(
        have, members, linked, caught):
    assert backup_restored.caught_up(have, members, linked) is caught


@given(have=st.integers(0, 200), members=st.sets(st.sampled_from(OTHERS)),
       holds=st.fixed_dictionaries({n: st.integers(0, 200) for n in OTHERS}),
       linked=st.sets(st.sampled_from(OTHERS)))
def test_a_released_counter_records_no_event_another_counter_holds(have, members, holds,
                                                                   linked):
    """``holds``: how many of its events each counter really holds; ``linked``: those it
    has been linked to since the restore (it saw what they hold)."""
    seen = {n: holds[n] for n in linked}
    released = backup_restored.caught_up(have, members, seen)
    if released:  # its next event, have + 1, is no member's: no fork, no number used twice
        assert all(holds[n] <= have for n in members)
    if members and members <= linked and all(holds[n] <= have for n in members):
        assert released  # and it does not wait once every member has shown it holds no more


def test_a_restored_counter_records_nothing_until_released_and_then_numbers_go_on(tmp_path):
    node = make_node(tmp_path / "c", "C01")
    ann = Till(node, "ann")
    ann("shift_open", opening={"Cash": "100"})
    ann.sell(WINE)
    at_backup = node.log.vector()["C01"]
    later = [ann.sell(BOOK)["invoice"] for _ in range(2)]  # after the backup
    assert later == ["C01-2026-000002", "C01-2026-000003"]
    # restored: the numbers as the backup had them, the mark; the log reopened holds
    with node.log.transaction() as tx:
        tx.session.merge(Meta(key="invoice_seq", value="1"))
        backup_restored.mark(tx.session, backup_restored.Restored(
            at_backup, "2026-11-26T08:00:00+00:00"))
    reopened = EventLog(node.log.engine, "C01", clock=node.clock)
    assert "restored from a backup of 2026-11-26 08:00 UTC" in reopened.held
    node.log.held = reopened.held

    state = node.call("counter_state")
    assert (state["state"], state["selling"]) == ("catching_up", False)
    assert counter_banner(state) == ("Restored from a backup: no selling until every other "
                                     "counter has linked — see Store", "error")
    with pytest.raises(PermissionDenied) as refused:
        ann("cart_new")
    assert refused.value.details["counter_state"] == "catching_up"
    with pytest.raises(StoreError, match="records nothing"):
        node.call("login", {"user": "ann", "pin": "1111"})  # a login is an event too

    assert backup_restored.release(node.log) == node.log.vector()["C01"] - at_backup == 2
    assert node.log.held is None and node.call("counter_state")["state"] == "active"
    assert ann.sell(WINE)["invoice"] == "C01-2026-000004"  # past those it got back


def test_confirm_alone_releases_a_stopped_restored_counter_once(tmp_path):
    node = make_node(tmp_path / "c", "C01")
    with node.log.transaction() as tx:
        backup_restored.mark(tx.session, backup_restored.Restored(
            node.log.vector()["C01"], "2026-11-26T08:00:00+00:00"))
    node.log.engine.dispose()
    config = node.config
    assert "records again" in confirm_alone(config)[0]
    log = EventLog(open_engine(config.db_path, read_key_file(config.key_path)), "C01")
    assert log.held is None
    log.engine.dispose()
    with pytest.raises(ValidationError, match="not waiting"):
        confirm_alone(config)


# --- the commands, on a real counter ---------------------------------------------------------


@pytest.fixture(scope="module")
def counter():
    with Nodes() as nodes:
        data_dir = nodes.init()
        yield nodes, nodes.start(data_dir)


def test_a_backup_taken_while_selling_restores_every_sale_acknowledged_before_it(
        counter, monkeypatch):
    nodes, node = counter
    # Its secrets sealed with a passphrase: the backup reads them as the node does.
    sealing_phrase = nodes.tmp() / "phrase"
    sealing_phrase.write_text("the counter's own passphrase\n")
    monkeypatch.setenv(sealing.PASSPHRASE_FILE_ENV, str(sealing_phrase))
    seal_passphrase(load(node.data_dir), "the counter's own passphrase", *FAST)
    assert not (node.data_dir / "secrets" / "db.key").exists()
    acked: list[tuple[str, float]] = []
    stop = threading.Event()

    def sell() -> None:
        with node.client() as c:
            c.login("cashier", "1111")
            if c.call("shift_current") is None:
                c.shift_open({"Cash": "100.00"})
            codes = demo_barcodes(5)
            while not stop.is_set():
                invoice = sell_one(c, codes[len(acked) % 5])["invoice"]
                acked.append((invoice, time.monotonic()))

    seller = threading.Thread(target=sell)
    seller.start()
    try:
        while len(acked) < 5:
            time.sleep(0.01)
        out = nodes.tmp() / "C01.backup"
        began = time.monotonic()
        result = tillmesh(node.data_dir, "backup", str(out), stdin=PHRASE + "\n")
        ended = time.monotonic()
    finally:
        stop.set()
        seller.join()
    said = ok(result)
    assert "backup of counter C01 written to" in said
    assert any(began < t < ended for _, t in acked)  # sales went on during the backup
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert PHRASE.encode() not in out.read_bytes()

    restored = nodes.tmp() / "d"
    restored.mkdir(mode=0o700)  # as install.sh makes it (root must not: test below)
    monkeypatch.delenv(sealing.PASSPHRASE_FILE_ENV)  # a new machine: only the backup's
    said = ok(tillmesh(restored, "restore", str(out), stdin=PHRASE + "\n"))
    assert "store's only counter" in said and "seal --systemd" in said
    config = load(restored)
    key = read_key_file(config.key_path)
    vector = backup_file.check(config.db_path, key)  # integrity_check and every hash chain
    log = EventLog(open_engine(config.db_path, key), "C01")
    try:
        assert log.held is None  # the store's only counter: nobody to wait for
        with log.reading() as s:
            invoices = set(s.scalars(select(SaleRow.invoice)))
            assert s.scalar(select(func.count()).select_from(EventRow)) == sum(vector.values())
        assert {inv for inv, t in acked if t < began} <= invoices
        tables = snapshot_check.digests(conn := _connect(config.db_path, key))
        conn.close()
        log.rebuild()
        assert snapshot_check.digests(conn := _connect(config.db_path, key)) == tables
        conn.close()
    finally:
        log.engine.dispose()
    assert stat.S_IMODE(restored.stat().st_mode) == 0o700
    for path in (config.db_path, config.key_path, config.node_key_path,
                 restored / "tillmesh.toml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.skipif(os.geteuid() != 0, reason="the data dir made by root: run as root")
def test_restore_as_root_refuses_a_data_dir_that_does_not_exist_in_one_line(counter):
    nodes, _ = counter
    missing = nodes.tmp() / "not-made-yet"
    one_clear_line(tillmesh(missing, "restore", "/nonexistent", stdin=PHRASE + "\n"),
                   "does not exist", f"install -d -o tillmesh -g tillmesh -m 0700 {missing}",
                   "deploy/install.sh --restore")
    assert not missing.exists()  # not made as root: the service could not open it


def test_restore_refuses_a_data_dir_that_is_not_empty_in_one_line(counter):
    nodes, node = counter
    one_clear_line(tillmesh(node.data_dir, "restore", "/nonexistent", stdin=PHRASE + "\n"),
                   "is not empty", "only into an empty data dir")
    with pytest.raises(ValidationError, match="at least 12 characters"):
        backup(load(node.data_dir), nodes.tmp() / "b", "short")
