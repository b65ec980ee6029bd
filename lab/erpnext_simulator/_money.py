"""Amounts and quantities: ERPNext answers floats, the simulator computes in Decimal.

The recorded site rounds with "Banker's Rounding" (half to even), money at 2 decimals and
quantities at 3.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tillmesh.lab.erpnext_simulator._const import MONEY, QTY


def dec(value: Any) -> Decimal:
    """A JSON number (or None) as a Decimal, through its shortest repr."""
    if value is None or value == "":
        return Decimal(0)
    return Decimal(str(value))


def money(value: Any) -> float:
    """Rounded to the cent, half to even, as ERPNext's float."""
    return float(dec(value).quantize(MONEY, rounding=ROUND_HALF_EVEN)) + 0.0




def quantity(value: Any) -> float:
    """Rounded to the float precision of quantities, half to even, as ERPNext stores it."""
    return float(dec(value).quantize(QTY, rounding=ROUND_HALF_EVEN)) + 0.0


def round_to_fraction(value: float, fraction: Decimal) -> float:
    """Frappe's ``round_based_on_smallest_currency_fraction`` (cash rounding), to the cent;
    its remainder is Python's float ``%``, which takes the divisor's sign."""
    if not fraction:
        return money(round(value))
    remainder = dec(value) % fraction
    if remainder < 0:
        remainder += fraction
    remainder = remainder.quantize(MONEY, rounding=ROUND_HALF_EVEN)
    if remainder > fraction / 2:
        return money(dec(value) + fraction - remainder)
    return money(dec(value) - remainder)
