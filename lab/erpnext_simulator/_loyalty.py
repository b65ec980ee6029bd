"""Loyalty points a POS Invoice earns (recorded on ERPNext 15.71:
``tests/lab/recorded/loyalty-cases.json``).

The invoice's program is always the customer's (``fetch_from``). Submitting a sale of an
enrolled customer enters its points (``make_loyalty_point_entry``): the grand total less
the redeemed worth in whole units, per the tier's collection factor, truncated; the tier
from the highest minimum spent down, kept unless the spend with this sale is at most a
lower tier's minimum (16: from the lowest up, the highest the spend reaches, read in
16.12's ``loyalty_program.py``); the points keep the program's expiry duration. A return against a
sale enters the sale's points again, less what was returned, and is refused when the
sale's points were redeemed since. Points redeemed are refused beyond the customer's
balance on the site's date or the sale's total (``validate_loyalty_points``), and taken
from the POS Invoices' entries that expire first (``apply_loyalty_points``).
"""

from __future__ import annotations

from datetime import timedelta

from tillmesh.lab.erpnext_simulator._clock import getdate
from tillmesh.lab.erpnext_simulator._errors import ValidationError
from tillmesh.lab.erpnext_simulator._meta import cint, flt
from tillmesh.lab.erpnext_simulator._money import money
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn

ENTRY = "Loyalty Point Entry"


def fill_program(txn: Txn, invoice: Doc) -> None:
    customer = txn.get("Customer", invoice.get("customer")) or {}
    invoice["loyalty_program"] = customer.get("loyalty_program") or None


def check_redemption(txn: Txn, invoice: Doc) -> None:
    points = cint(invoice.get("loyalty_points"))
    if not (cint(invoice.get("redeem_loyalty_points")) and invoice.get("loyalty_program")
            and points):
        return
    program = txn.get("Loyalty Program", invoice["loyalty_program"]) or {}
    if program.get("company") != invoice.get("company"):
        raise ValidationError("The Loyalty Program isn't valid for the selected company",
                              erpnext=True)
    today = getdate(txn.now)
    held = sum(cint(e.get("loyalty_points")) for e in _entries(txn, invoice)
               if getdate(e.get("posting_date")) <= today <= getdate(e.get("expiry_date")))
    if points > held:
        raise ValidationError("You don't have enough Loyalty Points to redeem", erpnext=True)
    worth = flt(points * flt(program.get("conversion_factor")))
    if worth > (flt(invoice.get("rounded_total")) or flt(invoice.get("grand_total"))):
        raise ValidationError("You can't redeem Loyalty Points having more value than the "
                              "Total Amount.", erpnext=True)
    if not flt(invoice.get("loyalty_amount")):
        invoice["loyalty_amount"] = worth


def on_submit(txn: Txn, invoice: Doc, doctype: str = "POS Invoice") -> None:
    if not invoice.get("loyalty_program"):
        return
    if not cint(invoice.get("is_return")):
        _enter(txn, invoice, doctype)
        if cint(invoice.get("redeem_loyalty_points")) and cint(invoice.get("loyalty_points")):
            _redeem(txn, invoice, doctype)
    elif invoice.get("return_against"):
        sold = txn.get(doctype, invoice["return_against"])
        if sold is not None:
            mine = txn.find(ENTRY, "invoice", sold["name"])
            spent_by = sorted({str(e.get("invoice")) for e in txn.all(ENTRY)
                               if mine and e.get("redeem_against") == mine[0]["name"]})
            if spent_by:
                raise ValidationError(
                    f"{doctype} can't be cancelled since the Loyalty Points earned has "
                    f"been redeemed. First cancel the {doctype} No {', '.join(spent_by)}",
                    erpnext=True)
            for old in mine:
                txn.delete(ENTRY, old["name"])
            _enter(txn, sold, doctype, returned=abs(flt(invoice.get("grand_total"))) + sum(
                abs(flt(r.get("grand_total"))) for r in txn.all(doctype)
                if r.get("docstatus") == 1 and cint(r.get("is_return"))
                and r.get("return_against") == sold["name"] and r["name"] != invoice["name"]))


def _enter(txn: Txn, invoice: Doc, doctype: str, returned: float = 0.0) -> None:
    program = txn.get("Loyalty Program", invoice["loyalty_program"]) or {}
    posted = getdate(invoice.get("posting_date"))
    if getdate(program.get("from_date") or "2000-01-01") > posted or (
            program.get("to_date") and getdate(program["to_date"]) < posted):
        return
    current = flt(invoice.get("grand_total")) - cint(invoice.get("loyalty_amount"))
    spent = sum(flt(e.get("purchase_amount")) for e in txn.find(ENTRY, "customer",
                                                                   invoice["customer"])
                if e.get("loyalty_program") == program.get("name")
                and getdate(e.get("posting_date")) <= posted)
    tier: Doc = {}
    upward = txn.registry.release.major >= 16  # 16: the highest tier the spent reaches
    for i, rule in enumerate(sorted(program.get("collection_rules") or (),
                                    key=lambda r: flt(r.get("min_spent")), reverse=not upward)):
        total, least = spent + current, flt(rule.get("min_spent"))
        if i == 0 or (total >= least if upward else total <= least):
            tier = rule
        else:
            break
    eligible = current - returned
    txn.create(ENTRY, {
        "company": invoice.get("company"), "loyalty_program": program.get("name"),
        "loyalty_program_tier": tier.get("tier_name"), "customer": invoice["customer"],
        "invoice_type": doctype, "invoice": invoice["name"],
        "loyalty_points": cint(eligible / (flt(tier.get("collection_factor")) or 1.0)),
        "purchase_amount": money(eligible),
        "expiry_date": (posted + timedelta(days=cint(program.get("expiry_duration"))))
        .isoformat(), "posting_date": posted.isoformat()})
    customer = txn.edit("Customer", invoice["customer"])
    customer["loyalty_program_tier"] = tier.get("tier_name")
    txn.touch("Customer", customer)


def _redeem(txn: Txn, invoice: Doc, doctype: str) -> None:
    """``apply_loyalty_points``: from the entries of invoices of the same doctype that
    expire first."""
    left = cint(invoice.get("loyalty_points"))
    today = getdate(txn.now)
    for earned in sorted((e for e in _entries(txn, invoice) if cint(e.get("loyalty_points")) > 0
                          and getdate(e.get("expiry_date")) >= today
                          and e.get("invoice_type") == doctype
                          and e.get("invoice") != invoice["name"]),
                         key=lambda e: getdate(e.get("expiry_date"))):
        taken = -sum(cint(e.get("loyalty_points")) for e in txn.all(ENTRY)
                     if e.get("redeem_against") == earned["name"])
        points = min(cint(earned.get("loyalty_points")) - taken, left)
        txn.create(ENTRY, {
            "company": invoice.get("company"), "loyalty_program": invoice["loyalty_program"],
            "loyalty_program_tier": earned.get("loyalty_program_tier"),
            "customer": invoice["customer"], "invoice_type": doctype,
            "invoice": invoice["name"], "redeem_against": earned["name"],
            "loyalty_points": -points, "purchase_amount": flt(invoice.get("grand_total")),
            "expiry_date": earned.get("expiry_date"),
            "posting_date": getdate(invoice.get("posting_date")).isoformat()})
        left -= points
        if left < 1:
            break


def _entries(txn: Txn, invoice: Doc) -> list[Doc]:
    """The customer's entries in the invoice's program."""
    return [e for e in txn.find(ENTRY, "customer", invoice.get("customer"))
            if e.get("loyalty_program") == invoice.get("loyalty_program")]

