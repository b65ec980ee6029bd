"""ERPNext 15's POS totals, to the cent: ``compute_totals(cart, settings)``, pure.

The data going in and out is in ``_model``; the port of ``calculate_taxes_and_totals``
is in ``_calc`` (its docstring says which ERPNext function each part mirrors); what
ERPNext refuses, with its messages, is in ``_checks``.
"""

from tillmesh.node.domain.totals._calc import compute_totals
from tillmesh.node.domain.totals._model import (
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
)

__all__ = [
    "NET_TOTAL",
    "Cart",
    "CartLine",
    "ChargeType",
    "InvoiceTotals",
    "LineTotals",
    "OriginalRow",
    "ReturnAgainst",
    "TaxRow",
    "TaxTotals",
    "TotalsSettings",
    "amount_due",
    "compute_totals",
]
