"""Merging a shift's POS Invoices into consolidated Sales Invoices, as pure functions.

As ERPNext 15.71's POS Invoice Merge Log does it (``pos_invoice_merge_log.py``): one merge
per customer, in the order customers first appear in ``pos_transactions`` (the originals of
returns of serial or batch numbers before it, one each: :func:`split`), its invoices
checked before anything of it is merged (:func:`check_invoices`, rule B of
``erpnext/NOTES.md``). The customer's sales become one Sales Invoice posted at the posting
time of the last sale in the list; its returns one credit note per Sales Invoice their
originals went into (:func:`credit_note_groups`; this merge's when the original is in it or
not consolidated yet), posted at the closing's posting time.

:func:`merged_invoice` is ``merge_pos_invoice_into`` followed by the Sales Invoice's own
totals: each row at its POS row's ``net_rate`` and ``net_amount`` (rows are not merged: each
books its own stock), the tax rows of an account summed as one Actual row of their
after-discount amounts, payments summed by mode and account, no invoice discount; the total
is then net plus taxes, the paid amount the payments, and a difference within the POS
Profile's write-off limit is written off. :func:`check_credit_note` is
``validate_returned_items`` on the credit note (rule C; rule D is ``_pos_payments``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tillmesh.lab.erpnext_simulator._errors import ValidationError
from tillmesh.lab.erpnext_simulator._meta import cint, flt
from tillmesh.lab.erpnext_simulator._money import money

Doc = dict[str, Any]
SALES_INVOICE_SERIES = "ACC-SINV-.YYYY.-"
# Copied from the customer's first invoice (ERPNext maps each in turn onto the merged one;
# within a customer and a profile they agree).
_HEADER = ("customer", "customer_name", "customer_group", "territory", "company", "currency",
           "conversion_rate", "selling_price_list", "price_list_currency",
           "plc_conversion_rate", "pos_profile", "debit_to", "set_warehouse",
           "account_for_change_amount", "title", "taxes_and_charges", "write_off_account",
           "write_off_cost_center")
_ROW_SKIP = ("name", "idx")
_AMOUNTS = ("total", "net_total", "total_taxes_and_charges", "grand_total", "rounded_total",
            "rounding_adjustment", "paid_amount", "change_amount", "write_off_amount")
RoundTotal = Callable[[float], float] | None  # cash rounding; None: rounded total disabled


@dataclass
class Batch:
    """Invoices of one customer, in the closing's order: one merge log."""

    customer: str
    invoices: list[Doc] = field(default_factory=list)

    @property
    def sales(self) -> list[Doc]:
        return [inv for inv in self.invoices if not cint(inv.get("is_return"))]

    @property
    def returns(self) -> list[Doc]:
        return [inv for inv in self.invoices if cint(inv.get("is_return"))]


def batches(transactions: list[Doc], invoices: Mapping[str, Doc]) -> list[Batch]:
    """The closing's invoices grouped by customer, in order of first appearance."""
    by_customer: dict[str, Batch] = {}
    for row in transactions:
        invoice = invoices[row["pos_invoice"]]
        customer = str(invoice.get("customer"))
        by_customer.setdefault(customer, Batch(customer)).invoices.append(invoice)
    return list(by_customer.values())


def split(batch: Batch, consolidated: Callable[[str], bool]) -> list[Batch]:
    """``split_invoices``: the original of each return giving back serial or batch numbers
    (ERPNext: a row with a bundle), in this merge and not consolidated yet, is merged
    first on its own, so that its stock is out before the return brings it back; then the
    rest (recorded: batch-cases.json's closing made three Sales Invoices)."""
    names = {inv["name"] for inv in batch.invoices}
    first: list[str] = []
    for doc in batch.returns:
        original = str(doc.get("return_against") or "")
        if original in names and original not in first and not consolidated(original) and any(
                row.get("serial_no") or row.get("batch_no") for row in doc.get("items") or []):
            first.append(original)
    alone = [Batch(batch.customer, [inv for inv in batch.invoices if inv["name"] == name])
             for name in first]
    return [*alone, Batch(batch.customer, [inv for inv in batch.invoices
                                           if inv["name"] not in first])]


def check_invoices(batch: Batch, status: Callable[[str], Any]) -> None:
    """``validate_pos_invoice_status``; ``status`` reads a POS Invoice's status by name."""
    names = {inv["name"] for inv in batch.invoices}
    for idx, inv in enumerate(batch.invoices, 1):
        bold = f"<strong>{inv['name']}</strong>"
        if inv.get("docstatus") != 1:
            raise ValidationError(f"Row #{idx}: POS Invoice {bold} is not submitted yet",
                                  erpnext=True)
        if inv.get("status") == "Consolidated":
            raise ValidationError(f"Row #{idx}: POS Invoice {bold} has been <strong>"
                                  "Consolidated</strong>", erpnext=True)
        original = inv.get("return_against")
        if cint(inv.get("is_return")) and original and original not in names \
                and status(original) != "Consolidated":
            raise ValidationError(
                f"Row #{idx}: The original Invoice <strong>{original}</strong> of return "
                f"invoice {bold} is not consolidated. The original invoice should be "
                "consolidated before or along with the return invoice.<br><br>You can add the "
                f"original invoice <strong>{original}</strong> manually to proceed.",
                erpnext=True)


def credit_note_groups(returns: list[Doc], consolidated_into: Callable[[Any], Any],
                       sales_invoice: str | None) -> dict[str | None, list[Doc]]:
    """``distinguish_return_pos_invoices``: returns by the Sales Invoice their credit note
    is against, the one their original went into, else this merge's."""
    groups: dict[str | None, list[Doc]] = {sales_invoice: []}
    for doc in returns:
        against = consolidated_into(doc.get("return_against")) or sales_invoice
        groups.setdefault(against, []).append(doc)
    return {against: docs for against, docs in groups.items() if docs}


def check_rates(doc: Doc) -> None:
    """``StatusUpdater.validate_qty``: no row below zero unless Selling Settings allow
    negative rates (they do not here)."""
    for row in doc.get("items") or []:
        if flt(row.get("rate")) < 0:
            raise ValidationError(
                f"For item <strong>{row.get('item_code')}</strong>, rate must be a positive "
                "number. To Allow negative rates, enable <strong>`Allow Negative rates for "
                'Items`</strong> in <a href="/app/selling-settings/Selling%20Settings">'
                "Selling Settings</a>")


def merged_invoice(invoices: list[Doc], *, is_return: bool, posting_date: str,
                   posting_time: str, sales_item: Callable[[Doc, Doc], str | None],
                   round_total: RoundTotal, write_off_limit: float) -> Doc:
    """The consolidated Sales Invoice (or credit note) of ``invoices``; no name yet.
    ``sales_item(return, row)`` names the Sales Invoice row a return row gives back."""
    doc: Doc = {key: invoices[0].get(key) for key in _HEADER}
    doc.update(naming_series=SALES_INVOICE_SERIES, is_pos=1, is_consolidated=1,
               is_return=int(is_return), update_stock=1, set_posting_time=1,
               posting_date=posting_date, posting_time=posting_time, due_date=posting_date,
               docstatus=1, status="Return" if is_return else "Paid",
               additional_discount_percentage=0.0, discount_amount=0.0)
    doc["items"] = [_row(inv, row, sales_item if is_return else None)
                    for inv in invoices for row in inv.get("items") or []]
    doc["taxes"] = _taxes(invoices)
    doc["payments"] = _payments(invoices)
    for key in ("rounded_total", "rounding_adjustment"):
        doc[key] = money(sum(flt(inv.get(key)) for inv in invoices))
    set_totals(doc, round_total, write_off_limit)
    return doc


def _row(invoice: Doc, row: Doc, sales_item: Callable[[Doc, Doc], str | None] | None) -> Doc:
    out = {k: v for k, v in row.items() if k not in _ROW_SKIP}
    out.update(rate=row.get("net_rate"), amount=row.get("net_amount"),
               base_rate=row.get("net_rate"), base_amount=row.get("net_amount"),
               price_list_rate=0.0, base_price_list_rate=0.0, pos_invoice=invoice["name"],
               pos_invoice_item=row.get("name"))
    if row.get("pricing_rules"):
        # The merged invoice ignores pricing rules, and its submit takes the rules a row
        # names off it, with its rate and discount; the amount stays (recorded:
        # tests/lab/recorded/erpnext-15.71-pricing-consolidation.jsonl).
        out.update(rate=0.0, base_rate=0.0, discount_percentage=0.0, discount_amount=0.0,
                   pricing_rules="")
    if sales_item is not None:
        out["sales_invoice_item"] = sales_item(invoice, row)
    return out


def _taxes(invoices: list[Doc]) -> list[Doc]:
    rows: dict[tuple[Any, Any], Doc] = {}
    for inv in invoices:
        for tax in inv.get("taxes") or []:
            amount = flt(tax.get("tax_amount_after_discount_amount"))
            found = rows.get((tax.get("account_head"), tax.get("cost_center")))
            if found is None:
                rows[(tax.get("account_head"), tax.get("cost_center"))] = {
                    **{k: v for k, v in tax.items() if k not in _ROW_SKIP},
                    "charge_type": "Actual", "row_id": None, "included_in_print_rate": 0,
                    "rate": 0.0, "tax_amount": amount}
                continue
            found["tax_amount"] = flt(found["tax_amount"]) + amount
            found["item_wise_tax_detail"] = _merged_detail(found.get("item_wise_tax_detail"),
                                                           tax.get("item_wise_tax_detail"))
    return list(rows.values())


def _merged_detail(into: Any, other: Any) -> str:
    """``update_item_wise_tax_detail``: per item code, the first rate and the sum."""
    merged = json.loads(into or "{}") or {}
    for code, (rate, amount) in json.loads(other or "{}").items():
        merged[code] = [merged[code][0], merged[code][1] + amount] if code in merged \
            else [rate, amount]
    return json.dumps(merged, separators=(",", ":"))


def _payments(invoices: list[Doc]) -> list[Doc]:
    rows: dict[tuple[Any, Any], Doc] = {}
    for inv in invoices:
        for pay in inv.get("payments") or []:
            key = (pay.get("account"), pay.get("mode_of_payment"))
            if key not in rows:
                rows[key] = {k: v for k, v in pay.items() if k not in _ROW_SKIP}
                continue
            for name in ("amount", "base_amount"):
                rows[key][name] = money(flt(rows[key].get(name)) + flt(pay.get(name)))
    return list(rows.values())


def set_totals(doc: Doc, round_total: RoundTotal, write_off_limit: float) -> None:
    """A consolidated invoice's ``calculate_taxes_and_totals``: its rows are not repriced."""
    items = doc.get("items") or []
    net = money(sum(flt(r.get("net_amount")) for r in items))
    running = net
    for tax in doc.get("taxes") or []:
        tax["tax_amount"] = tax["tax_amount_after_discount_amount"] = money(tax["tax_amount"])
        running = tax["total"] = money(running + tax["tax_amount"])
        tax.update(base_tax_amount=tax["tax_amount"], base_total=tax["total"],
                   base_tax_amount_after_discount_amount=tax["tax_amount"])
    grand = running
    doc.update(total_qty=sum(flt(r.get("qty")) for r in items), total=net, net_total=net,
               total_taxes_and_charges=money(grand - net), grand_total=grand)
    if not flt(doc.get("rounding_adjustment")):  # a merged adjustment is kept as it is
        rounded = round_total(grand) if round_total else 0.0
        doc["rounded_total"] = rounded
        doc["rounding_adjustment"] = money(rounded - grand) if rounded else 0.0
    due = flt(doc.get("rounded_total")) or grand
    paid = money(flt(doc["paid_amount"])) if doc.get("paid_amount") is not None else \
        money(sum(flt(p.get("amount")) for p in doc.get("payments") or []))
    change = money(paid - due) if not cint(doc.get("is_return")) and paid > due and any(
        p.get("type") == "Cash" for p in doc.get("payments") or []) else 0.0
    outstanding, write_off = money(due - paid + change), 0.0
    if write_off_limit and abs(outstanding) <= write_off_limit:  # written off automatically
        doc["write_off_outstanding_amount_automatically"] = 1
        write_off, outstanding = outstanding, money(due - outstanding - paid + change)
    doc.update(paid_amount=paid, change_amount=change, write_off_amount=write_off,
               outstanding_amount=outstanding)
    doc.update({f"base_{key}": doc[key] for key in _AMOUNTS})


def check_credit_note(credit: Doc, original: Doc | None) -> list[str]:
    """``validate_returned_items`` of a credit note against the Sales Invoice ``original``
    (rule C): raises, or answers the non-fatal messages it prints (rows without a link)."""
    if original is None:
        return []
    rates: dict[Any, float] = {}
    for row in original.get("items") or []:
        key = (row.get("item_code"), row.get("name"))
        rates[key] = max(rates.get(key, 0.0), flt(row.get("rate")))
    notes: list[str] = []
    where = f"Sales Invoice {original['name']}"
    for idx, row in enumerate(credit.get("items") or [], 1):
        link = row.get("sales_invoice_item")
        key = (row.get("item_code"), link) if link else row.get("item_code")
        if key not in rates:
            message = f"Row # {idx}: Returned Item {row.get('item_code')} does not exist in {where}"
            if link:
                raise ValidationError(message, notes=notes, erpnext=True)
            notes.append(message)
        elif rates[key] and flt(row.get("rate")) > rates[key]:
            # the "Moving Average" exemption never applies: ERPNext looks the valuation
            # method up for an item code its reference rows do not carry (erpnext/NOTES.md)
            raise ValidationError(f"Row # {idx}: Rate cannot be greater than the rate used in "
                                  f"{where}", notes=notes, erpnext=True)
    return notes


def merge_log(batch: Batch, closing: Doc, sales_invoice: str | None,
              credit_note: str | None) -> Doc:
    invoices = batch.invoices
    return {
        "merge_invoices_based_on": "Customer", "customer": batch.customer,
        "customer_group": invoices[0].get("customer_group"),
        "posting_date": closing.get("posting_date"), "posting_time": closing.get("posting_time"),
        "company": closing.get("company"), "pos_closing_entry": closing.get("name"),
        "consolidated_invoice": sales_invoice, "consolidated_credit_note": credit_note,
        "docstatus": 1,
        "pos_invoices": [{"pos_invoice": inv["name"], "posting_date": inv.get("posting_date"),
                          "customer": inv.get("customer"), "grand_total": inv.get("grand_total"),
                          "is_return": cint(inv.get("is_return")),
                          "return_against": inv.get("return_against")} for inv in invoices],
    }
