"""Contract test of Pricing Rules with mixed conditions (issue 15): the store of
``tests/lab/recorded/mixed_store.py`` (rules judged on the cart's lines of their items,
group or brand together) on the simulator always, and on a real ERPNext 15 when
TILLMESH_ERPNEXT_* is set. A counter pulls the rules, rings up every recorded cart, is
priced as ERPNext priced it (``mixed-cases.json``), sells, closes and forwards; ERPNext
books every sale at the counter's rates and totals and consolidates it."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.lab.recorded.mixed_store import ALL_CARTS, rules
from tests.node.domain.recorded_store import load
from tests.node.erpnext.sitekit import Site, close, context, drain, pulled_counter, site_with_rules
from tests.node.erpnext.test_contract_pricing import sell_as_recorded
from tests.nodekit import Till

D = Decimal
RECORDED = load("mixed-cases.json")["cases"]


@pytest.fixture(scope="module", params=["simulator", "simulator-16", "simulator-16-si",
                                                 "erpnext"])
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    with site_with_rules(request.param, lambda company, _: rules(company)) as opened:
        yield opened


def test_mixed_conditions_are_priced_booked_and_consolidated_as_the_counter_priced(
        site: Site, tmp_path: Path) -> None:
    counter = pulled_counter(site, tmp_path)
    ctx = context(counter)
    assert sum(rule.mixed for rule in ctx.pricing.rules) == len(rules("")), ctx.pricing.beyond
    ann = Till(counter, "ann")
    shift = ann("shift_open", opening={ctx.cash_mode: "100.00"})["shift"]
    sales: list[dict[str, Any]] = []
    for (about, customer, cart), case in zip(ALL_CARTS, RECORDED, strict=True):
        sales.append(sell_as_recorded(ann, ctx.cash_mode, customer, cart, case, about))
    close(ann, shift)
    drain(site.forwarder(counter))
    for sale in sales:
        booked = site.sale(sale["invoice"])
        assert (site.closed(booked), D(str(booked["grand_total"]))) == (
            True, D(sale["totals"]["grand_total"])), sale["invoice"]
        assert [(row["item_code"], D(str(row["rate"]))) for row in booked["items"]] == [
            (line["item_code"], D(line["rate"])) for line in sale["lines"]], sale["invoice"]
