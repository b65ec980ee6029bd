"""Pricing Rules at a counter's till (issue 15): what a cashier sees and sells when the
store's rules have been pulled: a rule on an item group, a quantity break judged again
as the quantity changes, a line priced by hand left as the cashier priced it, a profile
that ignores rules, a rule this counter cannot apply shown as such, and a free item that
follows its line, is sold, and reaches ERPNext marked as free."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.nodekit import MASTER, Till, approver, pull_newer, till_with_shift
from tillmesh.node.api import Node
from tillmesh.node.erpnext import _documents as documents
from tillmesh.node.store.event_codec import unpack_body

D = Decimal
PROFILE = next(doc for doctype, doc in MASTER if doctype == "POS Profile")


def rule(name: str, title: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    return ("Pricing Rule", {
        "name": name, "title": title, "apply_on": "Item Code", "selling": 1,
        "price_or_product_discount": "Price", "company": "Test Co", "currency": "EUR",
        "items": [], "item_groups": [], "brands": [], **fields})


RULES = [
    ("Item Group", {"name": "All Item Groups", "parent_item_group": ""}),
    ("Item Group", {"name": "Products", "parent_item_group": "All Item Groups"}),
    # 10 % off everything in the root group: BOOK's group is below it
    rule("PRLE-0001", "Books 10%", apply_on="Item Group",
         item_groups=[{"item_group": "All Item Groups"}], rate_or_discount="Discount Percentage",
         discount_percentage=10),
    # wine: 2.00 off a bottle from 3 bottles
    rule("PRLE-0002", "Wine from 3", items=[{"item_code": "WINE"}], priority="2",
         rate_or_discount="Discount Amount", discount_amount=2, min_qty=3),
    # apples: one more kilo free per two bought (whole multiples)
    rule("PRLE-0003", "Apples 2+1", items=[{"item_code": "APPLE"}], priority="3",
         price_or_product_discount="Product", same_item=1, is_recursive=1, recurse_for=2,
         free_qty=1, round_free_qty=1, min_qty=2),
    # a rule on quantities bought over time, beyond this counter
    rule("PRLE-0004", "Wine club deal", items=[{"item_code": "WINE"}], is_cumulative=1,
         rate_or_discount="Discount Percentage", discount_percentage=50),
]


@pytest.fixture
def ann(node: Node) -> Till:
    pull_newer(node, RULES)
    return till_with_shift(node)


def line_of(view: dict[str, Any], code: str, free: bool = False) -> dict[str, Any]:
    return next(ln for ln in view["lines"] if ln["item_code"] == code
                and ln["is_free_item"] == free)


def test_a_group_rule_prices_the_line_and_is_named_on_it(ann: Till) -> None:
    cart = ann("cart_new")["cart_id"]
    view = ann("cart_scan", cart_id=cart, code="4000000000082")  # BOOK 12.95
    book = line_of(view, "BOOK")
    assert (D(book["rate"]), book["promotions"]) == (D("11.66"), ["Books 10%"])
    assert book["pricing_rules"] == ["PRLE-0001"]


def test_a_quantity_break_is_judged_again_as_the_quantity_changes(ann: Till) -> None:
    cart = ann("cart_new")["cart_id"]
    view = ann("cart_add", cart_id=cart, item_code="WINE", qty="2")
    wine = line_of(view, "WINE")
    # below the break: the list price. ERPNext looks no further than the rules on the
    # item itself once it has found one (the group rule is not tried).
    assert (D(wine["rate"]), wine["promotions"]) == (D("19.99"), [])
    assert wine["not_applied"] == ["Wine club deal (cumulative quantities)"]
    view = ann("cart_set_qty", cart_id=cart, line=0, qty="3")
    wine = line_of(view, "WINE")
    assert (D(wine["rate"]), wine["promotions"]) == (D("17.99"), ["Wine from 3"])
    view = ann("cart_set_qty", cart_id=cart, line=0, qty="1")
    assert (D(line_of(view, "WINE")["rate"]), line_of(view, "WINE")["promotions"]) == (
        D("19.99"), [])


def test_a_line_priced_by_hand_keeps_the_cashiers_price(ann: Till) -> None:
    cart = ann("cart_new")["cart_id"]
    ann("cart_scan", cart_id=cart, code="4000000000082")
    view = ann("cart_line_discount", cart_id=cart, line=0, percent="5",
               approver=approver("sup"))
    book = line_of(view, "BOOK")
    assert (D(book["rate"]), book["promotions"]) == (D("12.30"), [])


def test_a_profile_that_ignores_pricing_rules_sells_at_the_list_price(node: Node,
                                                                       ann: Till) -> None:
    pull_newer(node, [("POS Profile", {**PROFILE, "ignore_pricing_rule": 1})])
    cart = ann("cart_new")["cart_id"]
    view = ann("cart_scan", cart_id=cart, code="4000000000082")
    assert (D(line_of(view, "BOOK")["rate"]), line_of(view, "BOOK")["promotions"]) == (
        D("12.95"), [])


def test_a_free_item_follows_its_line_is_sold_and_reaches_erpnext_marked_free(
        node: Node, ann: Till) -> None:
    cart = ann("cart_new")["cart_id"]
    view = ann("cart_add", cart_id=cart, item_code="APPLE", qty="5")
    free = line_of(view, "APPLE", free=True)
    assert (D(free["qty"]), D(free["amount"]), free["line"], free["promotions"]) == (
        D(2), D(0), None, ["Apples 2+1"])
    with pytest.raises(Exception, match="no line"):  # not a line of the cart
        ann("cart_set_qty", cart_id=cart, line=1, qty="1")
    view = ann("cart_set_qty", cart_id=cart, line=0, qty="1")
    assert [ln["is_free_item"] for ln in view["lines"]] == [False]  # below the rule
    view = ann("cart_set_qty", cart_id=cart, line=0, qty="4")
    sale = ann("sale_submit", cart_id=cart, payments=[
        {"mode_of_payment": "Cash", "amount": view["due"]}])
    event = next(e for e in node.log.events() if e.id == sale["event"])
    rows = documents.pos_invoice(unpack_body(event.body), origin_event=event.id,
                                 site=documents.Site("Test Co", PROFILE["name"], "ann"))["items"]
    assert (rows[0].get("is_free_item"), rows[1]["is_free_item"]) == (None, 1)
    assert (rows[1]["item_code"], rows[1]["qty"], rows[1]["rate"]) == ("APPLE", D(2), D(0))
