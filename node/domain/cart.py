"""The cart a cashier is building: lines, discounts, customer. Pure.

A cart is a value; every edit returns a new cart. Pricing is not stored in it: the
totals are computed from it with ``node.totals`` whenever it is shown or sold, so what
the cashier sees is always what ERPNext will book.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tillmesh.node.domain.const import MAX_CART_LINES
from tillmesh.node.domain.money import ZERO
from tillmesh.node.errors import NotFoundError, ValidationError


class CartStatus(StrEnum):
    OPEN = "open"
    HELD = "held"


@dataclass(frozen=True)
class Line:
    item_code: str
    item_name: str
    qty: Decimal
    uom: str
    stock_uom: str
    conversion_factor: Decimal
    price_list_rate: Decimal  # list price for this UOM at the time it was scanned
    whole_number: bool = False  # the UOM must be whole numbers (Nos, Box)
    stock_whole_number: bool = False  # so must the stock UOM (ERPNext checks stock_qty too)
    item_tax_template: str | None = None
    item_tax_rates: Mapping[str, Decimal] = field(default_factory=dict)
    rate: Decimal | None = None  # price override, or a price-embedded barcode
    discount_percentage: Decimal = ZERO
    discount_amount: Decimal = ZERO
    barcode: str | None = None
    weighed: bool = False  # qty came from the scale: never merged with another scan
    # What Pricing Rules are judged on besides the item code (``domain.pricing_rules``)
    item_group: str = ""
    brand: str = ""
    variant_of: str = ""
    # Batch- and serial-tracked items (``domain.batches``): the batch the line sells from
    # and its expiry (ISO date, for the till and receipt), or its serial numbers, one per
    # unit, as ERPNext's ``serial_no`` holds them (one per line)
    batch_no: str = ""
    batch_expiry: str = ""
    serial_no: str = ""

    @property
    def priced_by_hand(self) -> bool:
        """A rate or a discount the cashier gave (or a label price): Pricing Rules leave
        such a line as it is, and ERPNext books it as sent (``ignore_pricing_rule``)."""
        return self.rate is not None or bool(self.discount_percentage or self.discount_amount)

    def mergeable(self, other: Line) -> bool:
        return (
            not self.weighed
            and not other.weighed
            and self.item_code == other.item_code
            and self.uom == other.uom
            and self.batch_no == other.batch_no
            and not self.serial_no  # a serial number is a unit of its own
            and not other.serial_no
            and not self.priced_by_hand
            and not other.priced_by_hand
        )


@dataclass(frozen=True)
class Approval:
    """Who allowed the cart's discount and how far (``node.domain.discount``): it covers
    the cart while its effective discount and the money off stay within these."""

    approver: str  # the supervisor whose PIN approved it, or the user whose role allowed it
    percent: Decimal  # the effective discount allowed, percent of the list total
    off: Decimal  # the money off the list total allowed
    digest: str  # of the lines, quantities, prices and discounts it was given on


@dataclass(frozen=True)
class Cart:
    cart_id: str
    cashier: str
    customer: str
    lines: tuple[Line, ...] = ()
    additional_discount_percentage: Decimal = ZERO
    discount_amount: Decimal = ZERO
    status: CartStatus = CartStatus.OPEN
    note: str = ""
    approval: Approval | None = None
    customer_group: str = ""  # the customer's, for Pricing Rules
    territory: str = ""
    coupon: str = ""  # the Coupon Code the customer handed over, by its name in ERPNext
    # A return's: the base of its sale's invoice discount, which it keeps (ERPNext's
    # return copies it, and prices with no rules); empty on a sale
    sold_discount_on: str = ""

    def line(self, index: int) -> Line:
        if not isinstance(index, int) or not 0 <= index < len(self.lines):
            raise NotFoundError(f"The cart has no line {index}")
        return self.lines[index]

    def _with_line(self, index: int, line: Line) -> Cart:
        lines = list(self.lines)
        lines[index] = line
        return replace(self, lines=tuple(lines))

    def add(self, line: Line) -> Cart:
        """Add a line; a repeat scan of the same plain item adds to its quantity."""
        for i, existing in enumerate(self.lines):
            if existing.mergeable(line):
                return self._with_line(i, replace(existing, qty=existing.qty + line.qty))
        if len(self.lines) >= MAX_CART_LINES:
            raise ValidationError(f"A cart holds at most {MAX_CART_LINES} lines: take payment "
                                  "for these and start another cart")
        return replace(self, lines=(*self.lines, line))

    def set_qty(self, index: int, qty: Decimal) -> Cart:
        return self._with_line(index, replace(self.line(index), qty=qty))

    def set_uom(self, index: int, uom: str, factor: Decimal, price: Decimal, whole: bool) -> Cart:
        line = self.line(index)
        return self._with_line(
            index,
            replace(line, uom=uom, conversion_factor=factor, price_list_rate=price,
                    whole_number=whole, rate=None),
        )

    def set_batch(self, index: int, batch_no: str, expiry: str) -> Cart:
        return self._with_line(index, replace(self.line(index), batch_no=batch_no,
                                              batch_expiry=expiry))

    def set_rate(self, index: int, rate: Decimal) -> Cart:
        return self._with_line(index, replace(self.line(index), rate=rate))

    def line_discount(self, index: int, percent: Decimal, amount: Decimal) -> Cart:
        line = replace(self.line(index), discount_percentage=percent, discount_amount=amount)
        return self._with_line(index, line)

    def invoice_discount(self, percent: Decimal, amount: Decimal) -> Cart:
        return replace(self, additional_discount_percentage=percent, discount_amount=amount)

    def remove(self, index: int) -> Cart:
        self.line(index)
        return replace(self, lines=self.lines[:index] + self.lines[index + 1 :])

    def with_customer(self, customer: str, customer_group: str = "", territory: str = "") -> Cart:
        return replace(self, customer=customer, customer_group=customer_group,
                       territory=territory)

    def with_coupon(self, coupon: str) -> Cart:
        """The cart with this coupon (one per sale, as on a POS Invoice), or none."""
        return replace(self, coupon=coupon)

    def hold(self, note: str) -> Cart:
        if not self.lines:
            raise ValidationError("An empty cart cannot be held")
        return replace(self, status=CartStatus.HELD, note=note)

    def resume(self) -> Cart:
        return replace(self, status=CartStatus.OPEN)


# --- persistence shape (plain data for msgpack) ---------------------------------------


def _line_to_data(line: Line) -> dict[str, Any]:
    d = {k: getattr(line, k) for k in Line.__dataclass_fields__}
    d["item_tax_rates"] = {a: str(r) for a, r in line.item_tax_rates.items()}
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in d.items()}


_LINE_DECIMALS = ("qty", "conversion_factor", "price_list_rate", "rate", "discount_percentage",
                  "discount_amount")


def _line_from_data(d: dict[str, Any]) -> Line:
    values = dict(d)
    for key in _LINE_DECIMALS:
        if values.get(key) is not None:
            values[key] = Decimal(values[key])
    values["item_tax_rates"] = {a: Decimal(r) for a, r in values["item_tax_rates"].items()}
    return Line(**values)


def to_data(cart: Cart) -> dict[str, Any]:
    return {
        "cart_id": cart.cart_id,
        "cashier": cart.cashier,
        "customer": cart.customer,
        "lines": [_line_to_data(line) for line in cart.lines],
        "additional_discount_percentage": str(cart.additional_discount_percentage),
        "discount_amount": str(cart.discount_amount),
        "status": cart.status.value,
        "note": cart.note,
        "customer_group": cart.customer_group,
        "territory": cart.territory,
        "coupon": cart.coupon,
        "sold_discount_on": cart.sold_discount_on,
        "approval": None if cart.approval is None else {
            "approver": cart.approval.approver, "percent": str(cart.approval.percent),
            "off": str(cart.approval.off), "digest": cart.approval.digest},
    }


def from_data(d: dict[str, Any]) -> Cart:
    return Cart(
        cart_id=d["cart_id"],
        cashier=d["cashier"],
        customer=d["customer"],
        lines=tuple(_line_from_data(x) for x in d["lines"]),
        additional_discount_percentage=Decimal(d["additional_discount_percentage"]),
        discount_amount=Decimal(d["discount_amount"]),
        status=CartStatus(d["status"]),
        note=d["note"],
        customer_group=d.get("customer_group", ""),  # none in carts of older releases
        territory=d.get("territory", ""),
        coupon=d.get("coupon", ""),
        sold_discount_on=d.get("sold_discount_on", ""),
        approval=_approval_from_data(d.get("approval")),  # none in carts of older releases
    )


def _approval_from_data(d: dict[str, Any] | None) -> Approval | None:
    if d is None:
        return None
    return Approval(d["approver"], Decimal(d["percent"]), Decimal(d["off"]), d["digest"])
