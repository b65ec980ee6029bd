"""Decimal rounding exactly as Frappe does it with "Banker's Rounding".

Frappe's ``flt(value, precision)`` with the site's rounding method set to Banker's
Rounding rounds half to even at the given number of decimals. ERPNext rounds at every
intermediate step, so the same helper is used at each of those steps.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from tillmesh.node.errors import ValidationError

ZERO = Decimal(0)
CURRENCY_PRECISION = 2  # decimals of EUR money fields (ERPNext number format #.###,##)
FLOAT_PRECISION = 3  # decimals of qty, percentage and float fields (System Settings)

QUANTUM = {p: Decimal(1).scaleb(-p) for p in range(0, 10)}  # by decimals: 2 -> 0.01


def flt(value: Decimal | int | str, precision: int = CURRENCY_PRECISION) -> Decimal:
    """Round ``value`` half to even to ``precision`` decimals, like frappe.utils.flt."""
    exact = value if type(value) is Decimal else Decimal(value)
    # The rounding by position: as a keyword, it costs the C decimal 3x the quantize.
    return exact.quantize(QUANTUM[precision], ROUND_HALF_EVEN)


def to_decimal(value: object, field: str = "amount") -> Decimal:
    """Parse money or a quantity from API input.

    A float goes through its shortest repr (``1.1`` -> ``Decimal("1.1")``), so JSON typed
    in a shell means what the person typed, never the binary approximation.
    """
    if isinstance(value, bool) or value is None:
        raise ValidationError(f"{field} must be a number, not {value!r}")
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError(f"{field} is not a number: {value!r}") from exc
    if not result.is_finite():
        raise ValidationError(f"{field} must be finite: {value!r}")
    return result
