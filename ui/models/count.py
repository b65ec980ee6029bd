"""Counting a drawer: notes and coins by denomination, and counted against expected. Qt-free.

The difference shown before closing is ``counted - expected`` per mode, as the node's
``shift.close`` computes it. A mode left blank is not counted, which is not 0: the shift
closes only once every mode has an amount (0 when the cashier typed 0), as the node also
demands, and the cashier confirms the differences first. The Z report the node returns is
the record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tillmesh.ui.const import EUR_DENOMINATIONS
from tillmesh.ui.models.money import ZERO, dec, money, parse_amount, with_symbol


@dataclass(frozen=True)
class DenominationCount:
    """How many of each note and coin; ``total`` is what they are worth."""

    denominations: tuple[Decimal, ...] = EUR_DENOMINATIONS
    counts: Mapping[Decimal, int] = field(default_factory=dict)

    def with_count(self, denomination: Decimal, pieces: int) -> DenominationCount:
        if denomination not in self.denominations:
            raise ValueError(f"{denomination} is not a denomination here")
        if pieces < 0:
            raise ValueError("a count cannot be negative")
        return DenominationCount(self.denominations, {**self.counts, denomination: pieces})

    def count(self, denomination: Decimal) -> int:
        return self.counts.get(denomination, 0)

    def subtotal(self, denomination: Decimal) -> Decimal:
        return denomination * self.count(denomination)

    @property
    def total(self) -> Decimal:
        return sum((self.subtotal(d) for d in self.denominations), ZERO)


@dataclass(frozen=True)
class CountRow:
    mode: str
    expected: Decimal
    counted: Decimal

    @property
    def difference(self) -> Decimal:
        """Counted - expected: positive is over, negative is short."""
        return self.counted - self.expected


def compare(expected: Mapping[str, Decimal], counted: Mapping[str, Decimal]) -> list[CountRow]:
    """One row per mode expected or counted, sorted by mode (as the Z report lists them)."""
    modes = sorted(set(expected) | set(counted))
    return [CountRow(m, expected.get(m, ZERO), counted.get(m, ZERO)) for m in modes]


NOT_COUNTED = "not counted"  # what the comparison shows for a blank mode (never "0.00")
NOT_MONEY = "not an amount"
MINUS = "\N{MINUS SIGN}"  # a shortage reads "−173.74": a hyphen is easy to miss


@dataclass(frozen=True)
class Tally:
    """What the cashier typed per mode to close a shift: ``counted`` the amounts, and in
    the form's order ``uncounted`` the modes left blank and ``invalid`` the ones whose
    text is not money."""

    counted: Mapping[str, Decimal]
    uncounted: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()

    def refusal(self) -> str | None:
        """Why the shift cannot close yet, naming the modes; None once all are counted."""
        said = []
        if self.uncounted:
            said.append(f"Count every mode before closing: {', '.join(self.uncounted)} not "
                        "counted. Type 0 for a mode with nothing in it")
        if self.invalid:
            said.append(f"Not an amount of money: {', '.join(self.invalid)}")
        return ". ".join(said) or None

    def param(self) -> dict[str, str]:
        """The node's ``counted`` map: every mode, a 0 the cashier typed included."""
        return {mode: str(amount) for mode, amount in self.counted.items()}


def tally(texts: Mapping[str, str]) -> Tally:
    """The closing count from the fields' texts (``{mode: text}``, in the form's order)."""
    counted: dict[str, Decimal] = {}
    uncounted: list[str] = []
    invalid: list[str] = []
    for mode, text in texts.items():
        value = parse_amount(text) if text.strip() else None
        if value is not None:
            counted[mode] = value
        else:
            (invalid if text.strip() else uncounted).append(mode)
    return Tally(counted, tuple(uncounted), tuple(invalid))


def signed(difference: Decimal) -> str:
    """``+2.50``, ``−173.74`` or ``0.00``."""
    if difference < 0:
        return f"{MINUS}{money(-difference)}"
    return ("+" if difference > 0 else "") + money(difference)


def comparison(expected: Mapping[str, Decimal],
               count: Tally) -> list[tuple[str, str, str, str]]:
    """The rows shown while counting: mode, expected, counted and difference; a mode not
    (or not yet validly) counted says so where its difference would be (the widest
    column: a narrow till has room there) and shows no amount."""
    rows = []
    waiting = {**dict.fromkeys(count.uncounted, NOT_COUNTED),
               **dict.fromkeys(count.invalid, NOT_MONEY)}
    for row in compare(expected, {**count.counted, **dict.fromkeys(waiting, ZERO)}):
        if row.mode in waiting:
            rows.append((row.mode, money(row.expected), "", waiting[row.mode]))
        else:
            rows.append((row.mode, money(row.expected), money(row.counted),
                         signed(row.difference)))
    return rows


def differences(rows: Iterable[CountRow]) -> list[str]:
    """``["Card: −173.74 short", "Cash: +2.50 over"]``: every mode that does not match."""
    return [f"{r.mode}: {signed(r.difference)} {'short' if r.difference < 0 else 'over'}"
            for r in rows if r.difference]


def beyond_drawer(expected: Decimal, amount: Decimal) -> str:
    """What paying out more than the drawer should hold means, before a supervisor says
    yes: "The drawer should hold € 250.00; paying out € 10,000.00 needs a supervisor"."""
    return (f"The drawer should hold {with_symbol(expected)}; paying out "
            f"{with_symbol(amount)} needs a supervisor")


def amounts(raw: Mapping[str, Any] | None) -> dict[str, Decimal]:
    """``{"Cash": "109.57"}`` from a report -> Decimals."""
    return {str(k): dec(v) for k, v in (raw or {}).items()}


def opening_param(amounts_by_mode: Mapping[str, Decimal], cash_mode: str) -> dict[str, str]:
    """The ``opening``/``counted`` map for the node: every mode with an amount, and the
    cash mode always (a float of 0 is a statement too)."""
    out = {m: str(a) for m, a in amounts_by_mode.items() if a}
    out.setdefault(cash_mode, str(amounts_by_mode.get(cash_mode, ZERO)))
    return out
