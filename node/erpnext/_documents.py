"""Tillmesh's records as the ERPNext documents the forwarder posts. Pure: no I/O.

``customer.created`` -> Customer, ``shift.opened`` -> POS Opening Entry (submitted),
``sale.submitted`` / ``sale.returned`` -> POS Invoice (submitted; a Sales Invoice on
ERPNext 16 in Sales Invoice mode), ``shift.closed`` -> POS
Closing Entry (a draft: ERPNext refuses a chosen name with ``docstatus: 1`` in one POST, so
the forwarder PUTs ``{"docstatus": 1}`` after it; ``erpnext/NOTES.md``).

Every document carries the name the counter gave it (invoice number, shift id), so a
repeat is a 409 and delivery is exactly once. Sale bodies are already shaped as POS
Invoices by ``node.sale``: the mapping keeps the counter's rates, discounts, taxes, totals
and child row names (a return's rows link the sold rows through ``pos_invoice_item``) and
drops what ERPNext does not know. Money and quantities are Decimals (the client sends them
as exact JSON numbers). Shift times are UTC with an offset in the records; ERPNext's
dates and times are site-local, so they are converted to the store's time zone.

Opening and closing entries belong to the forwarder's ERPNext user (ERPNext lets a user
close only invoices it owns); the cashier and the event behind each document travel in
the custom fields ``tillmesh erpnext setup`` creates, and only on the doctypes it creates
them on (ERPNext would silently drop them elsewhere).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tillmesh.node.domain.money import ZERO
from tillmesh.node.erpnext._setup import (
    CASHIER_FIELD,
    CUSTOM_FIELDS,
    ORIGIN_FIELD,
    SHIFT_CUSTOM_FIELDS,
)
from tillmesh.node.erpnext._site_release import POS_INVOICE, SALES_INVOICE, V15, Capabilities
from tillmesh.node.errors import ValidationError

Doc = dict[str, Any]

_CUSTOM = frozenset((field.doctype, field.fieldname)
                    for field in (*CUSTOM_FIELDS, *SHIFT_CUSTOM_FIELDS))

_CUSTOMER = ("customer_name", "customer_type", "customer_group", "territory", "mobile_no",
             "email_id")  # mobile and e-mail make ERPNext create the customer's Contact
_ITEM_TEXT = ("name", "item_code", "item_name", "uom", "stock_uom", "warehouse",
              "item_tax_template", "barcode", "margin_type", "pos_invoice_item", "batch_no",
              "serial_no")
_ITEM_NUMBERS = ("qty", "stock_qty", "conversion_factor", "price_list_rate",
                 "discount_percentage", "discount_amount", "margin_rate_or_amount",
                 "rate_with_margin", "rate", "amount", "net_rate", "net_amount",
                 "distributed_discount_amount")
_TAX_TEXT = ("charge_type", "account_head", "description", "row_id")
_TAX_NUMBERS = ("rate", "tax_amount", "tax_amount_after_discount_amount", "total")
_TOTALS = ("total_qty", "total", "net_total", "total_taxes_and_charges",
           "additional_discount_percentage", "discount_amount", "grand_total",
           "rounding_adjustment", "rounded_total", "paid_amount", "change_amount")


@dataclass(frozen=True)
class Site:
    company: str  # from the POS Profile
    pos_profile: str
    user: str  # the forwarder's ERPNext user: owner of opening and closing entries
    timezone: str = "Europe/Berlin"  # the store's, for ERPNext's site-local dates and times
    caps: Capabilities = V15  # what the site's release takes (``_site_release``)


@dataclass(frozen=True)
class Transaction:
    """One invoice of a shift as a POS Closing Entry lists it."""

    invoice: str
    posting_date: str
    posting_time: str
    grand_total: Decimal
    net_total: Decimal
    total_qty: Decimal
    customer: str
    is_return: bool
    return_against: str | None


def transaction(body: Mapping[str, Any]) -> Transaction:
    """From a ``sale.submitted`` or ``sale.returned`` body."""
    totals = body["totals"]
    return Transaction(
        invoice=str(body["invoice"]), posting_date=str(body["posting_date"]),
        posting_time=str(body["posting_time"]), grand_total=Decimal(totals["grand_total"]),
        net_total=Decimal(totals["net_total"]), total_qty=Decimal(totals["total_qty"]),
        customer=str(body["customer"]), is_return=bool(body.get("is_return")),
        return_against=body.get("return_against") or None)


def customer(body: Mapping[str, Any], *, origin_event: str) -> Doc:
    """From a ``customer.created`` body, under the name the counter gave it."""
    doc = body["doc"]
    return {"name": str(body["name"]), **_present(doc, _CUSTOMER),
            **_custom("Customer", {ORIGIN_FIELD: origin_event})}


def opening_entry(opened: Mapping[str, Any], *, counter: str, site: Site, origin_event: str,
                  name: str | None = None, modes: Iterable[str] = ()) -> Doc:
    """A submitted POS Opening Entry from a ``shift.opened`` body.

    ``modes`` are listed with 0 when the float names none of them: ERPNext requires at
    least one row, and an opening of late sales (or a float given as ``{}``) has none.
    ``counter`` (the node that opened the shift) has no ERPNext field: names carry it.
    """
    start = _local(opened["opened_at"], site)
    amounts = _amounts(opened["opening"])
    for mode in modes:
        amounts.setdefault(mode, ZERO)
    return {
        "name": name or str(opened["shift"]), "docstatus": 1, "company": site.company,
        "pos_profile": _profile(opened["pos_profile"], site), "user": site.user,
        "period_start_date": _datetime_text(start), "posting_date": start.date().isoformat(),
        "set_posting_date": 1,  # a shift forwarded days later keeps its own date
        "balance_details": [{"mode_of_payment": m, "opening_amount": a}
                            for m, a in amounts.items()],
        **_custom("POS Opening Entry", {ORIGIN_FIELD: origin_event,
                                        CASHIER_FIELD: opened.get("cashier")}),
    }


def pos_invoice(body: Mapping[str, Any], *, site: Site, origin_event: str,
                original: Mapping[str, Any] | None = None) -> Doc:
    """A submitted POS Invoice from a ``sale.submitted`` or ``sale.returned`` body; a
    return recorded before returns carried their sold rows' net rates needs its
    ``original`` (the ``sale.submitted`` body it returns against). On a site that books
    POS sales as Sales Invoices (ERPNext 16 in Sales Invoice mode) the same sale as one:
    ``sales_invoice``."""
    if site.caps.sale_doctype == SALES_INVOICE:
        return sales_invoice(body, site=site, origin_event=origin_event)
    return as_pos_invoice(body, site=site, origin_event=origin_event, original=original)


def as_pos_invoice(body: Mapping[str, Any], *, site: Site, origin_event: str,
                   original: Mapping[str, Any] | None = None) -> Doc:
    """``pos_invoice``'s POS Invoice whatever the site books POS sales as: a return is
    restated (``restated_return``)."""
    if body.get("is_return"):
        return restated_return(body, original, site=site, origin_event=origin_event)
    return _as_priced(body, site=site, origin_event=origin_event)


def sales_invoice(body: Mapping[str, Any], *, site: Site, origin_event: str) -> Doc:
    """A sale or return as ERPNext 16 books a POS sale in Sales Invoice mode: a submitted
    Sales Invoice ``is_created_using_pos`` (it needs the profile's open opening entry and
    full payment then), as the counter priced it. A return is not restated: nothing is
    merged, so ERPNext checks its rows against the sold rows' rates as sent (the partial
    return with inclusive tax and an invoice discount was taken with the exact refund,
    NOTES-v16.md); its rows name the sold rows by ``sales_invoice_item``."""
    doc = _as_priced(body, site=site, origin_event=origin_event, doctype=SALES_INVOICE)
    doc["items"] = sales_invoice_rows(doc["items"])
    # without base_change_amount ERPNext books the change at 0 and refuses the sale
    # ("Either debit or credit amount is required for Debtors", recorded on 15.71)
    doc.update(is_created_using_pos=1, due_date=doc["posting_date"],
               base_change_amount=doc.get("change_amount") or ZERO)
    return doc


def sales_invoice_rows(items: Iterable[Mapping[str, Any]]) -> list[Doc]:
    """POS Invoice rows as a Sales Invoice's: a returned row names its sold row by
    ``sales_invoice_item`` instead of ``pos_invoice_item``."""
    return [{**{k: v for k, v in row.items() if k != "pos_invoice_item"},
             **({"sales_invoice_item": row["pos_invoice_item"]}
                if row.get("pos_invoice_item") else {})} for row in items]


def _as_priced(body: Mapping[str, Any], *, site: Site, origin_event: str,
               doctype: str = POS_INVOICE) -> Doc:
    """A sale (or a return, where nothing restates it) as the counter priced it."""
    totals = body["totals"]
    doc: Doc = {
        "name": str(body["invoice"]), "docstatus": 1, "is_pos": 1, "update_stock": 1,
        **({"is_return": 1, "return_against": str(body["return_against"])}
           if body.get("is_return") else {}),
        # the offline time of the sale, not the moment it reaches ERPNext
        "set_posting_time": 1, "posting_date": body["posting_date"],
        "posting_time": body["posting_time"], "company": site.company,
        "pos_profile": _profile(body["pos_profile"], site), "customer": body["customer"],
        "currency": body["currency"], "selling_price_list": body["selling_price_list"],
        "set_warehouse": body["warehouse"], "apply_discount_on": body["apply_discount_on"],
        # the counter priced the sale; a pricing rule must not change what was charged
        "ignore_pricing_rule": 1,
        **_present(body, ("taxes_and_charges", "coupon_code")),
        **_numbers(totals, _TOTALS),
        # points redeemed: their worth is in paid_amount, beside the payment rows (as
        # ERPNext's own tests send it); ERPNext fills the program in from the customer
        **({"redeem_loyalty_points": 1, "loyalty_points": int(body["loyalty_points"]),
            "loyalty_amount": Decimal(body["loyalty_amount"])}
           if body.get("redeem_loyalty_points") else {}),
        # without paid_amount ERPNext fails (500); without base_paid_amount it stores 0
        "base_paid_amount": Decimal(totals["paid_amount"]),
        "items": [_item(row) for row in body["items"]],
        "taxes": [_tax(row) for row in body["taxes"]],
        "payments": [{"mode_of_payment": p["mode_of_payment"], "amount": Decimal(p["amount"]),
                      "base_amount": Decimal(p["amount"]), **_present(p, ("account",))}
                     for p in body["payments"]],
        **_custom(doctype, {ORIGIN_FIELD: origin_event, CASHIER_FIELD: body.get("cashier")}),
    }
    if doc.get("coupon_code") and not site.caps.coupon_on_pos_invoice:
        return without_coupon(doc, "ERPNext 16 would count it again when it consolidates this"
                              " invoice (Tillmesh counts the store's uses)", refused=False)
    return doc


def without_coupon(doc: Doc, reason: str, *, refused: bool = True) -> Doc:
    """The sale as ERPNext takes it when it refuses the coupon the sale names (used up by
    counters cut off from each other, expired by ERPNext's date, no maximum use set): as
    the counter priced it, the coupon named in the remarks instead (recorded: run-03/04/06).
    ``refused`` False: ERPNext is not asked, for ``reason``."""
    coupon = doc["coupon_code"]
    out = {k: v for k, v in doc.items() if k != "coupon_code"}
    out["remarks"] = (f"Coupon {coupon} was taken at the till; ERPNext refused to count it: "
                      f"{reason}" if refused else
                      f"Coupon {coupon} was taken at the till; not named here: {reason}")
    return out


def restated_return(body: Mapping[str, Any], original: Mapping[str, Any] | None, *,
                    site: Site, origin_event: str) -> Doc:
    """A return as ERPNext consolidates it (NOTES.md "Consolidation", rules C and D).

    ERPNext's merge books each sold row at its ``net_rate`` and refuses a returned row
    whose rate is higher, and rebuilds the credit note from net amounts and taxes, so a
    return sent as the counter priced it (gross rates, inclusive tax and the invoice
    discount split again over the returned units) can fail by a cent. Restated: every row
    at the original row's net rate, no inclusive tax and no discount, one Actual tax row
    per account carrying the rest of the refund. The customer's refund stays exact; the
    split between revenue and tax may move by a cent against the counter's own figures.
    Each row carries its sold row's net rate (``sold_net_rate``); a return recorded
    before rows carried it reads it from ``original``.
    """
    sold = {row["name"]: row for row in (original or {}).get("items", ())}
    items: list[Doc] = []
    net = ZERO
    for row in body["items"]:
        rate = row.get("sold_net_rate")
        if rate is None:
            if original is None:
                raise ValidationError(f"return {body['invoice']} is formed with its original"
                                      " sale, which this counter does not hold")
            origin = sold.get(row.get("pos_invoice_item"))
            if origin is None:
                raise ValidationError(f"return {body['invoice']}: row {row.get('name')} names"
                                      f" no row of {original['invoice']}")
            rate = origin["net_rate"]
        rate, qty = Decimal(rate), Decimal(row["qty"])
        net += _cents(rate * qty)
        items.append({**_present(row, ("name", "item_code", "item_name", "uom", "stock_uom",
                                       "warehouse", "item_tax_template", "pos_invoice_item",
                                       "batch_no", "serial_no")), **_tracked(row),
                      "qty": qty, "stock_qty": Decimal(row["stock_qty"]),
                      "conversion_factor": Decimal(row["conversion_factor"]),
                      "price_list_rate": Decimal(row["price_list_rate"]), "rate": rate})
    refund = sum((Decimal(p["amount"]) for p in body["payments"]), ZERO)
    return {
        "name": str(body["invoice"]), "docstatus": 1, "is_pos": 1, "update_stock": 1,
        "is_return": 1, "return_against": str(body["return_against"]),
        "set_posting_time": 1, "posting_date": body["posting_date"],
        "posting_time": body["posting_time"], "company": site.company,
        "pos_profile": _profile(body["pos_profile"], site), "customer": body["customer"],
        "currency": body["currency"], "selling_price_list": body["selling_price_list"],
        "set_warehouse": body["warehouse"], "apply_discount_on": body["apply_discount_on"],
        "ignore_pricing_rule": 1, "taxes_and_charges": "",
        "items": items,
        "taxes": _actual_tax_rows(body["taxes"], refund - net),
        "paid_amount": refund, "base_paid_amount": refund,
        "payments": [{"mode_of_payment": p["mode_of_payment"], "amount": Decimal(p["amount"]),
                      "base_amount": Decimal(p["amount"]), **_present(p, ("account",))}
                     for p in body["payments"]],
        **_custom("POS Invoice", {ORIGIN_FIELD: origin_event,
                                  CASHIER_FIELD: body.get("cashier")}),
    }


def _actual_tax_rows(taxes: Sequence[Mapping[str, Any]], total: Decimal) -> list[Doc]:
    """One Actual row per tax account, in the counter's proportions, summing to ``total``
    (the cent that rounding moves goes to the largest row).

    Each carries its account's rate on the sale: ERPNext 16 checks that a row's amount
    is what its per-item amounts add up to, leaving out items at rate 0, and an item
    without an item tax template of its own takes the row's rate (an Actual row at 0
    over a return of such items and others was refused: "Item Wise Tax Details do not
    match"). An Actual row's amount does not depend on its rate."""
    by_account: dict[str, Decimal] = {}
    rates: dict[str, Decimal] = {}
    for row in taxes:
        amount = Decimal(row.get("tax_amount_after_discount_amount") or row["tax_amount"])
        by_account[row["account_head"]] = by_account.get(row["account_head"], ZERO) + amount
        rates.setdefault(row["account_head"], Decimal(row.get("rate") or ZERO))
    if not by_account or not total:
        return []
    largest = max(by_account, key=lambda account: abs(by_account[account]))
    by_account[largest] += total - sum(by_account.values(), ZERO)
    return [{"charge_type": "Actual", "account_head": account, "rate": rates[account],
             "description": f"{account} (return)", "tax_amount": amount}
            for account, amount in by_account.items() if amount]


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def closing_entry(opened: Mapping[str, Any], closed: Mapping[str, Any],
                  transactions: Sequence[Transaction], *, site: Site, origin_event: str,
                  opening_name: str | None = None, name: str | None = None,
                  left_out: Iterable[Mapping[str, Any]] = (),
                  carried: Iterable[Mapping[str, Any]] = ()) -> Doc:
    """A DRAFT POS Closing Entry from a shift's ``shift.opened`` and ``shift.closed``
    bodies (``shift``, ``closed_at``, ``counted``, ``expected`` are read from the latter)
    and the invoices it consolidates; the forwarder submits it with a PUT.

    Its invoices (``pos_transactions``; ``pos_invoices`` on ERPNext 16, ``site.caps``)
    are sorted by posting time: the consolidated Sales Invoice is
    booked at the last one's time, and stock is checked then (unsorted, a backdated
    invoice made a real closing fail). The closing is posted at ``closed_at``, or at the
    last invoice if a counter's clock put one later, so no invoice is after its closing.

    The closing sums exactly the invoices it lists. ``left_out`` are the bodies of sales
    the shift recorded that ERPNext will not hold (a supervisor settled them outside
    Tillmesh): what they took is taken out of both the expected and the counted amounts,
    since it is accounted for wherever they were settled, so the counted difference
    stays the cashier's own. ``carried`` are the bodies of other shifts' sales this
    closing consolidates along with their returns here (ERPNext rule B): they are listed,
    and what they took is added to both amounts, for the same reason. A sale another
    closing carries is in ``left_out`` of its own.
    """
    if opened["shift"] != closed["shift"]:
        raise ValidationError(f"closing of {closed['shift']} given the opening of "
                              f"{opened['shift']}")
    carried = list(carried)
    rows = sorted([*transactions, *map(transaction, carried)],
                  key=lambda t: (_posted(t), t.invoice))
    end = _end(closed, rows, site)
    opening = _amounts(opened["opening"])
    expected, counted = drawer(closed, left_out, carried)
    return {
        "name": name or str(opened["shift"]), "docstatus": 0,
        "pos_opening_entry": opening_name or str(opened["shift"]), "company": site.company,
        "pos_profile": _profile(opened["pos_profile"], site), "user": site.user,
        "period_start_date": _datetime_text(_local(opened["opened_at"], site)),
        "period_end_date": _datetime_text(end), "posting_date": end.date().isoformat(),
        "posting_time": end.time().isoformat(timespec="microseconds"),
        "grand_total": sum((t.grand_total for t in rows), ZERO),
        "net_total": sum((t.net_total for t in rows), ZERO),
        "total_quantity": sum((t.total_qty for t in rows), ZERO),
        site.caps.closing_rows: [
            {site.caps.closing_link: t.invoice, "posting_date": t.posting_date,
             "grand_total": t.grand_total, "customer": t.customer,
             "is_return": int(t.is_return), "return_against": t.return_against}
            for t in rows],
        # ERPNext's form computes the difference in the browser; over REST it is ours.
        "payment_reconciliation": [
            {"mode_of_payment": m, "opening_amount": opening.get(m, ZERO),
             "expected_amount": expected.get(m, ZERO), "closing_amount": counted.get(m, ZERO),
             "difference": counted.get(m, ZERO) - expected.get(m, ZERO)}
            for m in sorted(opening.keys() | expected.keys() | counted.keys())],
        **_custom("POS Closing Entry", {ORIGIN_FIELD: origin_event,
                                        CASHIER_FIELD: opened.get("cashier")}),
    }


def _end(closed: Mapping[str, Any], rows: Sequence[Transaction], site: Site) -> datetime:
    """When a shift's documents are posted: its close, or its last sale's time if a
    counter's clock put that later (no sale is after the document that books it)."""
    end = _local(closed["closed_at"], site)
    return max(end, *(_posted(t) for t in rows)) if rows else end


def shift_end(closed: Mapping[str, Any], bodies: Iterable[Mapping[str, Any]],
              site: Site) -> datetime:
    """``_end`` of a shift's ``shift.closed`` body and the sale bodies it books."""
    return _end(closed, [transaction(b) for b in bodies], site)


def drawer(closed: Mapping[str, Any], left_out: Iterable[Mapping[str, Any]] = (),
           carried: Iterable[Mapping[str, Any]] = ()
           ) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """The expected and counted amounts per mode of a closing, without what ``left_out``
    took and with what ``carried`` took (see ``closing_entry``)."""
    elsewhere, brought = takings(left_out), takings(carried)
    expected, counted = (
        {m: amounts.get(m, ZERO) - elsewhere.get(m, ZERO) + brought.get(m, ZERO)
         for m in amounts.keys() | brought.keys()}
        for amounts in (_amounts(closed["expected"]), _amounts(closed["counted"])))
    return expected, counted


def counted_note(opened: Mapping[str, Any], closed: Mapping[str, Any],
                 left_out: Iterable[Mapping[str, Any]] = ()) -> str:
    """The drawer count of a shift in words, for documents that have no field for it
    (per-shift delivery books no POS Closing Entry): "Cash: float 100.00, expected
    412.30, counted 411.80, difference -0.50"."""
    opening = _amounts(opened.get("opening") or {})
    expected, counted = drawer(closed, left_out)
    return "; ".join(
        f"{m}: float {opening.get(m, ZERO)}, expected {expected.get(m, ZERO)}, counted"
        f" {counted.get(m, ZERO)}, difference {counted.get(m, ZERO) - expected.get(m, ZERO)}"
        for m in sorted(opening.keys() | expected.keys() | counted.keys()))


def takings(bodies: Iterable[Mapping[str, Any]]) -> dict[str, Decimal]:
    """What sales and returns moved in each mode of payment: payments (a refund is
    negative), less the change given in the cash mode, as the shift's expected counts."""
    out: dict[str, Decimal] = {}
    for body in bodies:
        for payment in body["payments"]:
            mode = str(payment["mode_of_payment"])
            out[mode] = out.get(mode, ZERO) + Decimal(payment["amount"])
        change = Decimal(body["totals"].get("change_amount") or ZERO)
        if change:
            out[body["cash_mode"]] = out.get(body["cash_mode"], ZERO) - change
    return out


# --- helpers ---------------------------------------------------------------------------


def _custom(doctype: str, values: Mapping[str, Any]) -> Doc:
    return {f: v for f, v in values.items() if (doctype, f) in _CUSTOM and v is not None}


def _profile(recorded: str, site: Site) -> str:
    # A record of another profile would be booked to this one's warehouse and accounts.
    if recorded != site.pos_profile:
        raise ValidationError(f"recorded under POS Profile {recorded!r}, but this forwarder "
                              f"delivers to {site.pos_profile!r}")
    return recorded


def _present(row: Mapping[str, Any], keys: Iterable[str]) -> Doc:
    return {k: row[k] for k in keys if row.get(k) not in (None, "")}


def _numbers(row: Mapping[str, Any], keys: Iterable[str]) -> Doc:
    return {k: Decimal(row[k]) for k in keys if row.get(k) not in (None, "")}


def _amounts(by_mode: Mapping[str, Any]) -> dict[str, Decimal]:
    return {str(mode): Decimal(amount) for mode, amount in by_mode.items()}


def _item(row: Mapping[str, Any]) -> Doc:
    rates = {account: float(rate) for account, rate in (row.get("item_tax_rate") or {}).items()}
    # ERPNext keeps item_tax_rate as JSON text, {"account": rate}
    return {**_present(row, _ITEM_TEXT), **_numbers(row, _ITEM_NUMBERS),
            "item_tax_rate": json.dumps(rates), **_tracked(row),
            **({"is_free_item": 1} if row.get("is_free_item") else {})}


def _tracked(row: Mapping[str, Any]) -> Doc:
    """ERPNext 15 takes a row's batch and serial numbers from these fields only with the
    flag: a return without it failed with a 500 (recorded: batch-cases.json)."""
    return {"use_serial_batch_fields": 1} if row.get("batch_no") or row.get("serial_no") \
        else {}


def _tax(row: Mapping[str, Any]) -> Doc:
    detail = {code: [float(v) for v in pair]
              for code, pair in (row.get("item_wise_tax_detail") or {}).items()}
    # JSON text as ERPNext writes it: {"item_code": [rate, unrounded amount]}
    return {**_present(row, _TAX_TEXT), **_numbers(row, _TAX_NUMBERS),
            "included_in_print_rate": int(bool(row.get("included_in_print_rate"))),
            "item_wise_tax_detail": json.dumps(detail)}


def _local(stamp: str, site: Site) -> datetime:
    """An ISO-8601 instant as a naive datetime in the store's time zone."""
    when = datetime.fromisoformat(stamp)
    if when.tzinfo is None:  # local to which clock? never guess
        raise ValidationError(f"time {stamp!r} carries no UTC offset")
    return when.astimezone(ZoneInfo(site.timezone)).replace(tzinfo=None)


def _posted(t: Transaction) -> datetime:
    # "9:00:00" as MariaDB answers it, or "09:00:00.000041" as a sale body has it
    clock = t.posting_time if "." in t.posting_time else f"{t.posting_time}.0"
    return datetime.strptime(f"{t.posting_date} {clock}", "%Y-%m-%d %H:%M:%S.%f")


def _datetime_text(when: datetime) -> str:
    return when.isoformat(sep=" ", timespec="microseconds")
