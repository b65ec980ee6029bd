"""Pricing Rules priced offline as a real ERPNext 15 prices them: every cart of
``tests/lab/recorded/pricing-cases.json`` (recorded by ``record_pricing.py`` on the lab,
ERPNext 15.71.1), each row's rules, list price, discount, margin and rate, and the cart's
grand total, to the cent, also as ERPNext books the cart a counter forwards; a tie
between two rules, and a cart a rule takes below zero, refused as ERPNext refuses them."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.node.domain import recorded_store
from tests.node.domain.recorded_store import (
    WALK_IN,
    ancestors,
    assert_priced_as_recorded,
    dec,
    load,
    taxes,
)
from tillmesh.node.domain.cart import Cart as CounterCart
from tillmesh.node.domain.pos_context import PosContext
from tillmesh.node.domain.pricing_rules import (
    Line,
    Priced,
    PricingConflict,
    PricingRule,
    Selling,
    price_line,
)
from tillmesh.node.domain.sale import price
from tillmesh.node.domain.totals import (
    Cart,
    CartLine,
    compute_totals,
)
from tillmesh.node.errors import TillmeshError, TotalsError

DATA = load("pricing-cases.json")
RULES = [PricingRule.from_doc(doc) for doc in DATA["rules"]]


def selling_for(request: dict[str, Any]) -> Selling:
    customer = request["customer"]
    return Selling(company=DATA["company"], price_list=DATA["price_list"],
                   currency=DATA["currency"], on=date.fromisoformat(DATA["recorded_on"]),
                   customer=customer,
                   customer_groups=ancestors(DATA["customer_groups"],
                                             DATA["customers"][customer],
                                             "All Customer Groups"),
                   warehouses=(DATA["warehouse"],))


def line_for(row: dict[str, Any]) -> Line:
    group, brand, _, uoms = DATA["items"][row["item_code"]]
    uom = row.get("uom") or "Nos"
    return Line(item_code=row["item_code"], qty=dec(row["qty"]), uom=uom,
                conversion_factor=dec(uoms[uom][0]) if uom != "Nos" else Decimal(1),
                price_list_rate=dec(row["price_list_rate"]),
                item_groups=ancestors(DATA["item_groups"], group, "All Item Groups"),
                brand=brand or "")


def cart_line(line: Line, priced: Priced) -> CartLine:
    """The row a counter sends: a rule's amount off sets the rate, as ERPNext's
    ``get_item_details`` does; a percentage leaves it to the totals."""
    rate = None
    if priced.discount_amount and not priced.discount_percentage:
        rate = priced.price_list_rate - priced.discount_amount
    return CartLine(item_code=line.item_code, qty=line.qty, uom=line.uom,
                    conversion_factor=line.conversion_factor,
                    price_list_rate=priced.price_list_rate, rate=rate,
                    discount_percentage=priced.discount_percentage,
                    discount_amount=priced.discount_amount,
                    pricing_rules=priced.pricing_rules, margin_type=priced.margin_type,
                    margin_rate_or_amount=priced.margin_rate_or_amount)


def context() -> PosContext:
    return recorded_store.context(DATA)


def cart_for(request: dict[str, Any]) -> CounterCart:
    return recorded_store.cart_for(DATA, request)


def below_zero(case: dict[str, Any]) -> bool:
    """A cart ERPNext took as a POS Invoice with a row below zero, whose consolidation
    then fails ('For item PR-15, rate must be a positive number', seen on the lab by
    ``tests/node/erpnext/test_contract_pricing.py``)."""
    return not case["rejected"] and any(dec(row["rate"]) < 0 for row in case["result"]["items"])


@pytest.mark.parametrize("case", [c for c in DATA["cases"] if not c["rejected"]
                                  and not below_zero(c)],
                         ids=lambda c: f"{c['id']} {c['about']}")
def test_a_cart_is_priced_as_erpnext_priced_it(case: dict[str, Any]) -> None:
    # The counter's own pricing of a cart (sale.price: the rules, the free items, the
    # totals) against ERPNext's draft of the same cart, row by row.
    assert_priced_as_recorded(price(cart_for(case["request"]), context()), case)
    # ...and every amount as ERPNext booked the forwarded cart.
    result = price(cart_for(case["request"]), context())
    assert [dec(amount) for amount in case["forwarded"]["amounts"]] == [
        row.amount for row in result.lines]


@pytest.mark.parametrize("case", [c for c in DATA["cases"] if c["rejected"]],
                         ids=lambda c: f"{c['id']} {c['about']}")
def test_a_cart_erpnext_refused_is_refused_with_its_message(case: dict[str, Any]) -> None:
    # Two rules that tie; a rule's amount off that takes the whole cart below zero; a
    # free quantity that is a fraction of a whole-number UOM.
    with pytest.raises(TillmeshError) as refused:
        price(cart_for(case["request"]), context())
    theirs = re.sub(r"</?strong>", "", case["error"]["message"])
    # A line below zero is refused before the cart's total is (NEGATIVE_RATE).
    assert refused.value.message == theirs or (
        "takes its price below zero" in refused.value.message)
    expected = PricingConflict if case["error"]["exc_type"] == "MultiplePricingRuleConflict" \
        else TotalsError
    assert isinstance(refused.value, expected)


@given(qty=st.integers(min_value=1, max_value=500),
       list_rate=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(999), places=2))
def test_a_discount_rule_never_prices_above_the_list(qty: int, list_rate: Decimal) -> None:
    # Every discount rule of the recording on any quantity and list price (but PR-11's tie
    # and PR-12's margin): the rate is the list price (a rule's own rate for PR-03) less
    # what the rules take off, to the cent; below zero only by a rule's amount off, and
    # then the line is refused, as ERPNext's consolidation would refuse it.
    selling = selling_for({"customer": "Walk-in Customer"})
    for code in DATA["items"]:
        if code in ("PR-11", "PR-12"):
            continue
        line = line_for({"item_code": code, "qty": qty, "price_list_rate": str(list_rate)})
        priced = price_line(RULES, line, selling)
        off = (priced.price_list_rate * priced.discount_percentage / 100
               if priced.discount_percentage else priced.discount_amount)
        try:
            row = compute_totals(Cart(lines=(cart_line(line, priced),))).lines[0]
        except TotalsError as refused:
            assert refused.message.startswith(f"{code}: Pricing Rule ") and (
                priced.discount_amount > list_rate)
            continue
        assert row.rate <= priced.price_list_rate, code
        if off == priced.price_list_rate and not priced.discount_percentage:
            # ERPNext's own: a rate of 0 is "no rate", so the list price is charged
            # (recorded: "amount off equal to the list price").
            assert row.rate == priced.price_list_rate, code
            continue
        assert abs(row.rate - (priced.price_list_rate - off)) <= Decimal("0.005"), code


@pytest.mark.parametrize("case", [c for c in DATA["cases"] if below_zero(c)],
                         ids=lambda c: f"{c['id']} {c['about']}")
def test_a_rule_that_takes_a_line_below_zero_is_refused_naming_it(case: dict[str, Any]) -> None:
    selling = selling_for(case["request"])
    lines = [line_for(row) for row in case["request"]["items"]]
    priced = [price_line(RULES, line, selling) for line in lines]
    with pytest.raises(TotalsError, match=r"PR-15: Pricing Rule \S+ takes its price below zero"):
        compute_totals(Cart(lines=tuple(cart_line(li, p) for li, p in zip(
            lines, priced, strict=True)), taxes=taxes(DATA)))


@given(bought=st.integers(min_value=1, max_value=200), over=st.integers(min_value=0, max_value=5),
       every=st.integers(min_value=1, max_value=12), each=st.integers(min_value=1, max_value=3),
       rounded=st.booleans(), rate=st.sampled_from([Decimal(0), Decimal("0.50")]))
def test_a_free_item_rule_gives_so_many_per_so_many_bought(
        bought: int, over: int, every: int, each: int, rounded: bool, rate: Decimal) -> None:
    # get_product_discount_rule: a recursive rule gives `each` per `every` bought past
    # `over` (whole multiples only when rounded); the free row is charged at the rule's
    # rate and the bought line keeps its price.
    rule = PricingRule(name="PRLE-9", title="free", apply_on="Item Code",
                       targets=(("X", ""),), price_or_product_discount="Product",
                       selling=True, same_item=True, is_recursive=True,
                       recurse_for=Decimal(every), free_qty=Decimal(each),
                       apply_recursion_over=Decimal(over), round_free_qty=rounded,
                       min_qty=Decimal(over + 1), free_item_rate=rate)
    line = Line(item_code="X", qty=Decimal(bought), uom="Nos", conversion_factor=Decimal(1),
                price_list_rate=Decimal("2.10"))
    priced = price_line([rule], line, selling_for({"customer": WALK_IN}))
    if bought < over + 1:
        assert priced == Priced(Decimal("2.10"))
        return
    past = Decimal(bought - over)
    expected = (past // every) * each if rounded else past * each / every
    assert [(f.item_code, f.qty, f.rate) for f in priced.free] == (
        [("X", expected, rate)] if expected else [])
    assert (priced.price_list_rate, priced.discount_percentage, priced.rate) == (
        Decimal("2.10"), 0, None)
