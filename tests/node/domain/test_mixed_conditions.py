"""Pricing Rules with mixed conditions priced offline as a real ERPNext 15 prices them:
a break judged on all the cart's lines of the rule's items, groups or brand together
("any 4 of these"). Every cart of ``tests/lab/recorded/mixed-cases.json`` (recorded by
``record_mixed.py`` on the lab, ERPNext 15.71.1: 96 carts under 8 such rules, on items,
a group, a brand, with quantity and amount breaks, a Box UOM, a special rate and a free
item) is priced by the counter as ERPNext priced it, to the cent, and booked so when
forwarded; and the sums are a property of the cart, whatever the order of its lines."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.node.domain.recorded_store import (
    assert_priced_as_recorded,
    cart_for,
    context,
    load,
)
from tillmesh.node.domain.sale import price

DATA = load("mixed-cases.json")
CTX = context(DATA)


def test_every_mixed_rule_is_one_the_counter_applies() -> None:
    assert len(CTX.pricing.rules) == len(DATA["rules"]) == 8
    assert all(rule.mixed for rule in CTX.pricing.rules) and CTX.pricing.beyond == ()


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: f"{c['id']} {c['about']}")
def test_a_cart_under_mixed_conditions_is_priced_as_erpnext_priced_it(
        case: dict[str, Any]) -> None:
    assert_priced_as_recorded(price(cart_for(DATA, case["request"]), CTX), case)


def test_most_carts_meet_a_break_only_together() -> None:
    # the rule applied to a line whose own quantity and amount are below its break
    together = 0
    for case in DATA["cases"]:
        for row in case["result"]["items"]:
            rules = [r for r in DATA["rules"] if r["name"] in (row["pricing_rules"] or "")]
            if rules and not row["is_free_item"] and rules[0]["min_qty"] > row["stock_qty"]:
                together += 1
    assert together >= 20


@given(st.randoms(use_true_random=False))
def test_the_order_of_the_lines_does_not_change_what_they_cost_together(rnd: Any) -> None:
    case = rnd.choice(DATA["cases"])
    cart = cart_for(DATA, case["request"])
    lines = list(cart.lines)
    rnd.shuffle(lines)
    mine, theirs = price(cart, CTX), price(replace(cart, lines=tuple(lines)), CTX)
    assert mine.grand_total == theirs.grand_total
    assert sorted((r.item_code, r.qty, r.rate) for r in mine.lines) == sorted(
        (r.item_code, r.qty, r.rate) for r in theirs.lines)
    assert sum((r.amount for r in mine.lines), Decimal(0)) == mine.total
