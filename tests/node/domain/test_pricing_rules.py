"""Pricing Rules priced offline as a real ERPNext 15 prices them: every cart of
``tests/lab/recorded/pricing-cases.json`` (recorded by ``record_pricing.py`` on the lab,
ERPNext 15.71.1), each row's rules, list price, discount, margin and rate, and the cart's
grand total, to the cent, also as ERPNext books the cart a counter forwards; a tie
between two rules, and a cart a rule takes below zero, refused as ERPNext refuses them."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillmesh.node.domain.cart import Cart as CounterCart
from tillmesh.node.domain.cart import Line as CounterLine
from tillmesh.node.domain.pos_context import Mode, PosContext
from tillmesh.node.domain.pricing_rules import (
    ItemDetails,
    Line,
    Priced,
    PricingConflict,
    PricingRule,
    Selling,
    StorePricing,
    price_line,
)
from tillmesh.node.domain.sale import price
from tillmesh.node.domain.totals import (
    Cart,
    CartLine,
    ChargeType,
    TaxRow,
    TotalsSettings,
    compute_totals,
)
from tillmesh.node.errors import TillmeshError, TotalsError

CASES = Path(__file__).parents[2] / "lab" / "recorded" / "pricing-cases.json"
DATA: dict[str, Any] = json.loads(CASES.read_text())
RULES = [PricingRule.from_doc(doc) for doc in DATA["rules"]]
WALK_IN = "Walk-in Customer"
WHOLE = frozenset({"Nos", "Box"})  # the lab's UOMs that must be whole numbers


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


def ancestors(tree: dict[str, str], node: str | None, root: str) -> tuple[str, ...]:
    chain = []
    while node:
        chain.append(node)
        node = tree.get(node)
    return (*chain, root) if root not in chain else tuple(chain)


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


def taxes() -> tuple[TaxRow, ...]:
    return tuple(TaxRow(charge_type=ChargeType(t["charge_type"]), account_head=t["account_head"],
                        description=t.get("description") or t["account_head"],
                        rate=dec(t["rate"]), included_in_print_rate=bool(
                            t["included_in_print_rate"])) for t in DATA["taxes"]["taxes"])


def rules_named(recorded: str | None) -> tuple[str, ...]:
    """A row's ``pricing_rules``: a JSON list, or one name on a free item's row."""
    if not recorded:
        return ()
    return tuple(json.loads(recorded)) if recorded.startswith("[") else (recorded,)


def context() -> PosContext:
    """The lab's POS Profile as a counter holds it, with the recorded store's rules."""
    groups = {**DATA["item_groups"], "All Item Groups": ""}
    free_items = {code: ItemDetails(f"Pricing {code}", "Nos", {"Nos": Decimal(1), **{
        uom: dec(factor) for uom, (factor, _) in uoms.items()}}, whole=WHOLE)
        for code, (_, _, _, uoms) in DATA["items"].items()}
    return PosContext(
        profile="Lab POS", company=DATA["company"], warehouse=DATA["warehouse"],
        price_list=DATA["price_list"], currency=DATA["currency"], customer=WALK_IN,
        taxes_and_charges=DATA["taxes"]["name"], taxes=taxes(),
        modes={"Cash": Mode("Cash", "Cash", None)}, allow_partial_payment=False,
        apply_discount_on="Grand Total", settings=TotalsSettings(),
        pricing=StorePricing.of(RULES, item_groups=groups,
                                customer_groups=DATA["customer_groups"], territories={},
                                free_items=free_items),
        today=date.fromisoformat(DATA["recorded_on"]))


def cart_for(request: dict[str, Any]) -> CounterCart:
    """The recorded cart as a counter holds it, line for line (a counter merges repeat
    scans of an item; these lines are as recorded)."""
    lines = []
    for row in request["items"]:
        group, brand, _, uoms = DATA["items"][row["item_code"]]
        uom = row.get("uom") or "Nos"
        lines.append(CounterLine(
            item_code=row["item_code"], item_name=f"Pricing {row['item_code']}",
            qty=dec(row["qty"]), uom=uom, stock_uom="Nos", whole_number=uom in WHOLE,
            stock_whole_number=True,
            conversion_factor=dec(uoms[uom][0]) if uom != "Nos" else Decimal(1),
            price_list_rate=dec(row["price_list_rate"]), item_group=group, brand=brand or ""))
    customer = request["customer"]
    return CounterCart(cart_id="case", cashier="ann", customer=customer, lines=tuple(lines),
                       customer_group=DATA["customers"][customer] or "")


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
    result = price(cart_for(case["request"]), context())
    recorded = case["result"]["items"]
    assert len(result.lines) == len(recorded)
    for row, theirs in zip(result.lines, recorded, strict=True):
        assert row.item_code == theirs["item_code"]
        assert row.is_free_item == bool(theirs["is_free_item"])
        assert row.pricing_rules == rules_named(theirs["pricing_rules"])
        assert (row.qty, row.uom) == (dec(theirs["qty"]), theirs["uom"])
        assert row.price_list_rate == dec(theirs["price_list_rate"])
        assert round(row.discount_percentage, 3) == round(dec(theirs["discount_percentage"]), 3)
        assert (row.margin_type or None) == (theirs["margin_type"] or None)
        assert row.margin_rate_or_amount == dec(theirs["margin_rate_or_amount"])
        assert row.rate == round(dec(theirs["rate"]), 2)
        assert row.amount == dec(theirs["amount"])
    assert result.grand_total == dec(case["result"]["grand_total"])
    # The cart sent as a counter forwards it (rows as priced, the rules not named, the
    # invoice ignore_pricing_rule): ERPNext books the same rows and total.
    forwarded = case["forwarded"]
    assert dec(forwarded["grand_total"]) == result.grand_total
    assert [(round(dec(rate), 2), dec(amount)) for rate, amount in zip(
        forwarded["rates"], forwarded["amounts"], strict=True)] == [
        (row.rate, row.amount) for row in result.lines]


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
            lines, priced, strict=True)), taxes=taxes()))


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
