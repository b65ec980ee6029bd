"""A sale returned in another counter's shift reaches ERPNext's books whole, in any order
the shifts close (ERPNext rule B: a return consolidates only with or after its sale).

The simulator refuses a closing whose return's original is not consolidated, as ERPNext
15 does (``../shared/erpnext/NOTES.md``, "Consolidation"); here every closing must be
Submitted without a supervisor, every sale consolidated once, and each closing's counted
difference the drawer's own."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tests.node.erpnext.test_forwarder import MILK, SOAP, demo_node, drain, forwarder, state
from tests.nodekit import Till, approver, link, sync
from tillmesh.lab.demo_data import POS_PROFILE, WAREHOUSE
from tillmesh.node.erpnext import Direct, ErpNextClient, pull
from tillmesh.node.erpnext._forwarder import consolidated_shifts
from tillmesh.node.projections import stock
from tillmesh.node.projections.deliveries import Delivery
from tillmesh.node.projections.outbox import CLOSING, INVOICE, OPENING, Due, consolidation_order

D = Decimal


def counters(tmp_path):
    c1 = demo_node(tmp_path / "c1")
    c2 = demo_node(tmp_path / "c2", "C02", seeded_from=c1)
    link(c1, c2)  # a return of the other's sale is agreed with it
    return c1, c2


def both_ways(a, b) -> None:
    sync(a.log, b.log)
    sync(b.log, a.log)


def sell(till: Till, code: str) -> str:
    till.node.clock.advance(minutes=1)
    cart = till("cart_new")["cart_id"]
    till("cart_add", cart_id=cart, item_code=code, qty="1")
    due = till("cart_get", cart_id=cart)["due"]
    return str(till("sale_submit", cart_id=cart, payments=[
        {"mode_of_payment": "Cash", "amount": due}])["invoice"])


def open_and_sell(node, code: str) -> tuple[Till, str, str]:
    till = Till(node, "ann")
    shift = till("shift_open", opening={"Cash": "100.00"})["shift"]
    return till, shift, sell(till, code)


def give_back(till: Till, sale: str) -> str:
    till.node.clock.advance(minutes=1)
    return till("return_create", invoice=sale, approver=approver("sup"),
                lines=[{"row": f"{sale}-1", "qty": "1"}])["invoice"]


def close(till: Till, shift: str, short: str = "0.00") -> None:
    till.node.clock.advance(minutes=1)
    expected = {"Card": "0", **till("shift_report", shift_id=shift)["report"]["expected"]}
    till("shift_close", shift_id=shift,
         counted={m: str(D(a) - D(short if m == "Cash" else "0")) for m, a in expected.items()})


def consolidated_once(erpnext, invoices) -> None:
    """Every invoice in exactly one Submitted closing, and every closing Submitted."""
    closings = erpnext.docs(CLOSING)
    assert {c["status"] for c in closings} == {"Submitted"}, [
        (c["name"], c["status"], c.get("error_message")) for c in closings]
    listed = [t["pos_invoice"] for c in closings for t in c["pos_transactions"]]
    assert sorted(listed) == sorted(invoices)
    assert {erpnext.get(INVOICE, i)["status"] for i in invoices} == {"Consolidated"}


def bin_qty(erpnext, item: str) -> D:
    return D(str(next(b["actual_qty"] for b in erpnext.docs("Bin")
                      if b["item_code"] == item and b["warehouse"] == WAREHOUSE)))


def cash_difference(erpnext, shift: str) -> D:
    rows = erpnext.get(CLOSING, shift)["payment_reconciliation"]
    return next(D(str(r["closing_amount"])) - D(str(r["expected_amount"]))
                for r in rows if r["mode_of_payment"] == "Cash")


def test_two_counters_returning_each_others_sales_both_consolidate(tmp_path, erpnext):
    c1, c2 = counters(tmp_path)
    t1, shift1, sale1 = open_and_sell(c1, MILK)
    t2, shift2, sale2 = open_and_sell(c2, SOAP)
    both_ways(c1, c2)
    back1, back2 = give_back(t2, sale1), give_back(t1, sale2)  # each returns the other's
    close(t1, shift1, short="1.00")
    close(t2, shift2)
    both_ways(c1, c2)
    fwd = forwarder(c1, erpnext)
    while state(c1, CLOSING, shift1) is None:  # ordering alone would wait for ever here
        assert asyncio.run(fwd.cycle()), "nothing was due"
    # C01's closing went first, with sale2; C02's is not in ERPNext yet. ERPNext's Bin
    # moved for sale2 with C01's closing: the forwarder's pull, replicated, counts it once.
    assert state(c1, CLOSING, shift2) is None
    with ErpNextClient(erpnext.url, erpnext.api_key, erpnext.api_secret) as client:
        pull(client, Direct(c1.log), POS_PROFILE,
             consolidated=lambda: consolidated_shifts(client, POS_PROFILE))
    both_ways(c1, c2)
    for node in (c1, c2):
        with node.read() as s:
            assert stock.on_hand(s, SOAP, WAREHOUSE).on_hand == bin_qty(erpnext, SOAP)
    drain(fwd, erpnext)
    consolidated_once(erpnext, [sale1, sale2, back1, back2])
    assert cash_difference(erpnext, shift1) == D("-1.00")  # the drawer's own, not moved
    assert cash_difference(erpnext, shift2) == D("0.00")
    # C01 closed first: its closing carries C02's sale along with C02's return of it
    assert {t["pos_invoice"] for t in erpnext.get(CLOSING, shift1)["pos_transactions"]} == {
        sale1, back2, sale2}
    for node in (c1, c2):
        both_ways(c1, c2)
        assert state(node, CLOSING, shift1).delivery is Delivery.ACKED
        assert state(node, CLOSING, shift2).delivery is Delivery.ACKED


def test_a_return_s_closing_waits_for_the_sale_s_shift_to_close_then_both_consolidate(
        tmp_path, erpnext):
    c1, c2 = counters(tmp_path)
    t1, shift1, sale1 = open_and_sell(c1, MILK)
    t2, shift2, _ = open_and_sell(c2, SOAP)
    both_ways(c1, c2)
    back = give_back(t2, sale1)
    close(t2, shift2, short="0.50")
    both_ways(c1, c2)
    fwd = forwarder(c1, erpnext)
    drain(fwd, erpnext)  # C01's shift is open: sale1 is not consolidated, C02's closing waits
    assert erpnext.get(CLOSING, shift2) is None
    assert Till(c1, "sup")("deliveries_pending")["pending"] == {CLOSING: 1}
    sell(t1, SOAP)
    close(t1, shift1)
    drain(fwd, erpnext)
    consolidated_once(erpnext, [i["invoice"] for i in t1("invoice_list", limit=100)])
    assert sale1 in {t["pos_invoice"] for t in erpnext.get(CLOSING, shift1)["pos_transactions"]}
    assert back in {t["pos_invoice"] for t in erpnext.get(CLOSING, shift2)["pos_transactions"]}
    assert cash_difference(erpnext, shift1) == D("0.00")
    assert cash_difference(erpnext, shift2) == D("-0.50")


def test_the_sales_shift_closing_first_goes_first_and_carries_nothing(tmp_path, erpnext):
    c1, c2 = counters(tmp_path)
    t1, shift1, sale1 = open_and_sell(c1, MILK)
    t2, shift2, sale2 = open_and_sell(c2, SOAP)
    both_ways(c1, c2)
    back = give_back(t2, sale1)
    close(t1, shift1)  # the sale's shift closes first, the return's after
    close(t2, shift2)
    both_ways(c1, c2)
    drain(forwarder(c2, erpnext), erpnext)
    consolidated_once(erpnext, [sale1, sale2, back])
    assert {t["pos_invoice"] for t in erpnext.get(CLOSING, shift1)["pos_transactions"]} == {
        sale1}


# --- the order, pure ---------------------------------------------------------------------

SHIFTS = [f"S{i}" for i in range(5)]


@given(order=st.permutations(SHIFTS), closed=st.sets(st.sampled_from(SHIFTS), min_size=1),
       crossings=st.lists(st.tuples(st.sampled_from(SHIFTS), st.integers(0, 6),
                                    st.sampled_from(SHIFTS)), max_size=12))
def test_closings_wait_for_their_returns_sales_without_a_cycle(order, closed, crossings):
    crossings = [(r, f"{s}-sale-{n}", s) for r, n, s in crossings if r != s]
    pending = [Due(CLOSING, shift, "C01", i, shift, ((OPENING, shift),))
               for i, shift in enumerate(order) if shift in closed]
    plan = consolidation_order(pending, crossings)
    waits = {d.name: {n for t, n in d.after if t == CLOSING} for d in plan.pending}
    position = {d.name: i for i, d in enumerate(pending)}

    def reaches(a: str, b: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(w == b or (w in waits and w not in seen and reaches(w, b, seen | {w}))
                   for w in waits.get(a, ()))
    assert not any(reaches(c, c) for c in waits)  # no closing waits for itself
    carriers = [c for c, sales in plan.carries.items() for _ in sales]
    for returned_in, sale, sold_in in crossings:
        if returned_in not in closed:
            continue
        carrier = next((c for c, sales in plan.carries.items() if sale in sales), None)
        if carrier is not None:  # carried: by a closing before the sale's own
            assert sold_in in closed and position[carrier] < position[sold_in]
            assert carrier in waits[sold_in]
        # each return's closing waits, if only through others, for the closing that
        # consolidates its sale (the sale's own, even while that shift is open)
        assert carrier == returned_in or reaches(returned_in, carrier or sold_in)
    carried = [sale for sales in plan.carries.values() for sale in sales]
    assert len(carried) == len(set(carried)) and len(carriers) == len(carried)
