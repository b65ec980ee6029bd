"""Counting a drawer: notes and coins by denomination, and counted against expected. Qt-free.

The difference shown before closing is ``counted - expected`` per mode, as the node's
``shift.close`` computes it (a mode expected but not counted counts as 0: a shortage to
explain, never silently equal). The Z report the node returns is the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tillmesh.ui.const import EUR_DENOMINATIONS
from tillmesh.ui.models.money import ZERO, dec


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


def amounts(raw: Mapping[str, Any] | None) -> dict[str, Decimal]:
    """``{"Cash": "109.57"}`` from a report -> Decimals."""
    return {str(k): dec(v) for k, v in (raw or {}).items()}


def opening_param(amounts_by_mode: Mapping[str, Decimal], cash_mode: str) -> dict[str, str]:
    """The ``opening``/``counted`` map for the node: every mode with an amount, and the
    cash mode always (a float of 0 is a statement too)."""
    out = {m: str(a) for m, a in amounts_by_mode.items() if a}
    out.setdefault(cash_mode, str(amounts_by_mode.get(cash_mode, ZERO)))
    return out
