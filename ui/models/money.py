"""Money and quantities as the node sends them: decimal strings in, Decimal in the UI.

Nothing here rounds what the node computed: totals and taxes are shown exactly as the node
returned them (ERPNext's numbers). Only amounts the cashier types are parsed here.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from tillmesh.ui.const import CURRENCY_SYMBOL

ZERO = Decimal(0)
CENT = Decimal("0.01")


def dec(value: object, default: Decimal = ZERO) -> Decimal:
    """A Decimal from the node's decimal string (or a number); ``default`` for None or junk."""
    if value is None or isinstance(value, bool | float):
        return default  # the node never sends floats near money; junk is not guessed at
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return default
    return result if result.is_finite() else default


def parse_amount(text: str) -> Decimal | None:
    """What a cashier typed ("12,50", "12.5", "€ 3") as money, or None if it is not money.

    A comma is a decimal comma (German tills); more than two decimals is not money.
    """
    cleaned = text.strip().replace(CURRENCY_SYMBOL, "").replace(" ", "").replace(",", ".")
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value != value.quantize(CENT):
        return None
    return value.quantize(CENT)


def parse_qty(text: str) -> Decimal | None:
    """A positive quantity with at most 3 decimals (the node's precision), else None."""
    cleaned = text.strip().replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.001")):
        return None
    return value


def money(value: Decimal) -> str:
    """``Decimal("10.5")`` -> ``"10.50"`` (two decimals, as on the receipt)."""
    return f"{value.quantize(CENT):,.2f}"


def editable(value: Decimal) -> str:
    """``Decimal("15")`` -> ``"15.00"``: money in a field the cashier may edit (no separators,
    so :func:`parse_amount` reads it back)."""
    return f"{value.quantize(CENT):.2f}"


def with_symbol(value: Decimal) -> str:
    return f"{CURRENCY_SYMBOL} {money(value)}"


def qty(value: Decimal) -> str:
    """A quantity without trailing zeros: ``1.000`` -> ``1``, ``1.250`` -> ``1.25``."""
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")
