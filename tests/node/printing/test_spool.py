"""The print spool on disk: sealed with a key derived from the database key, so a stolen
disk yields no receipts; files 0600 in a 0700 directory whatever the umask; a damaged
file set aside; plain files of the previous release still printed (once, sealed anew)."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.node.printing.test_printing import (
    KEY,
    WAIT_S,
    FlakyDevice,
    TcpPrinter,
    cashier,
    counter,
    queue,
    receipt,
    wait_for,
)
from tillmesh.lab.processes import free_port
from tillmesh.node.ops.daemon import open_node
from tillmesh.node.printing import Receipt, Spool, Text, spool_key
from tillmesh.node.printing._layout import to_plain
from tillmesh.node.printing._spool import seal, unseal
from tillmesh.node.printing.const import SPOOL_DIR


@pytest.fixture
def umask() -> Iterator[None]:
    """Restores the process's umask after a test that sets its own."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def secret_receipt(title: str) -> Receipt:
    return Receipt(title, 32, (Text("Jane Customer"), Text("Red Wine 0.75l   12.99")))


# --- through the daemon ---------------------------------------------------------------


def test_a_pending_receipt_is_sealed_on_disk_and_printed_after_a_restart(
        printing_nodes, tmp_path):
    port = free_port()  # nothing listens there: the printer is off while the counter sells
    node = counter(printing_nodes, tmp_path, kind="network", host="127.0.0.1", port=port,
                   timeout_seconds=1)
    sale = cashier(node).sell("4000000000044", "4000000000082", mode="Card")
    wait_for(lambda: node.print_service.status()["last_error"], "the first failed try")
    node.print_service.close()
    node.log.engine.dispose()

    [spooled] = (node.config.data_dir / SPOOL_DIR).iterdir()
    blob = spooled.read_bytes()
    for text in (sale["invoice"], "Red Wine", "Paperback Book", sale["totals"]["grand_total"]):
        assert text.encode() not in blob
    with pytest.raises(ValueError):
        json.loads(blob)

    printer = TcpPrinter(port)  # switched on again; the daemon opens the node anew
    try:
        again = open_node(node.config)
        printing_nodes.append(again)
        printer.wait_for(sale["invoice"])
        assert any(b"Paperback Book" in job for job in printer.jobs)  # the text was there
        wait_for(lambda: not any((node.config.data_dir / SPOOL_DIR).iterdir()),
                 "the printed job to leave the spool")
        again.log.engine.dispose()
    finally:
        printer.close()


# --- the queue's spool ----------------------------------------------------------------


@pytest.mark.parametrize(("mask", "earlier_dir"), [(0o022, False), (0o022, True),
                                                   (0o000, False)])
def test_spool_files_are_0600_in_a_0700_directory_whatever_the_umask(
        tmp_path, umask, mask, earlier_dir):
    os.umask(mask)
    spool = tmp_path / "spool"
    if earlier_dir:  # made by the previous release under the umask
        spool.mkdir(mode=0o755)
    q = queue(FlakyDevice(broken=True), spool)
    try:
        q.submit_receipt(receipt("R1"))
        [spooled] = spool.iterdir()
        assert mode(spool) == 0o700 and mode(spooled) == 0o600
    finally:
        q.close()


def test_a_spool_directory_removed_while_the_counter_runs_is_made_again(tmp_path, umask):
    os.umask(0o022)
    spool = tmp_path / "spool"
    q = queue(FlakyDevice(broken=True), spool)
    try:
        q.submit_receipt(receipt("R1"))
        for path in spool.iterdir():
            path.unlink()
        spool.rmdir()
        q.submit_receipt(receipt("R2"))  # the directory is made once, and again if gone
        [spooled] = spool.iterdir()
        assert unseal(KEY, spooled.read_bytes())["id"] == spooled.stem
        assert mode(spool) == 0o700 and mode(spooled) == 0o600
    finally:
        q.close()


def test_a_tampered_file_is_set_aside_and_the_rest_print(tmp_path, caplog):
    spool = tmp_path / "spool"
    first = queue(FlakyDevice(broken=True), spool)
    for title in ("R1", "R2", "R3"):
        first.submit_receipt(secret_receipt(title))
    first.close()
    r1, r2, r3 = sorted(spool.iterdir())
    flipped = bytearray(r1.read_bytes())
    flipped[len(flipped) // 2] ^= 1
    r1.write_bytes(bytes(flipped))
    r2.write_bytes(seal(bytes(32), unseal(KEY, r2.read_bytes())))  # another counter's key
    r3.rename(r3.with_name(f"0{r3.name}"))  # renamed: no longer the job it holds

    on = FlakyDevice()
    with caplog.at_level(logging.WARNING, "tillmesh.printing"):
        second = queue(on, spool)
    try:
        second.submit_receipt(secret_receipt("R4"))
        assert second.wait_idle(WAIT_S) and on.printed == ["R4"]
        assert sorted(p.suffix for p in spool.iterdir()) == [".bad"] * 3
        assert caplog.text.count("is unreadable, set aside") == 3
    finally:
        second.close()


def test_a_plain_file_of_the_previous_release_prints_and_is_sealed_meanwhile(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    plain = [{"id": f"01767225600000000-00000{n}", "title": f"C01-2025-00004{n}",
              "created_at": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
              "receipt": to_plain(secret_receipt(f"C01-2025-00004{n}"))} for n in (1, 2)]
    for job in plain:  # as the previous release wrote them
        (spool / f"{job['id']}.json").write_text(json.dumps(job))
    Spool(spool, KEY).write(plain[1])  # sealed, then a crash before its plain file went

    device = FlakyDevice(broken=True)
    q = queue(device, spool)
    try:
        sealed = sorted(spool.iterdir())  # the plain files went as soon as they were read
        assert [p.name for p in sealed] == [f"{job['id']}.job" for job in plain]
        assert not any(b"Jane Customer" in p.read_bytes() for p in sealed)
        device.broken = False
        q.retry_now()
        assert q.wait_idle(WAIT_S) and device.printed == ["C01-2025-000041", "C01-2025-000042"]
        assert not any(spool.iterdir())
    finally:
        q.close()


# --- the seal -------------------------------------------------------------------------


def test_the_spool_key_is_its_own():
    db_key = bytes(range(32))
    assert spool_key(db_key) == spool_key(bytes(db_key))  # the same after a restart
    assert spool_key(db_key) != db_key and len(spool_key(db_key)) == 32
    assert spool_key(db_key) != spool_key(bytes(31) + b"\x01")  # another counter's


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)
records = st.builds(lambda job_id, rest: {**rest, "id": job_id}, st.text(),
                    st.dictionaries(st.text(), json_values, max_size=6))


@given(records, st.binary(min_size=32, max_size=32))
def test_any_record_comes_back_from_its_seal_and_only_with_its_key(record: dict[str, Any],
                                                                   key: bytes):
    blob = seal(key, record)
    assert unseal(key, blob) == record
    with pytest.raises(ValueError):
        unseal(bytes(b ^ 0xFF for b in key), blob)


@given(records, st.data())
def test_any_change_to_a_sealed_file_is_noticed(record: dict[str, Any], data: st.DataObject):
    blob = bytearray(seal(KEY, record))
    at = data.draw(st.integers(0, len(blob) - 1))
    blob[at] ^= data.draw(st.integers(1, 255))
    with pytest.raises(ValueError):
        unseal(KEY, bytes(blob))
    with pytest.raises(ValueError):
        unseal(KEY, bytes(blob[:at]))  # cut short
