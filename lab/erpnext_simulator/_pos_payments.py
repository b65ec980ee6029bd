"""How ERPNext 15.71 checks what a POS Invoice was paid (``pos_invoice.py``,
``sales_invoice.py``), against the totals it computed itself (``_pos_totals``).

``paid_amount`` is the header field as the client sent it; only a draft's is then
replaced by the sum of its rows, each row's account by its mode of payment's
(``before_save``, which a submit skips: a submitted insert keeps what was sent). The
checks, in ERPNext's order: at least one payment row (``validate_mode_of_payment``,
early), then the change (``validate_change_amount``), a return refunding no more than its
total, write-off included (``validate_pos``, which the consolidated credit note runs too:
rule D of ``erpnext/NOTES.md``), the sign of each row and a submitted return's rows
against its total (``validate_payment_amount``), and a submitted invoice paid in full, a
return exactly (``validate_full_payment``) unless the POS Profile allows partial payment;
ERPNext 16 checks sales only there.
"""

from __future__ import annotations

from decimal import Decimal

from tillmesh.lab.erpnext_simulator._errors import (
    PartialPaymentValidationError,
    SalesInvoicePartialPaymentError,
    ServerTypeError,
    ValidationError,
)
from tillmesh.lab.erpnext_simulator._meta import cint, flt
from tillmesh.lab.erpnext_simulator._money import dec, money
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn

# ERPNext's slack in validate_pos: 1 / 10 ** (precision of grand_total + 1)
_REFUND_SLACK = Decimal("0.001")


def invoice_total(doc: Doc) -> float:
    """What the customer owes: ``rounded_total or grand_total``, as ERPNext decides it."""
    return flt(doc.get("rounded_total")) or flt(doc.get("grand_total"))


def require_rows(doc: Doc) -> None:
    if not doc.get("payments"):
        raise ValidationError("At least one mode of payment is required for POS invoice.",
                              erpnext=True)


def set_change(doc: Doc) -> None:
    """``validate_change_amount``: paying more than the total leaves change, unless the
    client sent some."""
    total, paid = invoice_total(doc), flt(doc.get("paid_amount"))
    if not flt(doc.get("change_amount")) and total < paid:
        write_off = flt(doc.get("write_off_amount"))
        doc["change_amount"] = money(paid - total + write_off)
        doc["base_change_amount"] = money(flt(doc.get("base_paid_amount")) - total
                                          + flt(doc.get("base_write_off_amount")))
    doc.setdefault("change_amount", 0.0)
    doc.setdefault("base_change_amount", 0.0)


def before_save(txn: Txn, doc: Doc) -> None:
    """``SalesInvoice.before_save``: ``set_account_for_mode_of_payment``, ``set_paid_amount``."""
    for row in doc.get("payments") or []:
        mode = txn.get("Mode of Payment", row.get("mode_of_payment")) or {}
        row["account"] = next((a.get("default_account") for a in mode.get("accounts") or []
                               if a.get("company") == doc.get("company")), None)
        row["base_amount"] = money(flt(row.get("amount")) * flt(doc.get("conversion_rate")))
    doc["paid_amount"] = money(sum(flt(r.get("amount")) for r in doc.get("payments") or []))
    doc["base_paid_amount"] = money(sum(flt(r.get("base_amount"))
                                        for r in doc.get("payments") or []))


def check_refund_covered(paid: float, write_off: float, total: float) -> None:
    """``SalesInvoice.validate_pos`` for a return: |refund| + |write-off| <= |total|."""
    if abs(dec(paid)) + abs(dec(write_off)) - abs(dec(total)) > _REFUND_SLACK:
        raise ValidationError("Paid amount + Write Off Amount can not be greater than Grand "
                              "Total", erpnext=True)


def validate(txn: Txn, doc: Doc) -> None:
    """The checks ERPNext makes after stock and returns, in its order."""
    is_return = cint(doc.get("is_return"))
    if is_return:
        check_refund_covered(flt(doc.get("paid_amount")), flt(doc.get("write_off_amount")),
                             invoice_total(doc))
    check_signs(doc)
    if is_return and doc.get("docstatus") != 0:
        check_return_rows(doc)
    check_full_payment(txn, doc)


def check_signs(doc: Doc) -> None:
    """Each payment row positive on a sale, negative on a return."""
    is_return = cint(doc.get("is_return"))
    for idx, row in enumerate(doc.get("payments") or [], 1):
        amount = flt(row.get("amount"))
        if amount < 0 and not is_return or amount > 0 and is_return:
            sign = "negative" if is_return else "positive"
            raise ValidationError(f"Row #{idx} (Payment Table): Amount must be {sign}",
                                  erpnext=True)


def check_return_rows(doc: Doc) -> None:
    """A return's payment rows refund no more than its total."""
    total = invoice_total(doc)
    rows = money(sum(flt(r.get("amount")) for r in doc.get("payments") or []))
    if rows and rows < total:
        raise ValidationError(f"Total payments amount can't be greater than {-total}",
                              erpnext=True)


def check_full_payment(txn: Txn, doc: Doc) -> None:
    """``validate_full_payment`` of a submitted invoice, unless its POS Profile allows
    partial payment: ERPNext 15's POS Invoice wants a return's refund exact; 16's (the
    Sales Invoice's, for both doctypes) checks sales only."""
    profile = txn.get("POS Profile", doc.get("pos_profile")) or {}
    if doc.get("docstatus") != 1 or cint(profile.get("allow_partial_payment")):
        return
    total, paid = invoice_total(doc), doc.get("paid_amount")
    if txn.registry.release.major >= 16:
        if cint(doc.get("is_return")):
            return
        refused: PartialPaymentValidationError = SalesInvoicePartialPaymentError(
            "Partial Payment in POS Transactions are not allowed.")
    else:
        refused = PartialPaymentValidationError("Partial Payment in POS Invoice is not allowed.")
        if cint(doc.get("is_return")) and (paid is None or dec(paid) != dec(total)):
            raise refused
    if paid is None:  # ERPNext compares None < float
        raise ServerTypeError("'<' not supported between instances of 'NoneType' and 'float'")
    if dec(paid) < dec(total):
        raise refused
