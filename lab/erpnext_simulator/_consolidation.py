"""Merging a shift's POS Invoices into consolidated Sales Invoices, as pure functions.

As ERPNext 15.71 does it (recorded): one POS Invoice Merge Log per customer, in the order
customers first appear in ``pos_transactions``; the customer's sales become one Sales
Invoice posted at the posting time of the last sale in the list, its returns one credit
note posted at the closing's posting time and returned against that Sales Invoice. Item
rows are not merged (each invoice row books its own stock row); payments are merged by
mode of payment and account, taxes by account head, totals summed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tillmesh.lab.erpnext_simulator._meta import cint, flt
from tillmesh.lab.erpnext_simulator._money import money

Doc = dict[str, Any]
SALES_INVOICE_SERIES = "ACC-SINV-.YYYY.-"
_HEADER = ("customer", "customer_name", "customer_group", "territory", "company", "currency",
           "conversion_rate", "selling_price_list", "price_list_currency",
           "plc_conversion_rate", "pos_profile", "debit_to", "set_warehouse",
           "account_for_change_amount", "title")
_SUMMED = ("total_qty", "total", "net_total", "total_taxes_and_charges", "grand_total",
           "rounded_total", "rounding_adjustment", "discount_amount", "paid_amount",
           "change_amount", "write_off_amount")
_ROW_SKIP = ("name", "idx")


@dataclass
class Batch:
    customer: str
    sales: list[Doc] = field(default_factory=list)
    returns: list[Doc] = field(default_factory=list)


def batches(transactions: list[Doc], invoices: Mapping[str, Doc]) -> list[Batch]:
    """The closing's invoices grouped by customer, in order of first appearance."""
    by_customer: dict[str, Batch] = {}
    for row in transactions:
        invoice = invoices[row["pos_invoice"]]
        customer = str(invoice.get("customer"))
        batch = by_customer.setdefault(customer, Batch(customer))
        (batch.returns if cint(invoice.get("is_return")) else batch.sales).append(invoice)
    return list(by_customer.values())


def merged_invoice(invoices: list[Doc], *, is_return: bool, posting_date: str,
                   posting_time: str) -> Doc:
    """The consolidated Sales Invoice (or credit note) of ``invoices``; no name yet."""
    first = invoices[0]
    doc: Doc = {key: first.get(key) for key in _HEADER}
    doc.update(naming_series=SALES_INVOICE_SERIES, is_pos=1, is_consolidated=1,
               is_return=int(is_return), update_stock=1, set_posting_time=1,
               posting_date=posting_date, posting_time=posting_time, due_date=posting_date,
               docstatus=1, status="Return" if is_return else "Paid",
               outstanding_amount=0.0)
    for key in _SUMMED:
        total = money(sum(flt(inv.get(key)) for inv in invoices))
        doc[key], doc[f"base_{key}"] = total, total
    doc["total_qty"] = doc["base_total_qty"] = sum(flt(i.get("total_qty")) for i in invoices)
    doc["items"] = [{k: v for k, v in row.items() if k not in _ROW_SKIP}
                    for inv in invoices for row in inv.get("items") or []]
    doc["payments"] = _merged(invoices, "payments", ("mode_of_payment", "account"),
                              ("amount", "base_amount"))
    doc["taxes"] = _merged(invoices, "taxes", ("account_head",),
                           ("tax_amount", "base_tax_amount", "tax_amount_after_discount_amount"))
    return doc


def _merged(invoices: list[Doc], table: str, key: tuple[str, ...],
            summed: tuple[str, ...]) -> list[Doc]:
    rows: dict[tuple[Any, ...], Doc] = {}
    for inv in invoices:
        for row in inv.get(table) or []:
            found = rows.get(tuple(row.get(k) for k in key))
            if found is None:
                rows[tuple(row.get(k) for k in key)] = {
                    k: v for k, v in row.items() if k not in _ROW_SKIP}
                continue
            for name in summed:
                found[name] = money(flt(found.get(name)) + flt(row.get(name)))
    return list(rows.values())


def merge_log(batch: Batch, closing: Doc, sales_invoice: str | None,
              credit_note: str | None) -> Doc:
    invoices = batch.sales + batch.returns
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
