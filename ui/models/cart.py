"""The cart as the cashier sees it, built from the node's ``cart_*`` answers. Qt-free.

Totals, taxes and the amount due are the node's (ERPNext's ``calculate_taxes_and_totals``
reproduced to the cent), and so is the VAT per rate (``vat``: rate, net, tax and gross of
each rate its items are taxed at, whose gross adds up to the amount due); this module only
reads them, never recomputes them. The Qt table model (:mod:`ui.screens.cart_table`) is a
thin adapter over :class:`CartView` and :data:`COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from tillmesh.ui.const import BARCODE_LENGTHS
from tillmesh.ui.models.money import ZERO, dec, money, qty


def shown_date(iso: str) -> str:
    """An ISO date as the store reads dates (31.12.2026)."""
    return date.fromisoformat(iso[:10]).strftime("%d.%m.%Y")


def looks_scanned(text: str) -> bool:
    """Digits of a barcode's length (EAN-8 .. GTIN-14): a scanner fired into a field meant
    for something else (a search, an amount: nobody hands over ten million)."""
    text = text.strip()
    return text.isdigit() and len(text) in BARCODE_LENGTHS


@dataclass(frozen=True)
class CartLine:
    index: int  # the node's line number, what cart_set_qty & co. take; -1 for a free item
    item_code: str
    item_name: str
    qty: Decimal
    uom: str
    price_list_rate: Decimal
    rate: Decimal
    discount_percentage: Decimal
    amount: Decimal
    promotions: tuple[str, ...] = ()  # the Pricing Rules that priced it
    not_applied: tuple[str, ...] = ()  # rules on the item this counter cannot apply
    batch_no: str = ""  # the batch the line sells from
    batch_expiry: str = ""  # its expiry date (ISO), if it has one
    serial_no: str = ""  # its serial numbers, one per line

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> CartLine:
        return cls(
            index=-1 if row.get("line") is None else int(row["line"]),
            item_code=str(row.get("item_code", "")),
            item_name=str(row.get("item_name") or row.get("item_code", "")),
            qty=dec(row.get("qty")),
            uom=str(row.get("uom", "")),
            price_list_rate=dec(row.get("price_list_rate")),
            rate=dec(row.get("rate")),
            discount_percentage=dec(row.get("discount_percentage")),
            amount=dec(row.get("amount")),
            promotions=tuple(str(p) for p in row.get("promotions") or ()),
            not_applied=tuple(str(p) for p in row.get("not_applied") or ()),
            batch_no=str(row.get("batch_no") or ""),
            batch_expiry=str(row.get("batch_expiry") or ""),
            serial_no=str(row.get("serial_no") or ""),
        )

    @property
    def free(self) -> bool:
        """Added by a promotion (a product rule), not a line of the cart."""
        return self.index < 0

    @property
    def tracked(self) -> str:
        """Its batch and expiry date, or its serial numbers, as the line shows them."""
        if self.serial_no:
            return "S/N " + ", ".join(self.serial_no.split())
        if not self.batch_no:
            return ""
        expiry = self.batch_expiry and f", best before {shown_date(self.batch_expiry)}"
        return f"batch {self.batch_no}{expiry}"

    @property
    def described(self) -> str:
        """The item's name, its batch or serial numbers, the promotions that priced it,
        and those this counter cannot apply."""
        return " · ".join((self.item_name, *filter(None, (self.tracked,)), *self.promotions,
                           *(f"not applied here: {p}" for p in self.not_applied)))

    @property
    def discounted(self) -> bool:
        return self.rate < self.price_list_rate or self.discount_percentage > 0


@dataclass(frozen=True)
class VatLine:
    """One VAT rate of a cart or a shift report, as the node sends it."""

    rate: Decimal  # percent
    net: Decimal
    tax: Decimal
    gross: Decimal

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> VatLine:
        return cls(dec(row.get("rate")), dec(row.get("net")), dec(row.get("tax")),
                   dec(row.get("gross")))

    @property
    def title(self) -> str:
        return f"VAT {qty(self.rate)}%"


def vat_lines(rows: object) -> tuple[VatLine, ...]:
    """The node's ``vat`` list (nothing for anything else)."""
    if not isinstance(rows, list | tuple):
        return ()
    return tuple(VatLine.from_api(r) for r in rows if isinstance(r, Mapping))


@dataclass(frozen=True)
class CartView:
    cart_id: str
    status: str
    customer: str
    note: str
    lines: tuple[CartLine, ...]
    vat: tuple[VatLine, ...]
    included: bool  # every tax row is in the prices ("incl. VAT")
    total: Decimal
    discount: Decimal
    taxes_total: Decimal
    grand_total: Decimal
    rounding: Decimal
    due: Decimal
    total_qty: Decimal
    coupon: str = ""  # the customer's coupon and the promotion it is for, as shown
    points: int | None = None  # a member's loyalty points (None: not a member)
    point_value: Decimal = ZERO  # what one of them pays
    promotions: tuple[str, ...] = ()  # rules on the whole sale that gave its discount
    not_applied: tuple[str, ...] = ()  # rules on the whole sale this counter cannot apply

    @classmethod
    def from_api(cls, cart: Mapping[str, Any]) -> CartView:
        totals = cart.get("totals") or {}
        coupon, loyalty = cart.get("coupon"), cart.get("loyalty")
        return cls(
            cart_id=str(cart.get("cart_id", "")),
            status=str(cart.get("status", "open")),
            customer=str(cart.get("customer") or ""),
            note=str(cart.get("note") or ""),
            lines=tuple(CartLine.from_api(r) for r in cart.get("lines") or ()),
            vat=vat_lines(cart.get("vat")),
            included=all(t.get("included_in_print_rate") for t in cart.get("taxes") or ()),
            total=dec(totals.get("total")),
            discount=dec(totals.get("discount_amount")),
            taxes_total=dec(totals.get("total_taxes_and_charges")),
            grand_total=dec(totals.get("grand_total")),
            rounding=dec(totals.get("rounding_adjustment")),
            due=dec(cart.get("due")),
            total_qty=dec(totals.get("total_qty")),
            coupon=f"{coupon.get('code')} · {coupon.get('promotion')}"
            if isinstance(coupon, Mapping) else "",
            points=int(loyalty["points"]) if isinstance(loyalty, Mapping)
            and isinstance(loyalty.get("points"), int) else None,
            point_value=dec(loyalty.get("point_value")) if isinstance(loyalty, Mapping)
            else ZERO,
            promotions=tuple(str(p) for p in cart.get("invoice_promotions") or ()),
            not_applied=tuple(str(p) for p in cart.get("not_applied") or ()),
        )

    @property
    def empty(self) -> bool:
        return not self.lines

    def summary(self) -> list[tuple[str, str]]:
        """(label, amount) rows under the cart, in receipt order; zero rows left out."""
        rows = [("Subtotal", money(self.total))]
        if self.discount:
            rows.append((" · ".join(("Discount", *self.promotions)), f"−{money(self.discount)}"))
        rows += [(f"not applied here: {p}", "") for p in self.not_applied]
        incl = "incl. " if self.included else ""
        rows += [(f"{incl}{v.title} (net {money(v.net)})", money(v.tax)) for v in self.vat]
        if self.rounding:
            rows.append(("Rounding", money(self.rounding)))
        return rows


EMPTY_CART = CartView.from_api({})


@dataclass(frozen=True)
class Column:
    title: str
    numeric: bool  # right-aligned
    text: Callable[[CartLine], str]


COLUMNS: tuple[Column, ...] = (
    Column("Item", False, lambda ln: ln.described),
    Column("Qty", True, lambda ln: qty(ln.qty)),
    Column("UOM", False, lambda ln: ln.uom),
    Column("Price", True, lambda ln: money(ln.rate)),
    Column("Disc %", True,
           lambda ln: qty(ln.discount_percentage) if ln.discount_percentage else ""),
    Column("Amount", True, lambda ln: money(ln.amount)),
)


def selection_after(old: Sequence[CartLine], new: Sequence[CartLine],
                    selected: int | None) -> int | None:
    """The row to select after the cart changed: a new line, else the same row if it
    still exists, else the last row (a removed last line), else nothing."""
    if not new:
        return None
    if len(new) > len(old):
        return len(new) - 1
    if selected is None:
        return len(new) - 1
    return min(selected, len(new) - 1)

