"""Coupon Code, and what a POS Invoice that names one does to it (recorded on ERPNext
15.71: ``tests/lab/recorded/coupon-cases.json``).

A Promotional coupon without a code gets one from its name (its letters, 8 at most, in
capitals); a Gift Card is for one customer and one use. A POS Invoice naming a coupon is
refused, drafts too, before the coupon's validity starts, after it ends (by the site's
date), or once its uses reach its maximum; submitting it counts a use, and is refused
when the count would pass the maximum, which on 15 is every time for a coupon without one
(``update_coupon_code_count`` compares ``used < maximum_use``; 16 counts such a coupon).

ERPNext 16 also validates and counts the coupon of a Sales Invoice: a consolidated one
takes the coupon of the last sale merged into it (``map_doc``), so a coupon used up by its
POS Invoices fails the consolidation, and one that is not is counted once more (read in
16.12's ``sales_invoice.py``; ``_merging``).
"""

from __future__ import annotations

from tillmesh.lab.erpnext_simulator._clock import getdate
from tillmesh.lab.erpnext_simulator._controller import Controller
from tillmesh.lab.erpnext_simulator._errors import ValidationError
from tillmesh.lab.erpnext_simulator._meta import cint
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn


class CouponCode(Controller):
    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        if not doc.get("coupon_code") and doc.get("coupon_type") != "Gift Card":
            name = str(doc.get("coupon_name") or "")
            doc["coupon_code"] = "".join(c for c in name if not c.isdigit())[:8].upper()
        elif not doc.get("coupon_code"):
            doc["coupon_code"] = txn.hash_name()[:10].upper()

    def validate(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        if doc.get("coupon_type") == "Gift Card":
            doc["maximum_use"] = 1
            if not doc.get("customer"):
                raise ValidationError("Please select the customer.", erpnext=True)


def check_coupon(txn: Txn, invoice: Doc) -> None:
    """``validate_coupon_code`` for the coupon ``invoice`` names."""
    coupon = txn.get("Coupon Code", invoice.get("coupon_code"))
    if coupon is None:
        return  # the link check refused it already
    today = getdate(txn.now)  # the site's date
    if coupon.get("valid_from") and getdate(coupon["valid_from"]) > today:
        raise ValidationError("Sorry, this coupon code's validity has not started",
                              erpnext=True)
    if coupon.get("valid_upto") and getdate(coupon["valid_upto"]) < today:
        raise ValidationError("Sorry, this coupon code's validity has expired", erpnext=True)
    if cint(coupon.get("maximum_use")) and cint(coupon.get("used")) >= cint(
            coupon.get("maximum_use")):
        raise ValidationError("Sorry, this coupon code is no longer valid", erpnext=True)


def count_use(txn: Txn, invoice: Doc) -> None:
    """``update_coupon_code_count(..., "used")`` on submit."""
    coupon = txn.edit("Coupon Code", str(invoice["coupon_code"]))
    used, most = cint(coupon.get("used")), cint(coupon.get("maximum_use"))
    if used >= most and (most or txn.registry.release.major < 16):
        raise ValidationError(f"{coupon.get('coupon_code')} Coupon used are {used}. Allowed "
                              "quantity is exhausted", erpnext=True)
    coupon["used"] = used + 1
    txn.touch("Coupon Code", coupon)

