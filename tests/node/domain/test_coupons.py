"""Coupons priced and judged offline as a real ERPNext 15 does: every cart of
``tests/lab/recorded/coupon-cases.json`` (recorded by ``record_coupons.py`` on the lab,
ERPNext 15.71.1) to the cent, with or without its coupon; the coupons ERPNext refuses,
refused at the till in its words; and the runs of sales that use a coupon up, counted
as ERPNext counted them."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.node.domain.recorded_store import (
    WALK_IN,
    assert_priced_as_recorded,
    cart_for,
    context,
    dec,
    load,
)
from tillmesh.node.domain import coupons
from tillmesh.node.domain.coupons import Coupon, CouponError, Uses
from tillmesh.node.domain.pricing_rules import PricingConflict
from tillmesh.node.domain.sale import price

DATA = load("coupon-cases.json")
CTX = context(DATA)
TODAY = date.fromisoformat(DATA["recorded_on"])
# ERPNext honours only the most recently modified coupon of a rule; the counter every one
OTHER_COUPON_OF_THE_RULE = "coupon-003"
REFUSED_BY_THE_COUPON = ("Sorry, this coupon code", "Could not find Coupon Code")


def by_id(case_id: str) -> dict[str, Any]:
    return next(c for c in DATA["cases"] if c["id"] == case_id)


def refused_for_the_coupon(case: dict[str, Any]) -> bool:
    return case["rejected"] and case["error"]["message"].startswith(REFUSED_BY_THE_COUPON)


@pytest.mark.parametrize("case", [c for c in DATA["cases"] if not c["rejected"]
                                  and c["id"] != OTHER_COUPON_OF_THE_RULE],
                         ids=lambda c: f"{c['id']} {c['about']}")
def test_a_cart_with_or_without_a_coupon_is_priced_as_erpnext_priced_it(
        case: dict[str, Any]) -> None:
    assert_priced_as_recorded(price(cart_for(DATA, case["request"]), CTX), case)


def test_every_coupon_of_a_rule_gives_its_discount_not_only_the_last_saved() -> None:
    # ERPNext gave SAVE10 nothing: its rule's newest coupon is SAVE10B (recorded). Both
    # are the store's coupons for that promotion: the counter honours each.
    case = by_id(OTHER_COUPON_OF_THE_RULE)
    assert [dec(row["rate"]) for row in case["result"]["items"]] == [Decimal("5.0")]
    ours = price(cart_for(DATA, case["request"]), CTX)
    assert [row.rate for row in ours.lines] == [Decimal("4.50")]
    assert ours.grand_total == Decimal("9.00")


@pytest.mark.parametrize("case", [c for c in DATA["cases"] if c["rejected"]
                                  and not refused_for_the_coupon(c)],
                         ids=lambda c: f"{c['id']} {c['about']}")
def test_a_coupon_rule_that_ties_a_plain_one_is_refused_with_or_without_the_coupon(
        case: dict[str, Any]) -> None:
    with pytest.raises(PricingConflict) as refused:
        price(cart_for(DATA, case["request"]), CTX)
    assert refused.value.message == re.sub(r"</?strong>", "", case["error"]["message"])


@pytest.mark.parametrize("case", [c for c in DATA["cases"] if refused_for_the_coupon(c)],
                         ids=lambda c: f"{c['id']} {c['about']}")
def test_a_coupon_erpnext_refuses_is_refused_at_the_till_in_its_words(
        case: dict[str, Any]) -> None:
    coupon = coupons.find(CTX.coupons, case["coupon"])
    if case["error"]["exc_type"] == "LinkValidationError":  # no such coupon
        assert coupon is None
        return
    assert coupon is not None
    with pytest.raises(CouponError) as refused:
        coupons.check(coupon, on=TODAY, uses=0, customer=WALK_IN, pricing=CTX.pricing)
    assert refused.value.message.startswith(case["error"]["message"])


@pytest.mark.parametrize("case", [c for c in DATA["cases"] if c["coupon"]
                                  and not refused_for_the_coupon(c)
                                  and not c["coupon"].endswith("GIFT")],
                         ids=lambda c: f"{c['id']} {c['about']}")
def test_a_coupon_erpnext_takes_the_till_takes(case: dict[str, Any]) -> None:
    coupon = coupons.find(CTX.coupons, case["coupon"].lower())  # typed in any case
    assert coupon is not None and coupon.name == case["coupon"]
    coupons.check(coupon, on=TODAY, uses=0, customer=case["request"]["customer"],
                  pricing=CTX.pricing)


def test_a_gift_card_is_for_its_customer_only() -> None:
    # ERPNext takes the member's gift card from anyone (coupon-023); the till does not.
    gift = CTX.coupons["PRC-GIFT"]
    assert gift.maximum_use == 1 and gift.gift_card_for == "PR Member"
    coupons.check(gift, on=TODAY, uses=0, customer="PR Member", pricing=CTX.pricing)
    with pytest.raises(CouponError, match="belongs to PR Member"):
        coupons.check(gift, on=TODAY, uses=0, customer=WALK_IN, pricing=CTX.pricing)


@pytest.mark.parametrize("step", DATA["runs"], ids=lambda r: f"{r['id']} {r['about']}")
def test_a_run_of_sales_uses_a_coupon_up_as_erpnext_counts_it(step: dict[str, Any]) -> None:
    coupon = CTX.coupons[step["coupon"]]
    customer = coupon.gift_card_for or WALK_IN
    refusal = step.get("error", {}).get("message", "")
    # What ERPNext counted before the sale, as a store that delivered every earlier one
    # with the coupon knows it.
    uses = Uses(erpnext=step["used_before"], linked=step["used_before"]).total
    if refusal.startswith("Sorry, this coupon code is no longer valid"):
        with pytest.raises(CouponError) as refused:
            coupons.check(coupon, on=TODAY, uses=uses, customer=customer, pricing=CTX.pricing)
        assert refused.value.message.startswith(refusal)
        assert f"used {uses} of {coupon.maximum_use} times" in refused.value.message
    else:
        coupons.check(coupon, on=TODAY, uses=uses, customer=customer, pricing=CTX.pricing)
    assert step["used_after"] == step["used_before"] + (step["status"] == 200)
    if refusal:
        # Sold at the till anyway (cut-off counters, or no maximum use set): ERPNext's
        # words tell the forwarder to send it without the coupon, and it takes it so.
        assert coupons.refused_link(refusal)
        assert step["without_coupon"]["status"] == 200


def test_a_coupon_is_taken_from_its_first_day_to_its_last_only() -> None:
    twice = CTX.coupons["PRC-TWICE"]  # valid for a day or three around the recording's
    assert twice.valid_from is not None and twice.valid_upto is not None
    for day in (twice.valid_from, TODAY, twice.valid_upto):
        coupons.check(twice, on=day, uses=0, customer=WALK_IN, pricing=CTX.pricing)
    for day, words in ((twice.valid_from - timedelta(days=1), "has not started"),
                       (twice.valid_upto + timedelta(days=1), "has expired")):
        with pytest.raises(CouponError, match=words):
            coupons.check(twice, on=day, uses=0, customer=WALK_IN, pricing=CTX.pricing)


def test_a_coupon_for_a_promotion_the_store_lacks_is_refused_naming_it() -> None:
    lost = replace(CTX.coupons["PRC-VIP20"], pricing_rule="PRLE-9999")
    with pytest.raises(CouponError, match="PRLE-9999, which is not active at this store"):
        coupons.check(lost, on=TODAY, uses=0, customer=WALK_IN, pricing=CTX.pricing)
    plain = next(r for r in CTX.pricing.rules if not r.coupon_code_based)
    with pytest.raises(CouponError, match="applies without a coupon"):
        coupons.check(replace(lost, pricing_rule=plain.name), on=TODAY, uses=0,
                      customer=WALK_IN, pricing=CTX.pricing)


@given(erpnext=st.integers(0, 50), linked=st.integers(0, 50), unlinked=st.integers(0, 50),
       pending=st.integers(0, 50), maximum=st.integers(1, 60))
def test_the_store_counts_every_use_once(erpnext: int, linked: int, unlinked: int,
                                         pending: int, maximum: int) -> None:
    # ERPNext's count holds the uses it was sent with the coupon once it is pulled, so
    # those are not counted twice; a use not yet delivered, or delivered without the
    # coupon, ERPNext does not hold, so it always counts. The till refuses the coupon
    # exactly when that count reaches its maximum.
    uses = Uses(erpnext=erpnext, linked=linked, unlinked=unlinked, pending=pending)
    ours = linked + unlinked + pending
    assert max(erpnext, ours) <= uses.total <= erpnext + ours
    assert uses.total - max(erpnext, linked) == unlinked + pending
    coupon = Coupon("C", "C", CTX.coupons["PRC-VIP20"].pricing_rule, maximum_use=maximum)
    if uses.total >= maximum:
        with pytest.raises(CouponError, match="no longer valid"):
            coupons.check(coupon, on=TODAY, uses=uses.total, customer=WALK_IN,
                          pricing=CTX.pricing)
    else:
        coupons.check(coupon, on=TODAY, uses=uses.total, customer=WALK_IN, pricing=CTX.pricing)


@given(qty=st.integers(1, 40), with_coupon=st.booleans())
def test_a_coupon_rule_chosen_without_its_coupon_gives_nothing(qty: int,
                                                               with_coupon: bool) -> None:
    # PR-27: a 20 % coupon rule at priority 5 above a plain 5 % rule. Without the coupon
    # ERPNext charges the list price, never the plain 5 % (coupon-009): the coupon rule
    # was chosen, then dropped. With it: 20 % off, to the cent.
    request = {"customer": WALK_IN, "items": [{"item_code": "PR-27", "qty": qty,
                                               "price_list_rate": 8.4}],
               "coupon_code": "PRC-VIP20" if with_coupon else None}
    row = price(cart_for(DATA, request), CTX).lines[0]
    assert row.rate == (Decimal("6.72") if with_coupon else Decimal("8.40"))
    assert row.amount == row.rate * qty
