"""Shifts: POS Opening Entry and POS Closing Entry, and ``get_pos_invoices``.

Submitting a closing consolidates its invoices (``_merging``): fewer than ten inside the
request, from ten on in a background job; ``run_method=retry`` runs it again, keeping the
last ``error_message`` while the status is ``Queued``.
"""

from __future__ import annotations

from typing import Any

from tillmesh.lab.erpnext_simulator._clock import parse_datetime, posting_moment
from tillmesh.lab.erpnext_simulator._controller import Controller
from tillmesh.lab.erpnext_simulator._documents import expand
from tillmesh.lab.erpnext_simulator._errors import NotPermitted, ValidationError
from tillmesh.lab.erpnext_simulator._merging import (
    closing_rows,
    consolidate_or_queue,
    set_opening,
    unconsolidate,
)
from tillmesh.lab.erpnext_simulator._meta import cint, flt
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn


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
        if txn.registry.release.major >= 16:
            _one_open(txn, doc)

    def on_submit(self, txn: Txn, doc: Doc, *, chosen_name: bool) -> None:
        doc["status"] = "Open"


def _one_open(txn: Txn, doc: Doc) -> None:
    """ERPNext 16: one Open opening per POS Profile (``check_open_pos_exists``) and per
    user (``check_user_already_assigned``)."""
    open_ = [e for e in txn.all("POS Opening Entry")
             if e.get("status") == "Open" and e.get("name") != doc.get("name")]
    if any(e.get("pos_profile") == doc.get("pos_profile") for e in open_):
        raise ValidationError(
            f"<strong>{doc.get('pos_profile')}</strong> is open. Close the POS or cancel the"
            " existing POS Opening Entry to create a new POS Opening Entry.",
            title="POS Opening Entry Exists", erpnext=True)
    if any(e.get("user") == doc.get("user") for e in open_):
        raise ValidationError("Cashier is currently assigned to another POS.",
                              title="Cannot Assign Cashier", erpnext=True)


def newest_open_opening(txn: Txn, profile: object) -> Doc | None:
    """The Open opening of ``profile`` that started last (ERPNext 16 sells against it)."""
    found = [e for e in txn.all("POS Opening Entry") if e.get("pos_profile") == profile
             and e.get("status") == "Open" and e.get("docstatus") == 1]
    return max(found, key=lambda e: str(e.get("period_start_date")), default=None)


class PosClosingEntry(Controller):
    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        opening = txn.get("POS Opening Entry", doc.get("pos_opening_entry")) or {}
        if opening.get("period_start_date"):  # recorded: the opening's start wins
            doc["period_start_date"] = opening["period_start_date"]
        for row in closing_rows(doc):
            invoice = txn.get("POS Invoice", row.get("pos_invoice")) or {}
            for key in ("customer", "posting_date", "grand_total", "is_return",
                        "return_against"):
                row.setdefault(key, invoice.get(key))
        for row in doc.get("payment_reconciliation") or []:
            row["difference"] = flt(row.get("closing_amount")) - flt(row.get("expected_amount"))
        if txn.registry.release.major >= 16:  # set_posting_date_and_time: the server's now
            doc["posting_date"], doc["posting_time"] = txn.today, txn.time
        doc["status"] = "Draft"

    def validate(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        opening = txn.get("POS Opening Entry", doc.get("pos_opening_entry")) or {}
        if opening.get("status") != "Open":
            raise ValidationError("Selected POS Opening Entry should be open.",
                                  title="Invalid Opening Entry", erpnext=True)
        problems: list[str] = []
        for idx, row in enumerate(closing_rows(doc), 1):
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
        consolidate_or_queue(txn, doc, chosen_name=chosen_name)

    def on_cancel(self, txn: Txn, doc: Doc) -> None:
        if doc.get("status") == "Submitted":
            unconsolidate(txn, doc["name"])
        doc["error_message"] = ""
        set_opening(txn, doc, closed=False)

    def run_method(self, txn: Txn, doc: Doc, method: str) -> Any:
        if method != "retry":
            return super().run_method(txn, doc, method)
        if doc.get("docstatus") != 1:
            raise ValidationError("Only a submitted POS Closing Entry can be retried")
        consolidate_or_queue(txn, txn.edit("POS Closing Entry", doc["name"]))
        return None


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
