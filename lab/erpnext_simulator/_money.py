"""Amounts: ERPNext answers floats, the simulator computes in Decimal.

The recorded site rounds with "Banker's Rounding" (half to even) at 2 decimals.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tillmesh.lab.erpnext_simulator._const import MONEY


def dec(value: Any) -> Decimal:
    """A JSON number (or None) as a Decimal, through its shortest repr."""
    if value is None or value == "":
        return Decimal(0)
    return Decimal(str(value))


def money(value: Any) -> float:
    """Rounded to the cent, half to even, as ERPNext's float."""
    return float(dec(value).quantize(MONEY, rounding=ROUND_HALF_EVEN)) + 0.0


def below(a: Any, b: Any) -> bool:
    """Whether amount ``a`` is less than ``b`` once both are rounded to the cent."""
    return dec(a).quantize(MONEY) < dec(b).quantize(MONEY)
