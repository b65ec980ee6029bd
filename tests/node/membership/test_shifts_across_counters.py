"""A supervisor closes another counter's shift; sales that arrive after the close are
late, never dropped, and must be reconciled."""

from __future__ import annotations

import pytest

from tests.nodekit import MASTER, Till, make_node, sync
from tillmesh.node.errors import PermissionDenied, ShiftError, UncountedModes
from tillmesh.node.projections.master_data import upserted_body


def test_late_sales_of_a_cut_off_counter_are_kept_and_reconciled(tmp_path):
    c1, c2 = make_node(tmp_path / "c1", "C01"), make_node(tmp_path / "c2", "C02")
    ann, sup = Till(c1, "ann"), Till(c2, "sup")
    ann("shift_open", opening={"Cash": "100"})
    ann.sell("4000000000044")
    sync(c1.log, c2.log)
    shift = ann("shift_current")["shift"]
    z = sup("shift_close", shift_id=shift,  # from counter C02
            counted={"Cash": "119.99", "Card": "0"})
    assert z["invoices"] == ["C01-2026-000001"]
    late = ann.sell("4000000000082")  # C01 is cut off and has not heard of the close
    sync(c1.log, c2.log)
    sync(c2.log, c1.log)
    for node in (c1, c2):
        listed = Till(node, "sup")("shift_list", status="closed")
        assert [(s["shift"], s["late_unreconciled"]) for s in listed] == [(shift, 1)]
        assert Till(node, "sup")("invoice_get", invoice=late["invoice"])["late"] is True
    bob = Till(c2, "bob")
    with pytest.raises(PermissionDenied):
        bob("shift_reconcile", shift_id=shift, counted={"Cash": "12.95"})
    done = sup("shift_reconcile", shift_id=shift, counted={"Cash": "12.95"})
    assert done["invoices"] == [late["invoice"]]
    assert done["report"]["difference"] == {"Cash": "0.00"}
    assert sup("shift_list", status="closed")[0]["late_unreconciled"] == 0
    with pytest.raises(ShiftError, match="no late sales"):
        sup("shift_reconcile", shift_id=shift, counted={"Cash": "0"})


def test_late_sales_are_reconciled_only_with_every_mode_they_were_paid_in_counted(tmp_path):
    c1, c2 = make_node(tmp_path / "c1", "C01"), make_node(tmp_path / "c2", "C02")
    ann, sup = Till(c1, "ann"), Till(c2, "sup")
    ann("shift_open", opening={"Cash": "100"})
    sync(c1.log, c2.log)
    shift = ann("shift_current")["shift"]
    sup("shift_close", shift_id=shift, counted={"Cash": "100", "Card": "0"})
    ann.sell("4000000000044")  # cash, then card, while C01 has not heard of the close
    by_card = ann.sell("4000000000082", mode="Card")
    sync(c1.log, c2.log)
    with pytest.raises(UncountedModes, match="Card not counted") as refused:
        sup("shift_reconcile", shift_id=shift, counted={"Cash": "19.99"})  # a blank is no 0
    assert refused.value.modes == ["Card"]
    assert sup("shift_list", status="closed")[0]["late_unreconciled"] == 2  # nothing recorded
    done = sup("shift_reconcile", shift_id=shift,
               counted={"Cash": "19.99", "Card": by_card["totals"]["paid_amount"]})
    assert done["report"]["difference"] == {"Card": "0.00", "Cash": "0.00"}


def test_a_mode_the_profile_dropped_during_the_shift_is_still_counted_at_closing(tmp_path):
    """ERPNext took Card out of the POS profile after a card sale: the drawer still holds
    that card money, so the closing must count it (not read it as a 0 shortage)."""
    c1 = make_node(tmp_path / "c1", "C01")
    ann = Till(c1, "ann")
    ann("shift_open", opening={"Cash": "100"})
    by_card = ann.sell("4000000000082", mode="Card")
    profile = next(doc for doctype, doc in MASTER if doctype == "POS Profile")
    with c1.log.transaction() as tx:
        tx.append("master.upserted", upserted_body(
            "POS Profile", {**profile, "payments": [{"mode_of_payment": "Cash", "default": 1}]},
            "2026-11-02 09:00:00.0"))
    shift = ann("shift_current")["shift"]
    with pytest.raises(UncountedModes) as refused:
        ann("shift_close", shift_id=shift, counted={"Cash": "100"})
    assert refused.value.modes == ["Card"]
    card = by_card["totals"]["paid_amount"]
    z = ann("shift_close", shift_id=shift, counted={"Cash": "100", "Card": card})
    assert z["report"]["difference"] == {"Card": "0.00", "Cash": "0.00"}
