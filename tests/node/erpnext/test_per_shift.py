"""Per-shift delivery (issue 14): a shift's sales as consolidated Sales Invoices.

The mapping (``node/erpnext/_per_shift.py``) is checked on shifts priced by the counter's
own engine (inclusive VAT at 7 and 19 %, item tax templates, line and invoice discounts,
Box UOMs, cash rounding to 0.05, change, card payments, partial returns, several
customers): whatever the shift, ERPNext books exactly its money per mode, VAT per
account, revenue and stock, and the customers' amounts owed. What ERPNext does with the
documents is taken from the simulator's consolidated Sales Invoice (itself checked against
the real ERPNext 15.71 in ``tests/lab``). The plan (``outbox.by_shift``) is checked on its
own: a shift started per sale stays so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tillmesh.lab.erpnext_simulator._consolidation import set_totals
from tillmesh.lab.erpnext_simulator._money import round_to_fraction
from tillmesh.node.domain.money import ZERO
from tillmesh.node.domain.sale import as_return, plain
from tillmesh.node.domain.totals import (
    Cart,
    CartLine,
    ChargeType,
    TaxRow,
    TotalsSettings,
    compute_totals,
    recorded_due,
)
from tillmesh.node.erpnext._documents import Site, takings
from tillmesh.node.erpnext._per_shift import shift_documents, tag
from tillmesh.node.erpnext._setup import SHIFT_FIELD
from tillmesh.node.projections.deliveries import Delivery, State
from tillmesh.node.projections.outbox import (
    CLOSING,
    CUSTOMER,
    INVOICE,
    OPENING,
    Due,
    by_shift,
)

D = Decimal
SITE = Site(company="Shop", pos_profile="POS", user="api@example.com")
VAT19, VAT7 = "VAT 19% - S", "VAT 7% - S"
TAXES = (TaxRow(ChargeType.ON_NET_TOTAL, VAT19, "VAT 19%", D(19), included_in_print_rate=True),
         TaxRow(ChargeType.ON_NET_TOTAL, VAT7, "VAT 7%", D(0), included_in_print_rate=True))
# (code, price, item tax rates, Box factor)
ITEMS = (("MILK", D("1.19"), {VAT19: D(0), VAT7: D(7)}, 12),
         ("SOAP", D("2.49"), {}, 6),
         ("COFFEE", D("7.99"), {VAT19: D(0), VAT7: D(7)}, 1),
         ("WINE", D("12.95"), {}, 6),
         ("BREAD", D("3.333"), {VAT19: D(0), VAT7: D(7)}, 1))
MODES = {"Cash": ("Cash", "Cash - S"), "Card": ("Bank", "Card Clearing - S")}

lines = st.lists(st.tuples(st.sampled_from(range(len(ITEMS))), st.integers(1, 4),
                           st.booleans(), st.sampled_from((D(0), D(5), D("12.5")))),
                 min_size=1, max_size=4)
sales = st.lists(st.tuples(lines, st.sampled_from((D(0), D("3.3"), D(10))),
                           st.sampled_from(("Cash", "Card", "split")),
                           st.sampled_from((D(0), D("0.50"), D(20))),
                           st.sampled_from(("Walk-in", "Walk-in", "Erika Muster")),
                           st.booleans()),
                 min_size=1, max_size=10)


def priced(cart_lines: list[tuple[int, int, bool, Decimal]], discount: Decimal,
           rounding: TotalsSettings) -> Any:
    return compute_totals(Cart(lines=[
        CartLine(item_code=ITEMS[i][0], qty=D(qty), price_list_rate=ITEMS[i][1]
                 * (ITEMS[i][3] if box else 1), uom="Box" if box else "Nos",
                 conversion_factor=D(ITEMS[i][3] if box else 1), discount_percentage=off,
                 item_tax_template="Reduced" if ITEMS[i][2] else None,
                 item_tax_rates=ITEMS[i][2])
        for i, qty, box, off in cart_lines], taxes=TAXES,
        additional_discount_percentage=discount), rounding)


def body(n: int, cart_lines: list[tuple[int, int, bool, Decimal]], discount: Decimal,
         mode: str, extra: Decimal, customer: str, rounding: TotalsSettings
         ) -> dict[str, Any]:
    """A ``sale.submitted`` body as ``node.domain.sale`` lays it out."""
    totals = priced(cart_lines, discount, rounding)
    due = totals.rounded_total or totals.grand_total
    if mode == "split":
        half = (due / 2).quantize(D("0.01"))
        paid = [("Card", half), ("Cash", due - half + extra)]
    else:
        paid = [(mode, due + (extra if mode == "Cash" else ZERO))]
    change = sum((a for _, a in paid), ZERO) - due
    invoice = f"C01-2026-{n:06d}"
    head = plain(totals)
    return {
        "invoice": invoice, "shift": "C01-SH-000001", "customer": customer,
        "posting_date": "2026-12-01", "posting_time": f"{9 + n // 60:02d}:{n % 60:02d}:00.000000",
        "pos_profile": "POS", "currency": "EUR", "selling_price_list": "Standard Selling",
        "warehouse": "Store - S", "cash_mode": "Cash",
        "items": [{**plain(line), "name": f"{invoice}-{i}", "warehouse": "Store - S",
                   "item_name": line.item_code} for i, line in enumerate(totals.lines, 1)],
        "taxes": [plain(t) for t in totals.taxes],
        "totals": {**{k: v for k, v in head.items() if k not in ("lines", "taxes")},
                   "paid_amount": str(due + change), "change_amount": str(change)},
        "payments": [{"mode_of_payment": m, "amount": str(a), "type": MODES[m][0],
                      "account": MODES[m][1]} for m, a in paid if a],
    }


def a_return(n: int, sold: dict[str, Any], cart_lines: list[tuple[int, int, bool, Decimal]],
             discount: Decimal, rounding: TotalsSettings) -> dict[str, Any]:
    """A return of the first unit of ``sold``'s first line, refunded in cash."""
    one = [(cart_lines[0][0], 1, cart_lines[0][2], cart_lines[0][3])]
    refund = body(n, one, discount, "Cash", ZERO, sold["customer"], rounding)
    return as_return(refund, sold["invoice"])


def summed(bodies: list[dict[str, Any]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}

    def add(key: str, value: Any) -> None:
        out[key] = out.get(key, ZERO) + D(value)
    for b in bodies:
        for mode, amount in takings([b]).items():
            add(f"paid {mode}", amount)
        for t in b["taxes"]:
            add(f"tax {t['account_head']}", t["tax_amount_after_discount_amount"])
        for line in b["items"]:
            add("net", line["net_amount"])
            add(f"stock {line['item_code']}", line["stock_qty"])
        add("due", recorded_due(b["totals"]))
    return {k: v for k, v in out.items() if v}


def booked(doc: Mapping[str, Any], fraction: Decimal) -> dict[str, Any]:
    """``doc`` as ERPNext saves a consolidated Sales Invoice (the simulator's port)."""
    saved = {**doc, "items": [dict(r) for r in doc["items"]],
             "taxes": [{k: float(v) if isinstance(v, Decimal) else v for k, v in t.items()}
                       for t in doc["taxes"]],
             "payments": [{**p, "amount": float(p["amount"])} for p in doc["payments"]]}
    for row in saved["items"]:
        row["net_amount"] = float(row["net_amount"])
        row["qty"] = float(row["qty"])
    saved["rounding_adjustment"] = float(doc["rounding_adjustment"])
    saved["rounded_total"] = float(doc["rounded_total"])
    set_totals(saved, lambda v: round_to_fraction(v, fraction), 1.0)
    return saved


@settings(max_examples=150, deadline=None)
@given(sales, st.sampled_from((D("0.01"), D("0.05"))))
def test_erpnext_books_exactly_the_shifts_sums(shift: list[Any], fraction: Decimal) -> None:
    rounding = TotalsSettings(smallest_currency_fraction=fraction)
    bodies: list[dict[str, Any]] = []
    for n, (cart_lines, discount, mode, extra, customer, returned) in enumerate(shift, 1):
        sold = body(n, cart_lines, discount, mode, extra, customer, rounding)
        bodies.append(sold)
        if returned:
            bodies.append(a_return(100 + n, sold, cart_lines, discount, rounding))
    docs = shift_documents(bodies, entry="C01-SH-000001", end=datetime(2026, 12, 1, 21),
                           site=SITE, origin_event="C01:9", note="Cash: difference -0.50")

    got: dict[str, Decimal] = {}

    def add(key: str, value: Any) -> None:
        got[key] = got.get(key, ZERO) + D(str(value))
    for d in docs:
        doc = booked(d.doc, fraction)
        sign = -1 if doc["is_return"] else 1
        for row in doc["items"]:
            add("net", row["amount"])
            add(f"stock {row['item_code']}", sign * abs(row["stock_qty"]))
        for t in doc["taxes"]:
            add(f"tax {t['account_head']}", t["tax_amount"])
        for p in doc["payments"]:
            add(f"paid {p['mode_of_payment']}", p["amount"])
        add("paid Cash", -doc["change_amount"])
        add("due", doc["rounded_total"] or doc["grand_total"])
        # the customers' money settles the invoice exactly: nothing outstanding, no
        # change, nothing written off
        assert (doc["outstanding_amount"], doc["change_amount"], doc["write_off_amount"]) \
            == (0.0, 0.0, 0.0), doc["name"]
        assert D(str(doc["grand_total"])) + D(str(doc["rounding_adjustment"])) \
            == D(str(doc["rounded_total"]))
    assert {k: v for k, v in got.items() if v} == summed(bodies)

    invoices = [i for d in docs for i in d.invoices]
    assert sorted(invoices) == sorted(b["invoice"] for b in bodies)  # each once
    assert [bool(d.doc.get(SHIFT_FIELD)) for d in docs] == [False] * (len(docs) - 1) + [True]
    assert "difference -0.50" in docs[-1].doc["remarks"]
    returns_first = [bool(d.doc["is_return"]) for d in docs]
    assert returns_first == sorted(returns_first, reverse=True)
    for d in docs:  # one customer each, named after the shift, the kind and the customer
        customers = {b["customer"] for b in bodies if b["invoice"] in d.invoices}
        assert customers == {d.doc["customer"]}
        kind = "R" if d.doc["is_return"] else "S"
        assert d.name == f"C01-SH-000001-{kind}-{tag(d.doc['customer'])}"


def test_rows_are_one_per_item_uom_and_tax_with_the_exact_sum() -> None:
    rounding = TotalsSettings()
    bodies = [body(n, [(0, 1, False, D(0)), (4, 2, False, D("12.5"))], D("3.3"), "Cash",
                   ZERO, "Walk-in", rounding) for n in range(1, 8)]
    bodies.append(body(8, [(0, 1, True, D(0))], ZERO, "Cash", ZERO, "Walk-in", rounding))
    (doc,) = shift_documents(bodies, entry="E", end=datetime(2026, 12, 1, 21), site=SITE,
                             origin_event="C01:1")
    rows = {(r["item_code"], r["uom"]): r for r in doc.doc["items"]}
    assert sorted(rows) == [("BREAD", "Nos"), ("MILK", "Box"), ("MILK", "Nos")]
    bread = rows[("BREAD", "Nos")]
    lines = [line for b in bodies for line in b["items"] if line["item_code"] == "BREAD"]
    assert bread["qty"] == 14 and bread["amount"] == sum(D(x["net_amount"]) for x in lines)
    assert rows[("MILK", "Box")]["stock_qty"] == 12
    assert doc.doc["is_consolidated"] == 1 and doc.doc["update_stock"] == 1
    assert (doc.doc["posting_date"], doc.doc["posting_time"]) == ("2026-12-01",
                                                                  "21:00:00.000000")


def state(doctype: str, name: str, delivery: Delivery) -> State:
    return State(doctype, name, delivery, name, 0, None, None, None, None)


def test_a_shift_is_planned_whole_unless_it_began_per_sale() -> None:
    pending = [
        Due(OPENING, "A", "C01", 1, "A"),
        Due(INVOICE, "A-1", "C01", 2, "A", ((OPENING, "A"), (CUSTOMER, "Erika"))),
        Due(INVOICE, "B-1", "C02", 5, "B", ((OPENING, "B"), (CUSTOMER, "Walk-in"))),
        Due(CLOSING, "A", "C01", 3, "A", ((OPENING, "A"), (INVOICE, "A-1"))),
        Due(CLOSING, "B", "C02", 6, "B", ((OPENING, "B"), (INVOICE, "B-1"))),
    ]
    # B's opening reached ERPNext per sale before the store changed its delivery
    plan = by_shift(pending, {(OPENING, "B"): state(OPENING, "B", Delivery.ACKED)})
    assert [(d.doctype, d.name, d.per_shift) for d in plan] == [
        (INVOICE, "B-1", False), (CLOSING, "A", True), (CLOSING, "B", False)]
    assert plan[1].after == ((CUSTOMER, "Erika"),)  # A's closing needs only its customers
    assert plan[2].after == pending[4].after


def test_a_members_sales_and_returns_go_first_each_as_a_sales_invoice_of_its_own() -> None:
    # ERPNext enters, redeems and takes back points only on a Sales Invoice of the sale's
    # own (recorded: erpnext-15.71-per-shift-loyalty.jsonl)
    rounding = TotalsSettings()
    walk_in = body(1, [(0, 2, False, D(0))], D(0), "Cash", ZERO, "Walk-in", rounding)
    member = {**body(2, [(3, 1, False, D(0))], D(0), "Cash", D(20), "Erika Muster",
                     rounding), "apply_discount_on": "Grand Total",
              "loyalty": {"program": "Points", "redeemed": 0}}
    back = {**a_return(3, member, [(3, 1, False, D(0))], D(0), rounding),
            "apply_discount_on": "Grand Total", "member_return": 1}
    for row, sold in zip(back["items"], member["items"], strict=True):
        row.update(pos_invoice_item=sold["name"], sold_net_rate=sold["net_rate"])
    docs = shift_documents([back, walk_in, member], entry="C01-SH-000001",
                           end=datetime(2026, 12, 1, 21), site=SITE, origin_event="C01:9")
    assert [d.invoices for d in docs] == [(member["invoice"],), (back["invoice"],),
                                          (walk_in["invoice"],)]
    sale, credit = docs[0].doc, docs[1].doc
    assert (sale["name"], sale["is_pos"], sale.get("is_consolidated", 0)) == (
        member["invoice"], 1, 0)
    assert sale["base_change_amount"] == sale["change_amount"] == D(member["totals"][
        "change_amount"]) > 0  # ERPNext books change at 0 without its base (recorded)
    assert sale["posting_time"] == member["posting_time"]  # as it happened, not at the close
    assert (credit["is_return"], credit["return_against"]) == (1, member["invoice"])
    assert [r.get("sales_invoice_item") for r in credit["items"]] == [
        r["name"] for r in member["items"]] and not any(
        "pos_invoice_item" in r for r in credit["items"])
    assert docs[2].doc["is_consolidated"] == 1 and docs[-1].doc.get(SHIFT_FIELD)
