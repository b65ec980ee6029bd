"""Booking a POS Closing Entry's consolidation: merge logs, Sales Invoices, stock.

Fewer than ten invoices are merged inside the request that submits (or retries) the
closing; from ten on the closing answers ``Queued`` and :func:`run_consolidation_job`
merges later, as ERPNext's background job does. Either way a refusal is ERPNext's
``create_merge_logs``: everything is rolled back, then the closing is marked ``Failed``
with the last message printed as its ``error_message`` and that write is committed anyway
(``Txn.after_rollback``); the message is taken out of the answer (``message_log.pop()``).
In a request that is a 417 leaving the closing a draft (its submit was rolled back; a
closing inserted by that request is not kept at all); in the job the closing stays
submitted. What is merged and checked is ``_consolidation``'s.
"""

from __future__ import annotations

import json
from typing import Any

from tillmesh.lab.erpnext_simulator._clock import posting_moment
from tillmesh.lab.erpnext_simulator._consolidation import (
    SALES_INVOICE_SERIES,
    Batch,
    RoundTotal,
    batches,
    check_credit_note,
    check_invoices,
    check_rates,
    credit_note_groups,
    merge_log,
    merged_invoice,
    split,
)
from tillmesh.lab.erpnext_simulator._const import BACKGROUND_CONSOLIDATION_FROM
from tillmesh.lab.erpnext_simulator._coupons import check_coupon, count_use
from tillmesh.lab.erpnext_simulator._documents import row_missing
from tillmesh.lab.erpnext_simulator._errors import FrappeError, MandatoryError
from tillmesh.lab.erpnext_simulator._meta import cint, flt
from tillmesh.lab.erpnext_simulator._money import dec, round_to_fraction
from tillmesh.lab.erpnext_simulator._naming import series_prefix
from tillmesh.lab.erpnext_simulator._pos_payments import check_refund_covered, invoice_total
from tillmesh.lab.erpnext_simulator._stock import Move, post, unpost
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn

BACKGROUND_NOTE = {"message": "POS Invoices will be consolidated in a background process",
                   "title": "Message", "alert": 1}
CLOSING = "POS Closing Entry"


def closing_rows(closing: Doc) -> list[Doc]:
    """The POS Invoices a closing lists: in ``pos_transactions`` on ERPNext 15, in
    ``pos_invoices`` on 16 (a site stores only the field its release defines, so a v15
    body on 16 lists none, as recorded)."""
    return list(closing.get("pos_invoices") or closing.get("pos_transactions") or [])


def consolidate_or_queue(txn: Txn, closing: Doc, *, chosen_name: bool = False) -> None:
    if len(closing_rows(closing)) >= BACKGROUND_CONSOLIDATION_FROM:
        closing["status"] = "Queued"
        txn.touch(CLOSING, closing)
        txn.jobs.append(closing["name"])
        txn.notes.append(dict(BACKGROUND_NOTE))
    else:
        consolidate(txn, closing, chosen_name=chosen_name)


def run_consolidation_job(txn: Txn, name: str) -> None:
    """The background job (the caller commits, or rolls back on a FrappeError)."""
    closing = txn.get(CLOSING, name)
    if closing is None or closing.get("docstatus") != 1 or closing.get("status") != "Queued":
        return  # cancelled or already done meanwhile
    consolidate(txn, txn.edit(CLOSING, name))


def consolidate(txn: Txn, closing: Doc, *, chosen_name: bool = False) -> None:
    """Merge the closing's invoices, book their stock, close the shift; or raise, with the
    closing marked Failed after the rollback."""
    rows = closing_rows(closing)
    invoices = {r["pos_invoice"]: txn.require("POS Invoice", r["pos_invoice"]) for r in rows}
    try:
        if chosen_name and rows:
            # Recorded (v1 and v2): a chosen name with docstatus 1 in one POST leaves the
            # merge log's invoice rows without a parent; as a draft, then a submit, it works.
            message = row_missing("POS Invoice Reference", 1, "parent")
            raise MandatoryError(message, notes=[message], erpnext=True,
                                 exception="[POS Invoice Merge Log, None]: parent")
        for batch in batches(rows, invoices):
            for part in split(batch, lambda name: _status(txn, name) == "Consolidated"):
                _merge(txn, closing, part)
    except FrappeError as err:
        message = _take_last_message(txn, err)
        name = closing["name"]
        txn.after_rollback.append(lambda done: _mark_failed(done, name, message))
        raise
    closing["status"], closing["error_message"] = "Submitted", ""
    txn.touch(CLOSING, closing)
    set_opening(txn, closing, closed=True)


def _take_last_message(txn: Txn, err: FrappeError) -> str:
    """``frappe.message_log.pop()``: the last message printed leaves the answer and becomes
    the closing's ``error_message``."""
    if err.raise_message:
        err.raise_message = False
        return err.message if isinstance(err.message, str) else json.dumps(err.message)
    if err.notes:
        return err.notes.pop()
    if txn.notes:
        return str(txn.notes.pop()["message"])
    return str(err)


def _mark_failed(txn: Txn, name: str, message: str) -> None:
    if txn.get(CLOSING, name) is None:
        return  # inserted by the request that failed: rolled back with it
    closing = txn.edit(CLOSING, name)
    closing["status"], closing["error_message"] = "Failed", message
    txn.touch(CLOSING, closing)


def _merge(txn: Txn, closing: Doc, batch: Batch) -> None:
    """One customer's merge log: checked, then its Sales Invoice and credit notes."""
    check_invoices(batch, lambda name: _status(txn, name))
    prefix = series_prefix(SALES_INVOICE_SERIES, txn.moment)
    profile = txn.get("POS Profile", closing.get("pos_profile")) or {}
    settings: dict[str, Any] = {"round_total": _rounding(txn, profile, batch),
                                "write_off_limit": flt(profile.get("write_off_limit")),
                                "sales_item": lambda inv, row: sales_invoice_item(
                                    txn, inv.get("return_against"), row.get("pos_invoice_item"))}
    sales_name: str | None = None
    if batch.sales:
        last = batch.sales[-1]
        sales = merged_invoice(batch.sales, is_return=False, posting_date=last["posting_date"],
                               posting_time=last["posting_time"], **settings)
        check_rates(sales)
        if txn.registry.release.major >= 16 and last.get("coupon_code"):
            sales["coupon_code"] = last["coupon_code"]  # 16: validated and counted again
            check_coupon(txn, sales)
            count_use(txn, sales)
        sales_name = _book(txn, sales, txn.next_in_series(prefix), outgoing=True)
    credit_notes: dict[str, str] = {}  # return -> its credit note
    last_credit: str | None = None
    for against, returns in credit_note_groups(batch.returns, lambda name: (txn.get(
            "POS Invoice", name) or {}).get("consolidated_invoice"), sales_name).items():
        credit = merged_invoice(returns, is_return=True, posting_date=closing["posting_date"],
                                posting_time=closing["posting_time"], **settings)
        credit["return_against"] = against
        name = txn.next_in_series(prefix)
        notes = check_credit_note(credit, txn.get("Sales Invoice", against))
        txn.notes.extend({"message": n, "title": "Message"} for n in notes)
        check_refund_covered(credit["paid_amount"], credit["write_off_amount"],
                             invoice_total(credit))
        txn.notes.extend({"message": n, "title": "Message"} for n in notes)  # on submit
        last_credit = _book(txn, credit, name, outgoing=False)
        credit_notes.update((doc["name"], last_credit) for doc in returns)
        if against:
            original = txn.edit("Sales Invoice", against)
            original["status"] = "Credit Note Issued"
            txn.touch("Sales Invoice", original)
    txn.create("POS Invoice Merge Log", merge_log(batch, closing, sales_name, last_credit))
    for invoice in batch.invoices:
        edited = txn.edit("POS Invoice", invoice["name"])
        edited["status"] = "Consolidated"
        edited["consolidated_invoice"] = credit_notes.get(invoice["name"], sales_name)
        txn.touch("POS Invoice", edited)


def _status(txn: Txn, invoice: str) -> Any:
    return (txn.get("POS Invoice", invoice) or {}).get("status")


def _rounding(txn: Txn, profile: Doc, batch: Batch) -> RoundTotal:
    """The merged invoice's cash rounding: the POS Profile may disable it."""
    if cint(profile.get("disable_rounded_total")):
        return None
    currency = txn.get("Currency", batch.invoices[0].get("currency")) or {}
    fraction = dec(currency.get("smallest_currency_fraction_value", "0.01"))
    return lambda value: round_to_fraction(value, fraction)


def sales_invoice_item(txn: Txn, original: Any, sold: Any) -> str | None:
    """``get_sales_invoice_item``: the row of the Sales Invoice the POS Invoice
    ``original`` went into that its row ``sold`` became."""
    for sales in txn.all("Sales Invoice"):
        if cint(sales.get("is_return")) or sales.get("docstatus") == 2:
            continue
        for item in sales.get("items") or []:
            if item.get("pos_invoice") == original and item.get("pos_invoice_item") == sold:
                return str(item["name"])
    return None


def _book(txn: Txn, invoice: Doc, name: str, *, outgoing: bool) -> str:
    txn.saving.add(("Sales Invoice", name))  # ERPNext saves it, then submits it
    doc = txn.create("Sales Invoice", invoice, name=name)
    moves = []
    for row in doc.get("items") or []:
        item = txn.get("Item", row.get("item_code")) or {}
        if cint(item.get("is_stock_item", 1)) and row.get("warehouse"):
            qty = abs(flt(row.get("stock_qty")))
            moves.append(Move.of_row(row, row["warehouse"], -qty if outgoing else qty))
    post(txn, "Sales Invoice", name, moves,
         posting_moment(doc["posting_date"], doc["posting_time"]), doc.get("company"))
    return name


def unconsolidate(txn: Txn, closing_name: str) -> None:
    for log in txn.find("POS Invoice Merge Log", "pos_closing_entry", closing_name):
        for name in (log.get("consolidated_invoice"), log.get("consolidated_credit_note")):
            if name and txn.exists("Sales Invoice", name):
                invoice = txn.edit("Sales Invoice", name)
                invoice["docstatus"], invoice["status"] = 2, "Cancelled"
                txn.touch("Sales Invoice", invoice)
                unpost(txn, "Sales Invoice", name)
        txn.edit("POS Invoice Merge Log", log["name"])["docstatus"] = 2
        for row in log.get("pos_invoices") or []:
            invoice = txn.edit("POS Invoice", row["pos_invoice"])
            invoice["consolidated_invoice"] = None
            invoice["status"] = "Return" if cint(invoice.get("is_return")) else "Paid"
            txn.touch("POS Invoice", invoice)


def set_opening(txn: Txn, closing: Doc, *, closed: bool) -> None:
    name = closing.get("pos_opening_entry")
    if not name or not txn.exists("POS Opening Entry", name):
        return
    opening = txn.edit("POS Opening Entry", name)
    opening["status"] = "Closed" if closed else "Open"
    opening["pos_closing_entry"] = closing["name"] if closed else None
    txn.touch("POS Opening Entry", opening)
