"""Loyalty points at a counter's till (issue 15): a member's points show on the cart, a
sale says what it earns and the balance after it (for the receipt), and once ERPNext's
entry for the sale is pulled it stands in for the sale's own points, whichever arrives
first. A customer who is not a member, or a member of another company's program, has no
points at this till."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.nodekit import Till, make_node, pull_newer, sync, till_with_shift
from tillmesh.node.api import Node
from tillmesh.node.printing._layout import ReceiptStyle, Text, sale_receipt
from tillmesh.node.store.event_codec import unpack_body

D = Decimal
BOOK = "4000000000082"  # 12.95, at 7 % VAT


def program(name: str, company: str = "Test Co") -> tuple[str, dict[str, Any]]:
    return ("Loyalty Program", {
        "name": name, "loyalty_program_name": name, "company": company,
        "from_date": "2020-01-01", "conversion_factor": "0.1", "expiry_duration": 365,
        "collection_rules": [{"tier_name": "Silver", "min_spent": 0, "collection_factor": 2},
                             {"tier_name": "Gold", "min_spent": 100, "collection_factor": 1}]})


def customer(name: str, loyalty_program: str = "") -> tuple[str, dict[str, Any]]:
    return ("Customer", {"name": name, "customer_name": name, "disabled": 0,
                         "loyalty_program": loyalty_program})


def entry(name: str, points: int, invoice: str, amount: str) -> tuple[str, dict[str, Any]]:
    return ("Loyalty Point Entry", {
        "name": name, "customer": "Mia", "loyalty_program": "Points", "invoice": invoice,
        "invoice_type": "POS Invoice", "loyalty_points": points, "purchase_amount": amount,
        "posting_date": "2026-11-20", "expiry_date": "2027-11-20", "company": "Test Co"})


STORE = [program("Points"), program("Elsewhere", company="Other Co"), customer("Mia", "Points"),
         customer("Bob"), customer("Eve", "Elsewhere"), entry("LPE-1", 30, "ERP-1", "30.00")]


@pytest.fixture
def ann(node: Node) -> Till:
    pull_newer(node, STORE)
    return till_with_shift(node)


def sell_book(till: Till, to: str) -> dict[str, Any]:
    cart = till("cart_new", customer=to)["cart_id"]
    view = till("cart_scan", cart_id=cart, code=BOOK)
    return {**till("sale_submit", cart_id=cart, payments=[
        {"mode_of_payment": "Cash", "amount": view["due"]}]), "view": view}


def test_a_members_points_show_and_a_sale_says_what_it_earns(node: Node, ann: Till) -> None:
    sale = sell_book(ann, "Mia")
    assert sale["view"]["loyalty"] == {"program": "Points", "points": 30}
    # 12.95 at the top tier (ERPNext's, recorded: a member earns there until a lower
    # tier's minimum is at least what they spent): 12 points
    assert sale["loyalty"] == {"program": "Points", "balance": 42, "earned": {
        "points": 12, "purchase_amount": "12.95", "tier": "Gold",
        "expiry_date": "2027-11-26"}}
    assert ann("cart_new", customer="Mia")["loyalty"]["points"] == 42
    body = next(unpack_body(e.body) for e in node.log.events() if e.id == sale["event"])
    text = [b.text for b in sale_receipt(body, ReceiptStyle(width=32, tz=node.config.tz),
                                         counter="C01").blocks if isinstance(b, Text)]
    assert text[text.index("Points earned                 12"):][:2] == [
        "Points earned                 12", "Points balance                42"]


@pytest.mark.parametrize("entry_first", [False, True])
def test_erpnexts_entry_for_a_sale_stands_in_for_its_own_points(
        node: Node, ann: Till, tmp_path: Any, entry_first: bool) -> None:
    sale = sell_book(ann, "Mia")
    # ERPNext entered 13 points for it (say its tiers changed meanwhile): the store
    # counts ERPNext's, once, on a counter that got the entry before the sale too
    theirs = [entry("LPE-2", 13, sale["invoice"], "12.95")]
    other = make_node(tmp_path / "c02", "C02")
    if entry_first:
        pull_newer(other, STORE + theirs)
        sync(node.log, other.log)
    else:
        sync(node.log, other.log)
        pull_newer(other, theirs)
    pull_newer(node, theirs)
    for where in (node, other):
        assert Till(where, "ann")("cart_new", customer="Mia")["loyalty"]["points"] == 43


def test_no_points_for_a_customer_outside_this_companys_programs(ann: Till) -> None:
    for name in ("Bob", "Eve"):
        sale = sell_book(ann, name)
        assert (sale["view"]["loyalty"], sale["loyalty"]) == (None, None)
