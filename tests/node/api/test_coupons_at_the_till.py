"""Coupons at a counter's till (issue 15): the cashier types or scans the customer's
coupon and the cart is priced with its promotion; a coupon ERPNext would refuse (not
valid yet, expired, used up across the store, someone else's gift card, a profile that
ignores rules) is refused in ERPNext's words and the cart is left as it was; the sale
names the coupon for ERPNext, a return of it does not; and the store's count of a
coupon's uses is the same whatever order the sales and their deliveries arrive in."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.nodekit import MASTER, Till, approver, make_node, pull_newer, sync, till_with_shift
from tillmesh.node.api import Node
from tillmesh.node.erpnext import _documents as documents
from tillmesh.node.errors import TillmeshError
from tillmesh.node.projections import coupon_uses
from tillmesh.node.store.event_codec import unpack_body

D = Decimal
PROFILE = next(doc for doctype, doc in MASTER if doctype == "POS Profile")
BOOK = "4000000000082"  # 12.95


def coupon(name: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    return ("Coupon Code", {"name": name, "coupon_name": name, "coupon_code": name.upper(),
                            "coupon_type": "Promotional", "pricing_rule": "PRLE-0001",
                            "maximum_use": 100, "used": 0, **fields})


STORE: list[tuple[str, dict[str, Any]]] = [
    ("Item Group", {"name": "All Item Groups", "parent_item_group": ""}),
    ("Pricing Rule", {
        "name": "PRLE-0001", "title": "Book week 20%", "apply_on": "Item Code", "selling": 1,
        "price_or_product_discount": "Price", "company": "Test Co", "currency": "EUR",
        "items": [{"item_code": "BOOK"}], "item_groups": [], "brands": [],
        "rate_or_discount": "Discount Percentage", "discount_percentage": 20,
        "coupon_code_based": 1}),
    ("Customer", {"name": "Mia", "customer_name": "Mia", "disabled": 0}),
    coupon("bookweek"),
    coupon("twice", maximum_use=2, used=1),  # ERPNext counted one use already
    coupon("soon", valid_from="2026-12-01"),
    coupon("over", valid_upto="2026-11-25"),
    coupon("gift-mia", coupon_type="Gift Card", customer="Mia"),
]


@pytest.fixture
def ann(node: Node) -> Till:
    pull_newer(node, STORE)
    return till_with_shift(node)


def book_cart(till: Till) -> str:
    cart = till("cart_new")["cart_id"]
    till("cart_scan", cart_id=cart, code=BOOK)
    return str(cart)


def rate(view: dict[str, Any]) -> Decimal:
    return D(view["lines"][0]["rate"])


def test_a_typed_coupon_prices_the_cart_with_its_promotion_until_it_is_taken_off(
        ann: Till) -> None:
    cart = book_cart(ann)
    assert rate(ann("cart_get", cart_id=cart)) == D("12.95")  # a coupon rule: not without it
    view = ann("cart_set_coupon", cart_id=cart, code="bookweek")  # typed in lower case
    assert view["coupon"] == {"name": "bookweek", "code": "BOOKWEEK",
                              "promotion": "Book week 20%"}
    assert (rate(view), view["lines"][0]["promotions"]) == (D("10.36"), ["Book week 20%"])
    view = ann("cart_remove_coupon", cart_id=cart)
    assert (view["coupon"], rate(view)) == (None, D("12.95"))


def test_a_scanned_coupon_is_taken_like_a_typed_one(ann: Till) -> None:
    cart = book_cart(ann)
    view = ann("cart_scan", cart_id=cart, code="BOOKWEEK")
    assert (view["coupon"]["code"], rate(view), len(view["lines"])) == ("BOOKWEEK",
                                                                        D("10.36"), 1)
    with pytest.raises(TillmeshError, match="Unknown barcode NOT-A-COUPON"):
        ann("cart_scan", cart_id=cart, code="NOT-A-COUPON")


@pytest.mark.parametrize(("code", "words"), [
    ("SOON", "Sorry, this coupon code's validity has not started (SOON: from 2026-12-01)"),
    ("OVER", "Sorry, this coupon code's validity has expired (OVER: until 2026-11-25)"),
    ("GIFT-MIA", "Gift card GIFT-MIA belongs to Mia"),
    ("NOSUCH", "No coupon 'NOSUCH' at this store"),
])
def test_a_coupon_the_till_cannot_take_is_refused_and_the_cart_is_left_as_it_was(
        ann: Till, code: str, words: str) -> None:
    cart = book_cart(ann)
    before = ann("cart_get", cart_id=cart)
    with pytest.raises(TillmeshError) as refused:
        ann("cart_set_coupon", cart_id=cart, code=code)
    assert refused.value.message.startswith(words)
    assert ann("cart_get", cart_id=cart) == before


def test_a_gift_card_is_taken_for_its_customer(ann: Till) -> None:
    cart = book_cart(ann)
    ann("cart_set_customer", cart_id=cart, customer="Mia")
    assert rate(ann("cart_set_coupon", cart_id=cart, code="GIFT-MIA")) == D("10.36")


def test_a_profile_that_ignores_pricing_rules_takes_no_coupon(node: Node, ann: Till) -> None:
    pull_newer(node, [("POS Profile", {**PROFILE, "ignore_pricing_rule": 1})])
    with pytest.raises(TillmeshError, match="Ignore Pricing Rule is enabled. Cannot apply"):
        ann("cart_set_coupon", cart_id=book_cart(ann), code="BOOKWEEK")


def sell(till: Till, cart: str) -> dict[str, Any]:
    due = till("cart_get", cart_id=cart)["due"]
    return dict(till("sale_submit", cart_id=cart,
                     payments=[{"mode_of_payment": "Cash", "amount": due}]))


def test_a_coupon_used_up_on_another_counter_is_refused_here_even_in_a_cart(
        node: Node, ann: Till, tmp_path: Any) -> None:
    other = make_node(tmp_path / "c02", "C02")
    pull_newer(other, STORE)
    bob = Till(other, "ann")
    bob("shift_open", opening={"Cash": "0", "Card": "0"})
    held = book_cart(ann)
    ann("cart_set_coupon", cart_id=held, code="TWICE")  # 1 of 2 used: taken
    cart = book_cart(bob)
    bob("cart_set_coupon", cart_id=cart, code="TWICE")
    sell(bob, cart)  # the second use, on C02
    sync(other.log, node.log)
    with pytest.raises(TillmeshError, match=r"no longer valid \(TWICE: used 2 of 2 times\)"):
        sell(ann, held)
    assert ann("cart_get", cart_id=held)["coupon"]["code"] == "TWICE"  # the cart is kept
    view = ann("cart_remove_coupon", cart_id=held)
    assert sell(ann, held)["invoice"]  # sold without it, at the list price
    assert D(view["totals"]["grand_total"]) == D("12.95")


def test_the_sale_names_the_coupon_for_erpnext_and_its_return_does_not(
        node: Node, ann: Till) -> None:
    cart = book_cart(ann)
    ann("cart_set_coupon", cart_id=cart, code="BOOKWEEK")
    sale = sell(ann, cart)
    site = documents.Site("Test Co", PROFILE["name"], "ann")
    body = next(unpack_body(e.body) for e in node.log.events() if e.id == sale["event"])
    assert (body["coupon_code"], body["coupon"]) == ("bookweek", "BOOKWEEK")
    assert documents.pos_invoice(body, site=site, origin_event=sale["event"])[
        "coupon_code"] == "bookweek"
    back = ann("return_create", invoice=sale["invoice"], approver=approver("sup"))
    returned = next(unpack_body(e.body) for e in node.log.events()
                    if e.kind == "sale.returned" and unpack_body(e.body)["invoice"]
                    == back["invoice"])
    assert "coupon_code" not in returned
    assert "coupon_code" not in documents.pos_invoice(returned, site=site, origin_event="x",
                                                      original=body)


@pytest.mark.parametrize("ack_first", [False, True])
def test_a_use_delivered_without_its_coupon_counts_in_any_arrival_order(
        tmp_path: Any, ack_first: bool) -> None:
    # C01 sells with the coupon; C03 forwards it and acks that ERPNext took it without
    # the coupon. C02 may get C03's ack before C01's sale: it counts the same.
    seller = make_node(tmp_path / "c01", "C01")
    pull_newer(seller, STORE)
    till = Till(seller, "ann")
    till("shift_open", opening={"Cash": "0", "Card": "0"})
    cart = book_cart(till)
    till("cart_set_coupon", cart_id=cart, code="BOOKWEEK")
    invoice = sell(till, cart)["invoice"]
    forwarder = make_node(tmp_path / "c03", "C03", seeded=False)
    sync(seller.log, forwarder.log)
    with forwarder.log.transaction() as tx:
        tx.append("forward.acked", {"doctype": "POS Invoice", "name": invoice,
                                    "erpnext_name": invoice, "by": "C03",
                                    "at": "2026-11-26T10:00:00+00:00",
                                    "coupon_unlinked": True, "note": "refused"})
    reader = make_node(tmp_path / "c02", "C02", seeded=False)
    events = sorted(forwarder.log.events(), key=lambda e: (e.origin != "C03") == ack_first)
    with reader.log.transaction() as tx:
        for event in events:
            tx.receive(event)
    for node in (forwarder, reader):
        with node.read() as s:
            got = coupon_uses.uses(s, node.context(s).coupons["bookweek"])
        assert (got.linked, got.unlinked, got.pending, got.total) == (0, 1, 0, 1)
