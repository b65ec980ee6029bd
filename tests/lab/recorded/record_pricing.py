"""Record how a real ERPNext 15 prices POS carts under Pricing Rules (issue 15): the
oracle the counter's offline pricing is held to, to the cent.

Run by hand against a lab ERPNext (never by pytest: it writes to that site)::

    source /work/erpnext-lab/env.sh   # TILLMESH_ERPNEXT_URL, _KEY, _SECRET
    cd tests/lab/recorded && ../../../.venv/bin/python record_pricing.py > pricing-cases.json

It needs the lab's POS Profile "Lab POS" (``tools/erpnext-lab``). It makes, once, what
the rules need (item groups in a tree, brands, a customer group and a member, items
``PR-01``... with prices and stock, a Box UOM) and the Pricing Rules of ``RULES`` (disabled
again at the end, so other recordings on the site are not priced by them). Each cart is
posted as a draft POS Invoice with item codes, quantities, UOMs and list prices (what a
counter knows before any rule; without the list price ERPNext judges amount breaks on 0,
as a first recording showed), during a shift opened for it; ERPNext's answer (every row's
pricing fields and the totals) or its refusal is the case. The output holds the rules as
ERPNext stores them, the items, and the cases.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date, timedelta
from typing import Any

import httpx

URL = os.environ["TILLMESH_ERPNEXT_URL"]
TOKEN = f"token {os.environ['TILLMESH_ERPNEXT_KEY']}:{os.environ['TILLMESH_ERPNEXT_SECRET']}"
PROFILE, COMPANY, ABBR = "Lab POS", "POS Lab GmbH", "PLG"
WAREHOUSE = f"POS Store - {ABBR}"
PRICE_LIST = "Standard Selling"
V1 = "/api/resource/"
TRACEBACK_LINES = 3
TODAY = date.today()

GROUPS = {"PR Drinks": "All Item Groups", "PR Juice": "PR Drinks", "PR Snacks": "All Item Groups"}
BRANDS = ("PR Brand A", "PR Brand B")
MEMBERS, MEMBER = "PR Members", "PR Member"
# item -> (item group, brand, price per Nos, {uom: (factor, price or None)})
ITEMS: dict[str, tuple[str, str | None, float, dict[str, tuple[float, float | None]]]] = {
    "PR-01": ("PR Drinks", None, 2.49, {}),
    "PR-02": ("PR Drinks", None, 3.19, {}),
    "PR-03": ("PR Drinks", None, 0.89, {"Box": (6, 4.99)}),
    "PR-04": ("PR Juice", None, 1.79, {}),
    "PR-05": ("PR Snacks", "PR Brand B", 1.29, {}),
    "PR-06": ("PR Snacks", None, 0.99, {}),
    "PR-07": ("PR Snacks", None, 4.44, {}),
    "PR-08": ("PR Snacks", None, 5.95, {}),
    "PR-09": ("PR Snacks", None, 7.77, {}),
    "PR-10": ("PR Snacks", None, 9.99, {}),
    "PR-11": ("PR Snacks", None, 1.11, {}),
    "PR-12": ("PR Snacks", None, 12.34, {}),
    "PR-13": ("PR Snacks", "PR Brand A", 2.22, {"Box": (12, None)}),
    "PR-14": ("PR Juice", "PR Brand B", 3.33, {}),
    "PR-15": ("PR Snacks", None, 0.30, {}),
    "PR-16": ("PR Snacks", None, 0.50, {}),
}
YESTERDAY, TOMORROW = str(TODAY - timedelta(days=1)), str(TODAY + timedelta(days=1))
MONTH_AGO = str(TODAY - timedelta(days=30))


def rule(title: str, apply_on: str, on: list[str], **fields: Any) -> dict[str, Any]:
    table, key = {"Item Code": ("items", "item_code"), "Item Group": ("item_groups",
                                                                      "item_group"),
                  "Brand": ("brands", "brand")}[apply_on]
    return {"title": title, "apply_on": apply_on, table: [{key: x} for x in on],
            "price_or_product_discount": "Price", "selling": 1, "buying": 0,
            "company": COMPANY, "currency": "EUR", **fields}


# Each rule prices items no other rule touches, but where a case is about two rules
# meeting (priorities, stacking, conflicts).
RULES = [
    rule("PR 10% off PR-01", "Item Code", ["PR-01"], rate_or_discount="Discount Percentage",
         discount_percentage=10),
    rule("PR 0.50 off PR-02", "Item Code", ["PR-02", "PR-15", "PR-16"],
         rate_or_discount="Discount Amount",
         discount_amount=0.5),
    rule("PR PR-03 at 0.79", "Item Code", ["PR-03"], rate_or_discount="Rate", rate=0.79),
    rule("PR juice 5%", "Item Group", ["PR Juice"], rate_or_discount="Discount Percentage",
         discount_percentage=5),
    rule("PR brand B 7.5%", "Brand", ["PR Brand B"], rate_or_discount="Discount Percentage",
         discount_percentage=7.5),
    rule("PR PR-06 from 3: 20%", "Item Code", ["PR-06"], rate_or_discount="Discount Percentage",
         discount_percentage=20, min_qty=3, priority="1"),
    rule("PR PR-06 from 6: 30%", "Item Code", ["PR-06"], rate_or_discount="Discount Percentage",
         discount_percentage=30, min_qty=6, priority="2"),
    rule("PR PR-07 expired", "Item Code", ["PR-07"], rate_or_discount="Discount Percentage",
         discount_percentage=50, valid_from=MONTH_AGO, valid_upto=YESTERDAY),
    rule("PR PR-07 not yet", "Item Code", ["PR-07"], rate_or_discount="Discount Percentage",
         discount_percentage=40, valid_from=TOMORROW),
    rule("PR members 15% PR-08", "Item Code", ["PR-08"], rate_or_discount="Discount Percentage",
         discount_percentage=15, applicable_for="Customer Group", customer_group=MEMBERS),
    rule("PR PR-09 10% stacks", "Item Code", ["PR-09"], rate_or_discount="Discount Percentage",
         discount_percentage=10, apply_multiple_pricing_rules=1, priority="1"),
    rule("PR PR-09 5% stacks", "Item Code", ["PR-09"], rate_or_discount="Discount Percentage",
         discount_percentage=5, apply_multiple_pricing_rules=1, priority="2"),
    rule("PR PR-10 10% on rate", "Item Code", ["PR-10"], rate_or_discount="Discount Percentage",
         discount_percentage=10, apply_multiple_pricing_rules=1, apply_discount_on_rate=1,
         priority="2"),  # ERPNext: a rule on the discounted rate needs a priority above 1
    rule("PR PR-10 10% more", "Item Code", ["PR-10"], rate_or_discount="Discount Percentage",
         discount_percentage=10, apply_multiple_pricing_rules=1, apply_discount_on_rate=1,
         priority="3"),
    rule("PR PR-11 conflict a", "Item Code", ["PR-11"], rate_or_discount="Discount Percentage",
         discount_percentage=10),
    rule("PR PR-11 conflict b", "Item Code", ["PR-11"], rate_or_discount="Discount Percentage",
         discount_percentage=20),
    rule("PR PR-12 margin 10% less 5%", "Item Code", ["PR-12"],
         rate_or_discount="Discount Percentage", discount_percentage=5,
         margin_type="Percentage", margin_rate_or_amount=10),
    rule("PR PR-13 from 10 euros 1.00 off", "Item Code", ["PR-13"],
         rate_or_discount="Discount Amount", discount_amount=1, min_amt=10),
    rule("PR PR-13 up to 3: 3%", "Item Code", ["PR-13"], rate_or_discount="Discount Percentage",
         discount_percentage=3, max_qty=3, priority="3"),
    rule("PR PR-14 other price list", "Item Code", ["PR-14"],
         rate_or_discount="Discount Percentage", discount_percentage=50,
         for_price_list="Standard Buying"),
    rule("PR member PR-05 rate", "Item Code", ["PR-05"], rate_or_discount="Rate", rate=0.99,
         applicable_for="Customer", customer=MEMBER, priority="5"),
]

WALK_IN = "Walk-in Customer"
Cart = list[tuple[str, float] | tuple[str, float, str]]  # (item, qty[, uom])
CARTS: list[tuple[str, str, Cart]] = [
    ("percent off one unit", WALK_IN, [("PR-01", 1)]),
    ("percent off many units", WALK_IN, [("PR-01", 7)]),
    ("amount off", WALK_IN, [("PR-02", 3)]),
    ("special rate", WALK_IN, [("PR-03", 5)]),
    ("special rate in a Box", WALK_IN, [("PR-03", 2, "Box")]),
    ("item group in the tree", WALK_IN, [("PR-04", 4)]),
    ("brand", WALK_IN, [("PR-05", 3)]),
    ("brand and group both match: group first", WALK_IN, [("PR-14", 2)]),
    ("below the quantity break", WALK_IN, [("PR-06", 2)]),
    ("at the first break", WALK_IN, [("PR-06", 3)]),
    ("between breaks", WALK_IN, [("PR-06", 5)]),
    ("at the second break: priority", WALK_IN, [("PR-06", 6)]),
    ("far past the breaks", WALK_IN, [("PR-06", 24)]),
    ("two lines of one item each under the break", WALK_IN, [("PR-06", 2), ("PR-06", 2)]),
    ("expired and not yet valid: list price", WALK_IN, [("PR-07", 2)]),
    ("member group rule, walk-in", WALK_IN, [("PR-08", 1)]),
    ("member group rule, member", MEMBER, [("PR-08", 1)]),
    ("member customer rate", MEMBER, [("PR-05", 2)]),
    ("stacked rules", WALK_IN, [("PR-09", 3)]),
    ("stacked on the discounted rate", WALK_IN, [("PR-10", 2)]),
    ("two rules at one priority: conflict", WALK_IN, [("PR-11", 1)]),
    ("margin then discount", WALK_IN, [("PR-12", 1)]),
    ("min amount not reached, max qty rule", WALK_IN, [("PR-13", 2)]),
    ("min amount reached, within max qty", WALK_IN, [("PR-13", 3)]),
    ("min amount reached, past max qty", WALK_IN, [("PR-13", 5)]),
    ("min amount in a Box", WALK_IN, [("PR-13", 1, "Box")]),
    ("rule for another price list", WALK_IN, [("PR-14", 1)]),
    ("a mixed cart", WALK_IN, [("PR-01", 2), ("PR-02", 1), ("PR-03", 4), ("PR-06", 6),
                              ("PR-07", 1), ("PR-09", 1)]),
    ("a member's mixed cart", MEMBER, [("PR-08", 2), ("PR-05", 1), ("PR-04", 3),
                                      ("PR-12", 2)]),
    ("amount off above the list price", WALK_IN, [("PR-15", 2)]),
    ("a line below zero in a cart above it", WALK_IN, [("PR-15", 1), ("PR-01", 1)]),
    ("amount off equal to the list price", WALK_IN, [("PR-16", 2), ("PR-01", 1)]),
    ("fractions that round", WALK_IN, [("PR-02", 7), ("PR-09", 7), ("PR-10", 7),
                                      ("PR-12", 7)]),
]

ROW_FIELDS = ("idx", "item_code", "qty", "uom", "conversion_factor", "stock_qty",
              "price_list_rate", "margin_type", "margin_rate_or_amount", "rate_with_margin",
              "discount_percentage", "discount_amount", "rate", "amount", "net_rate",
              "net_amount", "pricing_rules", "is_free_item", "has_margin")
TOTAL_FIELDS = ("total_qty", "total", "net_total", "total_taxes_and_charges", "discount_amount",
                "additional_discount_percentage", "grand_total", "rounding_adjustment",
                "rounded_total", "ignore_pricing_rule", "coupon_code")


class Site:
    def __init__(self) -> None:
        self.client = httpx.Client(base_url=URL, timeout=120.0,
                                   headers={"Authorization": TOKEN})

    def get(self, doctype: str, name: str) -> dict[str, Any] | None:
        response = self.client.get(f"{V1}{doctype}/{name}")
        return response.json()["data"] if response.status_code == 200 else None

    def find(self, doctype: str, filters: list[Any]) -> list[dict[str, Any]]:
        response = self.client.get(f"{V1}{doctype}", params={
            "filters": json.dumps(filters), "fields": json.dumps(["name"]),
            "limit_page_length": 0})
        response.raise_for_status()
        return list(response.json()["data"])

    def insert(self, doctype: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(f"{V1}{doctype}", json=body)
        if response.status_code != 200:
            raise SystemExit(f"{doctype} {body.get('name') or body.get('title')}: "
                             f"{response.status_code} {response.text[:800]}")
        return dict(response.json()["data"])

    def update(self, doctype: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.put(f"{V1}{doctype}/{name}", json=body)
        response.raise_for_status()
        return dict(response.json()["data"])

    def ensure(self, doctype: str, name: str, body: dict[str, Any]) -> None:
        if self.get(doctype, name) is None:
            self.insert(doctype, body)


def setup(site: Site) -> None:
    for group, parent in GROUPS.items():
        site.ensure("Item Group", group, {"item_group_name": group, "parent_item_group": parent,
                                          "is_group": int(group == "PR Drinks")})
    for brand in BRANDS:
        site.ensure("Brand", brand, {"brand": brand})
    site.ensure("Customer Group", MEMBERS, {"customer_group_name": MEMBERS,
                                            "parent_customer_group": "All Customer Groups"})
    site.ensure("Customer", MEMBER, {"customer_name": MEMBER, "customer_group": MEMBERS,
                                     "customer_type": "Individual"})
    stocked = []
    for code, (group, brand, price, uoms) in ITEMS.items():
        if site.get("Item", code) is None:
            site.insert("Item", {
                "item_code": code, "item_name": f"Pricing {code}", "item_group": group,
                "brand": brand, "stock_uom": "Nos", "is_stock_item": 1,
                "uoms": [{"uom": "Nos", "conversion_factor": 1}]
                + [{"uom": u, "conversion_factor": f} for u, (f, _) in uoms.items()]})
            stocked.append(code)
            site.insert("Item Price", {"item_code": code, "price_list": PRICE_LIST,
                                       "uom": "Nos", "price_list_rate": price,
                                       "valid_from": "2020-01-01"})
            for uom, (_, box_price) in uoms.items():
                if box_price is not None:
                    site.insert("Item Price", {"item_code": code, "price_list": PRICE_LIST,
                                               "uom": uom, "price_list_rate": box_price,
                                               "valid_from": "2020-01-01"})
    if stocked:
        site.insert("Stock Reconciliation", {
            "company": COMPANY, "purpose": "Stock Reconciliation", "docstatus": 1,
            "posting_date": str(TODAY - timedelta(days=2)), "set_posting_time": 1,
            "expense_account": f"Stock Adjustment - {ABBR}",
            "items": [{"item_code": c, "warehouse": WAREHOUSE, "qty": 1000,
                       "valuation_rate": 0.5} for c in stocked]})


def rules(site: Site) -> list[dict[str, Any]]:
    """Every rule of RULES enabled (made once, kept as ERPNext stores it)."""
    stored = []
    for body in RULES:
        found = site.find("Pricing Rule", [["title", "=", body["title"]]])
        if found:
            doc = site.update("Pricing Rule", found[0]["name"], {**body, "disable": 0})
        else:
            doc = site.insert("Pricing Rule", body)
        stored.append(doc)
    return stored


def disable(site: Site, stored: list[dict[str, Any]]) -> None:
    for doc in stored:
        site.update("Pricing Rule", doc["name"], {"disable": 1})


def price(site: Site, number: int, about: str, customer: str, cart: Cart) -> dict[str, Any]:
    items = [{"item_code": line[0], "qty": line[1], **({"uom": line[2]} if len(line) > 2
                                                        else {}),
              "price_list_rate": list_price(line[0], line[2] if len(line) > 2 else "Nos")}
             for line in cart]
    request = {"is_pos": 1, "update_stock": 1, "pos_profile": PROFILE, "company": COMPANY,
               "customer": customer, "docstatus": 0, "items": items,
               "payments": [{"mode_of_payment": "Cash", "amount": 10000,
                             "account": f"Cash - {ABBR}", "default": 1}],
               "paid_amount": 10000}
    response = site.client.post(f"{V1}POS Invoice", json=request)
    case: dict[str, Any] = {"id": f"pricing-{number:03d}", "about": about, "request": request,
                            "status": response.status_code}
    body = response.json()
    if response.status_code != 200:
        case["rejected"] = True
        case["error"] = {"exc_type": body.get("exc_type"),
                         "message": _message(body)}
        return case
    doc = body["data"]
    case["rejected"] = False
    case["result"] = {**{k: doc.get(k) for k in TOTAL_FIELDS},
                      "items": [{k: row.get(k) for k in ROW_FIELDS} for row in doc["items"]]}
    case["forwarded"] = forwarded(site, request, doc)
    return case


def forwarded(site: Site, request: dict[str, Any], priced: dict[str, Any]) -> dict[str, Any]:
    """The same cart sent as a counter forwards it, every row as priced (list price,
    discount, margin, rate, the rules' names): ERPNext re-applies the named rules and must
    come to the same rows and total."""
    rows = [{k: row.get(k) for k in ("item_code", "qty", "uom", "price_list_rate",
                                 "discount_percentage", "discount_amount", "rate",
                                 "margin_type", "margin_rate_or_amount", "pricing_rules")}
            for row in priced["items"]]
    response = site.client.post(f"{V1}POS Invoice", json={**request, "items": rows})
    body = response.json()
    if response.status_code != 200:
        return {"status": response.status_code, "exc_type": body.get("exc_type"),
                "message": _message(body)}
    doc = body["data"]
    return {"status": 200, "grand_total": doc["grand_total"],
            "rates": [row["rate"] for row in doc["items"]],
            "pricing_rules": [row.get("pricing_rules") for row in doc["items"]]}


def list_price(code: str, uom: str) -> float:
    """The Item Price a counter holds for ``code`` in ``uom``: its own, else the stock
    UOM's times the factor (as ERPNext falls back)."""
    _, _, price, uoms = ITEMS[code]
    if uom == "Nos":
        return price
    factor, own = uoms[uom]
    return own if own is not None else round(price * factor, 2)


def _message(body: dict[str, Any]) -> str:
    messages = body.get("_server_messages")
    if messages:
        said = [json.loads(m).get("message", "") for m in json.loads(messages)]
        return " | ".join(said)
    return str(body.get("exception") or body.get("exc_type") or "")[-400:]


def opening(site: Site) -> str:
    """A shift open for the profile (a POS Invoice is refused without one, drafts too)."""
    user = site.client.get("/api/method/frappe.auth.get_logged_user").json()["message"]
    return str(site.insert("POS Opening Entry", {
        "company": COMPANY, "pos_profile": PROFILE, "user": user, "docstatus": 1,
        "period_start_date": f"{TODAY} 08:00:00", "posting_date": str(TODAY),
        "balance_details": [{"mode_of_payment": "Cash", "opening_amount": 0}]})["name"])


def main() -> None:
    site = Site()
    setup(site)
    stored = rules(site)
    shift = opening(site)
    try:
        cases = [price(site, n, about, customer, cart)
                 for n, (about, customer, cart) in enumerate(CARTS, 1)]
    finally:
        disable(site, stored)
        site.client.post("/api/method/frappe.client.cancel",
                         json={"doctype": "POS Opening Entry", "name": shift})
    version = site.client.get("/api/method/frappe.utils.change_log.get_versions").json()
    walk_in = site.get("Customer", WALK_IN) or {}
    json.dump({"erpnext_version": version.get("message", {}).get("erpnext", {}),
               "recorded_on": str(TODAY), "company": COMPANY, "price_list": PRICE_LIST,
               "currency": "EUR", "warehouse": WAREHOUSE, "items": ITEMS,
               "item_groups": GROUPS,
               "customers": {MEMBER: MEMBERS, WALK_IN: walk_in.get("customer_group")},
               "customer_groups": {MEMBERS: "All Customer Groups",
                                   walk_in.get("customer_group"): "All Customer Groups"},
               "taxes": site.get("Sales Taxes and Charges Template",
                                 f"DE VAT 19% incl - {ABBR}"),
               "rules": stored, "cases": cases}, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
