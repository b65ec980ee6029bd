"""ERPNext's fifth charge type, On Item Quantity, through a counter's API.

The counter's POS Profile gets the tax rows of a cart recorded from the lab's ERPNext
(``tests/node/domain/totals-cases-lab.json``, lab-002: a deposit per unit beside 19 % VAT,
10 % off the Grand Total); a shift opens, the cart is built and sold through the API, and
every total is what ERPNext computed for it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.nodekit import MASTER, Till, item, price
from tillmesh.node.api import Node
from tillmesh.node.errors import ConfigError
from tillmesh.node.projections.master_data import upserted_body

LAB = json.loads(
    (Path(__file__).parents[1] / "domain" / "totals-cases-lab.json").read_text(encoding="utf-8")
)
CASE = next(case for case in LAB["cases"] if case["id"] == "lab-002")
TEMPLATE = "Deposit and VAT 19% excl"
PROFILE = next(doc for doctype, doc in MASTER if doctype == "POS Profile")
LATER = "2026-11-02 09:00:00.000000"  # after nodekit's master data


def _item_docs(code: str) -> list[tuple[str, dict[str, Any]]]:
    data = LAB["items"][code]
    stock_uom = data["stock_uom"]
    other_uoms = tuple(
        (u["uom"], u["conversion_factor"]) for u in data["uoms"] if u["uom"] != stock_uom
    )
    template = data["taxes"][0]["item_tax_template"]
    return [
        ("Item", item(code, data["item_name"], uom=stock_uom, tax=template, uoms=other_uoms)),
        *(("Item Price", price(code, str(p["price_list_rate"]), p["uom"])) for p in data["prices"]),
    ]


def _seed(node: Node, rows: list[dict[str, Any]]) -> None:
    """The lab's items and item tax templates, and a profile taxed by ``rows``."""
    docs = [doc for line in CASE["request"]["items"] for doc in _item_docs(line["item_code"])]
    docs += [("Item Tax Template", {"name": name, "taxes": taxes})
             for name, taxes in LAB["item_tax_templates"].items()]
    docs += [
        ("Sales Taxes and Charges Template",
         {"name": TEMPLATE, "taxes": [{**row, "idx": i} for i, row in enumerate(rows, 1)]}),
        ("POS Profile", {**PROFILE, "taxes_and_charges": TEMPLATE}),
    ]
    with node.log.transaction() as tx:
        for doctype, doc in docs:
            tx.append("master.upserted", upserted_body(doctype, doc, LATER))


def test_a_deposit_per_unit_is_sold_as_erpnext_computes_it(node: Node) -> None:
    _seed(node, CASE["request"]["taxes"])
    ann = Till(node, "ann")
    ann("shift_open", opening={"Cash": "100.00", "Card": "0"})
    cart = ann("cart_new")["cart_id"]
    for line in CASE["request"]["items"]:
        ann("cart_add", cart_id=cart, item_code=line["item_code"], qty=str(line["qty"]),
            uom=line.get("uom"))
    view = ann("cart_discount", cart_id=cart,
               percent=str(CASE["request"]["additional_discount_percentage"]))

    erpnext = CASE["result"]
    for name in ("total", "net_total", "total_taxes_and_charges", "discount_amount",
                 "grand_total", "rounded_total"):
        assert Decimal(view["totals"][name]) == Decimal(str(erpnext[name])), name
    for ours, theirs in zip(view["taxes"], erpnext["taxes"], strict=True):
        assert ours["charge_type"] == theirs["charge_type"]
        for name in ("tax_amount", "tax_amount_after_discount_amount", "total"):
            assert Decimal(ours[name]) == Decimal(str(theirs[name])), name
    for ours, theirs in zip(view["lines"], erpnext["items"], strict=True):
        assert Decimal(ours["net_amount"]) == Decimal(str(theirs["net_amount"]))

    due = view["due"]
    assert Decimal(due) == Decimal(str(CASE["request"]["paid_amount"]))  # what ERPNext wanted
    sale = ann("sale_submit", cart_id=cart, payments=[{"mode_of_payment": "Cash", "amount": due}])
    assert sale["change"] == "0.00"
    booked = ann("invoice_get", invoice=sale["invoice"])
    assert booked["taxes"][1]["charge_type"] == "On Item Quantity"
    assert booked["totals"]["grand_total"] == due


def test_a_charge_type_the_counter_cannot_price_names_its_template(node: Node) -> None:
    _seed(node, [{"charge_type": "On Paid Amount", "account_head": "X", "rate": 1}])
    ann = Till(node, "ann")
    with pytest.raises(ConfigError, match=f"Template '{TEMPLATE}' row 1"):
        ann("shift_open", opening={"Cash": "100.00"})
