"""Qt-free view-models of the app: plain data and pure functions, tested without Qt.

The widgets in :mod:`ui.screens` are thin adapters over these; nothing here imports Qt,
does I/O or talks to the node.
"""

from tillmesh.ui.models.cart import COLUMNS, EMPTY_CART, CartLine, CartView, selection_after
from tillmesh.ui.models.count import CountRow, DenominationCount, compare
from tillmesh.ui.models.payment import Mode, Payment, Points, modes_from, new_payment, quick_cash
from tillmesh.ui.models.returns import Invoice, ReturnLine, invoice_from_scan, return_lines
from tillmesh.ui.models.session import Link, Outcome, Phase, SessionState, User

__all__ = [
    "COLUMNS",
    "EMPTY_CART",
    "CartLine",
    "CartView",
    "CountRow",
    "DenominationCount",
    "Invoice",
    "Link",
    "Mode",
    "Outcome",
    "Payment",
    "Phase",
    "Points",
    "ReturnLine",
    "SessionState",
    "User",
    "compare",
    "invoice_from_scan",
    "modes_from",
    "new_payment",
    "quick_cash",
    "return_lines",
    "selection_after",
]
