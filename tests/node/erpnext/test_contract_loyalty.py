"""Loyalty points end to end (issue 15): a store with the loyalty programs of
``tests/lab/recorded/loyalty_store.py`` and a new member. A counter pulls them, sells to
the member offline (once paying part in points) and says on each sale what it earns;
ERPNext, once the day is forwarded (the sale that redeems after the sales whose points it
spends), enters exactly those points for each sale and takes the points redeemed; a
return makes ERPNext enter the sale's points again, less the return; every sale is
consolidated; and after the next pull the counter's balance for the member is ERPNext's,
each sale counted once.

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
    blank_counter,
    close,
    context,
    delivery,
    drain,
    pricing_store_site,
    pull_into,
    pulled_counter,
)
from tests.nodekit import Till, approver, sync

D = Decimal


@pytest.fixture(scope="module", params=[("simulator", False), ("simulator-16", False),
                                        ("simulator-16-si", False), ("erpnext", False),
                                        ("simulator", True), ("erpnext", True)],
                ids=["simulator", "simulator-16", "simulator-16-si", "erpnext",
                     "simulator per shift", "erpnext per shift"])
def site(request: pytest.FixtureRequest) -> Iterator[tuple[Site, str]]:
    """The site, with the programs, and a member of the two-tier program made now; per
    sale, or per shift (a member's sales then go as Sales Invoices of their own)."""
    kind, per_shift = request.param
    with pricing_store_site(kind, per_shift=per_shift) as (opened, company, _):
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


def sell(till: Till, customer: str, *lines: tuple[str, int], redeem: int = 0,
         ) -> dict[str, Any]:
    cart = till("cart_new", customer=customer)["cart_id"]
    for code, qty in lines:
        view = till("cart_add", cart_id=cart, item_code=code, qty=str(qty))
    program = context(till.node).loyalty_programs[view["loyalty"]["program"]]
    cash = D(view["due"]) - program.worth(redeem)
    sale = till("sale_submit", cart_id=cart, loyalty_points=redeem, payments=[
        {"mode_of_payment": context(till.node).cash_mode, "amount": str(cash)}] if cash
                else [])  # the points pay it all
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
             # points pay part of a sale: the rest is paid in cash, and it earns on the rest
             sell(ann, customer, ("PR-12", 2), redeem=55),
             sell(ann, customer, ("PR-02", 3), ("PR-05", 2))]
    # offline: each sale says what it earns, and the next starts from the balance after it
    assert [s["points_before"] for s in sales] == [0, *(s["loyalty"]["balance"]
                                                       for s in sales[:-1])]
    assert all(s["loyalty"]["earned"]["points"] > 0 for s in sales)
    redeemed = sales[2]
    assert (redeemed["payments"][0]["amount"], redeemed["totals"]["paid_amount"]) == (
        str(D(redeemed["totals"]["grand_total"]) - D("5.50")), redeemed["totals"]["grand_total"])
    assert redeemed["loyalty"]["balance"] == sales[1]["loyalty"]["balance"] - 55 + redeemed[
        "loyalty"]["earned"]["points"]
    # a return of a sale whose points no redemption took (ERPNext refuses one whose points
    # were redeemed: loyalty-07; which earlier sale's points a redemption takes is
    # ERPNext's choice among entries expiring the same day)
    back = ann("return_create", invoice=sales[3]["invoice"], approver=approver("sup"),
               lines=[{"row": f"{sales[3]['invoice']}-1", "qty": "2"}])
    # points pay a whole sale: ERPNext takes it with a cash row of 0 (loyalty-10)
    whole = sell(ann, customer, ("PR-16", 4), redeem=20)
    assert [D(p["amount"]) for p in whole["payments"]] == [D(0)]
    close(ann, shift)
    drain(opened.forwarder(counter))
    # everything delivered: a refusal would show here in ERPNext's words
    assert [(e["id"], e["message"]) for e in Till(counter, "sup")("exceptions_list")] == []
    entered = erpnext_entries(opened, customer)
    for sale in (sales[0], sales[1], sales[2]):
        theirs, ours = entered[sale["invoice"]], sale["loyalty"]["earned"]
        assert [(int(e["loyalty_points"]), D(str(e["purchase_amount"])),
                 e["loyalty_program_tier"], str(e["expiry_date"])) for e in theirs
                if int(e["loyalty_points"]) > 0] == [
            (ours["points"], D(ours["purchase_amount"]), ours["tier"], ours["expiry_date"])]
    assert -sum(int(e["loyalty_points"]) for e in entered[redeemed["invoice"]]
                if int(e["loyalty_points"]) < 0) == 55
    # per sale a POS Invoice, consolidated at the close (or ERPNext 16's Sales Invoice,
    # paid and listed by the closing); per shift a Sales Invoice of its own, named as the
    # sale, paid
    doctype, done = ("Sales Invoice", "Paid") if opened.per_shift else (
        opened.sale_doctype, "Consolidated" if opened.caps.consolidates else "Paid")
    booked = opened.get(doctype, redeemed["invoice"])
    assert (booked["status"], booked["redeem_loyalty_points"], booked["loyalty_points"],
            D(str(booked["loyalty_amount"]))) == (done, 1, 55, D("5.50"))
    booked = opened.get(doctype, whole["invoice"])
    assert (booked["status"], booked["loyalty_points"], D(str(booked["loyalty_amount"])),
            D(str(booked["paid_amount"])), D(str(booked["grand_total"])),
            D(str(booked["outstanding_amount"]))) == (
        done, 20, D("2.00"), D("2.00"), D("2.00"), D(0))
    assert sum(int(e["loyalty_points"]) for e in entered[whole["invoice"]]) == -20
    # the returned sale: entered again, less the return (ERPNext's own arithmetic)
    returned = -D(back["totals"]["grand_total"])
    again = entered[sales[3]["invoice"]]
    assert [D(str(e["purchase_amount"])) for e in again] == [
        D(sales[3]["loyalty"]["earned"]["purchase_amount"]) - returned]
    total = sum(int(e["loyalty_points"]) for rows in entered.values() for e in rows
                if date.fromisoformat(str(e["expiry_date"])) >= date.today())
    # before the pull the counter counts its own sales' points, the returned one's on
    # what was kept, as ERPNext entered them; after it, ERPNext's entries stand in for
    # them, each sale once
    kept = ann("cart_new", customer=customer)["loyalty"]["points"]
    assert kept < sales[3]["loyalty"]["balance"]
    assert pull_into(opened, counter).errors == []
    assert ann("cart_new", customer=customer)["loyalty"]["points"] == total == kept


def test_points_spent_twice_by_cut_off_counters_hold_the_second_sale_with_what_to_do(
        site: tuple[Site, str], tmp_path: Path) -> None:
    opened, _ = site
    customer = str(opened.client.insert("Customer", member(TIERS, secrets.token_hex(4)))["name"])
    b = pulled_counter(opened, tmp_path)
    c = blank_counter(opened, tmp_path)
    sync(b.log, c.log)
    first = Till(b, "ann")
    shift = first("shift_open", opening={context(b).cash_mode: "0"})["shift"]
    earned = sell(first, customer, ("PR-10", 3))["loyalty"]["balance"]  # 29 points
    close(first, shift)
    sync(b.log, c.log)  # then the two lose each other
    spent, shifts = [], []
    for node in (b, c):
        till = Till(node, "ann")
        shifts.append(till("shift_open", opening={context(node).cash_mode: "0"})["shift"])
        spent.append(sell(till, customer, ("PR-01", 2), redeem=earned))
        close(till, shifts[-1])
    sync(c.log, b.log)
    drain(opened.forwarder(b))
    # per sale the second sale waits; per shift its whole shift (its Sales Invoice is one
    # of the shift's documents, and a refused shift waits whole)
    states = [delivery(b, "POS Closing Entry", shift) for shift in shifts] if opened.per_shift \
        else [delivery(b, "POS Invoice", sale["invoice"]) for sale in spent]
    assert sorted(s.delivery.value for s in states) == ["acked", "failed"]
    held = next(s for s in states if s.delivery.value == "failed")
    assert held.message is not None and held.message.startswith(
        "You don't have enough Loyalty Points to redeem")
    assert "collect the points' worth from the customer" in held.message
    assert Till(b, "ann")("cart_new", customer=customer)["loyalty"]["points"] < 0
