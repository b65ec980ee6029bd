"""A counter whose disk died without a backup is rebuilt from its peers alone (issue 13,
point 3), with real `tillmesh run` processes, as IT does it (README, "Backup and
restore"): revoke the dead counter from a live one, join a new machine under a new code.

Nothing that had replicated is lost: the dead counter's sales are on the new counter,
still owed to ERPNext (the forwarder sends them), and its open shift is counted and
closed there by a supervisor, while the new counter sells under its own code.
"""

from __future__ import annotations

import shutil

from tests.clusterkit import admin, converge, invite, join, logged_in
from tests.proc import NodeProcess, Nodes, demo_barcodes, network, ok, sell_one, tillmesh


def invoices(proc: NodeProcess) -> set[str]:
    with admin(proc) as c:
        return {s["invoice"] for s in c.call("invoice_list", limit=1000)}


def test_a_dead_counter_is_replaced_by_a_new_one_that_holds_all_it_had_replicated():
    with Nodes() as nodes:
        c01 = nodes.start(nodes.init(*network(), node="C01"))
        c02 = nodes.start(join(nodes, invite(c01), "C02"))
        with c02.client() as c:
            c.login("cashier", "1111")
            shift = c.shift_open({"Cash": "100.00"})["shift"]
            sold = [sell_one(c, code)["invoice"] for code in demo_barcodes(5)]
        converge([c01, c02])
        with admin(c01) as c:
            owed = c.call("deliveries_pending")["pending"]["POS Invoice"]
        c02.kill()
        shutil.rmtree(c02.data_dir)  # the disk died, and no backup

        said = ok(tillmesh(c01.data_dir, "revoke", "C02", "--user", "admin",
                           stdin="1234\n"))
        assert '"revoked": "C02"' in said
        c03 = nodes.start(join(nodes, invite(c01), "C03"))  # a new machine, a new code
        converge([c01, c03])

        assert set(sold) <= invoices(c03)
        with admin(c03) as c:  # still owed to ERPNext: whichever counter forwards sends them
            assert c.call("deliveries_pending")["pending"]["POS Invoice"] == owed >= 5
            assert {m["node"]: m["revoked"] for m in c.call("members")} == {
                "C01": False, "C02": True, "C03": False}
        with logged_in(c03, "supervisor", "2222") as c:  # C02's shift, counted on C03
            expected = c.call("shift_report", shift_id=shift)["report"]["expected"]
            modes = [m["name"] for m in c.call("status")["modes_of_payment"]]
            z = c.call("shift_close", shift_id=shift,
                       counted={m: expected.get(m, "0") for m in modes})
        assert sorted(z["invoices"]) == sorted(sold)
        assert z["report"]["sales_count"] == 5 and set(z["report"]["difference"].values()) == {
            "0.00"}
        with c03.client() as c:
            c.login("cashier", "1111")
            c.shift_open({"Cash": "100.00"})
            assert sell_one(c, demo_barcodes(1)[0])["invoice"].startswith("C03-")
        converge([c01, c03])
        with admin(c01) as c:
            closed = {s["shift"] for s in c.call("shift_list", status="closed")}
        assert shift in closed
