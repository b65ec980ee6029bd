"""Coupon Codes at the till, judged offline as ERPNext 15 judges them. Pure.

A Coupon Code names one Pricing Rule that is ``coupon_code_based``. A cart that carries
the coupon is priced with that rule (``pricing_rules.Selling.coupon_rules``); without it,
the rule still takes part in choosing a line's rule and, when chosen, gives nothing
(``pricing_rules.select``, recorded on ERPNext 15.71: coupon-005, coupon-009).

ERPNext refuses a coupon not yet valid, expired, or used as often as its maximum
(``validate_coupon_code``, in its words) and counts a use when the POS Invoice is
submitted (``update_coupon_code_count``). A store's counters count the uses of every
counter's sales (replicated), on top of ERPNext's count as last pulled: ``Uses``.
Two counters cut off from each other can still use a coupon once too often; ERPNext
then refuses the link, and the sale goes without it (``refused_link``).

Where the counter differs from ERPNext, on purpose: every coupon of a rule gives its
discount (ERPNext 15 honours only the rule's most recently modified coupon, an accident of
``frappe.db.get_value``; recorded: coupon-003, so a store's single-use gift cards all work);
and a gift card is for its own customer (ERPNext does not check: coupon-023).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from tillmesh.node.domain.pricing_rules import StorePricing, doc_date
from tillmesh.node.errors import ValidationError

GIFT_CARD = "Gift Card"
# ERPNext 15's words when it refuses to count a coupon on a POS Invoice (recorded).
_REFUSALS = ("Sorry, this coupon code", "Allowed quantity is exhausted",
             "Could not find Coupon Code")


class CouponError(ValidationError):
    """A coupon the till does not take, and why."""

    code = "coupon_refused"


@dataclass(frozen=True)
class Coupon:
    """A Coupon Code as ERPNext stores it; ``used`` is ERPNext's count as last pulled."""

    name: str
    code: str  # what is printed on it and scanned
    pricing_rule: str
    gift_card_for: str = ""  # a Gift Card's customer
    valid_from: date | None = None
    valid_upto: date | None = None
    maximum_use: int = 0  # 0: no limit set (ERPNext then refuses to count it: run-04)
    used: int = 0

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Coupon:
        gift = doc.get("coupon_type") == GIFT_CARD
        return cls(
            name=str(doc["name"]), code=str(doc.get("coupon_code") or doc["name"]),
            pricing_rule=str(doc.get("pricing_rule") or ""),
            gift_card_for=str(doc.get("customer") or "") if gift else "",
            valid_from=doc_date(doc.get("valid_from")), valid_upto=doc_date(doc.get("valid_upto")),
            # ERPNext sets a gift card's maximum use to 1 on save
            maximum_use=1 if gift else _count(doc.get("maximum_use")),
            used=_count(doc.get("used")))


@dataclass(frozen=True)
class Uses:
    """A coupon's uses as a store knows them: ERPNext's count as pulled, and this store's
    sales with the coupon by what their delivery made of it. A use ERPNext acknowledged
    with the coupon named is in its count once pulled (``max``: until then, ours)."""

    erpnext: int = 0
    linked: int = 0  # delivered, the coupon named
    unlinked: int = 0  # delivered without it (ERPNext refused the coupon)
    pending: int = 0  # not delivered yet

    @property
    def total(self) -> int:
        return max(self.erpnext, self.linked) + self.unlinked + self.pending


def find(coupons: Mapping[str, Coupon], typed: str) -> Coupon | None:
    """The coupon a cashier typed or scanned: by the code printed on it, in any case,
    else by its name in ERPNext."""
    wanted = typed.strip().casefold()
    if not wanted:
        return None
    by_code = [c for c in coupons.values() if c.code.casefold() == wanted]
    return by_code[0] if by_code else coupons.get(typed.strip())


def check(coupon: Coupon, *, on: date, uses: int, customer: str,
          pricing: StorePricing) -> None:
    """Whether the till takes ``coupon`` for a sale to ``customer`` on the store's date
    ``on``, ``uses`` being the store's count of its uses (``Uses.total``). Raises
    CouponError with ERPNext's words where ERPNext refuses, and says what is left."""
    if coupon.valid_from and coupon.valid_from > on:
        raise CouponError(f"Sorry, this coupon code's validity has not started "
                          f"({coupon.code}: from {coupon.valid_from.isoformat()})")
    if coupon.valid_upto and coupon.valid_upto < on:
        raise CouponError(f"Sorry, this coupon code's validity has expired "
                          f"({coupon.code}: until {coupon.valid_upto.isoformat()})")
    if coupon.maximum_use and uses >= coupon.maximum_use:
        raise CouponError(f"Sorry, this coupon code is no longer valid ({coupon.code}: "
                          f"used {uses} of {coupon.maximum_use} times)")
    if coupon.gift_card_for and coupon.gift_card_for != customer:
        raise CouponError(f"Gift card {coupon.code} belongs to {coupon.gift_card_for}: sell to"
                          " that customer to take it")
    rule = pricing.named(coupon.pricing_rule)
    if rule is None:
        beyond = next((r for r in pricing.beyond if r.name == coupon.pricing_rule), None)
        why = f"which this counter cannot apply ({beyond.unsupported})" if beyond else \
            "which is not active at this store (disabled, expired or not pulled yet)"
        raise CouponError(f"Coupon {coupon.code} is for the promotion {coupon.pricing_rule}, "
                          f"{why}")
    if not rule.coupon_code_based:
        raise CouponError(f"Coupon {coupon.code} is for the promotion {rule.title}, which "
                          "applies without a coupon")


def refused_link(message: str) -> bool:
    """Whether ERPNext refused a POS Invoice for the coupon it names (expired by its own
    date, used up, no maximum use set, deleted): the sale then goes without the link."""
    return any(words in message for words in _REFUSALS)


def _count(value: Any) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0

