"""Checks of what a till sends (quantities, amounts, payments) and invoice numbers.

Shared by the checkout and returns methods; each refusal says which field and why.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from tillmesh.node.domain.const import MAX_CART_LINES, MAX_PAYMENT_ROWS
from tillmesh.node.domain.money import FLOAT_PRECISION, flt, to_decimal
from tillmesh.node.domain.sale import Tender
from tillmesh.node.errors import PaymentError, ValidationError

if TYPE_CHECKING:
    from tillmesh.node.api import Node


def quantity(node: Node, value: object, field: str = "qty") -> Decimal:
    qty = to_decimal(value, field)
    if qty <= 0:
        raise ValidationError(f"{field} must be more than 0 (got {qty}); use a return to "
                              "give money back")
    if qty > Decimal(node.config.max_line_qty):
        raise ValidationError(f"{field} {qty} is above the limit of {node.config.max_line_qty}")
    if flt(qty, FLOAT_PRECISION) != qty:
        raise ValidationError(f"{field} {qty} has more than {FLOAT_PRECISION} decimals")
    return qty


def money(node: Node, value: object, field: str) -> Decimal:
    amount = to_decimal(value, field)
    if amount < 0:
        raise ValidationError(f"{field} cannot be negative (got {amount})")
    if amount > Decimal(node.config.max_line_amount):
        raise ValidationError(f"{field} {amount} is above the limit of "
                              f"{node.config.max_line_amount}")
    if flt(amount) != amount:
        raise ValidationError(f"{field} {amount} has more than 2 decimals")
    return amount


def points(value: object, field: str) -> int:
    """A number of loyalty points: a whole number, 0 or more (none when left out)."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(f"{field} must be a whole number of points (got {value!r})")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationError(f"{field} must be a whole number of points (got {value!r})") \
            from None
    if number < 0:
        raise ValidationError(f"{field} cannot be negative (got {number})")
    return number


def invoice_number(node: Node, session: Session, when: datetime) -> str:
    """Per counter, never colliding across counters: ``C01-2026-000042``."""
    n = node.next_number(session, "invoice_seq")
    return f"{node.node_id}-{when.year}-{n:06d}"


def lines(value: object, field: str, shape: str) -> list[dict[str, Any]]:
    """The lines a request names, counted before any of them is looked at."""
    if isinstance(value, list) and len(value) > MAX_CART_LINES:
        raise ValidationError(f"{field}: {len(value)} lines, above the limit of "
                              f"{MAX_CART_LINES} lines per sale: split it into several sales")
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise ValidationError(f"{field} must be a list of {shape}")
    return value


def tenders(node: Node, payments: object) -> list[Tender]:
    """What the customer hands over, each amount a finite number within the counter's
    limit (a barcode scanned into an amount field is refused, not paid out as change)."""
    if isinstance(payments, list) and len(payments) > MAX_PAYMENT_ROWS:
        raise PaymentError(f"At most {MAX_PAYMENT_ROWS} payments per sale")
    if not isinstance(payments, list) or not all(isinstance(p, dict) for p in payments):
        raise ValidationError('payments must be a list of {"mode_of_payment", "amount"}')
    out = []
    for p in payments:
        if set(p) - {"mode_of_payment", "amount"} or "amount" not in p:
            raise ValidationError('each payment is {"mode_of_payment": ..., "amount": ...}')
        amount = to_decimal(p["amount"], "payment amount")
        if amount > Decimal(node.config.max_line_amount):
            raise PaymentError(f"A payment of {amount} is above the limit of "
                               f"{node.config.max_line_amount}: a typo, or a scan in an "
                               "amount field?")
        out.append(Tender(str(p.get("mode_of_payment", "Cash")), amount))
    return out
