"""A full disk at a till (issue 13, point 5): a sale is refused in one sentence a cashier
understands, nothing is corrupted, the log says it once a minute with a count rather than
once per replication drain, and selling goes on by itself once there is room. The real
case runs on a small filesystem of its own (tmpfs; root)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from tests.faults import disks as small_disks
from tests.proc import Nodes, demo_barcodes, network, sell_one
from tillmesh.node.errors import DiskFull, StoreError
from tillmesh.node.ops.logs import Throttled
from tillmesh.node.store.event_log import DISK_FULL, not_recorded

SMALL_FS = "24m"  # room for the demo counter (~2 MiB) and its WAL, little more


def test_a_full_disk_is_one_sentence_and_other_errors_lose_sqlalchemys_wrapping():
    full = OperationalError("INSERT …", {}, Exception("database or disk is full"))
    assert isinstance(not_recorded(full), DiskFull) and not_recorded(full).message == DISK_FULL
    other = not_recorded(OperationalError("INSERT …", {}, Exception("database is locked")))
    assert type(other) is StoreError and other.message == "could not record: database is locked"


@given(st.lists(st.floats(min_value=0, max_value=30, allow_nan=False), max_size=60),
       st.floats(min_value=0.5, max_value=60))
def test_a_repeating_problem_is_said_once_per_interval_and_counted_whole(gaps, every):
    throttled, now, said, total = Throttled(every), 0.0, [], 0
    for gap in gaps:
        now += gap
        total += 1
        if (times := throttled.due(now)) is not None:
            said.append((now, times))
    assert all(b[0] - a[0] >= every for a, b in zip(said, said[1:], strict=False))
    assert sum(times for _, times in said) + throttled._since == total  # none lost
    assert not gaps or said[0] == (gaps[0], 1)  # the first is said at once


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a filesystem of its own needs root (CI has it)")
    where = tmp_path / "disk"
    where.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL_FS},mode=0700",
                           "tmpfs", str(where)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Every free byte of ``disk`` taken by one file."""
    filler = disk / "filler"
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_refuses_a_sale_in_one_sentence_and_selling_comes_back(small_disk):
    with Nodes() as nodes:
        data_dir = nodes.init(*network(), node="C01")
        counter = small_disk / "c01"
        shutil.copytree(data_dir, counter)
        node = nodes.start(counter)
        with node.client() as client:
            client.login("cashier", "1111")
            client.shift_open({"Cash": "100.00"})
            first = sell_one(client, demo_barcodes(1)[0])["invoice"]
            filler = fill(small_disk)
            refused = []
            for code in demo_barcodes(3):
                with pytest.raises(DiskFull) as caught:
                    sell_one(client, code)
                refused.append(caught.value.message)
            assert refused == [DISK_FULL] * 3
            filler.unlink()  # IT frees space: the next sale goes through, nothing to restart
            second = sell_one(client, demo_barcodes(1)[0])["invoice"]
            assert [i["invoice"] for i in client.call("invoice_list")][:2] == [second, first]
        node.stop()
        assert "Background on this error" not in node.stderr()


@pytest.mark.skipif(small_disks.unavailable() is not None,
                    reason=f"{small_disks.unavailable()}: no ext4 disk of its own")
def test_a_counter_killed_on_a_full_disk_starts_again_and_sells_once_there_is_room(
        tmp_path):
    # A frustrated cashier power-cycles a till whose disk is full: it must come back and
    # say why it cannot take a login (one sentence), not die opening its own store. On
    # ext4 with 4 KiB blocks, as a till's disk is (SQLite's memory-mapped -shm index is
    # then whole on disk; on a tmpfs, whose pages come when touched, it cannot start).
    with Nodes() as nodes, small_disks.Disks() as disks:
        disk = disks.disk(tmp_path / "disk", 64)
        counter = disk / "c01"
        shutil.copytree(nodes.init(*network(), node="C01"), counter)
        node = nodes.start(counter, logs=tmp_path)  # a till logs to journald, not its disk
        with node.client() as client:
            client.login("cashier", "1111")
            client.shift_open({"Cash": "100.00"})
            first = sell_one(client, demo_barcodes(1)[0])["invoice"]
            disks.fill(disk)
        node.kill()
        node = nodes.start(counter, logs=tmp_path)
        with node.client() as client:
            with pytest.raises(DiskFull) as caught:  # a login is audited: not recorded
                client.login("cashier", "1111")
            assert caught.value.message == DISK_FULL
            disks.free(disk)  # no restart: the counter that runs takes the login now
            client.login("cashier", "1111")
            assert client.invoice_get(first)["invoice"] == first
            second = sell_one(client, demo_barcodes(1)[0])["invoice"]
            assert [i["invoice"] for i in client.call("invoice_list")][:2] == [second, first]
        node.stop()
