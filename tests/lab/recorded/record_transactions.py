"""Record how a real ERPNext 15 prices POS carts under Pricing Rules on the whole
transaction (``apply_on: Transaction``, issue 15): the oracle the counter is held to.

Run by hand against a fresh lab ERPNext (never by pytest: it writes to that site)::

    source /work/erpnext-lab/env.sh
    cd tests/lab/recorded && ../../../.venv/bin/python record_transactions.py \
        > transaction-cases.json

It makes the items of ``pricing_store``, the transaction rules of ``transaction_store``
(and the two item rules its scenarios use), all disabled, and the Coupon Code of the
coupon-based rule. Then, scenario by scenario, it enables that scenario's rules only and,
for each of its carts:

- posts a draft POS Invoice as ERPNext's own POS would (item codes, quantities, list
  prices, the tax rows, the cashier's invoice discount, the coupon; pricing rules on):
  ERPNext's rows, its invoice discount and totals, what it said (``_server_messages``),
  or its refusal;
- submits the cart as a counter forwards it: the rows, the invoice discount and the
  discount's base as priced, ``ignore_pricing_rule``, paid exactly: what ERPNext booked.

Every rule of the file is disabled again at the end.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[3]))  # the repository: the stores' home

from record_pricing import (  # noqa: E402
    ABBR,
    COMPANY,
    PROFILE,
    ROW_FIELDS,
    TODAY,
    TOTAL_FIELDS,
    V1,
    Site,
    _message,
    list_price,
    opening,
    setup,
    store,
)

from tests.lab.recorded.pricing_store import rules as item_rules  # noqa: E402
from tests.lab.recorded.transaction_store import (  # noqa: E402
    ITEM_RULES,
    SCENARIOS,
    Sale,
    carts,
    coupons,
    rules,
)

TEMPLATES = {"incl": f"DE VAT 19% incl - {ABBR}", "excl": f"O2 VAT19 Excl - {ABBR}"}
FORWARDED_ROW = ("item_code", "qty", "uom", "price_list_rate", "discount_percentage",
                 "discount_amount", "rate", "margin_type", "margin_rate_or_amount",
                 "is_free_item")
HEAD_FIELDS = (*TOTAL_FIELDS, "apply_discount_on", "base_discount_amount")


def save_rules(site: Site) -> dict[str, dict[str, Any]]:
    """The transaction rules and the item rules the scenarios use, all disabled, by
    title (made in ``rules``' order, so their names follow it)."""
    wanted = {title for titles in ITEM_RULES.values() for title in titles}
    bodies = rules(COMPANY, TODAY) + [r for r in item_rules(COMPANY, TODAY)
                                      if r["title"] in wanted]
    stored = {}
    for body in bodies:
        found = site.find("Pricing Rule", [["title", "=", body["title"]]])
        body = {**body, "disable": 1}
        stored[body["title"]] = site.update("Pricing Rule", found[0]["name"], body) \
            if found else site.insert("Pricing Rule", body)
    return stored


def enable_only(site: Site, stored: dict[str, dict[str, Any]], titles: list[str]) -> None:
    for title, doc in stored.items():
        stored[title] = site.update("Pricing Rule", doc["name"],
                                    {"disable": int(title not in titles)})


def save_coupons(site: Site, stored: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    made = []
    for name, (title, fields) in coupons().items():
        body = {"coupon_name": name, "coupon_code": name, "coupon_type": "Promotional",
                "pricing_rule": stored[title]["name"], "used": 0, **fields}
        made.append(site.update("Coupon Code", name, body) if site.get("Coupon Code", name)
                    else site.insert("Coupon Code", body))
    return made


def _taxes(templates: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    if not kind:
        return {"taxes_and_charges": "", "taxes": []}
    doc = templates[kind]
    return {"taxes_and_charges": doc["name"], "taxes": [
        {k: row.get(k) for k in ("charge_type", "account_head", "description", "rate",
                                 "included_in_print_rate", "cost_center")}
        for row in doc["taxes"]]}


def _request(sale: Sale, templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    items = [{"item_code": line[0], "qty": line[1],
              **({"uom": line[2]} if len(line) > 2 else {}),
              "price_list_rate": list_price(line[0], line[2] if len(line) > 2 else "Nos")}
             for line in sale.cart]
    return {"is_pos": 1, "update_stock": 1, "pos_profile": PROFILE, "company": COMPANY,
            "customer": sale.customer, "docstatus": 0, "items": items,
            **_taxes(templates, sale.taxes),
            "additional_discount_percentage": sale.percent, "discount_amount": sale.amount,
            "coupon_code": sale.coupon or None,
            "payments": [{"mode_of_payment": "Cash", "amount": 10000,
                          "account": f"Cash - {ABBR}", "default": 1}],
            "paid_amount": 10000}


def _post(site: Site, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = site.client.post(f"{V1}POS Invoice", json=request)
    return response.status_code, response.json()


def _said(body: dict[str, Any]) -> list[str]:
    messages = body.get("_server_messages")
    return [json.loads(m).get("message", "") for m in json.loads(messages)] if messages else []


def forwarded(site: Site, request: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """The cart submitted as a counter sends it: rows, invoice discount and its base as
    priced, ``ignore_pricing_rule``, paid exactly."""
    due = doc["rounded_total"] or doc["grand_total"]
    status, body = _post(site, {
        **request, "docstatus": 1, "ignore_pricing_rule": 1,
        "items": [{k: row.get(k) for k in FORWARDED_ROW} for row in doc["items"]],
        "additional_discount_percentage": doc["additional_discount_percentage"],
        "discount_amount": doc["discount_amount"],
        "apply_discount_on": doc["apply_discount_on"],
        "payments": [{"mode_of_payment": "Cash", "amount": due, "account": f"Cash - {ABBR}",
                      "default": 1}], "paid_amount": due})
    if status != 200:
        return {"status": status, "exc_type": body.get("exc_type"), "message": _message(body)}
    sent = body["data"]
    return {"status": 200, "name": sent["name"], "grand_total": sent["grand_total"],
            "discount_amount": sent["discount_amount"],
            "additional_discount_percentage": sent["additional_discount_percentage"],
            "apply_discount_on": sent["apply_discount_on"],
            "rates": [row["rate"] for row in sent["items"]],
            "item_codes": [row["item_code"] for row in sent["items"]]}


def price(site: Site, number: int, scenario: str, sale: Sale,
          templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    request = _request(sale, templates)
    status, body = _post(site, request)
    case: dict[str, Any] = {"id": f"transaction-{number:03d}", "scenario": scenario,
                            **sale.as_dict(), "request": request, "status": status}
    if status != 200:
        return {**case, "rejected": True, "error": {
            "exc_type": body.get("exc_type"), "message": _message(body),
            "exception": str(body.get("exception") or "")[-300:]}}
    doc = body["data"]
    case.update(rejected=False, said=_said(body), result={
        **{k: doc.get(k) for k in HEAD_FIELDS},
        "items": [{k: row.get(k) for k in ROW_FIELDS} for row in doc["items"]]})
    case["forwarded"] = forwarded(site, request, doc)
    return case


def main() -> None:
    site = Site()
    setup(site)
    stored = save_rules(site)
    made = save_coupons(site, stored)
    templates = {kind: site.get("Sales Taxes and Charges Template", name)
                 for kind, name in TEMPLATES.items()}
    shift = opening(site)
    cases: list[dict[str, Any]] = []
    try:
        for scenario, sales in carts().items():
            transaction, items = SCENARIOS[scenario]
            enable_only(site, stored, transaction + items)
            cases += [price(site, len(cases) + n, scenario, sale, templates)
                      for n, sale in enumerate(sales, 1)]
    finally:
        enable_only(site, stored, [])
        site.client.post("/api/method/frappe.client.cancel",
                         json={"doctype": "POS Opening Entry", "name": shift})
    json.dump({**store(site), "rules": list(stored.values()), "coupons": made,
               "tax_templates": templates, "scenarios": SCENARIOS, "cases": cases},
              sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
