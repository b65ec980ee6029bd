"""Contract tests of per-shift delivery (issue 14): a shift reaches ERPNext as consolidated
Sales Invoices, end to end, against the simulator always and a real ERPNext 15 when
TILLMESH_ERPNEXT_* is set (sitekit). Setup makes the Sales Invoice fields; a shift with
change given, a card payment, a partial return and a return of a sale of an earlier,
already consolidated shift made on another counter is booked to the cent; every sale is
acked as carried by its invoice, and the shift counts as in Bin for the pull; a forwarder
that lost its acks finds every invoice there (409) and books no second copy; a shift that
oversells waits in the exceptions queue whole, and goes once ERPNext has the stock; late
sales reach
ERPNext in an invoice of their own. (A shift ERPNext refuses waits whole: its invoice
carries every sale, so the fix is in ERPNext, e.g. the stock that was missing.)

Each counter has a random id, so runs never collide on a shared site."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.node.erpnext.sitekit import (
    Site,
    Writes,
    blank_counter,
    close,
    context,
    delivery,
    drain,
    open_site,
    pulled_counter,
    sell,
    sellable,
)
from tests.nodekit import Till, approver, link, sync
from tillmesh.node.api import Node
from tillmesh.node.domain.totals import recorded_due
from tillmesh.node.erpnext import Check, setup
from tillmesh.node.erpnext._forwarder import consolidated_shifts
from tillmesh.node.erpnext._per_shift import SALES_INVOICE, tag
from tillmesh.node.erpnext._setup import ORIGIN_FIELD, SHIFT_FIELD
from tillmesh.node.projections import deliveries
from tillmesh.node.projections.deliveries import Delivery
from tillmesh.node.projections.outbox import CLOSING, INVOICE, OPENING

D = Decimal


@pytest.fixture(scope="module", params=["simulator", "simulator-16", "simulator-16-si",
                                        "erpnext"])
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    with open_site(request.param, per_shift=True) as opened:
        yield opened


@pytest.fixture
def counter(site: Site, tmp_path: Path) -> Node:
    return pulled_counter(site, tmp_path)


def walk_in(site: Site) -> str:
    return str(site.get("POS Profile", site.pos_profile)["customer"])


def sales_of(site: Site, shift: str) -> dict[str, dict[str, Any]]:
    """The Sales Invoices ERPNext holds for ``shift``, by name."""
    rows = site.client.get_list(SALES_INVOICE, filters=[["name", "like", f"{shift}-%"]],
                                page_length=0)
    return {r["name"]: site.get(SALES_INVOICE, r["name"]) for r in rows}


def test_setup_makes_the_sales_invoice_fields(site: Site) -> None:
    assert all(c.ok for c in site.checks), [c.line() for c in site.checks]
    made = {c.what for c in site.checks}
    for field in (ORIGIN_FIELD, SHIFT_FIELD):
        assert f"custom field {SALES_INVOICE}.{field}" in made
    assert f"permission on {SALES_INVOICE}" in made
    again: list[Check] = []
    assert setup(site.client, site.pos_profile, again.append, per_shift=True)


def test_a_shift_is_booked_to_the_cent_with_returns_of_any_shift(site: Site,
                                                                  tmp_path: Path) -> None:
    c01 = pulled_counter(site, tmp_path)
    c02 = blank_counter(site, tmp_path)
    sync(c01.log, c02.log)
    link(c01, c02)  # C02's return of C01's sale is agreed with C01
    first, second = sellable(c01, 2)
    ctx = context(c01)
    ann, bob = Till(c01, "ann"), Till(c02, "ann")
    earlier = ann("shift_open", opening={ctx.cash_mode: "50.00"})["shift"]
    old = sell(ann, (first, 2))
    close(ann, earlier)
    drain(site.forwarder(c01))  # that shift is in ERPNext before its sale comes back
    assert sorted(sales_of(site, earlier)) == [f"{earlier}-S-{tag(walk_in(site))}"]

    shift = ann("shift_open", opening={ctx.cash_mode: "100.00"})["shift"]
    cart = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=cart, item_code=first, qty="1")
    ann("cart_add", cart_id=cart, item_code=second, qty="2")
    due = D(ann("cart_get", cart_id=cart)["due"])
    change = ann("sale_submit", cart_id=cart, payments=[  # 20.00 more: change given
        {"mode_of_payment": ctx.cash_mode, "amount": str(due + 20)}])
    card_mode = next(m for m in ctx.modes if m != ctx.cash_mode)
    in_cash = sell(ann, (second, 1))
    cart = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=cart, item_code=first, qty="1")
    due = ann("cart_get", cart_id=cart)["due"]
    by_card = ann("sale_submit", cart_id=cart, payments=[
        {"mode_of_payment": card_mode, "amount": due}])
    partial = ann("return_create", invoice=change["invoice"], approver=approver("sup"),
                  lines=[{"row": f"{change['invoice']}-2", "qty": "1"}])
    sync(c01.log, c02.log)
    shift2 = bob("shift_open", opening={ctx.cash_mode: "100.00"})["shift"]
    cross = bob("return_create", invoice=old["invoice"], approver=approver("sup"))
    close(bob, shift2)
    close(ann, shift)
    sync(c01.log, c02.log)
    drain(site.forwarder(c02))

    sold, returned = [change, in_cash, by_card], [partial]
    held = sales_of(site, shift)
    customer = tag(walk_in(site))
    assert sorted(held) == [f"{shift}-R-{customer}", f"{shift}-S-{customer}"]
    sales, credit = held[f"{shift}-S-{customer}"], held[f"{shift}-R-{customer}"]
    assert (sales["docstatus"], sales["is_consolidated"], sales["status"]) == (1, 1, "Paid")
    assert (credit["is_return"], credit.get("return_against"), credit["status"]) == (
        1, None, "Return")
    assert D(str(sales["rounded_total"] or sales["grand_total"])) == sum(
        D(recorded_due(s["totals"])) for s in sold)
    assert D(str(credit["rounded_total"] or credit["grand_total"])) == sum(
        D(recorded_due(r["totals"])) for r in returned)
    paid = {p["mode_of_payment"]: D(str(p["amount"])) for p in sales["payments"]}
    owed = [D(recorded_due(s["totals"])) for s in sold]
    assert paid == {ctx.cash_mode: owed[0] + owed[1], card_mode: owed[2]}  # net of change
    assert D(str(sales["change_amount"])) == 0 and D(str(sales["outstanding_amount"])) == 0
    # sent last, the sales' invoice names the shift: the pull takes its stock as in Bin
    assert (sales.get(SHIFT_FIELD), credit.get(SHIFT_FIELD) or None) == (shift, None)
    # the other counter's return of the earlier shift's sale is in its own shift's note
    (other,) = sales_of(site, shift2).values()
    assert (other["is_return"], D(str(other["rounded_total"] or other["grand_total"]))) == (
        1, D(recorded_due(cross["totals"])))
    for answer in [*sold, *returned]:
        state = delivery(c02, INVOICE, answer["invoice"])
        assert (state.delivery, state.erpnext_name in held) == (Delivery.ACKED, True)
    for doctype in (OPENING, CLOSING):
        assert delivery(c02, doctype, shift).delivery is Delivery.ACKED
    assert site.count(OPENING, shift) == 0 and site.count(INVOICE, change["invoice"]) == 0
    assert {shift, shift2, earlier} <= set(consolidated_shifts(
        site.client, site.pos_profile, shift_invoices=True))


def test_a_forwarder_that_lost_its_acks_books_nothing_twice(site: Site,
                                                              tmp_path: Path) -> None:
    c01 = pulled_counter(site, tmp_path)
    c02 = blank_counter(site, tmp_path)
    (code,) = sellable(c01, 1)
    ann = Till(c01, "ann")
    shift = ann("shift_open", opening={context(c01).cash_mode: "0"})["shift"]
    for _ in range(3):
        sell(ann, (code, 1))
    close(ann, shift)
    sync(c01.log, c02.log)  # C02 holds the shift, and none of the acks to come
    drain(site.forwarder(c01))
    writes = Writes()
    drain(site.forwarder(c02, writes))
    assert writes.sent == [f"POST /api/v2/document/{SALES_INVOICE}"]  # answered 409
    assert delivery(c02, CLOSING, shift).delivery is Delivery.ACKED
    (name,) = sales_of(site, shift)
    origin = site.get(SALES_INVOICE, name)[ORIGIN_FIELD]
    assert site.client.get_list(SALES_INVOICE, filters=[[ORIGIN_FIELD, "=", origin]],
                                page_length=0) == [{"name": name}]
    again = Writes()
    assert drain(site.forwarder(c01, again)) == 0 and again.sent == []


def test_an_oversold_shift_waits_whole_then_goes_once_fixed(site: Site,
                                                            counter: Node) -> None:
    fine, scarce = sellable(counter, 2)
    ctx = context(counter)
    # What a Sales Invoice's stock check counts: the ledger (Bin), not the POS figure,
    # which also takes off POS Invoices not yet consolidated on the site
    (available,) = [b["actual_qty"] for b in site.client.get_list(
        "Bin", fields=["actual_qty"], filters=[["item_code", "=", scarce],
                                               ["warehouse", "=", ctx.warehouse]])] or [0]
    ann, sup = Till(counter, "ann"), Till(counter, "sup")
    shift = ann("shift_open", opening={ctx.cash_mode: "0"})["shift"]
    opened_at = datetime.now(ZoneInfo(site.timezone))  # site-local, as ERPNext posts
    ok = sell(ann, (fine, 1))["invoice"]
    short = max(int(D(str(available))), 0) + 1
    over = sell(ann, (scarce, short))["invoice"]
    close(ann, shift)
    drain(site.forwarder(counter))

    refused = delivery(counter, CLOSING, shift)  # in ERPNext's words, the shift whole
    assert refused.delivery is Delivery.FAILED
    assert (refused.status, refused.exc_type) == (417, "NegativeStockError")
    assert scarce in (refused.message or "")
    assert [e["id"] for e in sup("exceptions_list")] == [f"{CLOSING}/{shift}"]
    assert sales_of(site, shift) == {}
    with counter.read() as s:  # nothing half-done: its sales are not acked
        assert deliveries.get(s, INVOICE, ok) is None
    # Stock booked in ERPNext before the shift (it had arrived unrecorded), then a retry.
    site.client.insert("Stock Entry", {
        "stock_entry_type": "Material Receipt", "company": ctx.company, "docstatus": 1,
        "set_posting_time": 1, "posting_date": opened_at.date().isoformat(),
        "posting_time": (opened_at - timedelta(minutes=1)).strftime("%H:%M:%S"),
        "items": [{"item_code": scarce, "qty": short, "t_warehouse": ctx.warehouse,
                   "basic_rate": 1}]})
    sup("exception_retry", id=f"{CLOSING}/{shift}")
    drain(site.forwarder(counter))
    (doc,) = sales_of(site, shift).values()
    assert sorted(r["item_code"] for r in doc["items"]) == sorted([fine, scarce])
    for invoice in (ok, over):
        assert delivery(counter, INVOICE, invoice).erpnext_name == doc["name"]
    assert sup("exceptions_list") == []


def test_late_sales_reach_erpnext_in_an_invoice_of_their_own(site: Site,
                                                             tmp_path: Path) -> None:
    c01 = pulled_counter(site, tmp_path)
    c02 = blank_counter(site, tmp_path)
    sync(c01.log, c02.log)
    (code,) = sellable(c01, 1)
    ann, sup, cash = Till(c01, "ann"), Till(c02, "sup"), context(c01).cash_mode
    shift = ann("shift_open", opening={cash: "0"})["shift"]
    on_time = sell(ann, (code, 1))["invoice"]
    sync(c01.log, c02.log)
    close(sup, shift)
    late = sell(ann, (code, 1))  # C01 has not heard of the closing
    sync(c01.log, c02.log)
    drain(site.forwarder(c02))
    (first,) = sales_of(site, shift).values()
    assert delivery(c02, INVOICE, on_time).erpnext_name == first["name"]
    with c02.read() as s:  # owed, waiting for a supervisor
        assert deliveries.get(s, INVOICE, late["invoice"]) is None

    sup("shift_reconcile", shift_id=shift, counted={cash: late["totals"]["paid_amount"]})
    drain(site.forwarder(c02))
    event = next(e.id for e in c02.log.events() if e.kind == "shift.late_reconciled")
    pair = f"{shift}-L-{event.replace(':', '-')}"
    (doc,) = sales_of(site, pair).values()
    assert D(str(doc["rounded_total"] or doc["grand_total"])) == D(recorded_due(late["totals"]))
    assert delivery(c02, INVOICE, late["invoice"]).erpnext_name == doc["name"]
    assert pair in consolidated_shifts(site.client, site.pos_profile, shift_invoices=True)
