"""Record how a real ERPNext 15 earns and redeems loyalty points on POS Invoices (issue
15): the oracle the counter's loyalty is held to.

Run by hand against a lab ERPNext (never by pytest: it writes to that site)::

    source /work/erpnext-lab/env.sh
    cd tests/lab/recorded && ../../../.venv/bin/python record_loyalty.py > loyalty-cases.json

It makes what ``record_pricing`` makes and the programs of ``loyalty_store``, then for
each program a new member, and submits the member's sales of ``loyalty_store.RUNS`` one
after another as a counter forwards them: the list prices, the points redeemed and their
worth (``loyalty_amount``), cash for the rest, ``paid_amount`` the whole (as ERPNext's
own tests send it); a return made by ERPNext's ``make_sales_return``. Each step records
ERPNext's answer or refusal, the Loyalty Point Entries it made for the invoice, and the
member's balance and tier after it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[3]))  # the repository: loyalty_store's home

from record_pricing import (  # noqa: E402
    ABBR,
    COMPANY,
    PROFILE,
    TODAY,
    V1,
    Site,
    _message,
    list_price,
    opening,
    setup,
    store,
)

from tests.lab.recorded.loyalty_store import PROGRAMS, RUNS, Cart, make, member  # noqa: E402

ANSWER = ("name", "customer", "grand_total", "rounded_total", "paid_amount", "change_amount",
          "loyalty_program", "redeem_loyalty_points", "loyalty_points", "loyalty_amount",
          "loyalty_redemption_account", "loyalty_redemption_cost_center", "is_return",
          "return_against", "status")
ENTRY = ("invoice", "invoice_type", "loyalty_points", "purchase_amount", "loyalty_program",
         "loyalty_program_tier", "expiry_date", "posting_date", "redeem_against")
_POS = "erpnext.accounts.doctype.pos_invoice.pos_invoice."


def entries(site: Site, customer: str) -> list[dict[str, Any]]:
    response = site.client.get(f"{V1}Loyalty Point Entry", params={
        "filters": json.dumps([["customer", "=", customer]]),
        "fields": json.dumps(["name", *ENTRY]), "limit_page_length": 0,
        "order_by": "creation asc"})
    response.raise_for_status()
    return list(response.json()["data"])


def balance(site: Site, customer: str) -> int:
    return sum(int(e["loyalty_points"]) for e in entries(site, customer)
               if e["expiry_date"] >= str(TODAY))


def _post(site: Site, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = site.client.post(f"{V1}POS Invoice", json=body)
    return response.status_code, response.json()


def _sale(customer: str, cart: Cart, points: int, conversion: float, *, submit: bool,
          due: float = 0.0) -> dict[str, Any]:
    worth = round(points * conversion, 2)
    return {"is_pos": 1, "update_stock": 1, "pos_profile": PROFILE, "company": COMPANY,
            "customer": customer, "docstatus": int(submit),
            "items": [{"item_code": code, "qty": qty, "price_list_rate": list_price(code, "Nos")}
                      for code, qty in cart],
            **({"redeem_loyalty_points": 1, "loyalty_points": points, "loyalty_amount": worth}
               if points else {}),
            "payments": [{"mode_of_payment": "Cash", "amount": round(due - worth, 2),
                          "account": f"Cash - {ABBR}", "default": 1}],
            "paid_amount": due}


def step(site: Site, number: int, program: str, conversion: float, customer: str,
         about: str, cart: Cart, points: int, returns: str | None) -> dict[str, Any]:
    if points < 0:
        points = balance(site, customer)
    record: dict[str, Any] = {"id": f"loyalty-{number:02d}", "about": about,
                              "program": program, "customer": customer, "points": points,
                              "balance_before": balance(site, customer)}
    if returns:
        made = site.client.post(f"/api/method/{_POS}make_sales_return",
                                json={"source_name": returns})
        made.raise_for_status()
        body = {**made.json()["message"], "docstatus": 1}
        body["payments"] = [{**p, "amount": body["rounded_total"] or body["grand_total"]}
                            for p in body["payments"][:1]]
        body["paid_amount"] = body["payments"][0]["amount"]
        record["return_against"] = returns
    else:
        status, draft = _post(site, _sale(customer, cart, points, conversion, submit=False,
                                          due=10_000))
        if status != 200:
            return {**record, "cart": cart, "status": status,
                    "error": {"exc_type": draft.get("exc_type"), "message": _message(draft)}}
        due = float(draft["data"]["rounded_total"] or draft["data"]["grand_total"])
        body = _sale(customer, cart, points, conversion, submit=True, due=due)
        record["cart"] = cart
    status, answer = _post(site, body)
    record["status"] = status
    if status != 200:
        record["error"] = {"exc_type": answer.get("exc_type"), "message": _message(answer)}
        return record
    doc = answer["data"]
    record["answer"] = {k: doc.get(k) for k in ANSWER}
    record["entries"] = [{k: e.get(k) for k in ENTRY} for e in entries(site, customer)
                         if e["invoice"] in (doc["name"], returns)]
    record["balance_after"] = balance(site, customer)
    record["tier_after"] = site.get("Customer", customer).get("loyalty_program_tier")
    return record


def main() -> None:
    site = Site()
    setup(site)
    expense = site.find("Account", [["account_name", "=", "Marketing Expenses"],
                                    ["company", "=", COMPANY]])[0]["name"]
    make(site.insert, lambda doctype, name: site.get(doctype, name) is not None,
         company=COMPANY, expense_account=expense, cost_center=f"Main - {ABBR}")
    suffix = time.strftime("%Y%m%d%H%M%S")
    shift = opening(site)
    runs, number = [], 0
    try:
        for program, conversion, _, _ in PROGRAMS:
            customer = site.insert("Customer", member(program, suffix))["name"]
            sold: list[str] = []
            for about, cart, points, back in RUNS[program]:
                number += 1
                record = step(site, number, program, conversion, customer, about, cart,
                              points, sold[-back] if back else None)
                sold.append(record.get("answer", {}).get("name", ""))
                runs.append(record)
    finally:
        site.client.post("/api/method/frappe.client.cancel",
                         json={"doctype": "POS Opening Entry", "name": shift})
    json.dump({**store(site), "programs": [site.get("Loyalty Program", name)
                                           for name, *_ in PROGRAMS],
               "runs": runs}, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
