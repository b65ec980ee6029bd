"""Record how a real ERPNext 15 prices POS carts under Pricing Rules (issue 15): the
oracle the counter's offline pricing is held to, to the cent.

Run by hand against a lab ERPNext (never by pytest: it writes to that site)::

    source /work/erpnext-lab/env.sh   # TILLMESH_ERPNEXT_URL, _KEY, _SECRET
    cd tests/lab/recorded && ../../../.venv/bin/python record_pricing.py > pricing-cases.json

It needs the lab's POS Profile "Lab POS" (``tools/erpnext-lab``). It makes, once, what
the rules need (item groups in a tree, brands, a customer group and a member, items
``PR-01``... with prices and stock, a Box UOM) and the Pricing Rules of ``pricing_store`` (disabled
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
from datetime import date
from typing import Any

import httpx
from pricing_store import CARTS, GROUPS, ITEMS, MEMBER, MEMBERS, WALK_IN, Cart, make
from pricing_store import rules as pricing_rules

URL = os.environ["TILLMESH_ERPNEXT_URL"]
TOKEN = f"token {os.environ['TILLMESH_ERPNEXT_KEY']}:{os.environ['TILLMESH_ERPNEXT_SECRET']}"
PROFILE, COMPANY, ABBR = "Lab POS", "POS Lab GmbH", "PLG"
WAREHOUSE = f"POS Store - {ABBR}"
PRICE_LIST = "Standard Selling"
V1 = "/api/resource/"
TRACEBACK_LINES = 3
TODAY = date.today()

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
    make(site.insert, lambda doctype, name: site.get(doctype, name) is not None,
         company=COMPANY, price_list=PRICE_LIST, warehouse=WAREHOUSE, today=TODAY)


def rules(site: Site, bodies: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every rule of ``bodies`` (the pricing store's) enabled (made once, kept as ERPNext
    stores it)."""
    stored = []
    for body in pricing_rules(COMPANY, TODAY) if bodies is None else bodies:
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


def price(site: Site, number: int, about: str, customer: str, cart: Cart, *,
          pos_rows: bool = False) -> dict[str, Any]:
    """``pos_rows``: each row also says its quantity in the stock UOM, its item group and
    brand, as ERPNext's own POS sends a row (ERPNext judges a rule with mixed conditions
    on the rows' stock_qty, item_group and brand, and counts a row without them as the
    row being priced)."""
    items = [{"item_code": line[0], "qty": line[1], **({"uom": line[2]} if len(line) > 2
                                                        else {}),
              "price_list_rate": list_price(line[0], line[2] if len(line) > 2 else "Nos"),
              **({"stock_qty": line[1] * factor(line), "conversion_factor": factor(line),
                  "item_group": ITEMS[line[0]][0], "brand": ITEMS[line[0]][1]}
                 if pos_rows else {})}
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
    """The same cart sent as a counter forwards it: every row as priced (list price,
    discount, margin, rate; a free item's row marked so) but the rules not named, and
    the invoice ``ignore_pricing_rule``. ERPNext must book the same rows and total."""
    rows = [{k: row.get(k) for k in ("item_code", "qty", "uom", "price_list_rate",
                                 "discount_percentage", "discount_amount", "rate",
                                 "margin_type", "margin_rate_or_amount", "is_free_item")}
            for row in priced["items"]]
    response = site.client.post(f"{V1}POS Invoice", json={
        **request, "items": rows, "ignore_pricing_rule": 1})
    body = response.json()
    if response.status_code != 200:
        return {"status": response.status_code, "exc_type": body.get("exc_type"),
                "message": _message(body)}
    doc = body["data"]
    return {"status": 200, "grand_total": doc["grand_total"],
            "rates": [row["rate"] for row in doc["items"]],
            "amounts": [row["amount"] for row in doc["items"]]}


def factor(line: tuple[Any, ...]) -> float:
    """A cart line's UOM conversion factor to the stock UOM (Nos)."""
    return ITEMS[line[0]][3][line[2]][0] if len(line) > 2 and line[2] != "Nos" else 1.0


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
    record(pricing_rules(COMPANY, TODAY), CARTS)


def record(bodies: list[dict[str, Any]], carts: list[tuple[str, str, Cart]], *,
           prefix: str = "pricing", pos_rows: bool = False) -> None:
    """Price ``carts`` under the rules ``bodies`` (enabled meanwhile) and write the cases,
    numbered ``<prefix>-001``..."""
    site = Site()
    setup(site)
    stored = rules(site, bodies)
    shift = opening(site)
    try:
        cases = [{**price(site, n, about, customer, cart, pos_rows=pos_rows),
                  "id": f"{prefix}-{n:03d}"}
                 for n, (about, customer, cart) in enumerate(carts, 1)]
    finally:
        disable(site, stored)
        site.client.post("/api/method/frappe.client.cancel",
                         json={"doctype": "POS Opening Entry", "name": shift})
    json.dump({**store(site), "rules": stored, "cases": cases}, sys.stdout, indent=1,
              default=str)
    sys.stdout.write("\n")


def store(site: Site) -> dict[str, Any]:
    """What a recording was made in: the site's version and date, the company, its items,
    trees, customers and taxes (the tests build a counter's context from these)."""
    version = site.client.get("/api/method/frappe.utils.change_log.get_versions").json()
    walk_in = site.get("Customer", WALK_IN) or {}
    return {"erpnext_version": version.get("message", {}).get("erpnext", {}),
            "recorded_on": str(TODAY), "company": COMPANY, "price_list": PRICE_LIST,
            "currency": "EUR", "warehouse": WAREHOUSE, "items": ITEMS, "item_groups": GROUPS,
            "customers": {MEMBER: MEMBERS, WALK_IN: walk_in.get("customer_group")},
            "customer_groups": {MEMBERS: "All Customer Groups",
                                walk_in.get("customer_group"): "All Customer Groups"},
            "taxes": site.get("Sales Taxes and Charges Template", f"DE VAT 19% incl - {ABBR}")}


if __name__ == "__main__":
    main()
