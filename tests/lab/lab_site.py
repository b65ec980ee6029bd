"""The lab site the later recordings ran against, rebuilt in a replay's simulator.

The first recorded session (``erpnext-15.71-requests.jsonl``) set POS Lab GmbH's POS up:
its requests 11 to 20 create the warehouse "POS Store - PLG", the LAB- items, the customer
and the POS Profile "Lab POS", and do it here again. The oracle carts
(``totals-cases.json``, ``totals-cases-2.json``) list what was added later, on which they
and the consolidation and v2 recordings rely: the tax and item tax templates and their
accounts, the OR- and O2- items with their UOMs and prices, the POS Profile's settings.
What none shows is supplied as the later recordings show it: O2-MAGIN (the gin valued by
Moving Average of case "C alt2"), the item groups the recorded invoice rows name, and
enough stock, booked before any recorded posting date.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx

from tests.lab.replay import records
from tests.paths import RECORDED, SHARED_ERPNEXT
from tillmesh.lab.erpnext_simulator import Simulator

START = datetime(2026, 11, 1)  # site-local: the site is built here, before every posting
COMPANY, ABBR = "POS Lab GmbH", "PLG"
SETUP = range(11, 21)  # the first session's requests that set the POS up
ORACLES = ("totals-cases.json", "totals-cases-2.json")  # the oracle carts, oldest first
STOCK_QTY = 1000.0  # units of every oracle item in the POS warehouse: more than any sale
WAREHOUSE = "POS Store - PLG"
MAGIN = ("O2-MAGIN", "Dry gin 0.7l (moving average)")  # as the recorded rows name it
CARD = ("Credit Card", "Card Clearing - PLG")  # the lab's second mode of payment, its account
GROUPS = {"O2-MUG": "Household", "O2-GUM": "Food", "O2-CHEESE": "Food",
          "O2-WATER": "Drinks", MAGIN[0]: "Drinks"}  # as the recorded rows show; else Products


def oracles() -> list[dict[str, Any]]:
    return [json.loads((SHARED_ERPNEXT / name).read_text()) for name in ORACLES]


def build(sim: Simulator, client: httpx.Client) -> None:
    """Set the lab site up in ``sim`` (serving; its clock at START) through ``client``."""
    for record in records(RECORDED / "erpnext-15.71-requests.jsonl")[SETUP.start:SETUP.stop]:
        response = client.request(record["method"], record["path"], json=record["body"])
        assert response.status_code == 200, response.text
    found = oracles()
    items = {code: item for oracle in found for code, item in oracle["items"].items()}
    items[MAGIN[0]] = {**items["O2-GIN"], "item_name": MAGIN[1],
                       "valuation_method": "Moving Average"}
    for oracle in found:
        for doctype, doc in _templates(oracle):
            sim.put_doc(doctype, doc)
    for doctype, doc in _items(items):
        sim.put_doc(doctype, doc)
    for code in items:
        sim.set_bin(code, WAREHOUSE, STOCK_QTY)
    sim.put_doc("Account", {"name": CARD[1], "account_name": "Card Clearing",
                            "account_type": "Bank", "company": COMPANY, "root_type": "Asset",
                            "account_currency": "EUR"})
    sim.put_doc("Mode of Payment", {"name": CARD[0], "mode_of_payment": CARD[0],
                                    "type": "Bank", "enabled": 1, "accounts": [
                                        {"company": COMPANY, "default_account": CARD[1]}]})
    set_profile(sim, found[-1])


def set_profile(sim: Simulator, oracle: dict[str, Any]) -> None:
    """The POS Profile's settings as they were when ``oracle``'s carts ran."""
    profile = sim.get("POS Profile", "Lab POS") or {}
    sim.put_doc("POS Profile", {**profile, **oracle["settings"]["pos_profile.Lab POS"]})


def _templates(oracle: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Tax templates, item tax templates, their accounts and UOMs, as an oracle lists them."""
    accounts = {row["account_head"] for rows in oracle["tax_templates"].values()
                for row in rows} | {row["tax_type"] for rows in
                                    oracle["item_tax_templates"].values() for row in rows}
    return [
        *(("Account", {"name": name, "account_name": name.removesuffix(f" - {ABBR}"),
                       "account_type": "Tax", "company": COMPANY, "root_type": "Liability",
                       "account_currency": "EUR"}) for name in sorted(accounts)),
        *(("UOM", {"name": uom, "uom_name": uom, **flags})
          for uom, flags in oracle["uoms"].items()),
        *(("Item Tax Template", {"name": name, "title": name.removesuffix(f" - {ABBR}"),
                                 "company": COMPANY, "taxes": rows})
          for name, rows in oracle["item_tax_templates"].items()),
        *(("Sales Taxes and Charges Template", {
            "name": name, "title": name.removesuffix(f" - {ABBR}"), "company": COMPANY,
            "taxes": [{k: v for k, v in row.items() if k != "idx" and v is not None}
                      for row in rows]})
          for name, rows in oracle["tax_templates"].items()),
    ]


def _items(items: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = [
        ("Item Group", {"name": group, "item_group_name": group,
                        "parent_item_group": "All Item Groups"})
        for group in sorted(set(GROUPS.values()))]
    for code, item in items.items():
        docs.append(("Item", {
            "name": code, "item_code": code, "item_name": item["item_name"],
            "description": item["item_name"], "item_group": GROUPS.get(code, "Products"),
            "stock_uom": item["stock_uom"], "is_stock_item": 1,
            "valuation_method": item.get("valuation_method") or "", "uoms": item["uoms"],
            "taxes": [{"item_tax_template": t["item_tax_template"]} for t in item["taxes"]]}))
        docs += [("Item Price", {"item_code": code, "selling": 1, **price})
                 for price in item["prices"]]
    return docs
