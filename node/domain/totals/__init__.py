"""ERPNext's POS totals, to the cent: ``compute_totals(cart, settings)``, pure. As ERPNext
15 computes them, or 16 where it differs (``TotalsSettings.release``: how an invoice
discount is spread over inclusive-tax lines, its discount refusal, a few messages).

The data going in and out is in ``_model``; the port of ``calculate_taxes_and_totals``
is in ``_calc`` (its docstring says which ERPNext function each part mirrors); what
ERPNext refuses, with its messages, is in ``_checks``; the totals regrouped per VAT rate
(net, tax, gross of each rate, for receipts and shift reports) are in ``_rates``.
"""

from tillmesh.node.domain.totals._calc import (
    InvoiceDiscountOf,
    Subtotals,
    check_settings,
    compute_totals,
    compute_totals_discounted,
    percentage_discount,
    with_payments,
)
from tillmesh.node.domain.totals._model import (
    ERPNEXT_RELEASES,
    GRAND_TOTAL,
    NEGATIVE_GRAND_TOTAL,
    NEGATIVE_RATE,
    NET_TOTAL,
    Cart,
    CartLine,
    ChargeType,
    InvoiceTotals,
    LineTotals,
    OriginalRow,
    ReturnAgainst,
    TaxRow,
    TaxTotals,
    TotalsSettings,
    amount_due,
    nearest_release,
    recorded_due,
)
from tillmesh.node.domain.totals._rates import (
    RateTotals,
    add_rates,
    as_recorded,
    vat_from_rows,
    vat_per_rate,
    vat_per_rate_of,
)

__all__ = [
    "ERPNEXT_RELEASES",
    "GRAND_TOTAL",
    "NEGATIVE_GRAND_TOTAL",
    "NEGATIVE_RATE",
    "NET_TOTAL",
    "Cart",
    "CartLine",
    "ChargeType",
    "InvoiceDiscountOf",
    "InvoiceTotals",
    "LineTotals",
    "OriginalRow",
    "RateTotals",
    "ReturnAgainst",
    "Subtotals",
    "TaxRow",
    "TaxTotals",
    "TotalsSettings",
    "add_rates",
    "amount_due",
    "as_recorded",
    "check_settings",
    "compute_totals",
    "compute_totals_discounted",
    "nearest_release",
    "percentage_discount",
    "recorded_due",
    "vat_from_rows",
    "vat_per_rate",
    "vat_per_rate_of",
    "with_payments",
]
