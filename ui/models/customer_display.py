"""What the customer display shows, followed from the node's ``customer_display`` answers.
Qt-free.

Three faces, chosen only from what the node answers (never from the cashier's app):

* ``CART``: the cart at the till has lines: its last lines and its total (the amount due)
  and, while the cashier types what the customer hands over, what is paid and the change.
* ``PAID``: a sale was recorded since the last answer and no new cart has lines yet: the
  sale's total, what was paid and the change. It stays, answer after answer, until the
  next customer's first line is scanned, or until :data:`DISPLAY_PAID_IDLE_S` pass with
  no change at the till: the customer reads it while taking the change, and the next one
  is not greeted with it.
* ``WELCOME``: nothing to show (no cart, an empty one, a cart voided or held).

Amounts are the node's decimal strings, shown as they are (ERPNext's numbers); nothing is
computed here. The node sends a sale only once (the first answer after it was recorded),
so a display that starts after a sale shows ``WELCOME``, never an old customer's change.
Times are a monotonic clock's seconds, given by the caller (tests pass their own).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from tillmesh.ui.const import DISPLAY_PAID_IDLE_S
from tillmesh.ui.models.money import ZERO, dec, money, qty, with_symbol


class Face(enum.Enum):
    WELCOME = "welcome"
    CART = "cart"
    PAID = "paid"


@dataclass(frozen=True)
class DisplayLine:
    name: str
    qty: Decimal
    uom: str
    amount: Decimal

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> DisplayLine:
        return cls(str(row.get("name") or ""), dec(row.get("qty")), str(row.get("uom") or ""),
                   dec(row.get("amount")))

    @property
    def quantity(self) -> str:
        """``2 ×`` for pieces, ``0.75 Kg`` for what is weighed or measured."""
        if self.qty == self.qty.to_integral_value():
            return f"{qty(self.qty)} ×"
        return f"{qty(self.qty)} {self.uom}".strip()

    @property
    def price(self) -> str:
        return money(self.amount)


@dataclass(frozen=True)
class Paid:
    """A sale as the customer paid it."""

    total: Decimal
    paid: Decimal
    change: Decimal
    payments: tuple[tuple[str, Decimal], ...]

    @classmethod
    def from_api(cls, sale: Mapping[str, Any]) -> Paid:
        return cls(dec(sale.get("total")), dec(sale.get("paid")), dec(sale.get("change")),
                   tuple((str(p.get("mode") or ""), dec(p.get("amount")))
                         for p in sale.get("payments") or () if isinstance(p, Mapping)))


@dataclass(frozen=True)
class Tendered:
    """What the customer hands over while the cashier types it (before the sale)."""

    paid: Decimal
    change: Decimal

    @classmethod
    def from_api(cls, answer: Mapping[str, Any]) -> Tendered | None:
        if answer.get("paid") is None:
            return None
        return cls(dec(answer.get("paid")), dec(answer.get("change")))


@dataclass(frozen=True)
class Shown:
    """What the display shows now; :meth:`follow` gives what it shows after an answer."""

    face: Face = Face.WELCOME
    lines: tuple[DisplayLine, ...] = ()  # the cart's last lines, oldest first
    line_count: int = 0  # lines in the whole cart (``lines`` may be the last few)
    total: Decimal = ZERO
    paid: Paid | None = None
    version: str | None = None  # the node's, sent back as ``since`` by the next poll
    tendered: Tendered | None = None  # on the cart: what is being paid, and the change
    changed_at: float = 0.0  # when the node's answer last changed (s, the caller's clock)

    def follow(self, answer: Any, now: float = 0.0) -> Shown:
        """The display after the node's answer to a poll at ``now`` (see the module
        docstring)."""
        current = self.aged(now)  # an old change is gone, whatever the answer says
        if not isinstance(answer, Mapping):
            return current  # not an answer of this node's: keep what is shown
        version = answer.get("version")
        version = str(version) if version is not None else None
        if answer.get("unchanged"):
            return current if version == current.version else replace(current, version=version)
        lines = tuple(DisplayLine.from_api(r) for r in answer.get("lines") or ()
                      if isinstance(r, Mapping))
        sale = answer.get("sale")
        if lines:
            return Shown(Face.CART, lines, max(int(answer.get("line_count") or 0), len(lines)),
                         dec(answer.get("total")), None, version, Tendered.from_api(answer),
                         now)
        if isinstance(sale, Mapping):
            return Shown(Face.PAID, paid=Paid.from_api(sale), version=version, changed_at=now)
        if current.face is Face.PAID:  # the next cart has no line yet: the change stays
            return replace(current, version=version, changed_at=now)
        return Shown(version=version, changed_at=now)

    def aged(self, now: float) -> Shown:
        """What shows at ``now`` if nothing changed at the till since ``changed_at``: the
        sale's change gives way to the welcome after DISPLAY_PAID_IDLE_S."""
        if self.face is Face.PAID and now - self.changed_at >= DISPLAY_PAID_IDLE_S:
            return Shown(version=self.version, changed_at=self.changed_at)
        return self

    @property
    def hidden(self) -> int:
        """Lines of the cart above those the node sent."""
        return self.line_count - len(self.lines)

    def summary(self) -> str:
        """One line saying what is shown (the display's log; tests read it)."""
        if self.face is Face.CART:
            last = self.lines[-1]
            tendered = "" if self.tendered is None else (
                f", paid {with_symbol(self.tendered.paid)}, "
                f"change {with_symbol(self.tendered.change)}")
            return (f"cart: {self.line_count} lines, last {last.name!r} {last.quantity} "
                    f"{last.price}, total {with_symbol(self.total)}{tendered}")
        if self.face is Face.PAID and self.paid is not None:
            return (f"paid: total {with_symbol(self.paid.total)}, paid "
                    f"{with_symbol(self.paid.paid)}, change {with_symbol(self.paid.change)}")
        return "welcome"


def last_fitting(lines: Sequence[DisplayLine], hidden: int, rows: int,
                 ) -> tuple[int, tuple[DisplayLine, ...]]:
    """The newest lines that fit ``rows`` rows, with the count of lines above them; when
    some are left out, one row says so ("+ 3 more above"), so it takes a line's place."""
    rows = max(1, rows)
    if hidden == 0 and len(lines) <= rows:
        return 0, tuple(lines)
    keep = max(1, rows - 1)
    shown = tuple(lines[-keep:])
    return hidden + len(lines) - len(shown), shown
