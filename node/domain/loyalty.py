"""Loyalty points, as ERPNext 15 earns and counts them for a POS Invoice. Pure.

A customer enrolled in a Loyalty Program (the Customer's ``loyalty_program``) earns on
every sale ERPNext books (``make_loyalty_point_entry``), which ERPNext fills in from the
customer whatever the invoice says (recorded): the sale's grand total, less the worth of
the points it redeemed *truncated to whole units of money* (a 5.50 redemption takes 5 off:
loyalty-06), divided by the collection factor of the customer's tier, truncated. The tier
(``get_loyalty_program_details_with_points``) is found from the highest minimum spent
down: the first is kept unless what the customer spent, this sale included, is at most a
lower tier's minimum, so a member earns at the top tier until then (loyalty-01 earns at
Gold on a first sale of 24.90 with Gold from 100). What was spent is the purchase amount
of every entry the customer has, expired ones and redemptions included. Points keep for
the program's ``expiry_duration`` days; a balance is the sum of the entries not expired
on the day (``get_loyalty_details``).

Redeeming points as a payment is refused beyond the balance, or for more than the sale
(``validate_loyalty_points``, in ERPNext's words).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from tillmesh.node.domain.money import ZERO, flt, to_decimal
from tillmesh.node.domain.pricing_rules import doc_date
from tillmesh.node.errors import ValidationError


class LoyaltyError(ValidationError):
    code = "loyalty_refused"


@dataclass(frozen=True)
class Tier:
    name: str
    min_spent: Decimal
    collection_factor: Decimal  # money spent per point


@dataclass(frozen=True)
class Earned:
    """What a sale earns, as ERPNext's Loyalty Point Entry for it will say."""

    points: int
    purchase_amount: Decimal
    tier: str
    expiry_date: date


@dataclass(frozen=True)
class Entry:
    """A Loyalty Point Entry: earned (points > 0) or redeemed (< 0)."""

    points: int
    purchase_amount: Decimal
    posting_date: date
    expiry_date: date


@dataclass(frozen=True)
class LoyaltyProgram:
    name: str
    company: str
    conversion_factor: Decimal  # money per point redeemed
    expiry_days: int
    tiers: tuple[Tier, ...]
    from_date: date | None = None
    to_date: date | None = None
    release: int = 15  # the ERPNext major whose choice of tier is copied (``tier``)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], release: int = 15) -> LoyaltyProgram:
        name = str(doc["name"])
        return cls(
            name=name, company=str(doc.get("company") or ""),
            conversion_factor=_dec(doc, "conversion_factor"),
            expiry_days=int(doc.get("expiry_duration") or 0),
            tiers=tuple(Tier(str(r.get("tier_name") or ""), _dec(r, "min_spent", name),
                             _dec(r, "collection_factor", name))
                        for r in doc.get("collection_rules") or ()),
            from_date=doc_date(doc.get("from_date")), to_date=doc_date(doc.get("to_date")),
            release=release)

    def active(self, on: date) -> bool:
        return (self.from_date is None or self.from_date <= on) and (
            self.to_date is None or self.to_date >= on)

    def tier(self, spent: Decimal) -> Tier | None:
        """The tier ERPNext earns at for a customer who has spent ``spent``, this sale
        included (``get_loyalty_program_details_with_points``). ERPNext 15 walks down from
        the highest minimum while the spent is at most the minimum, so a new member earns
        at the highest tier (recorded); 16 walks up while the spent reaches the minimum,
        so the highest tier reached."""
        upward = self.release >= 16
        chosen = None
        for i, tier in enumerate(sorted(self.tiers, key=lambda t: t.min_spent,
                                        reverse=not upward)):
            if i == 0 or (spent >= tier.min_spent if upward else spent <= tier.min_spent):
                chosen = tier
            else:
                break
        return chosen

    def earned(self, *, grand_total: Decimal, redeemed_worth: Decimal, spent_before: Decimal,
               on: date) -> Earned | None:
        """What a sale of ``grand_total`` that redeemed points worth ``redeemed_worth``
        earns on day ``on`` for a customer who spent ``spent_before``; None when the
        program is not running that day."""
        if not self.active(on):
            return None
        amount = grand_total - _whole(redeemed_worth)
        tier = self.tier(spent_before + amount)
        factor = tier.collection_factor if tier and tier.collection_factor else Decimal(1)
        return Earned(int(_whole(amount / factor)), amount, tier.name if tier else "",
                      on + timedelta(days=self.expiry_days))

    def worth(self, points: int) -> Decimal:
        """What ``points`` pay, to the cent (``loyalty_amount``)."""
        return flt(points * self.conversion_factor)


@dataclass(frozen=True)
class Member:
    """A customer in a program, with their entries as the store knows them."""

    program: LoyaltyProgram
    entries: tuple[Entry, ...]

    def balance(self, on: date) -> int:
        return balance(self.entries, on)

    def on_sale(self, grand_total: Decimal, on: date, redeemed: int = 0) -> dict[str, Any]:
        """What a sale records of the member's points (``sale.submitted`` ``loyalty``):
        the points it ``redeemed``, what it earns as ERPNext will enter it, and the
        balance after it."""
        earned = self.program.earned(grand_total=grand_total,
                                     redeemed_worth=self.program.worth(redeemed),
                                     spent_before=spent(self.entries), on=on)
        return {"program": self.program.name, "redeemed": redeemed,
                "earned": None if earned is None else {
                    "points": earned.points, "purchase_amount": str(earned.purchase_amount),
                    "tier": earned.tier, "expiry_date": earned.expiry_date.isoformat()},
                "balance": self.balance(on) - redeemed + (earned.points if earned else 0)}


def balance(entries: Iterable[Entry], on: date) -> int:
    """The points a customer can redeem on ``on``: entries posted by then, not expired."""
    return sum(e.points for e in entries if e.posting_date <= on <= e.expiry_date)


def spent(entries: Iterable[Entry]) -> Decimal:
    """What ERPNext counts as spent for the tier: every entry's purchase amount."""
    return sum((e.purchase_amount for e in entries), ZERO)


def points_left(earned_on: Decimal, returned: Iterable[Decimal], factor: Decimal,
                ) -> tuple[Decimal, int]:
    """(purchase amount, points) of a sale that earned on ``earned_on`` at ``factor``
    money per point, once the ``returned`` amounts came back: ERPNext's re-entry of the
    sale, on its grand total less what its returns refunded (never below nothing)."""
    amount = max(earned_on - sum(returned, ZERO), ZERO)
    return amount, int(_whole(amount / factor))


def check_redemption(program: LoyaltyProgram, points: int, *, available: int,
                     due: Decimal) -> Decimal:
    """The worth of ``points`` redeemed on a sale of ``due``; refused beyond the balance
    or the sale, in ERPNext's words."""
    if points <= 0:
        raise LoyaltyError("Points to redeem must be a positive whole number")
    if points > available:
        raise LoyaltyError(f"You don't have enough Loyalty Points to redeem ({available} "
                           "available)")
    worth = program.worth(points)
    if worth > due:
        raise LoyaltyError("You can't redeem Loyalty Points having more value than the "
                           "Total Amount.")
    return worth


def _whole(value: Decimal) -> Decimal:
    """ERPNext's ``cint``: towards zero."""
    return value.to_integral_value(rounding=ROUND_DOWN)


def _dec(doc: Mapping[str, Any], key: str, name: object = None) -> Decimal:
    value = doc.get(key)
    return ZERO if value in (None, "") else to_decimal(
        value, f"Loyalty Program {name or doc.get('name')} {key}")
