"""A counter's view of a store recorded on the lab's ERPNext (``tests/lab/recorded``:
``pricing-cases.json``, ``coupon-cases.json``): its context, its carts, and the check
that a cart the counter priced matches ERPNext's answer row by row, to the cent."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from tillmesh.node.domain.cart import Cart as CounterCart
from tillmesh.node.domain.cart import Line as CounterLine
from tillmesh.node.domain.coupons import Coupon
from tillmesh.node.domain.pos_context import Mode, PosContext
from tillmesh.node.domain.pricing_rules import ItemDetails, PricingRule, StorePricing
from tillmesh.node.domain.totals import ChargeType, InvoiceTotals, TaxRow, TotalsSettings

RECORDED = Path(__file__).parents[2] / "lab" / "recorded"
WALK_IN = "Walk-in Customer"
WHOLE = frozenset({"Nos", "Box"})  # the lab's UOMs that must be whole numbers


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((RECORDED / name).read_text()))


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


def ancestors(tree: dict[str, str], node: str | None, root: str) -> tuple[str, ...]:
    chain = []
    while node:
        chain.append(node)
        node = tree.get(node)
    return (*chain, root) if root not in chain else tuple(chain)


def taxes(data: dict[str, Any]) -> tuple[TaxRow, ...]:
    return tuple(TaxRow(charge_type=ChargeType(t["charge_type"]), account_head=t["account_head"],
                        description=t.get("description") or t["account_head"],
                        rate=dec(t["rate"]), included_in_print_rate=bool(
                            t["included_in_print_rate"])) for t in data["taxes"]["taxes"])


def rules_named(recorded: str | None) -> tuple[str, ...]:
    """A row's ``pricing_rules``: a JSON list, or one name on a free item's row."""
    if not recorded:
        return ()
    return tuple(json.loads(recorded)) if recorded.startswith("[") else (recorded,)


def context(data: dict[str, Any]) -> PosContext:
    """The lab's POS Profile as a counter holds it, with the recorded store's rules and
    coupons."""
    groups = {**data["item_groups"], "All Item Groups": ""}
    free_items = {code: ItemDetails(f"Pricing {code}", "Nos", {"Nos": Decimal(1), **{
        uom: dec(factor) for uom, (factor, _) in uoms.items()}}, whole=WHOLE)
        for code, (_, _, _, uoms) in data["items"].items()}
    return PosContext(
        profile="Lab POS", company=data["company"], warehouse=data["warehouse"],
        price_list=data["price_list"], currency=data["currency"], customer=WALK_IN,
        taxes_and_charges=data["taxes"]["name"], taxes=taxes(data),
        modes={"Cash": Mode("Cash", "Cash", None)}, allow_partial_payment=False,
        apply_discount_on="Grand Total", settings=TotalsSettings(),
        pricing=StorePricing.of([PricingRule.from_doc(doc) for doc in data["rules"]],
                                item_groups=groups, customer_groups=data["customer_groups"],
                                territories={}, free_items=free_items),
        today=date.fromisoformat(data["recorded_on"]),
        coupons={doc["name"]: Coupon.from_doc(doc) for doc in data.get("coupons", ())})


def cart_for(data: dict[str, Any], request: dict[str, Any]) -> CounterCart:
    """The recorded cart as a counter holds it, line for line (a counter merges repeat
    scans of an item; these lines are as recorded), with the coupon it names."""
    lines = []
    for row in request["items"]:
        group, brand, _, uoms = data["items"][row["item_code"]]
        uom = row.get("uom") or "Nos"
        lines.append(CounterLine(
            item_code=row["item_code"], item_name=f"Pricing {row['item_code']}",
            qty=dec(row["qty"]), uom=uom, stock_uom="Nos", whole_number=uom in WHOLE,
            stock_whole_number=True,
            conversion_factor=dec(uoms[uom][0]) if uom != "Nos" else Decimal(1),
            price_list_rate=dec(row["price_list_rate"]), item_group=group, brand=brand or ""))
    customer = request["customer"]
    return CounterCart(cart_id="case", cashier="ann", customer=customer, lines=tuple(lines),
                       customer_group=data["customers"][customer] or "",
                       coupon=request.get("coupon_code") or "")


def assert_priced_as_recorded(result: InvoiceTotals, case: dict[str, Any]) -> None:
    """The counter's pricing of a cart against ERPNext's draft of it, row by row, and
    against ERPNext's booking of the cart as a counter forwards it."""
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
    assert [round(dec(rate), 2) for rate in forwarded["rates"]] == [
        row.rate for row in result.lines]
