"""What ERPNext 16.12 changed in the doctypes the simulator defines, as recorded
(``shared/erpnext/NOTES-v16.md``, ``recorded/erpnext-16.12-requests.jsonl``).

Same token format as ``_doctypes_v15`` (see there). ``V16_CHANGES`` names, per v15
doctype, the fields 16 dropped and those it added: a POS Closing Entry lists POS Invoices
in ``pos_invoices`` (v15's ``pos_transactions`` is gone, so a v15 body is stored with no
rows) and Sales Invoices in ``sales_invoices``; POS Settings gained ``invoice_type``.
``V16_DOCTYPES`` are the doctypes 16 added.
"""

from __future__ import annotations

V16_CHANGES: dict[str, tuple[tuple[str, ...], str]] = {
    "POS Closing Entry": (("pos_transactions",), """
        pos_invoices|T|POS~Invoice~Reference|POS~Invoices
        sales_invoices|T|Sales~Invoice~Reference|Sales~Invoices total_taxes_and_charges|F
        """),
    "POS Settings": ((), "invoice_type|S|||Sales~Invoice post_change_gl_entries|C|||0"),
}
V16_DOCTYPES: dict[str, tuple[str, str]] = {
    "Sales Invoice Reference": (
        "naming=hash sort=modified order=desc table",
        """
        sales_invoice|L!|Sales~Invoice|Sales~Invoice posting_date|D!||Date
        grand_total|F!||Amount customer|L|Customer|Customer is_return|C|||0
        return_against|L|Sales~Invoice|Return~Against
        """,
    ),
}
