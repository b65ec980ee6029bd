"""What ERPNext 16.12 changed in the doctypes the simulator defines, as recorded
(``shared/erpnext/NOTES-v16.md``, ``recorded/erpnext-16.12-requests.jsonl``).

Same token format as ``_doctypes_v15`` (see there). ``V16_CHANGES`` names, per v15
doctype, the fields 16 dropped and those it added: a POS Closing Entry lists POS Invoices
in ``pos_invoices`` (v15's ``pos_transactions`` is gone, so a v15 body is stored with no
rows) and Sales Invoices in ``sales_invoices``; POS Settings gained ``invoice_type``; a POS
Profile sets the grand total to the default mode of payment unless told not to; a
Sales Invoice says it was made by a POS (``is_created_using_pos``) and which closing listed
it, and names a coupon (validated and counted as a POS Invoice's is); Stock Settings
gained switches (all off on a new site). ``V16_DOCTYPES`` are the doctypes 16 added.
"""

from __future__ import annotations

V16_CHANGES: dict[str, tuple[tuple[str, ...], str]] = {
    "POS Closing Entry": (("pos_transactions",), """
        pos_invoices|T|POS~Invoice~Reference|POS~Invoices
        sales_invoices|T|Sales~Invoice~Reference|Sales~Invoices total_taxes_and_charges|F
        """),
    "POS Profile": (("disable_grand_total_to_default_mop",),
                    "set_grand_total_to_default_mop|C|||1"),
    "POS Settings": ((), "invoice_type|S|||Sales~Invoice post_change_gl_entries|C|||0"),
    "Sales Invoice": ((), """
        is_created_using_pos|C|||0 pos_closing_entry|L|POS~Closing~Entry|POS~Closing~Entry
        coupon_code|L|Coupon~Code|Coupon~Code
        """),
    "Stock Settings": ((), """
        validate_material_transfer_warehouses|C|||0 enable_serial_and_batch_no_for_item|C|||0
        allow_negative_stock_for_batch|C|||0 auto_reserve_stock|C|||0
        """),
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
