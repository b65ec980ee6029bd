"""Loyalty points end to end (issue 15): a store with the loyalty programs of
``tests/lab/recorded/loyalty_store.py`` and a new member. A counter pulls them, sells to
the member offline and says on each sale what it earns; ERPNext, once the day is
forwarded, enters exactly those points for each sale; a return makes ERPNext enter the
sale's points again, less the return; and after the next pull the counter's balance for
the member is ERPNext's, each sale counted once.

Against the simulator always; against a real ERPNext 15 when TILLMESH_ERPNEXT_* is set."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.lab.recorded.loyalty_store import TIERS, make, member
from tests.node.erpnext.sitekit import (
    Site,
    close,
    context,
    drain,
    pricing_store_site,
    pull_into,
    pulled_counter,
)
from tests.nodekit import Till, approver

D = Decimal


@pytest.fixture(scope="module", params=["simulator", "erpnext"])
def site(request: pytest.FixtureRequest) -> Iterator[tuple[Site, str]]:
    """The site, with the programs, and a member of the two-tier program made now."""
    with pricing_store_site(request.param) as (opened, company, _):
        client = opened.client
        # where redeemed points are booked: an expense account (the simulator's chart
        # has none: its write-off account)
        expense = next((a["name"] for a in client.get_list("Account", filters=[
            ["root_type", "=", "Expense"], ["is_group", "=", 0], ["company", "=", company]],
            page_length=1)), None) or opened.get("Company", company)["write_off_account"]
        centre = client.get_list("Cost Center", filters=[
            ["is_group", "=", 0], ["company", "=", company]], page_length=1)[0]["name"]
        make(client.insert, client.exists, company=company, expense_account=expense,
             cost_center=centre)
        customer = client.insert("Customer", member(TIERS, secrets.token_hex(4)))["name"]
        yield opened, str(customer)


def sell(till: Till, customer: str, *lines: tuple[str, int]) -> dict[str, Any]:
    cart = till("cart_new", customer=customer)["cart_id"]
    for code, qty in lines:
        view = till("cart_add", cart_id=cart, item_code=code, qty=str(qty))
    sale = till("sale_submit", cart_id=cart, payments=[
        {"mode_of_payment": context(till.node).cash_mode, "amount": view["due"]}])
    return {**sale, "points_before": view["loyalty"]["points"]}


def erpnext_entries(site: Site, customer: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for row in site.client.get_list("Loyalty Point Entry", filters=[["customer", "=", customer]],
                                    fields=["invoice", "loyalty_points", "purchase_amount",
                                            "loyalty_program_tier", "expiry_date"],
                                    page_length=0):
        found.setdefault(str(row["invoice"]), []).append(row)
    return found


def test_a_member_earns_offline_what_erpnext_enters_and_the_balance_is_counted_once(
        site: tuple[Site, str], tmp_path: Path) -> None:
    opened, customer = site
    counter = pulled_counter(opened, tmp_path)
    ann = Till(counter, "ann")
    shift = ann("shift_open", opening={context(counter).cash_mode: "100.00"})["shift"]
    sales = [sell(ann, customer, ("PR-01", 10)), sell(ann, customer, ("PR-10", 12)),
             sell(ann, customer, ("PR-02", 3), ("PR-05", 2))]
    # offline: each sale says what it earns, and the next starts from the balance after it
    assert [s["points_before"] for s in sales] == [0, sales[0]["loyalty"]["balance"],
                                                  sales[1]["loyalty"]["balance"]]
    assert all(s["loyalty"]["earned"]["points"] > 0 for s in sales)
    back = ann("return_create", invoice=sales[1]["invoice"], approver=approver("sup"),
               lines=[{"row": f"{sales[1]['invoice']}-1", "qty": "5"}])
    close(ann, shift)
    drain(opened.forwarder(counter))
    entered = erpnext_entries(opened, customer)
    for sale in (sales[0], sales[2]):
        theirs, ours = entered[sale["invoice"]], sale["loyalty"]["earned"]
        assert [(int(e["loyalty_points"]), D(str(e["purchase_amount"])),
                 e["loyalty_program_tier"], str(e["expiry_date"])) for e in theirs] == [
            (ours["points"], D(ours["purchase_amount"]), ours["tier"], ours["expiry_date"])]
    # the returned sale: entered again, less the return (ERPNext's own arithmetic)
    returned = -D(back["totals"]["grand_total"])
    again = entered[sales[1]["invoice"]]
    assert [D(str(e["purchase_amount"])) for e in again] == [
        D(sales[1]["loyalty"]["earned"]["purchase_amount"]) - returned]
    total = sum(int(e["loyalty_points"]) for rows in entered.values() for e in rows
                if date.fromisoformat(str(e["expiry_date"])) >= date.today())
    # before the pull the counter counts its own sales' points (not the return: ERPNext
    # enters that); after it, ERPNext's entries stand in for them, each sale once
    view = ann("cart_new", customer=customer)
    assert view["loyalty"]["points"] == sales[2]["loyalty"]["balance"]
    assert pull_into(opened, counter).errors == []
    assert ann("cart_new", customer=customer)["loyalty"]["points"] == total
