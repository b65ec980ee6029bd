"""VAT per rate: what an invoice's items at each tax rate cost net, in tax and gross. Pure.

ERPNext books tax per row of the Sales Taxes and Charges (one account each), and an Item
Tax Template may tax some items of a row at another rate (7 % food on a 19 % row). A
receipt and a shift report must say the tax per *rate*, so the rows are regrouped here:

- an item's rate is what ``item_wise_tax_detail`` recorded for its item code: the sum of
  its rates on the "On Net Total" rows (a template's 0 on a row adds nothing; an item no
  row taxed is at 0 %). Amounts of other charge types (an Actual charge, a row on a
  previous row) go with the item they were spread on, under that item's rate;
- tax: each row's booked amount (``tax_amount_after_discount_amount``, what ERPNext posts
  to the row's account) is split over the rates in proportion to the row's item-wise
  amounts, rounded so that the parts add up to the row's amount exactly. Where each rate
  posts to an account of its own, a rate's tax is that account's amount to the cent;
- gross: the amount due (``rounded_total`` or ``grand_total``) split over the rates in
  proportion to what their lines cost: the lines' amounts less the invoice discount (the
  same fraction of every line, as ERPNext spreads it), plus the taxes not included in
  the price. So the 19 % goods of a receipt cost
  what their lines say, to the cent, and the gross of all rates is the amount due;
- net = gross - tax, as a receipt reads. It differs from the sum of ERPNext's line net
  amounts by the few cents ERPNext books to Round Off (the inclusive-tax
  ``grand_total_diff``) and by the cash rounding: those are part of what was paid.

Every figure of a return is negative, and a return of a whole sale is the exact negation
of the sale's (rounding is half to even, so symmetric). ERPNext keys the item-wise detail
by item code: two lines of one item under two different templates share the rate it
recorded last (ERPNext's own data cannot tell them apart either).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tillmesh.node.domain.money import flt
from tillmesh.node.domain.totals._model import (
    ZERO,
    ChargeType,
    InvoiceTotals,
    amount_due,
    recorded_due,
)


@dataclass(frozen=True)
class RateTotals:
    """One VAT rate of an invoice or a shift: ``net + tax == gross``."""

    rate: Decimal  # percent, normalised: 19, 7, 10.7, 0
    net: Decimal
    tax: Decimal
    gross: Decimal


@dataclass(frozen=True)
class _Line:
    item_code: str
    amount: Decimal  # as shown on the line: rate x qty
    net_amount: Decimal  # after the invoice discount
    distributed: Decimal  # the invoice discount taken off its net amount (rounded)


@dataclass(frozen=True)
class _Row:
    on_net_total: bool
    included: bool  # in the price (included_in_print_rate)
    amount: Decimal  # booked: tax_amount_after_discount_amount
    detail: Mapping[str, tuple[Decimal, Decimal]]  # item code -> (rate, unrounded amount)


def vat_per_rate(totals: InvoiceTotals) -> tuple[RateTotals, ...]:
    """The rates of a priced cart, highest rate first."""
    lines = [_Line(ln.item_code, ln.amount, ln.net_amount, ln.distributed_discount_amount)
             for ln in totals.lines]
    rows = [_Row(t.charge_type is ChargeType.ON_NET_TOTAL, t.included_in_print_rate,
                 t.tax_amount_after_discount_amount, t.item_wise_tax_detail)
            for t in totals.taxes]
    return _per_rate(lines, rows, amount_due(totals))


def vat_per_rate_of(body: Mapping[str, Any]) -> tuple[RateTotals, ...]:
    """The rates of a recorded sale or return (a ``sale.submitted``/``returned`` body):
    as its counter recorded them with it (``vat``, what its receipt printed), or, for a
    body without them (recorded before sales carried them) or with rates that do not
    hold together or add up to what was due, worked out from its rows
    (``vat_from_rows``). Every counter then reads a sale's rates as its receipt showed
    them, and none works them out again at each replay (a fifth of a rebuild's time)."""
    recorded = _recorded(body.get("vat"))
    if recorded is None or sum((r.gross for r in recorded), ZERO) != _due(body):
        return vat_from_rows(body)
    return recorded


def as_recorded(rates: Iterable[RateTotals]) -> list[list[str]]:
    """Rates as a body records them (``vat``): [rate, net, tax, gross] as text."""
    return [[str(r.rate), str(r.net), str(r.tax), str(r.gross)] for r in rates]


def _due(body: Mapping[str, Any]) -> Decimal:
    return _dec(recorded_due(body.get("totals") or {}))


def _recorded(value: object) -> tuple[RateTotals, ...] | None:
    """A body's recorded rates, if they are rates: distinct, highest first, each
    ``net + tax == gross`` (``vat_per_rate_of`` checks they add up to the amount due);
    else None."""
    if not isinstance(value, list | tuple):
        return None
    out: list[RateTotals] = []
    for entry in value:  # written out: every sale's projection runs this, on every counter
        if not isinstance(entry, list | tuple) or len(entry) != 4:
            return None
        r, n, t, g = entry
        if not (isinstance(r, str) and isinstance(n, str) and isinstance(t, str)
                and isinstance(g, str)):
            return None
        try:
            rate, net, tax, gross = Decimal(r), Decimal(n), Decimal(t), Decimal(g)
        except InvalidOperation:
            return None
        if not (rate.is_finite() and net.is_finite() and tax.is_finite()
                and gross.is_finite()) or net + tax != gross or (out and rate >= out[-1].rate):
            return None
        out.append(RateTotals(rate, net, tax, gross))
    return tuple(out)


def vat_from_rows(body: Mapping[str, Any]) -> tuple[RateTotals, ...]:
    """The rates of a recorded sale or return worked out from its rows and taxes."""
    lines = [_Line(str(i.get("item_code") or ""), _dec(i.get("amount")),
                   _dec(i.get("net_amount")), _dec(i.get("distributed_discount_amount")))
             for i in body.get("items") or ()]
    rows = [_Row(str(t.get("charge_type")) == ChargeType.ON_NET_TOTAL.value,
                 bool(t.get("included_in_print_rate")),
                 _dec(t.get("tax_amount_after_discount_amount")), _detail(t))
            for t in body.get("taxes") or ()]
    return _per_rate(lines, rows, _due(body))


def add_rates(groups: Iterable[Iterable[RateTotals]]) -> tuple[RateTotals, ...]:
    """Rates of many invoices added up per rate (a shift's), highest rate first."""
    sums: dict[Decimal, tuple[Decimal, Decimal, Decimal]] = {}
    for group in groups:
        for r in group:
            net, tax, gross = sums.get(r.rate, (ZERO, ZERO, ZERO))
            sums[r.rate] = (net + r.net, tax + r.tax, gross + r.gross)
    return tuple(RateTotals(rate, *sums[rate]) for rate in sorted(sums, reverse=True))


# --------------------------------------------------------------------------- the split


def _per_rate(lines: Sequence[_Line], rows: Sequence[_Row],
              due: Decimal) -> tuple[RateTotals, ...]:
    if not lines:
        return ()
    rate_of = {ln.item_code: _rate(ln.item_code, rows) for ln in lines}
    rates = sorted(set(rate_of.values()), reverse=True)
    # ERPNext takes the invoice discount off every line's net amount by the same fraction
    # (before rounding each line's share), so its taxes and its price shrink by it too.
    before = sum((ln.net_amount + ln.distributed for ln in lines), ZERO)
    kept = 1 - sum((ln.distributed for ln in lines), ZERO) / before if before else Decimal(1)
    cost = dict.fromkeys(rates, ZERO)  # what the rate's lines cost, unrounded
    for ln in lines:
        cost[rate_of[ln.item_code]] += ln.amount * kept
    tax = dict.fromkeys(rates, ZERO)
    for row in rows:
        by_rate = dict.fromkeys(rates, ZERO)
        for code, (_, amount) in row.detail.items():
            if code in rate_of:
                by_rate[rate_of[code]] += amount
        if not row.included:
            for rate in rates:
                cost[rate] += by_rate[rate]
        for rate, part in zip(rates, _split(row.amount, list(by_rate.values())), strict=True):
            tax[rate] += part
    grosses = _split(flt(due), [cost[r] for r in rates])
    return tuple(RateTotals(rate, gross - tax[rate], tax[rate], gross)
                 for rate, gross in zip(rates, grosses, strict=True))


def _rate(code: str, rows: Sequence[_Row]) -> Decimal:
    total = sum((row.detail[code][0] for row in rows
                 if row.on_net_total and code in row.detail), ZERO)
    return _normal(total)


def _split(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """``total`` (whole cents) in parts proportional to ``weights`` that add up to it
    exactly: each part is the rounded running share less the one before (cumulative
    rounding, symmetric in sign). Without weights it all goes to the first part."""
    whole = sum(weights, ZERO)
    if not whole:
        return [total, *([ZERO] * (len(weights) - 1))] if weights else []
    parts, done, running = [], ZERO, ZERO
    for weight in weights:
        running += weight
        upto = flt(total * running / whole)
        parts.append(upto - done)
        done = upto
    return parts


def _normal(rate: Decimal) -> Decimal:
    """19.000 -> 19, 7.50 -> 7.5 (never 1E+2)."""
    rate = rate.normalize()
    return rate.quantize(Decimal(1)) if rate == rate.to_integral_value() else rate


def _dec(value: object) -> Decimal:
    try:
        result = Decimal(str(value)) if value not in (None, "") else ZERO
    except (InvalidOperation, ValueError):
        return ZERO
    return result if result.is_finite() else ZERO


def _detail(row: Mapping[str, Any]) -> dict[str, tuple[Decimal, Decimal]]:
    raw = row.get("item_wise_tax_detail") or {}
    if not isinstance(raw, Mapping):
        return {}
    out = {}
    for code, pair in raw.items():
        if isinstance(pair, list | tuple) and len(pair) == 2:
            out[str(code)] = (_dec(pair[0]), _dec(pair[1]))
    return out
