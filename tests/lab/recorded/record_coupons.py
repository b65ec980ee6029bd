"""Record how a real ERPNext 15 prices and counts coupons (issue 15): the oracle the
counter's coupons are held to.

Run by hand against a lab ERPNext (never by pytest: it writes to that site)::

    source /work/erpnext-lab/env.sh
    cd tests/lab/recorded && ../../../.venv/bin/python record_coupons.py > coupon-cases.json

It makes what ``record_pricing`` makes, the rules and Coupon Codes of ``coupon_store``
(each coupon's use count set back to 0 first, in the order that decides which coupon of
a shared rule ERPNext honours), and then:

- prices every cart of ``coupon_store.ALL_CARTS`` as a draft POS Invoice naming its
  coupon, and sends it again as a counter forwards it (rows as priced, rules not named,
  ``ignore_pricing_rule``, the coupon named): ERPNext's rows and totals, or its refusal;
- submits the sales of ``coupon_store.RUNS`` one after another as a counter forwards
  them, and records each answer with the coupon's use count before and after; a sale
  refused for its coupon is sent once more without it, as the counter then sends it;
- submits two sales naming one coupon at the same moment, and records ERPNext's answer
  to the one that loses the race to save the coupon's count.

The rules are disabled again at the end, so other recordings on the site are not priced
by them.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[3]))  # the repository: coupon_store's home

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
    disable,
    list_price,
    opening,
    setup,
    store,
)

from tests.lab.recorded.coupon_store import ALL_CARTS, RUNS, Cart, make_coupons  # noqa: E402
from tests.lab.recorded.coupon_store import rules as coupon_rules  # noqa: E402
from tests.lab.recorded.pricing_store import MEMBER, WALK_IN  # noqa: E402

FORWARDED_ROW = ("item_code", "qty", "uom", "price_list_rate", "discount_percentage",
                 "discount_amount", "rate", "margin_type", "margin_rate_or_amount",
                 "is_free_item")


def rules(site: Site) -> dict[str, dict[str, Any]]:
    """Every rule of the coupon store enabled, by title (as ERPNext stores it)."""
    stored = {}
    for body in coupon_rules(COMPANY):
        found = site.find("Pricing Rule", [["title", "=", body["title"]]])
        stored[body["title"]] = site.update("Pricing Rule", found[0]["name"],
                                            {**body, "disable": 0}) if found \
            else site.insert("Pricing Rule", body)
    return stored


def _request(customer: str, coupon: str, cart: Cart, *, submit: bool = False
             ) -> dict[str, Any]:
    items = [{"item_code": line[0], "qty": line[1],
              **({"uom": line[2]} if len(line) > 2 else {}),
              "price_list_rate": list_price(line[0], line[2] if len(line) > 2 else "Nos")}
             for line in cart]
    return {"is_pos": 1, "update_stock": 1, "pos_profile": PROFILE, "company": COMPANY,
            "customer": customer, "docstatus": int(submit), "items": items,
            "coupon_code": coupon or None,
            "payments": [{"mode_of_payment": "Cash", "amount": 10000,
                          "account": f"Cash - {ABBR}", "default": 1}],
            "paid_amount": 10000}


def _post(site: Site, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = site.client.post(f"{V1}POS Invoice", json=request)
    return response.status_code, response.json()


def _refusal(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"status": status, "exc_type": body.get("exc_type"), "message": _message(body)}


def _forwarded(request: dict[str, Any], doc: dict[str, Any], coupon: str | None,
               submit: bool) -> dict[str, Any]:
    rows = [{k: row.get(k) for k in FORWARDED_ROW} for row in doc["items"]]
    return {**request, "items": rows, "ignore_pricing_rule": 1, "coupon_code": coupon,
            "docstatus": int(submit)}


def price(site: Site, number: int, about: str, customer: str, coupon: str,
          cart: Cart) -> dict[str, Any]:
    request = _request(customer, coupon, cart)
    status, body = _post(site, request)
    case: dict[str, Any] = {"id": f"coupon-{number:03d}", "about": about, "coupon": coupon,
                            "request": request, "status": status}
    if status != 200:
        return {**case, "rejected": True, "error": _refusal(status, body)}
    doc = body["data"]
    case.update(rejected=False, result={
        **{k: doc.get(k) for k in TOTAL_FIELDS},
        "items": [{k: row.get(k) for k in ROW_FIELDS} for row in doc["items"]]})
    status, sent = _post(site, _forwarded(request, doc, coupon or None, submit=False))
    case["forwarded"] = _refusal(status, sent) if status != 200 else {
        "status": 200, "grand_total": sent["data"]["grand_total"],
        "rates": [row["rate"] for row in sent["data"]["items"]],
        "coupon_code": sent["data"].get("coupon_code")}
    return case


def run(site: Site, number: int, about: str, coupon: str, cart: Cart,
        priced: dict[str, Any]) -> dict[str, Any]:
    """One sale of a run (``priced`` as a draft before the run began), submitted as a
    counter forwards it; refused for its coupon, sent again without it."""
    request = _request(_customer(coupon), coupon, cart)
    used = site.get("Coupon Code", coupon)["used"]
    status, body = _post(site, _forwarded(request, priced, coupon, submit=True))
    step: dict[str, Any] = {"id": f"coupon-run-{number:02d}", "about": about,
                            "coupon": coupon, "cart": cart, "used_before": used,
                            "rates": [row["rate"] for row in priced["items"]],
                            "status": status}
    if status != 200:
        step["error"] = _refusal(status, body)
        status, body = _post(site, _forwarded(request, priced, None, submit=True))
        step["without_coupon"] = {"status": status, **(
            {"grand_total": body["data"]["grand_total"]} if status == 200
            else _refusal(status, body))}
    else:
        step["grand_total"] = body["data"]["grand_total"]
    step["used_after"] = site.get("Coupon Code", coupon)["used"]
    return step


def concurrent(site: Site, priced: dict[str, Any], tries: int = 20) -> dict[str, Any]:
    """Two sales naming one coupon submitted at the same moment, as a forwarder that
    delivers side by side sends them: ERPNext's answer to the one that loses the race to
    save the coupon's count (the first of ``tries`` pairs where one does)."""
    request = _forwarded(_request(WALK_IN, "PRC-SAVE10B", [("PR-26", 1)]), priced,
                         "PRC-SAVE10B", submit=True)
    with ThreadPoolExecutor(2) as pool:
        for _ in range(tries):
            answers = list(pool.map(lambda _: _post(site, request), range(2)))
            for status, body in answers:
                if status != 200:
                    return {"status": status, "exc_type": body.get("exc_type"),
                            "exception": body.get("exception"),
                            "_server_messages": body.get("_server_messages"),
                            "message": _message(body),
                            "other": [s for s, _ in answers]}
    return {"status": 200, "message": f"no conflict in {tries} pairs"}


def _customer(coupon: str) -> str:
    return MEMBER if coupon == "PRC-GIFT" else WALK_IN


def _draft(site: Site, coupon: str, cart: Cart) -> dict[str, Any]:
    status, body = _post(site, _request(_customer(coupon), coupon, cart))
    if status != 200:
        raise SystemExit(f"draft of a run's sale refused: {_message(body)}")
    return dict(body["data"])


def main() -> None:
    site = Site()
    setup(site)
    stored = rules(site)
    made = make_coupons(lambda name, body: site.update("Coupon Code", name, body)
                        if site.get("Coupon Code", name) else site.insert("Coupon Code", body),
                        {title: doc["name"] for title, doc in stored.items()}, TODAY)
    shift = opening(site)
    try:
        cases = [price(site, n, *c) for n, c in enumerate(ALL_CARTS, 1)]
        drafts = [_draft(site, coupon, cart) for _, coupon, cart in RUNS]
        runs = [run(site, n, *r, priced) for n, (r, priced) in enumerate(zip(RUNS, drafts,
                                                                           strict=True), 1)]
        race = concurrent(site, _draft(site, "PRC-SAVE10B", [("PR-26", 1)]))
    finally:
        disable(site, list(stored.values()))
        site.client.post("/api/method/frappe.client.cancel",
                         json={"doctype": "POS Opening Entry", "name": shift})
    json.dump({**store(site), "rules": list(stored.values()), "coupons": made,
               "cases": cases, "runs": runs, "concurrent": race}, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
