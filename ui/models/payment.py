"""Split payment over the profile's modes of payment, quick cash and change. Qt-free.

The due amount is the node's (``cart_get``'s ``due``: the rounded grand total); the
change the cashier sees before pressing Pay is ``paid - due`` here, and the node's own
``change`` from ``sale_submit`` is shown once the sale is recorded. The rules mirror the
node's ``check_payments`` so the Pay button is only enabled for what the node accepts:
every amount positive with at most 2 decimals, enough paid, change only out of cash. A
member may pay part in loyalty points: their worth comes off what is paid in money, within
the balance the till was told, and never all of it (a sale needs a payment of its own).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal
from typing import Any

from tillmesh.ui.const import CASH_MODE, FALLBACK_MODES, QUICK_CASH_NOTES
from tillmesh.ui.models.money import CENT, ZERO, dec, money


@dataclass(frozen=True)
class Mode:
    name: str
    is_cash: bool


def modes_from(status: Mapping[str, Any] | None, opening: Iterable[str] = ()) -> tuple[Mode, ...]:
    """The profile's modes of payment, first = default.

    ``status["modes_of_payment"]`` (names or ``{"mode_of_payment"|"name", "type"}`` maps)
    when the node reports them; older nodes do not, so then the modes the open shift was
    opened with, and the demo profile's modes (:data:`FALLBACK_MODES`) after them.
    A mode is cash when the node says its type is Cash, or when it is named Cash.
    """
    reported = (status or {}).get("modes_of_payment")
    if isinstance(reported, list) and reported:
        out = []
        for entry in reported:
            if isinstance(entry, Mapping):
                name = str(entry.get("mode_of_payment") or entry.get("name") or "")
                kind = entry.get("type")
                is_cash = kind == "Cash" if kind is not None else name == CASH_MODE
            else:
                name, is_cash = str(entry), str(entry) == CASH_MODE
            if name:
                out.append(Mode(name, is_cash))
        if out:
            return tuple(out)
    names = list(dict.fromkeys([*opening, *FALLBACK_MODES]))
    names.sort(key=lambda n: n != CASH_MODE)  # cash first: the default at a till
    return tuple(Mode(n, n == CASH_MODE) for n in names)


def quick_cash(due: Decimal) -> tuple[Decimal, ...]:
    """Exact, then each note value's smallest multiple above ``due`` (5/10/20/50/100),
    without repeats: 10.57 -> 10.57, 15, 20, 50, 100."""
    if due <= 0:
        return ()
    offers = [due]
    for note in QUICK_CASH_NOTES:
        amount = (due / note).to_integral_value(rounding=ROUND_CEILING) * note
        if amount > due and amount not in offers:
            offers.append(amount)
    return tuple(offers)


@dataclass(frozen=True)
class Points:
    """A member's loyalty points as the cart showed them: the balance, and what one is
    worth."""

    available: int
    value: Decimal  # money per point


@dataclass(frozen=True)
class Payment:
    """What the customer hands over, per mode and in points, against the amount due."""

    due: Decimal
    modes: tuple[Mode, ...]
    tendered: tuple[tuple[str, Decimal], ...] = ()
    member: Points | None = None
    points: int = 0  # redeemed

    def redeem(self, points: int) -> Payment:
        return replace(self, points=points)

    @property
    def points_worth(self) -> Decimal:
        value = self.member.value if self.member else ZERO
        return (self.points * value).quantize(CENT)

    @property
    def in_money(self) -> Decimal:
        """What is paid in money: the due less the points' worth."""
        return self.due - self.points_worth

    def amount(self, mode: str) -> Decimal:
        return dict(self.tendered).get(mode, ZERO)

    def set(self, mode: str, amount: Decimal) -> Payment:
        """This mode pays ``amount`` (0 removes it); the order of modes is kept."""
        if mode not in {m.name for m in self.modes}:
            raise ValueError(f"{mode!r} is not a mode of payment here")
        amounts = dict(self.tendered)
        amounts[mode] = amount
        ordered = tuple((m.name, amounts[m.name]) for m in self.modes
                        if amounts.get(m.name, ZERO) != ZERO)
        return replace(self, tendered=ordered)

    def rest_to(self, mode: str) -> Payment:
        """``mode`` pays whatever is still due after the other modes (card pays the rest)."""
        others = self.paid - self.amount(mode)
        return self.set(mode, max(self.in_money - others, ZERO))

    def _is_cash(self, mode: str) -> bool:
        return any(m.is_cash for m in self.modes if m.name == mode)

    @property
    def paid(self) -> Decimal:
        return sum((a for _, a in self.tendered), ZERO)

    @property
    def non_cash(self) -> Decimal:
        return sum((a for m, a in self.tendered if not self._is_cash(m)), ZERO)

    @property
    def remaining(self) -> Decimal:
        """Still to pay (0 once enough is tendered)."""
        return max(self.in_money - self.paid, ZERO)

    @property
    def change(self) -> Decimal:
        """Cash to give back: paid - due once enough is tendered, else 0."""
        return max(self.paid - self.in_money, ZERO)

    @property
    def _card_change(self) -> bool:
        """Change would come out of a non-cash mode: the node refuses that."""
        return self.non_cash > self.in_money

    def _not_money(self) -> tuple[str, Decimal] | None:
        """The first (mode, amount) that is no amount of money: negative, or below a cent."""
        return next(((m, a) for m, a in self.tendered if a < 0 or a != a.quantize(CENT)), None)

    @property
    def problem(self) -> str | None:
        """Why the node would refuse these payments, or None when Pay can go ahead."""
        if (bad := self._not_money()) is not None:
            return f"{bad[0]}: {bad[1]} is not an amount of money"
        if self.points and (self.member is None or self.points > self.member.available):
            return f"Only {self.member.available if self.member else 0} points to redeem"
        if self.points < 0 or (self.points and self.in_money < 0):
            return "The points are worth more than the sale: redeem fewer points"
        if self.points and self.in_money == 0:  # the points pay it all
            return "The points pay the whole sale: take no money" if self.paid else None
        if not self.tendered:
            return "Enter what the customer pays"
        if self.paid < self.in_money:
            return f"{money(self.remaining)} still to pay"
        if self._card_change:
            return "Change can only be given in cash: lower the card amount"
        return None

    @property
    def ready(self) -> bool:
        return self.problem is None

    def payments(self) -> list[dict[str, str]]:
        """The ``payments`` parameter of ``sale_submit``: positive amounts only."""
        return [{"mode_of_payment": m, "amount": str(a)} for m, a in self.tendered if a > 0]

    def draft(self) -> list[dict[str, str]] | None:
        """What the customer display is told while this is typed (``cart_tender_draft``):
        the payments so far, even short of the due ([] for none); None while an amount is
        no amount of money (the node would refuse it: what it was told before stays); []
        while change would come out of a card: no sale takes that, so the display shows
        no tender rather than keep an earlier one's change."""
        if self._not_money() is not None:
            return None
        return [] if self._card_change else self.payments()


def new_payment(due: object, modes: tuple[Mode, ...], member: Points | None = None) -> Payment:
    return Payment(dec(due), modes, member=member)
