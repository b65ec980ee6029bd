"""Record what a real ERPNext 15 does when it consolidates POS Invoices priced by Pricing
Rules (issue 15): why a counter forwards rule-priced rows without naming the rules, and
why it refuses a rule that takes a line below zero.

Run by hand against a lab ERPNext (never by pytest: it writes to that site), after
``record_pricing.py`` made the pricing store (items ``PR-01``, ``PR-15`` and the rule
"PR 10% off PR-01")::

    source /work/erpnext-lab/env.sh   # TILLMESH_ERPNEXT_URL, _KEY, _SECRET
    cd tests/lab/recorded && ../../../.venv/bin/python record_pricing_consolidation.py \\
        > erpnext-15.71-pricing-consolidation.jsonl

Shift A sells two carts of 2 x PR-01 at 10 % off, priced as a counter prices them and
sent with ``ignore_pricing_rule``: one naming its rule on the row, one not; its closing
merges both into one Sales Invoice, read back. Shift B sells a cart whose PR-15 row a
rule took to -0.20 (its 0.50 off is above the list price 0.30); its closing is refused.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import record_erpnext  # type: ignore[import-not-found]
from record_erpnext import COMPANY, PROFILE, TAXES, V2, Recorder

RUN = __import__("time").strftime("PC%H%M%S")
# Today: the pricing store's stock was received two days ago (pricing_store.make)
DAY = record_erpnext.DAY = str(date.today())
RULE_TITLE = "PR 10% off PR-01"


def sale(name: str, rows: list[dict[str, Any]], paid: float) -> dict[str, Any]:
    return {
        "name": name, "docstatus": 1, "is_pos": 1, "update_stock": 1, "set_posting_time": 1,
        "posting_date": DAY, "posting_time": "10:00:00", "company": COMPANY,
        "pos_profile": PROFILE, "customer": "Walk-in Customer", "ignore_pricing_rule": 1,
        "taxes_and_charges": TAXES, "selling_price_list": "Standard Selling",
        "items": [{"name": f"{name}-{i}", **row} for i, row in enumerate(rows, 1)],
        "payments": [{"mode_of_payment": "Cash", "amount": paid, "base_amount": paid,
                      "account": "Cash - PLG"}],
        "paid_amount": paid, "base_paid_amount": paid}


def main() -> None:
    rec = Recorder()
    rule = rec.client.get("/api/resource/Pricing Rule", params={
        "filters": json.dumps([["title", "=", RULE_TITLE]])}).json()["data"][0]["name"]
    ten_off = {"item_code": "PR-01", "qty": 2, "uom": "Nos", "price_list_rate": 2.49,
               "discount_percentage": 10, "discount_amount": 0.25, "rate": 2.24}

    shift_a = f"{RUN}-A"
    rec.opening("PC shift A opened", shift_a)
    named, unnamed = f"{RUN}-A-1", f"{RUN}-A-2"
    rec.send("PC A: 10 % off, the rule named on the row", "POST", f"{V2}POS Invoice",
             body=sale(named, [{**ten_off, "pricing_rules": json.dumps([rule], indent=1)}],
                       4.48))
    rec.send("PC A: 10 % off, the rule not named", "POST", f"{V2}POS Invoice",
             body=sale(unnamed, [ten_off], 4.48))
    rec.closing("PC A: closing", shift_a, shift_a, [named, unnamed])
    rec.submit("PC A: closing submitted (under 10 invoices: merged in the request)", shift_a)
    merged = rec.send("PC A: the invoice that named its rule", "GET",
                      f"{V2}POS Invoice/{named}")["data"]["consolidated_invoice"]
    rec.send("PC A: the consolidated Sales Invoice: the named row's rate is 0", "GET",
             f"{V2}Sales Invoice/{merged}")

    shift_b = f"{RUN}-B"
    rec.opening("PC shift B opened", shift_b)
    below = f"{RUN}-B-1"
    rec.send("PC B: a rule's 0.50 off takes PR-15 (list 0.30) to -0.20: taken", "POST",
             f"{V2}POS Invoice", body=sale(below, [
                 {"item_code": "PR-15", "qty": 1, "uom": "Nos", "price_list_rate": 0.30,
                  "discount_amount": 0.50, "rate": -0.20},
                 {"item_code": "PR-01", "qty": 1, "uom": "Nos", "price_list_rate": 2.49,
                  "rate": 2.49}], 2.29))
    rec.closing("PC B: closing", shift_b, shift_b, [below])
    rec.submit("PC B: closing submitted: the merge refuses the negative rate", shift_b)
    rec.send("PC B: the closing afterwards", "GET", f"{V2}POS Closing Entry/{shift_b}")


if __name__ == "__main__":
    main()
