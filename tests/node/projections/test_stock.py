"""Stock on hand: ERPNext's base plus the PN-counter deltas the base does not include."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.nodekit import Till, approver, dump, make_node, sync
from tillmesh.node.projections import stock
from tillmesh.node.projections.stock import base_body

WH = "Stores - T"


def read(node, item="WINE"):
    with node.log.reading() as s:
        return stock.on_hand(s, item, WH)


def base(node, qty, consolidated=()):
    with node.log.transaction() as tx:
        tx.append("stock.base", base_body(WH, {"WINE": Decimal(qty)}, list(consolidated),
                                          "2026-11-26T10:00:00+00:00"))


def test_sales_and_returns_move_on_hand_from_the_base(node, ann):
    base(node, "5")
    sale = ann.sell("4000000000044", "4000000000044")
    assert read(node).on_hand == 3
    ann("return_create", invoice=sale["invoice"], approver=approver("sup"),
        lines=[{"row": f"{sale['invoice']}-1", "qty": "1"}])
    assert (read(node).base, read(node).pending, read(node).on_hand) == (5, -1, 4)


def test_a_base_that_already_includes_a_shift_does_not_count_it_twice(node, ann):
    base(node, "10")
    ann.sell("4000000000044")
    shift = ann("shift_current")["shift"]
    assert read(node).on_hand == 9
    base(node, "9", consolidated=[shift])  # ERPNext consolidated that shift: Bin moved
    assert read(node).on_hand == 9
    ann("shift_close", shift_id=shift, counted={"Cash": "119.99", "Card": "0"})
    ann("shift_open", opening={"Cash": "0"})
    ann.sell("4000000000044")
    assert read(node).on_hand == 8


def test_selling_into_negative_stock_is_allowed_and_flagged(node, ann):
    base(node, "1")
    first = ann.sell("4000000000044")
    assert first["negative_stock"] == []
    second = ann.sell("4000000000044")
    assert [(s["item_code"], s["on_hand"]) for s in second["negative_stock"]] == [("WINE", "-1")]
    # each item of the sale that went below zero, by item code (no base: from 0)
    third = ann.sell("4000000000044", "4000000000082", "4000000000082")
    assert [(s["item_code"], s["on_hand"]) for s in third["negative_stock"]] == [
        ("BOOK", "-2"), ("WINE", "-2")]
    with node.log.reading() as s:
        assert [x.item_code for x in stock.negative(s, WH)] == ["BOOK", "WINE"]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["C01", "C02"]), st.integers(1, 3)), max_size=8),
       st.integers(0, 50))
def test_on_hand_is_the_same_on_every_counter_whatever_the_order(tmp_path_factory, sales, qty):
    """PN-counter merge: any delivery order of two counters' sales gives one on-hand."""
    nodes = {c: make_node(tmp_path_factory.mktemp(c), c) for c in ("C01", "C02")}
    tills = {c: Till(n, "ann") for c, n in nodes.items()}
    for till in tills.values():
        till("shift_open", opening={"Cash": "0"})
    base(nodes["C01"], str(qty))
    for counter, n in sales:
        cart = tills[counter]("cart_new")["cart_id"]
        tills[counter]("cart_add", cart_id=cart, item_code="WINE", qty=str(n))
        due = tills[counter]("cart_get", cart_id=cart)["due"]
        tills[counter]("sale_submit", cart_id=cart,
                       payments=[{"mode_of_payment": "Cash", "amount": due}])
    sync(nodes["C01"].log, nodes["C02"].log)
    sync(nodes["C02"].log, nodes["C01"].log)
    expected = qty - sum(n for _, n in sales)
    assert read(nodes["C01"]).on_hand == read(nodes["C02"]).on_hand == expected
    assert dump(nodes["C01"].log) == dump(nodes["C02"].log)


def test_late_sales_count_under_their_own_entry_pair_in_any_order(tmp_path):
    """A late sale is not in its shift's closing: a base that includes the shift lacks it
    until its own entry pair (reconciliation) consolidates, and the same on a counter
    that heard the events in another order."""
    c1, c2 = make_node(tmp_path / "c1", "C01"), make_node(tmp_path / "c2", "C02")
    ann, sup = Till(c1, "ann"), Till(c2, "sup")
    shift = ann("shift_open", opening={"Cash": "0"})["shift"]
    ann.sell("4000000000044")
    sync(c1.log, c2.log)
    sup("shift_close", shift_id=shift, counted={"Cash": "0", "Card": "0"})
    ann.sell("4000000000044", "4000000000044")  # C01 was cut off: two late WINEs
    sync(c1.log, c2.log)
    base(c2, "9", consolidated=[shift])  # ERPNext's Bin after the shift's closing
    assert read(c2).on_hand == 7
    sup("shift_reconcile", shift_id=shift, counted={"Cash": "0"})
    assert read(c2).on_hand == 7
    entry = next(e for e in c2.log.events() if e.kind == "shift.late_reconciled").id
    pair = f"{shift}-L-{entry.replace(':', '-')}"
    base(c2, "7", consolidated=[shift, pair])  # the pair consolidated too
    assert read(c2).on_hand == 7
    # Another counter hears the reconciliation and the base before the late sales.
    c3 = make_node(tmp_path / "c3", "C03")
    last = max(e.seq for e in c1.log.events() if e.kind == "sale.submitted")
    with c3.log.transaction() as tx:
        for event in c2.log.events():
            if not (event.origin == "C01" and event.seq == last):
                tx.receive(event)
    sync(c2.log, c3.log)
    assert read(c3).on_hand == 7
    assert dump(c3.log)["stock_deltas"] == dump(c2.log)["stock_deltas"]
