"""A counter restored from a backup gets back from a peer what it sold after the backup
before it records anything (issue 13, point 3), with real `tillmesh run` processes.

C02 sells, is backed up, sells on (those sales reach C01), and its disk dies. Restored
while C01 is away, it refuses to record anything, saying why; once C01 is back it has
all its sales again, and its next sale follows them: no sequence number, invoice number
or clock stamp of its own is used twice, and C01 takes it (no fork of C02's chain).
"""

from __future__ import annotations

import shutil
import time

import pytest

from tests.clusterkit import CONVERGE_S, admin, converge, invite, join
from tests.proc import NodeProcess, Nodes, demo_barcodes, network, ok, sell_one, tillmesh
from tillmesh.node.errors import StoreError
from tillmesh.node.ops.config import load
from tillmesh.node.store import read_key_file
from tillmesh.node.store._engine import _connect

PHRASE = "correct horse battery staple"


def sell(proc: NodeProcess, count: int) -> list[dict]:
    with proc.client() as c:
        c.login("cashier", "1111")
        if c.call("shift_current") is None:
            c.shift_open({"Cash": "100.00"})
        return [sell_one(c, code) for code in demo_barcodes(count)]


def number(invoice: str) -> int:
    return int(invoice.rsplit("-", 1)[1])


def test_a_restored_counter_sells_again_only_after_getting_its_later_sales_back():
    with Nodes() as nodes:
        c01 = nodes.start(nodes.init(*network(), node="C01"))
        c02 = nodes.start(join(nodes, invite(c01), "C02"))
        before = sell(c02, 3)
        backup = nodes.tmp() / "C02.backup"
        ok(tillmesh(c02.data_dir, "backup", str(backup), stdin=PHRASE + "\n"))
        after = sell(c02, 4)  # after the backup: only C01 keeps them
        held = converge([c01, c02])
        c02.kill()
        shutil.rmtree(c02.data_dir)  # the disk died
        c01.stop()  # away while C02 comes back: C02 must wait

        data_dir = nodes.tmp() / "d"
        data_dir.mkdir(mode=0o700)  # as install.sh makes it for the service user
        said = ok(tillmesh(data_dir, "restore", str(backup), stdin=PHRASE + "\n"))
        assert "records nothing until every other counter (C01) has linked to it" in said
        c02 = nodes.start(data_dir)
        with c02.client() as c:
            state = c.call("counter_state")
            assert (state["state"], state["selling"]) == ("catching_up", False)
            assert "restored from a backup" in state["reason"]
            with pytest.raises(StoreError, match="records nothing"):
                c.login("cashier", "1111")  # a login is an event: not one before it caught up

        c01 = nodes.start(c01.data_dir)
        deadline = time.monotonic() + CONVERGE_S
        with c02.client() as c:
            while c.call("counter_state")["state"] != "active":
                assert time.monotonic() < deadline, "never caught up"
                time.sleep(0.05)
        with admin(c02) as c:
            assert c.call("status")["vector"]["C02"] >= held["C02"]
            invoices = {s["invoice"] for s in c.call("invoice_list", limit=1000)}
        assert {s["invoice"] for s in before + after} <= invoices

        (sale,) = sell(c02, 1)
        assert number(sale["invoice"]) == number(after[-1]["invoice"]) + 1
        seq = int(sale["event"].split(":")[1])
        assert seq > held["C02"]
        converge([c01, c02])
        with admin(c01) as c:  # C01 took the new sale on top of the chain it held
            assert sale["invoice"] in {s["invoice"] for s in c.call("invoice_list", limit=1000)}
            assert c.call("security_status")["forks"] == []
        config = load(data_dir)
        conn = _connect(config.db_path, read_key_file(config.key_path))
        try:
            (earlier,) = conn.execute("SELECT max(hlc) FROM events WHERE origin = 'C02' AND "
                                      "seq < ?", (seq,)).fetchone()
            (stamp,) = conn.execute("SELECT hlc FROM events WHERE origin = 'C02' AND seq = ?",
                                    (seq,)).fetchone()
        finally:
            conn.close()
        assert stamp > earlier  # its clock did not go back behind what it got back
