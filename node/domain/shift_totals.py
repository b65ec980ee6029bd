"""Shift arithmetic: what the drawer should hold, and the X / Z report. Pure.

Expected amount per mode of payment, as ERPNext's POS Closing Entry computes it:
opening float + payments taken - change given (change always leaves the cash drawer)
+ refunds (negative payments of returns) + cash in - cash out.

Signs, as the reports show them: a return counts as a negative sale (its totals, taxes,
discounts and VAT per rate are negative, so it takes back what its sale added). A
discount is kept as the amount granted (a sale's is positive, a return's gives it back)
and every report and receipt shows it as a negative amount, taken off the list prices.
Change given, cash in and cash out are positive amounts paid out or in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from tillmesh.node.domain.money import ZERO, flt
from tillmesh.node.domain.totals import RateTotals, add_rates


class ShiftStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


@dataclass(frozen=True)
class Payment:
    mode_of_payment: str
    amount: Decimal  # negative for a refund


@dataclass(frozen=True)
class SaleSummary:
    """What one sale or return contributes to its shift."""

    invoice: str
    is_return: bool
    grand_total: Decimal  # rounded total when rounding is on; negative for a return
    net_total: Decimal
    total_taxes: Decimal
    discount: Decimal  # the invoice discount (discount_amount)
    qty: Decimal
    payments: tuple[Payment, ...]
    change_amount: Decimal
    cash_mode: str  # the mode of payment change is given in
    taxes: tuple[tuple[str, Decimal], ...] = ()  # (account, amount)
    line_discount: Decimal = ZERO  # the lines' discounts off their list prices
    vat: tuple[RateTotals, ...] = ()  # net, tax and gross per VAT rate


@dataclass(frozen=True)
class CashMove:
    direction: Direction
    mode_of_payment: str
    amount: Decimal
    reason: str


@dataclass(frozen=True)
class ShiftReport:
    """The X report (while open) or the Z report (at close)."""

    opening: dict[str, Decimal]
    expected: dict[str, Decimal]
    sales_count: int
    returns_count: int
    gross_sales: Decimal  # grand totals of sales
    returns_total: Decimal  # grand totals of returns (negative)
    net_total: Decimal  # ERPNext's: the line net amounts (round-off cents left out)
    total_taxes: Decimal
    discounts: Decimal  # line + invoice discounts granted, less those returns gave back
    total_qty: Decimal
    payments: dict[str, Decimal]  # taken per mode, refunds subtracted, before change
    change_given: Decimal
    cash_in: Decimal
    cash_out: Decimal
    taxes: dict[str, Decimal] = field(default_factory=dict)  # per account, as booked
    counted: dict[str, Decimal] | None = None
    difference: dict[str, Decimal] | None = None  # counted - expected
    line_discounts: Decimal = ZERO
    invoice_discounts: Decimal = ZERO
    vat: tuple[RateTotals, ...] = ()  # per rate, highest first: gross adds up to grand_total
    net_sales: Decimal = ZERO  # grand_total - total_taxes: the net of the VAT per rate

    @property
    def grand_total(self) -> Decimal:
        return self.gross_sales + self.returns_total


def report(
    opening: Mapping[str, Decimal],
    sales: Iterable[SaleSummary],
    moves: Iterable[CashMove],
) -> ShiftReport:
    expected: dict[str, Decimal] = defaultdict(lambda: ZERO, opening)
    taken: dict[str, Decimal] = defaultdict(lambda: ZERO)
    taxes: dict[str, Decimal] = defaultdict(lambda: ZERO)
    n_sales = n_returns = 0
    gross = returns = net = tax = disc = lines = qty = change = cash_in = cash_out = ZERO
    vat: list[tuple[RateTotals, ...]] = []
    for sale in sales:
        if sale.is_return:
            n_returns += 1
            returns += sale.grand_total
        else:
            n_sales += 1
            gross += sale.grand_total
        net += sale.net_total
        tax += sale.total_taxes
        disc += sale.discount
        lines += sale.line_discount
        vat.append(sale.vat)
        qty += sale.qty
        for p in sale.payments:
            taken[p.mode_of_payment] += p.amount
            expected[p.mode_of_payment] += p.amount
        if sale.change_amount:
            expected[sale.cash_mode] -= sale.change_amount
            change += sale.change_amount
        for account, amount in sale.taxes:
            taxes[account] += amount
    for move in moves:
        sign = 1 if move.direction is Direction.IN else -1
        expected[move.mode_of_payment] += sign * move.amount
        if sign > 0:
            cash_in += move.amount
        else:
            cash_out += move.amount
    return ShiftReport(
        opening=dict(opening),
        expected={m: flt(v) for m, v in sorted(expected.items())},
        sales_count=n_sales,
        returns_count=n_returns,
        gross_sales=flt(gross),
        returns_total=flt(returns),
        net_total=flt(net),
        total_taxes=flt(tax),
        discounts=flt(disc + lines),
        total_qty=qty,
        payments={m: flt(v) for m, v in sorted(taken.items())},
        change_given=flt(change),
        cash_in=flt(cash_in),
        cash_out=flt(cash_out),
        taxes={a: flt(v) for a, v in sorted(taxes.items())},
        line_discounts=flt(lines),
        invoice_discounts=flt(disc),
        vat=add_rates(vat),
        net_sales=flt(gross + returns - tax),
    )


def close(base: ShiftReport, counted: Mapping[str, Decimal]) -> ShiftReport:
    """The Z report: ``base`` with the counted amounts and counted - expected per mode.

    The node refuses a closing that leaves an expected mode uncounted
    (``UncountedModes``), so ``counted`` names them all; one missing here would read 0.
    """
    modes = sorted(set(base.expected) | set(counted))
    full = {m: flt(counted.get(m, ZERO)) for m in modes}
    diff = {m: flt(full[m] - base.expected.get(m, ZERO)) for m in modes}
    return ShiftReport(**{**base.__dict__, "counted": full, "difference": diff})


def line_discount(qty: Decimal, price_list_rate: Decimal, rate: Decimal,
                  amount: Decimal) -> Decimal:
    """What a line's discount took off its list price: qty x list price - amount, as the
    receipt prints it (negative on a return's line); 0 for a line sold at or above its
    list price."""
    if price_list_rate <= rate:
        return ZERO
    return flt(qty * price_list_rate) - amount
