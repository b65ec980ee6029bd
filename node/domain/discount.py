"""A cart's effective discount and the approval bound to it. Pure.

A role's discount limit is a share of what the cart costs at list prices, however the
discount is given: line discounts, price overrides and the invoice discount together.
It is judged on the cart as each change leaves it, and again at payment, so a discount
that was within the limit by amount (1.00 off 10.00) cannot grow past it when a quantity
falls or a line goes (1.00 off 1.00).

A discount above the acting user's limit needs someone whose role allows it
(``settle``); the cart keeps who that was (``Cart.approval``) with the effective
discount and the money off they allowed, and a digest of the lines it was given on. The
approval covers later versions of the cart while both stay within it: a fixed amount
off a cart that shrinks, or a percentage off a cart that grows, asks again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from tillmesh.node.domain.cart import Approval, Cart, Line
from tillmesh.node.domain.money import FLOAT_PRECISION, ZERO, flt
from tillmesh.node.domain.pos_context import PosContext
from tillmesh.node.domain.roles import Authorization
from tillmesh.node.domain.sale import price
from tillmesh.node.domain.totals import NET_TOTAL
from tillmesh.node.errors import PermissionDenied

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Discount:
    """How far below its list total a cart sells."""

    listed: Decimal  # the cart at list prices: qty x list price, summed
    off: Decimal  # what every discount together takes off that, to the cent
    percent: Decimal  # ``off`` as a share of ``listed``, 0-100, to 3 decimals

    def __str__(self) -> str:
        percent = format(self.percent.normalize(), "f")
        return (f"The cart's discounts come to {percent}% of its list total "
                f"({self.off} off {flt(self.listed)})")


def effective(cart: Cart, ctx: PosContext) -> Discount:
    """The cart's effective discount, before ERPNext rounds each rate to the cent (a 10 %
    discount on 9.99 is 10 %, not the 10.01 % that 8.99 would make it)."""
    listed = sum((line.qty * line.price_list_rate for line in cart.lines), ZERO)
    if listed <= 0:
        return Discount(listed, ZERO, ZERO)
    sold = sum((line.qty * _selling_rate(line) for line in cart.lines), ZERO)
    paid = sold * (1 - _invoice_share(cart, ctx))
    # A price above the list price offsets discounts elsewhere: the customer pays it.
    off = min(max(listed - paid, ZERO), listed)
    return Discount(listed, flt(off), flt(off / listed * HUNDRED, FLOAT_PRECISION))


def _selling_rate(line: Line) -> Decimal:
    """A line's unit price as ERPNext sets it: free at 100 %, else a counter rate wins
    over the percentage (``calculate_item_values``), unrounded."""
    if line.discount_percentage >= HUNDRED:
        return ZERO
    if line.rate:
        return line.rate
    return line.price_list_rate * (HUNDRED - line.discount_percentage) / HUNDRED


def _invoice_share(cart: Cart, ctx: PosContext) -> Decimal:
    """The share of the cart the invoice discount takes (a percentage wins over an
    amount, as in ERPNext)."""
    if cart.additional_discount_percentage:
        return min(cart.additional_discount_percentage / HUNDRED, Decimal(1))
    if not cart.discount_amount:
        return ZERO
    base = invoice_base(cart, ctx)
    return min(cart.discount_amount / base, Decimal(1)) if base > 0 else Decimal(1)


def invoice_base(cart: Cart, ctx: PosContext) -> Decimal:
    """What an invoice discount by amount is taken from: the cart's grand total (or net
    total, as the POS Profile applies it) without any invoice discount."""
    if not cart.lines:
        return ZERO
    totals = price(cart.invoice_discount(ZERO, ZERO), ctx)
    return totals.net_total if ctx.apply_discount_on == NET_TOTAL else totals.grand_total


def digest(cart: Cart) -> str:
    """A fingerprint of what a discount is judged on: each line's item, UOM, quantity,
    prices and discounts, and the invoice discount (not the customer, the note, the
    status or the approval)."""
    rows = [[line.item_code, line.uom, *map(_text, (
        line.qty, line.conversion_factor, line.price_list_rate, line.rate,
        line.discount_percentage, line.discount_amount))] for line in cart.lines]
    invoice = [_text(cart.additional_discount_percentage), _text(cart.discount_amount)]
    return hashlib.sha256(json.dumps([rows, invoice]).encode()).hexdigest()


def _text(value: Decimal | None) -> str:
    """One spelling per number (1 and 1.000 are the same quantity)."""
    return "" if value is None else format(value.normalize(), "f")


def covers(approval: Approval | None, discount: Discount) -> bool:
    """Whether an approval given earlier allows the cart's discount as it is now."""
    return (approval is not None and discount.percent <= approval.percent
            and discount.off <= approval.off)


def settle(cart: Cart, discount: Discount, grant: Callable[[Decimal], Authorization],
           stated: Decimal = ZERO, *, common: Decimal) -> tuple[Cart, Authorization | None]:
    """Allow ``cart`` (with its ``effective`` discount) as a change left it, or raise.

    ``grant(percent)`` authorises a discount for the acting user (a supervisor's PIN may
    approve it) or raises PermissionDenied. It is asked for the larger of the discount
    the change ``stated`` (a line's or the invoice's percentage) and the cart's effective
    discount, unless the cart's approval covers the latter. A discount above what every
    role may give alone (``common``) that the approval did not cover binds the cart to
    whoever allowed it: the approver, or the user whose own role did (a supervisor's
    discount is then paid at a cashier's till). Returns the cart and the authorisation
    (None when nothing needed one).
    """
    covered = covers(cart.approval, discount)
    need = max(stated, ZERO if covered else discount.percent)
    if not need:
        return cart, None
    try:
        auth = grant(need)
    except PermissionDenied as exc:
        if need == stated:
            raise
        raise PermissionDenied(f"{discount}. {exc.message}", **exc.details) from exc
    if covered or discount.percent <= common:
        return cart, auth
    approval = Approval(auth.approver_id or auth.actor_id, discount.percent, discount.off,
                        digest(cart))
    return replace(cart, approval=approval), auth
