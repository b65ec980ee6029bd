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
    ann("shift_close", shift_id=shift, counted={"Cash": "119.99"})
    ann("shift_open", opening={"Cash": "0"})
    ann.sell("4000000000044")
    assert read(node).on_hand == 8


def test_selling_into_negative_stock_is_allowed_and_flagged(node, ann):
    base(node, "1")
    first = ann.sell("4000000000044")
    assert first["negative_stock"] == []
    second = ann.sell("4000000000044")
    assert [(s["item_code"], s["on_hand"]) for s in second["negative_stock"]] == [("WINE", "-1")]
    with node.log.reading() as s:
        assert [x.item_code for x in stock.negative(s, WH)] == ["WINE"]


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
