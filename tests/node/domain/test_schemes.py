"""Promotional Schemes priced offline as a real ERPNext 15 prices them: ERPNext makes a
Pricing Rule of every slab of a scheme (``tests/lab/recorded/scheme-cases.json``,
recorded by ``record_schemes.py`` on the lab, ERPNext 15.71.1: a volume discount in three
slabs, a buy-three-get-one, a members' price), and every cart rung up under them is
priced by the counter, from those rules alone, as ERPNext priced it, to the cent, and
booked so when forwarded; the promotion a line shows is the scheme's name."""

from __future__ import annotations

from typing import Any

import pytest

from tests.node.domain.recorded_store import (
    assert_priced_as_recorded,
    cart_for,
    context,
    load,
)
from tillmesh.node.domain.sale import price

DATA = load("scheme-cases.json")
CTX = context(DATA)


def test_every_slab_is_a_rule_the_counter_applies_titled_after_its_scheme() -> None:
    schemes = {doc["name"] for doc in DATA["schemes"]}
    assert len(DATA["rules"]) == 5  # 3 slabs + 1 slab + 1 slab for one customer group
    assert {r.title for r in CTX.pricing.rules} == schemes
    assert CTX.pricing.beyond == ()


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: f"{c['id']} {c['about']}")
def test_a_cart_under_promotional_schemes_is_priced_as_erpnext_priced_it(
        case: dict[str, Any]) -> None:
    result = price(cart_for(DATA, case["request"]), CTX)
    assert_priced_as_recorded(result, case)
    for row in result.lines:  # what the cashier and the receipt read
        assert set(CTX.pricing.titles(row.pricing_rules)) <= {d["name"]
                                                               for d in DATA["schemes"]}
