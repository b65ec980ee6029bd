"""Loyalty points at a counter's till (issue 15): a member's points show on the cart, a
sale says what it earns and the balance after it (for the receipt), and once ERPNext's
entry for the sale is pulled it stands in for the sale's own points, whichever arrives
first. A customer who is not a member, or a member of another company's program, has no
points at this till. A member pays part of a sale in points within the balance the store
knows (refused in ERPNext's words beyond it or beyond the sale); two counters cut off
from each other can spend the same points, and the store's balance then shows it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.nodekit import Till, link, make_node, pull_newer, sync, till_with_shift
from tillmesh.node.api import Node
from tillmesh.node.errors import TillmeshError
from tillmesh.node.printing._layout import ReceiptStyle, Text, sale_receipt
from tillmesh.node.store.event_codec import unpack_body

D = Decimal
BOOK = "4000000000082"  # 12.95, at 7 % VAT


def program(name: str, company: str = "Test Co") -> tuple[str, dict[str, Any]]:
    return ("Loyalty Program", {
        "name": name, "loyalty_program_name": name, "company": company,
        "from_date": "2020-01-01", "expiry_duration": 365,
        "conversion_factor": "0.05" if name == "Fives" else "0.1",
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
    assert sale["view"]["loyalty"] == {"program": "Points", "points": 30, "point_value": "0.1"}
    # 12.95 at the top tier (ERPNext's, recorded: a member earns there until a lower
    # tier's minimum is at least what they spent): 12 points
    assert sale["loyalty"] == {"program": "Points", "redeemed": 0, "balance": 42, "earned": {
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


def pay_with_points(till: Till, to: str, points: Any, cash: str | None = None,
                    ) -> dict[str, Any]:
    cart = till("cart_new", customer=to)["cart_id"]
    view = till("cart_scan", cart_id=cart, code=BOOK)  # 12.95
    amount = cash or str(D(view["due"]) - D(points) / 10)
    return dict(till("sale_submit", cart_id=cart, loyalty_points=points, payments=[
        {"mode_of_payment": "Cash", "amount": amount}]))


def test_points_pay_part_of_a_sale_within_the_balance(node: Node, ann: Till) -> None:
    sale = pay_with_points(ann, "Mia", 25)  # 2.50 of 12.95
    assert (sale["payments"][0]["amount"], sale["totals"]["paid_amount"],
            sale["change"]) == ("10.45", "12.95", "0.00")
    # it earns on what was not paid in whole units of points' worth (12.95 - 2): 10
    assert sale["loyalty"] == {"program": "Points", "redeemed": 25, "balance": 15, "earned": {
        "points": 10, "purchase_amount": "10.95", "tier": "Gold", "expiry_date": "2027-11-26"}}
    body = next(unpack_body(e.body) for e in node.log.events() if e.id == sale["event"])
    assert (body["redeem_loyalty_points"], body["loyalty_points"], body["loyalty_amount"]) == (
        1, 25, "2.50")
    text = [b.text for b in sale_receipt(body, ReceiptStyle(width=32, tz=node.config.tz),
                                         counter="C01").blocks if isinstance(b, Text)]
    assert "25 points" + " " * 19 + "2.50" in text  # a payment line, 32 wide
    assert ann("cart_new", customer="Mia")["loyalty"]["points"] == 15


@pytest.mark.parametrize(("customer", "points", "cash", "words"), [
    ("Mia", 31, None, "You don't have enough Loyalty Points to redeem (30 available)"),
    ("Mia", 30, "0.01", "Paid 0.01 is less than the 9.95 due"),  # 3.00 in points: short
    ("Bob", 10, None, "Bob has no loyalty points at this store"),
    ("Mia", "ten", "12.95", "loyalty_points must be a whole number of points"),
    ("Mia", -5, "12.95", "loyalty_points cannot be negative"),
])
def test_points_beyond_the_balance_or_for_a_non_member_are_refused_and_nothing_is_sold(
        node: Node, ann: Till, customer: str, points: Any, cash: str | None,
        words: str) -> None:
    before = len(list(node.log.events()))
    with pytest.raises(TillmeshError) as refused:
        pay_with_points(ann, customer, points, cash)
    assert words in refused.value.message
    assert [e.kind for e in list(node.log.events())[before:]] == []  # no sale


def test_points_worth_more_than_the_sale_are_refused_and_points_may_pay_all_of_it(
        node: Node, ann: Till) -> None:
    pull_newer(node, [program("Fives"), customer("Zoe", "Fives"),
                      ("Loyalty Point Entry", {**entry("LPE-9", 500, "ERP-9", "500.00")[1],
                                               "customer": "Zoe", "loyalty_program": "Fives"})])
    with pytest.raises(TillmeshError, match="more value than the Total Amount"):
        pay_with_points(ann, "Zoe", 300, cash="0.01")  # 15.00 for 12.95
    # 259 points are 12.95 at 0.05 a point: with money beside them, a typo
    with pytest.raises(TillmeshError, match="The points pay the whole sale"):
        pay_with_points(ann, "Zoe", 259, cash="0.01")
    # alone they pay it: ERPNext takes a cash row of 0 beside them (loyalty-10)
    cart = ann("cart_new", customer="Zoe")["cart_id"]
    ann("cart_scan", cart_id=cart, code=BOOK)
    sold = ann("sale_submit", cart_id=cart, loyalty_points=259, payments=[])
    assert sold["payments"] == [{"mode_of_payment": "Cash", "amount": "0", "type": "Cash",
                                 "account": sold["payments"][0]["account"]}]
    assert (sold["totals"]["paid_amount"], sold["change"]) == ("12.95", "0.00")
    assert points(ann, "Zoe") == 500 - 259
    body = next(unpack_body(e.body) for e in node.log.events() if e.id == sold["event"])
    text = [b.text for b in sale_receipt(body, ReceiptStyle(width=32, tz=node.config.tz),
                                         counter="C01").blocks if isinstance(b, Text)]
    assert "259 points" + " " * 17 + "12.95" in text
    assert "Cash" + " " * 24 + "0.00" not in text  # the row of 0 is for ERPNext only


def test_two_cut_off_counters_can_spend_the_same_points_and_the_store_then_shows_it(
        node: Node, ann: Till, tmp_path: Any) -> None:
    other = make_node(tmp_path / "c02", "C02")
    pull_newer(other, STORE)
    bob = till_with_shift(other)
    pay_with_points(ann, "Mia", 30)
    pay_with_points(bob, "Mia", 30)  # the same 30 points, on a counter cut off from C01
    sync(other.log, node.log)
    sync(node.log, other.log)
    for till in (ann, bob):
        points = till("cart_new", customer="Mia")["loyalty"]["points"]
        assert points == 30 - 30 - 30 + 2 * 9  # each sale earned 9 (12.95 - 3.00)
        with pytest.raises(TillmeshError, match="enough Loyalty Points"):
            pay_with_points(till, "Mia", 1)


def points(till: Till, to: str = "Mia") -> int:
    return int(till("cart_new", customer=to)["loyalty"]["points"])


def test_a_return_at_the_till_takes_its_points_back_at_once(node: Node, ann: Till) -> None:
    """Bought, earned, brought back: the points of what came back are gone before the
    sale reaches ERPNext, so they cannot be redeemed at another till meanwhile."""
    cart = ann("cart_new", customer="Mia")["cart_id"]
    ann("cart_scan", cart_id=cart, code=BOOK)
    view = ann("cart_scan", cart_id=cart, code=BOOK)  # 25.90: 25 points at Gold
    sale = ann("sale_submit", cart_id=cart, payments=[
        {"mode_of_payment": "Cash", "amount": view["due"]}])
    assert points(ann) == 30 + 25
    row = sale["invoice"] + "-1"
    ann("return_create", invoice=sale["invoice"], approver={"user": "sup", "pin": "2222"},
        lines=[{"row": row, "qty": "1"}])
    assert points(ann) == 30 + 12  # as ERPNext enters it again: on 25.90 - 12.95
    ann("return_create", invoice=sale["invoice"], approver={"user": "sup", "pin": "2222"},
        lines=[{"row": row, "qty": "1"}])
    assert points(ann) == 30


def test_a_return_that_arrives_before_its_sale_counts_the_same(
        node: Node, ann: Till, tmp_path: Any) -> None:
    """Another counter took the return; a third hears of the return first."""
    sale = sell_book(ann, "Mia")
    other = make_node(tmp_path / "c02", "C02")
    pull_newer(other, STORE)
    sync(node.log, other.log)
    link(node, other)  # C02 agrees the return with C01
    bob = till_with_shift(other)
    bob("return_create", invoice=sale["invoice"], approver={"user": "sup", "pin": "2222"})
    third = make_node(tmp_path / "c03", "C03")
    pull_newer(third, STORE)
    sync(other.log, third.log)  # the return (and C01's sale with it: C02 holds both)
    late = make_node(tmp_path / "c04", "C04")
    pull_newer(late, STORE)
    for origin in ("C02", "C01"):  # C02's return first, then C01's sale
        with late.log.transaction() as tx:
            for event in other.log.range(origin, 1, other.log.vector()[origin]):
                tx.receive(event)
    sync(other.log, node.log)
    for till in (ann, bob, till_with_shift(third), till_with_shift(late)):
        assert points(till) == 30
