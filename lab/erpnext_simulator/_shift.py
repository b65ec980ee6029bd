"""Shifts: POS Opening Entry, POS Closing Entry and the consolidation that closing runs.

A closing of fewer than ten invoices consolidates inside the request (a failure refuses
the request); from ten on it answers ``Queued`` and a background job consolidates,
ending ``Submitted`` or ``Failed`` with ERPNext's HTML error message, kept (while the
status goes back to ``Queued``) when ``run_method=retry`` queues it again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tillmesh.lab.erpnext_simulator._clock import parse_datetime, posting_moment
from tillmesh.lab.erpnext_simulator._consolidation import (
    SALES_INVOICE_SERIES,
    batches,
    merge_log,
    merged_invoice,
)
from tillmesh.lab.erpnext_simulator._const import BACKGROUND_CONSOLIDATION_FROM
from tillmesh.lab.erpnext_simulator._controller import Controller
from tillmesh.lab.erpnext_simulator._documents import expand, row_missing
from tillmesh.lab.erpnext_simulator._errors import (
    FrappeError,
    MandatoryError,
    NotPermitted,
    ValidationError,
)
from tillmesh.lab.erpnext_simulator._meta import cint, flt
from tillmesh.lab.erpnext_simulator._naming import series_prefix
from tillmesh.lab.erpnext_simulator._stock import Move, post, unpost
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn

BACKGROUND_NOTE = {"message": "POS Invoices will be consolidated in a background process",
                   "title": "Message", "alert": 1}


class PosOpeningEntry(Controller):
    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        doc["status"] = "Draft"

    def validate(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        user = txn.get("User", doc.get("user"))
        if user is not None and not cint(user.get("enabled", 1)):
            raise ValidationError(f"User {doc['user']} is disabled. Please select valid "
                                  "user/cashier", erpnext=True)
        profile = txn.get("POS Profile", doc.get("pos_profile")) or {}
        if profile and profile.get("company") != doc.get("company"):
            raise ValidationError(f"POS Profile {profile['name']} does not belong to company "
                                  f"{doc.get('company')}", erpnext=True)

    def on_submit(self, txn: Txn, doc: Doc, *, chosen_name: bool) -> None:
        doc["status"] = "Open"


class PosClosingEntry(Controller):
    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        opening = txn.get("POS Opening Entry", doc.get("pos_opening_entry")) or {}
        if opening.get("period_start_date"):  # recorded: the opening's start wins
            doc["period_start_date"] = opening["period_start_date"]
        for row in doc.get("pos_transactions") or []:
            invoice = txn.get("POS Invoice", row.get("pos_invoice")) or {}
            for key in ("customer", "posting_date", "grand_total", "is_return",
                        "return_against"):
                row.setdefault(key, invoice.get(key))
        for row in doc.get("payment_reconciliation") or []:
            row["difference"] = flt(row.get("closing_amount")) - flt(row.get("expected_amount"))
        doc["status"] = "Draft"

    def validate(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        opening = txn.get("POS Opening Entry", doc.get("pos_opening_entry")) or {}
        if opening.get("status") != "Open":
            raise ValidationError("Selected POS Opening Entry should be open.",
                                  title="Invalid Opening Entry", erpnext=True)
        problems: list[str] = []
        for idx, row in enumerate(doc.get("pos_transactions") or [], 1):
            invoice = txn.get("POS Invoice", row.get("pos_invoice")) or {}
            if invoice.get("consolidated_invoice"):
                problems.append(f"Row #{idx}: POS Invoice is already consolidated")
                continue
            if invoice.get("pos_profile") != doc.get("pos_profile"):
                problems.append(f"Row #{idx}: POS Profile doesn't match "
                                f"<strong>{doc.get('pos_profile')}</strong>")
            if invoice.get("docstatus") != 1:
                problems.append(f"Row #{idx}: POS Invoice is not submitted")
            if invoice.get("owner") != doc.get("user"):
                # ERPNext names the closing's owner here, not its user (sic)
                owner = doc.get("owner") or txn.user
                problems.append(f"Row #{idx}: POS Invoice isn't created by user "
                                f"<strong>{owner}</strong>")
        if problems:
            raise ValidationError(problems, title="Invalid POS Invoices", erpnext=True)

    def on_submit(self, txn: Txn, doc: Doc, *, chosen_name: bool) -> None:
        if chosen_name:
            # Recorded: a chosen name with docstatus 1 in one POST loses the invoice rows'
            # parent; as a draft first, then PUT docstatus 1, it works.
            message = row_missing("POS Invoice Reference", 1, "parent")
            raise MandatoryError(message, notes=[message],
                                 exception=f"[POS Closing Entry, {doc['name']}]: parent")
        consolidate_or_queue(txn, doc)

    def on_cancel(self, txn: Txn, doc: Doc) -> None:
        if doc.get("status") == "Submitted":
            _unconsolidate(txn, doc["name"])
        doc["error_message"] = ""
        _set_opening(txn, doc, closed=False)

    def run_method(self, txn: Txn, doc: Doc, method: str) -> Any:
        if method != "retry":
            return super().run_method(txn, doc, method)
        if doc.get("docstatus") != 1:
            raise ValidationError("Only a submitted POS Closing Entry can be retried")
        consolidate_or_queue(txn, txn.edit("POS Closing Entry", doc["name"]))
        return None


def consolidate_or_queue(txn: Txn, closing: Doc) -> None:
    if len(closing.get("pos_transactions") or []) >= BACKGROUND_CONSOLIDATION_FROM:
        closing["status"] = "Queued"
        txn.touch("POS Closing Entry", closing)
        txn.jobs.append(closing["name"])
        txn.notes.append(dict(BACKGROUND_NOTE))
    else:
        consolidate(txn, closing)


def consolidate(txn: Txn, closing: Doc) -> None:
    """Merge the closing's invoices, book their stock, close the shift (or raise)."""
    rows = closing.get("pos_transactions") or []
    invoices = {r["pos_invoice"]: txn.require("POS Invoice", r["pos_invoice"]) for r in rows}
    for invoice in invoices.values():
        if invoice.get("consolidated_invoice"):
            raise ValidationError(f"POS Invoice {invoice['name']} is already consolidated")
    prefix = series_prefix(SALES_INVOICE_SERIES, txn.moment)
    for batch in batches(rows, invoices):
        sales_name = credit_name = None
        if batch.sales:
            last = batch.sales[-1]
            sales = merged_invoice(batch.sales, is_return=False,
                                   posting_date=last["posting_date"],
                                   posting_time=last["posting_time"])
            sales_name = _book(txn, sales, txn.next_in_series(prefix), outgoing=True)
        if batch.returns:
            credit = merged_invoice(batch.returns, is_return=True,
                                    posting_date=closing["posting_date"],
                                    posting_time=closing["posting_time"])
            credit["return_against"] = sales_name
            credit_name = _book(txn, credit, txn.next_in_series(prefix), outgoing=False)
            if sales_name:
                _credit_note_notes(txn, credit, sales_name)
                sales_doc = txn.edit("Sales Invoice", sales_name)
                sales_doc["status"] = "Credit Note Issued"
        txn.create("POS Invoice Merge Log", merge_log(batch, closing, sales_name, credit_name))
        for invoice in batch.sales + batch.returns:
            edited = txn.edit("POS Invoice", invoice["name"])
            edited["status"] = "Consolidated"
            edited["consolidated_invoice"] = credit_name if cint(
                invoice.get("is_return")) else sales_name
            txn.touch("POS Invoice", edited)
    closing["status"], closing["error_message"] = "Submitted", ""
    txn.touch("POS Closing Entry", closing)
    _set_opening(txn, closing, closed=True)


def _book(txn: Txn, invoice: Doc, name: str, *, outgoing: bool) -> str:
    doc = txn.create("Sales Invoice", invoice, name=name)
    moves = []
    for row in doc.get("items") or []:
        item = txn.get("Item", row.get("item_code")) or {}
        if cint(item.get("is_stock_item", 1)) and row.get("warehouse"):
            qty = abs(flt(row.get("stock_qty")))
            moves.append(Move(row["item_code"], row["warehouse"], -qty if outgoing else qty,
                              row.get("name")))
    post(txn, "Sales Invoice", name, moves,
         posting_moment(doc["posting_date"], doc["posting_time"]), doc.get("company"))
    return name


def _credit_note_notes(txn: Txn, credit: Doc, sales_name: str) -> None:
    # Recorded: ERPNext validates the credit note twice (save, submit) and, its rows
    # carrying no reference to the Sales Invoice rows, prints this for each row each time.
    for _ in range(2):
        for idx, row in enumerate(credit.get("items") or [], 1):
            txn.notes.append({"message": f"Row # {idx}: Returned Item {row.get('item_code')}"
                              f" does not exist in Sales Invoice {sales_name}",
                              "title": "Message"})


def _unconsolidate(txn: Txn, closing_name: str) -> None:
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


def _set_opening(txn: Txn, closing: Doc, *, closed: bool) -> None:
    name = closing.get("pos_opening_entry")
    if not name or not txn.exists("POS Opening Entry", name):
        return
    opening = txn.edit("POS Opening Entry", name)
    opening["status"] = "Closed" if closed else "Open"
    opening["pos_closing_entry"] = closing["name"] if closed else None
    txn.touch("POS Opening Entry", opening)


def run_consolidation_job(begin: Callable[[], Txn], name: str) -> None:
    """The background job: consolidate, or record why not (status Failed)."""
    txn = begin()
    closing = txn.get("POS Closing Entry", name)
    if closing is None or closing.get("docstatus") != 1 or closing.get("status") != "Queued":
        return  # cancelled or already done meanwhile
    try:
        consolidate(txn, txn.edit("POS Closing Entry", name))
    except FrappeError as err:
        failed = begin()
        doc = failed.edit("POS Closing Entry", name)
        doc["status"], doc["error_message"] = "Failed", str(err.lines[0])
        failed.touch("POS Closing Entry", doc)
        failed.commit()
        return
    txn.commit()


def get_pos_invoices(txn: Txn, args: dict[str, Any]) -> list[Doc]:
    """ERPNext's ``get_pos_invoices``: submitted, unconsolidated invoices of a profile
    owned by ``user`` and posted in [start, end], by name, as full documents."""
    for key in ("start", "end", "pos_profile", "user"):
        if not args.get(key):
            raise NotPermitted(f"get_pos_invoices() missing argument: '{key}'")
    start, end = parse_datetime(str(args["start"])), parse_datetime(str(args["end"]))
    meta = txn.meta("POS Invoice")
    found = [inv for inv in txn.all("POS Invoice")
             if inv.get("owner") == args["user"] and inv.get("docstatus") == 1
             and inv.get("pos_profile") == args["pos_profile"]
             and not inv.get("consolidated_invoice")
             and start <= posting_moment(inv["posting_date"], inv["posting_time"]) <= end]
    return [expand(inv, meta, txn.registry, nulls=True)
            for inv in sorted(found, key=lambda d: d["name"])]
