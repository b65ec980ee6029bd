"""Pricing a big cart under the store's Pricing Rules (issue 15): a 30-line cart priced
whole (rules chosen for every line, then ERPNext's totals) under 20 active rules, next
to the same cart in a store without rules, in the same run. Pure: no store, no API.

Each pricing is of a new cart value (the node keeps the last pricing of a cart it has
seen, ``sale.price``), as after every scan.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date
from decimal import Decimal

from tests.bench.table import Latency, Row
from tillmesh.node.domain.cart import Cart, Line
from tillmesh.node.domain.pos_context import Mode, PosContext
from tillmesh.node.domain.pricing_rules import PricingRule, StorePricing
from tillmesh.node.domain.sale import price
from tillmesh.node.domain.totals import ChargeType, TaxRow, TotalsSettings

LINES, RULES = 30, 20
GROUPS = {"Drinks": "All Item Groups", "Juice": "Drinks", "Snacks": "All Item Groups",
          "All Item Groups": ""}


def rules() -> tuple[PricingRule, ...]:
    """Twenty rules of the kinds stores run: on items, groups in a tree and brands, with
    quantity breaks and priorities, stacking, a special rate and a member group's."""
    made = []
    for n in range(RULES):
        kind = n % 5
        apply_on, target = (("Item Code", f"B-{n:02d}"), ("Item Group", "Juice"),
                            ("Brand", "Brand B"), ("Item Code", f"B-{n:02d}"),
                            ("Item Code", f"B-{n:02d}"))[kind]
        made.append(PricingRule(
            name=f"PRLE-{n:04d}", title=f"Rule {n}", apply_on=apply_on,
            targets=((target, ""),), selling=True,
            rate_or_discount="Rate" if kind == 4 else "Discount Percentage",
            rate=Decimal("0.79"), discount_percentage=Decimal(5 + n % 4),
            apply_multiple=kind == 3, priority=str(1 + n), min_qty=Decimal(n % 3),
            customer_group="Members" if n == 7 else "", currency="EUR"))
    return tuple(made)


def on_the_whole_sale() -> tuple[PricingRule, ...]:
    """Three rules on the transaction, all met by the bench cart: the last one wins."""
    return tuple(PricingRule(
        name=f"PRLE-9{n:03d}", title=f"Basket {n}", apply_on="Transaction", targets=(),
        selling=True, rate_or_discount="Discount Percentage" if n != 1 else "Discount Amount",
        discount_percentage=Decimal(5 + n), discount_amount=Decimal(2),
        min_amt=Decimal(50 * n), min_qty=Decimal(n), apply_discount_on="Grand Total",
        currency="EUR") for n in range(3))


def context(pricing: StorePricing) -> PosContext:
    taxes = (TaxRow(charge_type=ChargeType.ON_NET_TOTAL, account_head="VAT 19%",
                    description="VAT 19%", rate=Decimal(19), included_in_print_rate=True),)
    return PosContext(profile="Bench", company="Bench GmbH", warehouse="Store", price_list="Std",
                      currency="EUR", customer="Walk-in", taxes_and_charges="VAT",
                      taxes=taxes, modes={"Cash": Mode("Cash", "Cash", None)},
                      allow_partial_payment=False, apply_discount_on="Grand Total",
                      settings=TotalsSettings(), pricing=pricing, today=date(2026, 12, 4))


def cart() -> Cart:
    lines = tuple(Line(item_code=f"B-{n:02d}", item_name=f"Bench item {n}",
                       qty=Decimal(1 + n % 4), uom="Nos", stock_uom="Nos",
                       conversion_factor=Decimal(1),
                       price_list_rate=Decimal("1.99") + Decimal(n) / 10,
                       item_group=("Juice", "Drinks", "Snacks")[n % 3],
                       brand="Brand B" if n % 7 == 0 else "")
                  for n in range(LINES))
    return Cart(cart_id="bench", cashier="ann", customer="Walk-in", lines=lines,
                customer_group="Members")


def _timed(base: Cart, ctx: PosContext, calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        fresh = replace(base)  # a new value: not the node's last pricing of it
        start = time.perf_counter()
        price(fresh, ctx)
        samples.append(time.perf_counter() - start)
    return samples


def run(rows: list[Row], runs: int, calls: int = 2000) -> None:
    base = cart()
    pricing = StorePricing.of(rules(), item_groups=GROUPS, customer_groups={},
                              territories={})
    with_rules, without = context(pricing), context(StorePricing())
    assert any(line.pricing_rules for line in price(base, with_rules).lines)
    ruled = Latency([_timed(base, with_rules, calls) for _ in range(runs)])
    plain = Latency([_timed(base, without, calls) for _ in range(runs)])
    rows.append(ruled.row(f"price a {LINES}-line cart, {RULES} Pricing Rules",
                          plain.median_ms, "no rules", "p99 < 2 ms"))
    rows.append(Row("price the same cart, no rules", plain.samples(), plain.figure(), "",
                    plain.spread()))
    mixed = context(StorePricing.of(rules()[:RULES - 3] + on_the_whole_sale(),
                                    item_groups=GROUPS, customer_groups={}, territories={}))
    assert price(base, mixed).invoice_pricing_rules == ("PRLE-9002",)
    whole = Latency([_timed(base, mixed, calls) for _ in range(runs)])
    rows.append(whole.row(f"price it, {RULES} rules of which 3 on the whole sale",
                          plain.median_ms, "no rules", "p99 < 2 ms"))
