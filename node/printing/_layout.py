"""Receipts as data, laid out to the paper's width. Pure: no printer, no I/O.

A :class:`Receipt` is a tuple of blocks: lines of text, a QR code, the logo. A line of
normal text holds at most ``width`` characters, a big (double width and height) line at
most ``width // 2``; the ESC/POS adapter only styles and sends what is here.

A sale receipt, top to bottom: logo, store header, REFUND / COPY marks, invoice number,
date and time (store time), cashier, counter; each item (its name wrapped, the
promotions that priced it, its batch and expiry or serial numbers, then qty x price =
amount, then its discount); the customer's coupon; subtotal, invoice discount, every
tax row not included in the prices (they add up to the total), grand total, the
rounding adjustment and rounded total if any, the total due in big letters, then the
VAT per rate (rate, net, tax, gross: ``node.domain.totals.vat_per_rate_of``, whose
gross adds up to the total due); the
payments per mode of payment and in points; the change; a member's points earned and
balance; a QR code of the invoice number; the footer. Every amount is the recorded one
(the invoice body as ERPNext receives it), formatted with two decimals, never
recomputed; only an item's list-price line and discount line are derived, and those two
add up to the item's recorded amount.
Discounts print as negative amounts, on receipts and shift reports alike.

A shift report: sales, returns (negative), the total, the VAT per rate, net and VAT, line
and invoice discounts and their sum (negative, as taken off), items sold; the float,
payments per mode, change given, cash in and cash out (positive: amounts paid out or in);
expected (and, at close, counted and the difference) per mode.

Text that came from outside (item names, store header) is reduced to printable
characters: a control byte in an item name must not reach the printer as a command.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tillmesh.node.domain.money import flt
from tillmesh.node.domain.shift_totals import line_discount
from tillmesh.node.domain.totals import RateTotals, vat_per_rate_of
from tillmesh.node.printing.const import (
    AMOUNT_GAP,
    BIG_FACTOR,
    INDENT,
    MIN_WIDTH,
    RULE,
    VAT_HEADINGS,
)

ZERO = Decimal(0)
WHEN = "%Y-%m-%d %H:%M"  # how a date and time is printed (store time)


class Align(StrEnum):
    LEFT = "left"
    CENTER = "center"


@dataclass(frozen=True)
class Text:
    text: str
    align: Align = Align.LEFT
    bold: bool = False
    big: bool = False  # double width and height: at most width // 2 characters


@dataclass(frozen=True)
class Qr:
    data: str


@dataclass(frozen=True)
class Logo:
    """The store's logo; the adapter prints the configured image."""


Block = Text | Qr | Logo


@dataclass(frozen=True)
class Receipt:
    title: str  # what the queue and the UI call it: "C01-2026-000042", "Z C01-SH-000003"
    width: int  # characters per line it was laid out for
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class ReceiptStyle:
    """What the store configured: the paper width, its header and footer, QR and logo."""

    width: int
    tz: tzinfo  # the store's time zone: receipts show store time
    header: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()
    logo: bool = False
    qr: bool = True

    def __post_init__(self) -> None:
        if self.width < MIN_WIDTH:
            raise ValueError(f"a receipt needs at least {MIN_WIDTH} characters per line")


# --- formatting ---------------------------------------------------------------------------


def clean(text: object) -> str:
    """Printable text only: control characters and line breaks become spaces."""
    plain = str(text)
    if plain.isprintable():  # nearly always: checked at C speed
        return plain
    return "".join(ch if ch.isprintable() else " " for ch in plain)


def money(value: object) -> str:
    """``Decimal`` money with two decimals, never "-0.00"."""
    amount = flt(Decimal(str(value)))
    return f"{amount if amount else ZERO:.2f}"


def number(value: object) -> str:
    """A quantity or a percentage without trailing zeros: "2.000" -> "2", "0.750" -> "0.75"."""
    return format(Decimal(str(value)).normalize(), "f")


def when(value: object, tz: tzinfo) -> str:
    """A stored time (datetime or ISO text, naive meaning UTC) in the store's time zone."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).strftime(WHEN)


def wrap(text: str, width: int) -> list[str]:
    line = clean(text)
    if len(line) <= width:  # what textwrap gives a line that fits, without its search
        return [line.rstrip(" ")] if line.strip(" ") else [""]
    return textwrap.wrap(line, width, break_on_hyphens=False) or [""]


class _Blocks:
    """Collects blocks, each line fitted to the width."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.blocks: list[Block] = []

    def text(self, text: str, *, align: Align = Align.LEFT, bold: bool = False) -> None:
        self.blocks += [Text(line, align, bold) for line in wrap(text, self.width)]

    def field(self, label: str, value: object) -> None:
        """A label and a value ("Cashier  ann"), wrapped when the value is long."""
        self.text(f"{label:<9} {clean(value)}")

    def pair(self, label: str, amount: str, *, bold: bool = False, indent: str = "") -> None:
        """A label on the left and an amount right-aligned on the same (last) line."""
        room = self.width - len(indent)
        lines = [indent + line for line in wrap(label, room)]
        last = lines.pop()
        if len(last) + AMOUNT_GAP + len(amount) > self.width:
            lines.append(last)
            last = ""
        self.blocks += [Text(line, bold=bold) for line in lines]
        self.blocks.append(Text(last + amount.rjust(self.width - len(last)), bold=bold))

    def big_pair(self, label: str, amount: str) -> None:
        """The total due, double size when it fits half the width, else bold."""
        narrow = self.width // BIG_FACTOR
        if len(label) + AMOUNT_GAP + len(amount) <= narrow:
            self.blocks.append(Text(label + amount.rjust(narrow - len(label)), big=True))
        else:
            self.pair(label, amount, bold=True)

    def big_center(self, text: str) -> None:
        narrow = self.width // BIG_FACTOR
        self.blocks += [Text(line, Align.CENTER, big=True) for line in wrap(text, narrow)]

    def rule(self) -> None:
        self.blocks.append(Text(RULE * self.width))

    def receipt(self, title: str) -> Receipt:
        return Receipt(clean(title), self.width, tuple(self.blocks))


def _head(b: _Blocks, style: ReceiptStyle) -> None:
    if style.logo:
        b.blocks.append(Logo())
    for line in style.header:
        b.text(line, align=Align.CENTER, bold=True)


def _foot(b: _Blocks, style: ReceiptStyle, qr: str | None = None) -> None:
    if qr is not None and style.qr:
        b.blocks.append(Qr(clean(qr)))
    for line in style.footer:
        b.text(line, align=Align.CENTER)


# --- sales and returns --------------------------------------------------------------------


def sale_receipt(body: Mapping[str, Any], style: ReceiptStyle, *, counter: str,
                 copy: bool = False) -> Receipt:
    """The receipt of a recorded sale or return (a ``sale.submitted``/``returned`` body)."""
    b = _Blocks(style.width)
    is_return = bool(body.get("is_return"))
    _head(b, style)
    if is_return:
        b.big_center("REFUND")
    if copy:
        b.big_center("COPY")
    b.field("Invoice", body["invoice"])
    if is_return:
        b.field("Refund of", body["return_against"])
    b.field("Date", when(body["posted_at"], style.tz))
    b.field("Cashier", body["cashier"])
    b.field("Counter", counter)
    b.rule()
    for item in body["items"]:
        _item(b, item)
    if body.get("coupon"):  # its promotion is named on the lines it priced
        b.field("Coupon", body["coupon"])
    b.rule()
    _totals(b, body)
    b.rule()
    for payment in body["payments"]:
        if Decimal(payment["amount"]) or not body.get("redeem_loyalty_points"):
            b.pair(payment["mode_of_payment"], money(payment["amount"]))  # not points' 0 row
    if body.get("redeem_loyalty_points"):  # points paid part of it, or all
        b.pair(f"{body['loyalty_points']} points", money(body["loyalty_amount"]))
    change = Decimal(body["totals"].get("change_amount") or 0)
    if change:
        b.pair("Change", money(change), bold=True)
    loyalty = body.get("loyalty")
    if loyalty:  # a member's sale: what it earns, as ERPNext will enter it
        b.pair("Points earned", str((loyalty.get("earned") or {}).get("points", 0)))
        b.pair("Points balance", str(loyalty.get("balance", 0)))
    _foot(b, style, qr=body["invoice"])
    if copy:
        b.big_center("COPY")
    return b.receipt(("COPY " if copy else "") + body["invoice"])


def _item(b: _Blocks, item: Mapping[str, Any]) -> None:
    b.text(item.get("item_name") or item["item_code"])
    qty, amount = Decimal(item["qty"]), Decimal(item["amount"])
    rate, listed_rate = Decimal(item["rate"]), Decimal(item.get("price_list_rate") or 0)
    uom = clean(item.get("uom") or "")
    for promotion in item.get("promotions") or ():  # the Pricing Rules that priced it
        b.text(f"{INDENT}{clean(promotion)}")
    if item.get("batch_no"):  # a pharmacy's recall names the batch
        b.text(f"{INDENT}Batch {clean(item['batch_no'])}")
        if item.get("batch_expiry"):
            expiry = date.fromisoformat(str(item["batch_expiry"]))
            b.text(f"{INDENT}Exp. {expiry.strftime('%d.%m.%Y')}")
    for serial in str(item.get("serial_no") or "").split():
        b.text(f"{INDENT}S/N {clean(serial)}")
    if listed_rate <= rate:  # no discount (or a margin): the recorded line as it is
        b.pair(f"{number(qty)} {uom} x {money(rate)}", money(amount), indent=INDENT)
        return
    discount = line_discount(qty, listed_rate, rate, amount)
    b.pair(f"{number(qty)} {uom} x {money(listed_rate)}", money(amount + discount),
           indent=INDENT)
    percent = Decimal(item.get("discount_percentage") or 0)
    label = f"Discount {number(percent)}%" if percent else "Discount"
    b.pair(label, money(-discount), indent=INDENT)  # the two lines add up to amount


def _totals(b: _Blocks, body: Mapping[str, Any]) -> None:
    totals = body["totals"]
    b.pair("Subtotal", money(totals["total"]))
    discount = Decimal(totals.get("discount_amount") or 0)
    if discount:
        percent = Decimal(totals.get("additional_discount_percentage") or 0)
        b.pair(f"Discount {number(percent)}%" if percent else "Discount", money(-discount))
    for promotion in body.get("invoice_promotions") or ():  # rules on the whole sale
        b.text(f"{INDENT}{clean(promotion)}")
    for tax in body.get("taxes", []):
        if not tax.get("included_in_print_rate"):  # added to the total: part of the sum
            b.pair(_tax_label(tax), money(tax["tax_amount_after_discount_amount"]))
    currency = clean(body.get("currency") or "")
    grand = Decimal(totals["grand_total"])
    adjustment = Decimal(totals.get("rounding_adjustment") or 0)
    if adjustment:
        b.pair("Grand total", money(grand), bold=True)
        b.pair("Rounding adjustment", money(adjustment))
        b.big_pair(f"TOTAL {currency}".strip(), money(totals["rounded_total"]))
    else:
        b.big_pair(f"TOTAL {currency}".strip(), money(grand))
    if body.get("taxes"):
        _vat(b, vat_per_rate_of(body))


def _tax_label(tax: Mapping[str, Any]) -> str:
    """A row's description, with its rate unless its items were taxed at other rates."""
    label = clean(tax.get("description") or tax["account_head"])
    rate = Decimal(tax.get("rate") or 0)
    detail = tax.get("item_wise_tax_detail") or {}
    others = isinstance(detail, Mapping) and any(
        isinstance(v, list | tuple) and v and Decimal(str(v[0])) != rate
        for v in detail.values())
    if rate and "%" not in label and not others:
        label = f"{label} {number(rate)}%"
    return label


def _vat(b: _Blocks, rates: Iterable[RateTotals]) -> None:
    """The VAT per rate as a table (rate, net, tax, gross), or a block per rate where
    the amounts are too wide for the paper."""
    rows = [(f"{number(r.rate)}%", money(r.net), money(r.tax), money(r.gross)) for r in rates]
    if not rows:
        return
    first = max(len(VAT_HEADINGS[0]), *(len(row[0]) for row in rows))
    column = (b.width - first) // (len(VAT_HEADINGS) - 1)
    first = b.width - column * (len(VAT_HEADINGS) - 1)  # the slack: the table fills the width
    widest = max(len(cell) for row in (VAT_HEADINGS, *rows) for cell in row[1:])
    if widest + AMOUNT_GAP <= column:
        for row in (VAT_HEADINGS, *rows):
            b.blocks.append(Text(row[0].ljust(first) + "".join(c.rjust(column) for c in row[1:])))
        return
    for rate, *amounts in rows:
        b.text(f"{VAT_HEADINGS[0]} {rate}")
        for heading, amount in zip(VAT_HEADINGS[1:], amounts, strict=True):
            b.pair(heading, amount, indent=INDENT)


# --- shift reports ------------------------------------------------------------------------


def shift_receipt(view: Mapping[str, Any], style: ReceiptStyle, *,
                  printed_at: datetime) -> Receipt:
    """The X report (a shift still open) or the Z report (closed, with counted amounts)
    of a ``shift_report`` / ``shift_close`` answer."""
    report = view["report"]
    closed = report.get("counted") is not None
    kind = "Z" if closed else "X"
    b = _Blocks(style.width)
    _head(b, style)
    b.big_center(f"{kind} REPORT")
    b.field("Shift", view["shift"])
    b.field("Counter", view.get("counter") or "")
    b.field("Cashier", view.get("cashier") or "")
    b.field("Opened", when(view["opened_at"], style.tz))
    if closed and view.get("closed_at"):
        b.field("Closed", when(view["closed_at"], style.tz))
        b.field("Closed by", view.get("closed_by") or "")
    b.field("Printed", when(printed_at, style.tz))
    b.rule()
    b.pair(f"Sales ({report['sales_count']})", money(report["gross_sales"]))
    b.pair(f"Returns ({report['returns_count']})", money(report["returns_total"]))
    b.pair("Total", money(report["grand_total"]), bold=True)
    _vat(b, [RateTotals(*(Decimal(r[k]) for k in ("rate", "net", "tax", "gross")))
             for r in report.get("vat") or ()])
    b.pair("Net (excl. VAT)", money(report.get("net_sales", report["net_total"])))
    b.pair("VAT", money(report["total_taxes"]))
    if "line_discounts" in report:  # a Z report stored by an earlier release has neither
        b.pair("Line discounts", money(-Decimal(report["line_discounts"])))
        b.pair("Invoice discounts", money(-Decimal(report["invoice_discounts"])))
    b.pair("Discounts", money(-Decimal(report["discounts"])))
    b.pair("Items sold", number(report["total_qty"]))
    b.rule()
    _per_mode(b, "Opening float", report["opening"])
    _per_mode(b, "Payments", report["payments"])
    b.pair("Change given", money(report["change_given"]))
    b.pair("Cash in", money(report["cash_in"]))
    b.pair("Cash out", money(report["cash_out"]))
    b.rule()
    expected = report["expected"]
    counted = report.get("counted") or {}
    difference = report.get("difference") or {}
    for mode in sorted(set(expected) | set(counted)):
        b.text(mode, bold=True)
        b.pair("Expected", money(expected.get(mode, ZERO)), indent=INDENT)
        if closed:
            b.pair("Counted", money(counted.get(mode, ZERO)), indent=INDENT)
            b.pair("Difference", money(difference.get(mode, ZERO)), indent=INDENT, bold=True)
    _foot(b, style)
    return b.receipt(f"{kind} {view['shift']}")


def _per_mode(b: _Blocks, heading: str, amounts: Mapping[str, Any]) -> None:
    b.text(heading)
    for mode, amount in amounts.items():
        b.pair(mode, money(amount), indent=INDENT)


# --- the test page ------------------------------------------------------------------------


def self_test_receipt(style: ReceiptStyle, *, counter: str, printer: str,
                 printed_at: datetime) -> Receipt:
    """A page that shows the width, the styles, the QR code and the cutter work."""
    b = _Blocks(style.width)
    _head(b, style)
    b.big_center("TEST PAGE")
    b.field("Counter", counter)
    b.field("Printer", printer)
    b.field("Printed", when(printed_at, style.tz))
    b.field("Width", f"{style.width} characters")
    b.text("".join(str(i % 10) for i in range(1, style.width + 1)))
    b.pair("Bold amount", money("1234.5"), bold=True)
    b.big_pair("TOTAL", money("12.3"))
    _foot(b, style, qr=f"TILLMESH TEST {counter}")
    return b.receipt(f"TEST {counter}")


# --- plain data, for the spool ------------------------------------------------------------


def to_plain(receipt: Receipt) -> dict[str, Any]:
    return {"title": receipt.title, "width": receipt.width,
            "blocks": [_plain_block(block) for block in receipt.blocks]}


def _plain_block(block: Block) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"text": block.text, "align": block.align.value, "bold": block.bold,
                "big": block.big}
    if isinstance(block, Qr):
        return {"qr": block.data}
    return {"logo": True}


def from_plain(data: Mapping[str, Any]) -> Receipt:
    """The receipt ``to_plain`` wrote; raises ValueError (or KeyError/TypeError) on junk."""
    return Receipt(str(data["title"]), int(data["width"]),
                   tuple(_block(b) for b in _iterable(data["blocks"])))


def _iterable(value: object) -> Iterable[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError("blocks must be a list of maps")
    return value


def _block(data: Mapping[str, Any]) -> Block:
    if "text" in data:
        return Text(clean(data["text"]), Align(data["align"]), bool(data["bold"]),
                    bool(data["big"]))
    if "qr" in data:
        return Qr(clean(data["qr"]))
    if data.get("logo") is True:
        return Logo()
    raise ValueError(f"unknown block {sorted(data)}")
