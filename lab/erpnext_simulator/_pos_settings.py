"""POS Settings' ``invoice_type`` (ERPNext 16): which invoices a POS makes, read where
ERPNext reads it (``frappe.db.get_single_value``), so a site may switch modes; and the
switch refused while an opening entry is Open (``POSSettings.validate_invoice_type``).
"""

from __future__ import annotations

from tillmesh.lab.erpnext_simulator._controller import Controller
from tillmesh.lab.erpnext_simulator._errors import ValidationError
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn

POS_INVOICE = "POS Invoice"
SALES_INVOICE = "Sales Invoice"


def invoice_type(txn: Txn) -> str:
    """The site's POS invoice mode; ERPNext 15 has POS Invoices only."""
    if txn.registry.release.major < 16:
        return POS_INVOICE
    settings = txn.get("POS Settings", "POS Settings") or {}
    return str(txn.meta("POS Settings").value(settings, "invoice_type"))


class PosSettings(Controller):
    def validate(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        if old is None or old.get("invoice_type") == doc.get("invoice_type"):
            return
        if any(e.get("docstatus") == 1 and e.get("status") == "Open"
               for e in txn.all("POS Opening Entry")):
            raise ValidationError("<strong>Invoice Type</strong> cannot be changed with opened"
                                  " Opening Entries.",
                                  title="Invoice Document Type Selection Error", erpnext=True)
