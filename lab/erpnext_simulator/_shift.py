"""Shifts: POS Opening Entry and POS Closing Entry, ``get_pos_invoices`` (ERPNext 15) and
``get_invoices`` (16).

Submitting a closing consolidates its invoices (``_merging``): fewer than ten inside the
request, from ten on in a background job; ``run_method=retry`` runs it again, keeping the
last ``error_message`` while the status is ``Queued``.

ERPNext 16 lists POS Invoices in ``pos_invoices`` (POS Invoice mode only) and the Sales
Invoices a POS made in ``sales_invoices``, which it refuses as it refuses POS Invoices
(plus those without payments or not made by a POS) and marks closed on submit. An opening
is refused while its profile or its user has another Open, and cannot be cancelled while
it has unclosed sales (``get_invoices`` from its start to now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
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
from tillmesh.lab.erpnext_simulator._money import dec
from tillmesh.lab.erpnext_simulator._pos_settings import POS_INVOICE, invoice_type
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn


class PosOpeningEntry(Controller):
    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        doc["status"] = "Draft"

    def validate(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        profile = txn.get("POS Profile", doc.get("pos_profile")) or {}
        if txn.registry.release.major >= 16:  # the profile's checks come first there
            if profile and cint(profile.get("disabled")):
                raise ValidationError(f"POS Profile <strong>{profile['name']}</strong> is "
                                      "disabled.", erpnext=True)
            _profile_company(profile, doc)
            _user_enabled(txn, doc)
            _one_open(txn, doc)
        else:
            _user_enabled(txn, doc)
            _profile_company(profile, doc)

    def on_submit(self, txn: Txn, doc: Doc, *, chosen_name: bool) -> None:
        doc["status"] = "Open"

    def on_cancel(self, txn: Txn, doc: Doc) -> None:
        if txn.registry.release.major < 16:
            return
        # check_poe_is_cancellable: nothing sold in it may be left unclosed
        if get_invoices(txn, {"start": doc.get("period_start_date"), "end": txn.now,
                              "pos_profile": doc.get("pos_profile"),
                              "user": doc.get("user")})["invoices"]:
            raise ValidationError("POS Opening Entry cannot be cancelled as unconsolidated "
                                  "Invoices exists.",
                                  title="POS Opening Entry Cancellation Error", erpnext=True)


def _user_enabled(txn: Txn, doc: Doc) -> None:
    user = txn.get("User", doc.get("user"))
    if user is not None and not cint(user.get("enabled", 1)):
        raise ValidationError(f"User {doc['user']} is disabled. Please select valid "
                              "user/cashier", erpnext=True)


def _profile_company(profile: Doc, doc: Doc) -> None:
    if profile and profile.get("company") != doc.get("company"):
        raise ValidationError(f"POS Profile {profile['name']} does not belong to company "
                              f"{doc.get('company')}", erpnext=True)


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


def validate_pos_opening(txn: Txn, profile: object) -> None:
    """A sale needs its POS Profile open (ERPNext 15's POS Invoice); on 16
    (``SalesInvoice.validate_pos_opening_entry``) by one opening only, started on the
    server's today, whatever the sale's posting date says."""
    found = sorted((e for e in txn.all("POS Opening Entry") if e.get("pos_profile") == profile
                    and e.get("status") == "Open" and e.get("docstatus") == 1),
                   key=lambda e: str(e.get("period_start_date")), reverse=True)
    if not found:
        raise ValidationError(f"No open POS Opening Entry found for POS Profile <strong>"
                              f"{profile}</strong>.", title="POS Opening Entry Missing",
                              erpnext=True)
    if txn.registry.release.major < 16:
        return
    if len(found) > 1:
        raise ValidationError(f"POS Profile - {profile} has multiple open POS Opening Entries."
                              " Please close or cancel the existing entries before proceeding.",
                              title="Multiple POS Opening Entry", erpnext=True)
    if str(found[0].get("period_start_date"))[:10] != txn.today:
        raise ValidationError(f"POS Opening Entry - {found[0]['name']} is outdated. Please "
                              "close the POS and create a new POS Opening Entry.",
                              title="Outdated POS Opening Entry", erpnext=True)


@dataclass(frozen=True)
class _Listed:
    """How a closing lists one kind of invoice, and what it refuses in one."""

    doctype: str
    link: str  # the row's field naming the invoice
    closed_by: str  # the invoice's field set once a closing took it in
    also: tuple[tuple[str, str], ...] = ()  # (flag the invoice must have, else this message)

    def rows(self, closing: Doc) -> list[Doc]:
        return closing_rows(closing) if self.doctype == "POS Invoice" else list(
            closing.get("sales_invoices") or [])


_POS_INVOICES = _Listed("POS Invoice", "pos_invoice", "consolidated_invoice")
_SALES_INVOICES = _Listed("Sales Invoice", "sales_invoice", "pos_closing_entry", (
    ("is_pos", "Sales Invoice does not have Payments"),
    ("is_created_using_pos", "Sales Invoice is not created using POS")))


class PosClosingEntry(Controller):
    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        opening = txn.get("POS Opening Entry", doc.get("pos_opening_entry")) or {}
        if opening.get("period_start_date"):  # recorded: the opening's start wins
            doc["period_start_date"] = opening["period_start_date"]
        for listed in (_POS_INVOICES, _SALES_INVOICES):
            for row in listed.rows(doc):
                invoice = txn.get(listed.doctype, row.get(listed.link)) or {}
                for key in ("customer", "posting_date", "grand_total", "is_return",
                            "return_against"):
                    row.setdefault(key, invoice.get(key))
        for row in doc.get("payment_reconciliation") or []:
            row["difference"] = flt(row.get("closing_amount")) - flt(row.get("expected_amount"))
        if txn.registry.release.major >= 16:  # set_posting_date_and_time: the server's now
            doc["posting_date"], doc["posting_time"] = txn.today, txn.time
        if old is None:  # a failed one stays Failed while it is edited (recorded on 16)
            doc["status"] = "Draft"

    def validate(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        opening = txn.get("POS Opening Entry", doc.get("pos_opening_entry")) or {}
        if opening.get("status") != "Open":
            raise ValidationError("Selected POS Opening Entry should be open.",
                                  title="Invalid Opening Entry", erpnext=True)
        if invoice_type(txn) == POS_INVOICE:
            _check_listed(txn, doc, _POS_INVOICES)
        elif closing_rows(doc):
            raise ValidationError("POS Invoices can't be added when Sales Invoice is enabled",
                                  erpnext=True)
        if txn.registry.release.major >= 16:
            _check_listed(txn, doc, _SALES_INVOICES)

    def on_submit(self, txn: Txn, doc: Doc, *, chosen_name: bool) -> None:
        consolidate_or_queue(txn, doc, chosen_name=chosen_name)
        _mark_closed(txn, doc, doc["name"])

    def on_cancel(self, txn: Txn, doc: Doc) -> None:
        if doc.get("status") == "Submitted":
            unconsolidate(txn, doc["name"])
        doc["error_message"] = ""
        set_opening(txn, doc, closed=False)
        _mark_closed(txn, doc, None)

    def run_method(self, txn: Txn, doc: Doc, method: str) -> Any:
        if method != "retry":
            return super().run_method(txn, doc, method)
        if doc.get("docstatus") != 1:
            raise ValidationError("Only a submitted POS Closing Entry can be retried")
        consolidate_or_queue(txn, txn.edit("POS Closing Entry", doc["name"]))
        return None


def _check_listed(txn: Txn, closing: Doc, listed: _Listed) -> None:
    """``validate_duplicate_<invoices>`` and ``validate_<invoices>``: every problem of every
    row, in one refusal."""
    rows = listed.rows(closing)
    seen: dict[Any, list[int]] = {}
    for idx, row in enumerate(rows, 1):
        seen.setdefault(row.get(listed.link), []).append(idx)
    twice = [f"<strong>{name}</strong> is added multiple times on rows: <strong>{idxs}"
             "</strong>" for name, idxs in seen.items() if len(idxs) > 1]
    if twice:
        raise ValidationError(twice, title=f"Duplicate {listed.doctype}s found", erpnext=True)
    problems: list[str] = []
    for idx, row in enumerate(rows, 1):
        invoice = txn.get(listed.doctype, row.get(listed.link)) or {}
        if invoice.get(listed.closed_by):
            problems.append(f"Row #{idx}: {listed.doctype} is already consolidated")
            continue
        found = [message for flag, message in listed.also if not cint(invoice.get(flag))]
        if invoice.get("pos_profile") != closing.get("pos_profile"):
            found.append(f"POS Profile doesn't match <strong>{closing.get('pos_profile')}"
                         "</strong>")
        if invoice.get("docstatus") != 1:
            found.append(f"{listed.doctype} is not submitted")
        if invoice.get("owner") != closing.get("user"):
            # ERPNext names the closing's owner here, not its user (sic)
            owner = closing.get("owner") or txn.user
            found.append(f"{listed.doctype} isn't created by user <strong>{owner}</strong>")
        problems.extend(f"Row #{idx}: {message}" for message in found)
    if problems:
        raise ValidationError(problems, title=f"Invalid {listed.doctype}s", erpnext=True)


def _mark_closed(txn: Txn, closing: Doc, by: str | None) -> None:
    """``update_sales_invoices_closing_entry``: each Sales Invoice listed names the
    closing (none once it is cancelled)."""
    for row in _SALES_INVOICES.rows(closing):
        invoice = txn.edit("Sales Invoice", row["sales_invoice"])
        invoice["pos_closing_entry"] = by
        txn.touch("Sales Invoice", invoice)


_LISTED = ("name", "customer", "posting_date", "grand_total", "net_total", "total_qty",
           "total_taxes_and_charges", "change_amount", "account_for_change_amount",
           "is_return", "return_against")


def get_invoices(txn: Txn, args: dict[str, Any]) -> dict[str, list[Doc]]:
    """ERPNext 16's ``get_invoices``: what a closing of [start, end] would list (the POS
    Sales Invoices, and in POS Invoice mode the POS Invoices too, not yet closed, by posting
    time) with their payments by mode and taxes by account."""
    start, end = parse_datetime(str(args.get("start"))), parse_datetime(str(args.get("end")))
    kinds = ["Sales Invoice"] + (["POS Invoice"] if invoice_type(txn) == POS_INVOICE else [])
    found = [(doctype, inv) for doctype in kinds for inv in txn.all(doctype)
             if inv.get("owner") == args.get("user") and inv.get("docstatus") == 1
             and cint(inv.get("is_pos")) and inv.get("pos_profile") == args.get("pos_profile")
             and start <= _posted(inv) <= end and _unclosed(doctype, inv)]
    found.sort(key=lambda pair: _posted(pair[1]))
    rows = [{**{k: txn.meta(doctype).value(inv, k) for k in _LISTED},
             "timestamp": str(_posted(inv)), "doctype": doctype} for doctype, inv in found]
    return {"invoices": rows, "payments": _payments([inv for _, inv in found]),
            "taxes": _taxes([inv for _, inv in found])}


def _posted(invoice: Doc) -> datetime:
    return posting_moment(invoice["posting_date"], invoice["posting_time"])


def _unclosed(doctype: str, invoice: Doc) -> bool:
    if doctype == "POS Invoice":
        return not invoice.get("consolidated_invoice")
    return bool(cint(invoice.get("is_created_using_pos"))) and not invoice.get(
        "pos_closing_entry")


def _payments(invoices: list[Doc]) -> list[Doc]:
    """Paid by mode of payment (the account of its first row), less the change given from
    each change account."""
    modes: dict[str, Doc] = {}
    for row in (r for inv in invoices for r in inv.get("payments") or []):
        mode = modes.setdefault(row.get("mode_of_payment"), {
            "mode_of_payment": row.get("mode_of_payment"), "account": row.get("account"),
            "amount": Decimal(0)})
        mode["amount"] += dec(row.get("amount"))
    for inv in invoices:
        for mode in modes.values():
            if mode["account"] == inv.get("account_for_change_amount"):
                mode["amount"] -= dec(inv.get("change_amount"))
    return [{**m, "amount": float(m["amount"])}
            for _, m in sorted(modes.items(), key=lambda pair: str(pair[0]))]


def _taxes(invoices: list[Doc]) -> list[Doc]:
    heads: dict[str, Decimal] = {}
    for row in (r for inv in invoices for r in inv.get("taxes") or []):
        head = str(row.get("account_head"))
        heads[head] = heads.get(head, Decimal(0)) + dec(row.get(
            "tax_amount_after_discount_amount"))
    return [{"account_head": head, "tax_amount": float(amount)}
            for head, amount in sorted(heads.items())]


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
