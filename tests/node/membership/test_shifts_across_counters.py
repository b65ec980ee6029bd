"""A supervisor closes another counter's shift; sales that arrive after the close are
late, never dropped, and must be reconciled."""

from __future__ import annotations

import pytest

from tests.nodekit import Till, make_node, sync
from tillmesh.node.errors import PermissionDenied, ShiftError, UncountedModes


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
