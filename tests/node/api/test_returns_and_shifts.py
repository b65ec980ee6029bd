"""Returns, cash movements and closing shifts on one counter (in process)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.nodekit import FakeClock, Till, approver, make_node, sync
from tillmesh.node.errors import PermissionDenied, ReturnError, ShiftError, ValidationError
from tillmesh.node.projections import ledger

D = Decimal




def _sale(ann, *lines, discount=None):
    cart = ann("cart_new")["cart_id"]
    for code, qty in lines:
        ann("cart_add", cart_id=cart, item_code=code, qty=qty)
    if discount:
        ann("cart_discount", cart_id=cart, percent=discount)
    due = ann("cart_get", cart_id=cart)["due"]
    return ann("sale_submit", cart_id=cart, payments=[{"mode_of_payment": "Cash", "amount": due}])


def test_full_return_refunds_exactly_what_was_paid(ann):
    sale = _sale(ann, ("WINE", "2"), ("BOOK", "1"), discount="5")
    ret = ann("return_create", invoice=sale["invoice"], approver=approver("sup"))
    assert D(ret["refund"]) == D(sale["totals"]["rounded_total"])
    got = ann("invoice_get", invoice=ret["invoice"])
    assert got["is_return"] and got["return_against"] == sale["invoice"]
    assert [i["qty"] for i in got["items"]] == ["-2.000", "-1.000"]
    assert [i["pos_invoice_item"] for i in got["items"]] == [
        f"{sale['invoice']}-1", f"{sale['invoice']}-2"]
    assert got["totals"]["grand_total"] == "-" + sale["totals"]["grand_total"]
    assert got["payments"][0]["amount"] == "-" + ret["refund"]


def test_partial_returns_never_exceed_what_was_sold(ann):
    sale = _sale(ann, ("WINE", "3"))
    row = f"{sale['invoice']}-1"
    sup = approver("sup")
    ann("return_create", invoice=sale["invoice"], lines=[{"row": row, "qty": "2"}], approver=sup)
    with pytest.raises(ReturnError, match="already returned 2.000, 1.000 left"):
        ann("return_create", invoice=sale["invoice"], lines=[{"row": row, "qty": "2"}],
            approver=sup)
    last = ann("return_create", invoice=sale["invoice"], approver=sup)  # the rest
    assert last["refund"] == "19.99"
    with pytest.raises(ReturnError, match="returned already"):
        ann("return_create", invoice=sale["invoice"], approver=sup)
    assert ann("invoice_get", invoice=sale["invoice"])["items"][0]["returned_qty"] == "3.000"


def test_returns_need_a_supervisor_and_are_audited(node, ann):
    sale = _sale(ann, ("BOOK", "1"))
    with pytest.raises(PermissionDenied, match="supervisor PIN"):
        ann("return_create", invoice=sale["invoice"])
    ann("return_create", invoice=sale["invoice"], approver=approver("sup"))
    audit = [a for a in Till(node, "sup")("audit_list") if a["kind"] == "audit.return"]
    assert audit[0]["approver"] == "sup" and audit[0]["return_against"] == sale["invoice"]


def test_return_refund_split_must_add_up(ann):
    sale = _sale(ann, ("BOOK", "2"))
    with pytest.raises(ValidationError, match="add up to 25.90"):
        ann("return_create", invoice=sale["invoice"], approver=approver("sup"),
            payments=[{"mode_of_payment": "Cash", "amount": "20"}])
    ret = ann("return_create", invoice=sale["invoice"], approver=approver("sup"), payments=[
        {"mode_of_payment": "Cash", "amount": "20"},
        {"mode_of_payment": "Card", "amount": "5.90"}])
    assert ret["refund"] == "25.90"


def test_a_return_of_a_return_or_unknown_invoice_is_refused(ann):
    sale = _sale(ann, ("BOOK", "1"))
    ret = ann("return_create", invoice=sale["invoice"], approver=approver("sup"))
    with pytest.raises(ReturnError, match="itself a return"):
        ann("return_create", invoice=ret["invoice"], approver=approver("sup"))
    with pytest.raises(ReturnError, match="no row"):
        ann("return_create", invoice=sale["invoice"], approver=approver("sup"),
            lines=[{"row": "nope", "qty": "1"}])


def test_x_report_and_close_with_counted_cash(node, ann):
    _sale(ann, ("WINE", "1"))  # 19.99 cash
    ann("cash_move", direction="in", amount="20", reason="coins from bank")
    with pytest.raises(PermissionDenied):
        ann("cash_move", direction="out", amount="50", reason="bank drop")
    ann("cash_move", direction="out", amount="50", reason="bank drop", approver=approver("sup"))
    x = ann("shift_report")["report"]
    assert x["expected"] == {"Card": "0.00", "Cash": "89.99"}
    shift = ann("shift_current")["shift"]
    z = ann("shift_close", shift_id=shift, counted={"Cash": "89.00", "Card": "0"})
    assert z["report"]["difference"] == {"Card": "0.00", "Cash": "-0.99"}
    assert z["invoices"] == ["C01-2026-000001"]
    assert z["covers"]["C01"] >= 1
    assert ann("shift_current") is None
    with pytest.raises(ShiftError, match="already closed"):
        ann("shift_close", shift_id=shift, counted={"Cash": "89"})
    assert ann("shift_report", shift_id=shift)["report"]["counted"]["Cash"] == "89.00"


def test_supervisor_closes_a_shift_someone_else_opened(node, ann):
    bob = Till(node, "bob")
    shift = ann("shift_current")["shift"]
    with pytest.raises(PermissionDenied):
        bob("shift_close", shift_id=shift, counted={"Cash": "100", "Card": "0"})
    sup = Till(node, "sup")
    z = sup("shift_close", shift_id=shift, counted={"Cash": "100", "Card": "0"})
    assert (z["closed_by"], z["status"], z["cashier"]) == ("sup", "closed", "ann")
    assert sup("shift_list", status="closed")[0]["closed_by"] == "sup"


def test_bad_shift_input(node):
    ann = Till(node, "ann")
    with pytest.raises(ValidationError):
        ann("shift_open", opening={"Cash": "-5"})
    with pytest.raises(ValidationError):
        ann("shift_open", opening="lots")
    with pytest.raises(ShiftError, match="open a shift"):
        ann("cash_move", direction="in", amount="5", reason="x")
    ann("shift_open", opening={"Cash": "0"})
    with pytest.raises(ValidationError, match="reason"):
        ann("cash_move", direction="in", amount="5", reason=" ")
    with pytest.raises(ValidationError, match="direction"):
        ann("cash_move", direction="sideways", amount="5", reason="x")


class Frozen(FakeClock):
    """A clock that never moves: two counters stamp their events alike."""

    def __call__(self):
        return self.now


def test_equal_stamps_list_in_the_same_order_on_every_counter(tmp_path):
    c01 = make_node(tmp_path / "c1", "C01", clock=Frozen())
    c02 = make_node(tmp_path / "c2", "C02", clock=Frozen())
    for node in (c01, c02):
        till = Till(node, "ann")
        till("shift_open", opening={"Cash": "0"})
        till.sell("4000000000044")
    sync(c01.log, c02.log)
    sync(c02.log, c01.log)
    with c01.read() as s:
        stamps = {r.hlc for r in s.scalars(select(ledger.SaleRow))}
    assert len(stamps) == 1  # the tie this test is about
    lists = [[row["invoice"] for row in Till(node, "ann")("invoice_list")] for node in (c01, c02)]
    assert lists[0] == lists[1] == ["C02-2026-000001", "C01-2026-000001"]
