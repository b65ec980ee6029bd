"""Record what a real ERPNext 15 does with a loyalty member's sales sent as Sales Invoices
of their own (per-shift delivery, issue 15): the points it enters, redeems and takes back.

Run by hand against a lab ERPNext (never by pytest: it writes to that site), after
``tillmesh erpnext setup --delivery per-shift`` made the Sales Invoice custom fields and
``record_loyalty.py`` (or the loyalty contract test) made the programs::

    source /work/erpnext-lab/env.sh
    cd tests/lab/recorded && ../../../.venv/bin/python record_per_shift_loyalty.py \\
        > erpnext-15.71-per-shift-loyalty.jsonl

A new member of "PRL Points" (tiers Silver 1 point per 2.00, Gold 1 per 1.00 from 100.00
spent, 0.10 a point) buys, each sale a submitted Sales Invoice named by us, ``is_pos``
and not consolidated, rows priced as a counter prices them, ``ignore_pricing_rule``: a
sale; a sale redeeming points (their worth in ``loyalty_amount``, cash for the rest); a
sale the points pay whole (a cash row of 0); the first sale returned by a credit note
against it; a sale with change given, without and with its ``base_change_amount``.
After each, the member's Loyalty Point Entries. One JSON object a line, as
``record_erpnext.py`` writes them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[3]))  # the repository: the stores' home

from record_erpnext import COMPANY, PROFILE, V1, Recorder  # type: ignore[import-not-found]  # noqa: E402

from tests.lab.recorded.loyalty_store import TIERS, member  # noqa: E402

RUN = time.strftime("PL%H%M%S")
DAY = time.strftime("%Y-%m-%d")
SI = f"{V1}Sales Invoice"
ENTRY = ("invoice", "invoice_type", "loyalty_points", "purchase_amount", "loyalty_program",
         "loyalty_program_tier", "expiry_date", "posting_date", "redeem_against")
# item, qty, list price (the lab's pricing_store items)
PR01, PR16 = ("PR-01", 2.49), ("PR-16", 0.50)


def sale(name: str, customer: str, lines: list[tuple[tuple[str, float], int]], *,
         points: int = 0, worth: float = 0.0, against: str = "", change: float = 0.0,
         base_change: bool = True) -> dict[str, Any]:
    """A member's sale (or return, quantities below 0) as its own Sales Invoice; with
    ``change`` given in cash (and its ``base_change_amount`` unless not ``base_change``)."""
    total = round(sum(price * qty for (_, price), qty in lines), 2)
    cash = round(total - worth + change, 2)
    return {
        "name": name, "docstatus": 1, "is_pos": 1, "update_stock": 1, "set_posting_time": 1,
        "posting_date": DAY, "posting_time": "12:00:00.000000", "due_date": DAY,
        "company": COMPANY, "pos_profile": PROFILE, "customer": customer, "currency": "EUR",
        "selling_price_list": "Standard Selling", "set_warehouse": "POS Store - PLG",
        "ignore_pricing_rule": 1, "taxes_and_charges": "", "taxes": [],
        "is_return": int(bool(against)), **({"return_against": against} if against else {}),
        "items": [{"item_code": code, "qty": qty, "uom": "Nos", "conversion_factor": 1,
                   "price_list_rate": price, "rate": price, "warehouse": "POS Store - PLG"}
                  for (code, price), qty in lines],
        **({"redeem_loyalty_points": 1, "loyalty_points": points, "loyalty_amount": worth}
           if points else {}),
        "payments": [{"mode_of_payment": "Cash", "account": "Cash - PLG", "amount": cash,
                      "default": 1}],
        "paid_amount": round(total + change, 2), "base_paid_amount": round(total + change, 2),
        **({"change_amount": change} if change else {}),
        **({"base_change_amount": change} if change and base_change else {}),
        "tillmesh_origin_event": f"{name}:1/S", "remarks": f"Tillmesh {name}"}


def entries(rec: Recorder, label: str, customer: str) -> None:
    rec.send(label, "GET", f"{V1}Loyalty Point Entry", params={
        "filters": json.dumps([["customer", "=", customer]]),
        "fields": json.dumps(["name", *ENTRY]), "limit_page_length": 0,
        "order_by": "creation asc"})


def main() -> None:
    rec = Recorder()
    customer = rec.send("PL a new member", "POST", f"{V1}Customer",
                        body=member(TIERS, RUN))["data"]["name"]
    first = f"{RUN}-000001"
    rec.send("PL a member's sale as its own Sales Invoice", "POST", SI,
             body=sale(first, customer, [(PR01, 10)]))
    entries(rec, "PL the member's points after the sale", customer)
    rec.send("PL a sale redeeming 5 points (0.50), cash for the rest", "POST", SI,
             body=sale(f"{RUN}-000002", customer, [(PR01, 4)], points=5, worth=0.5))
    entries(rec, "PL the member's points after the redemption", customer)
    rec.send("PL a sale the points pay whole (a cash row of 0)", "POST", SI,
             body=sale(f"{RUN}-000003", customer, [(PR16, 2)], points=10, worth=1.0))
    entries(rec, "PL the member's points after the sale paid in points", customer)
    rec.send("PL the first sale returned against it", "POST", SI,
             body=sale(f"{RUN}-000004", customer, [(PR01, -10)], against=first))
    entries(rec, "PL the member's points after the return", customer)
    rec.send("PL change given, base_change_amount not sent: refused", "POST", SI,
             body=sale(f"{RUN}-000006", customer, [(PR01, 2)], change=5.02, base_change=False))
    rec.send("PL change given, with base_change_amount", "POST", SI,
             body=sale(f"{RUN}-000007", customer, [(PR01, 2)], change=5.02))
    rec.send("PL a redemption beyond the balance: refused", "POST", SI,
             body=sale(f"{RUN}-000005", customer, [(PR01, 100)], points=2000, worth=200.0))


if __name__ == "__main__":
    main()
