"""Record what a real ERPNext 15 answers to per-shift delivery's consolidated Sales Invoices.

Run by hand against a lab ERPNext (never by pytest: it writes to that site), after
``tillmesh erpnext setup --delivery per-shift`` (or the contract tests in that mode) made
the Sales Invoice custom fields::

    source /work/erpnext-lab/env.sh   # TILLMESH_ERPNEXT_URL, _KEY, _SECRET
    cd tests/lab/recorded && ../../../.venv/bin/python record_per_shift.py \\
        > erpnext-15.71-per-shift.jsonl

Documents are shaped as ``node/erpnext/_per_shift.py`` shapes them (``is_pos``,
``is_consolidated``, rows at their summed net amounts, one Actual VAT row per account,
payments by mode, a rounding adjustment carrying what the customers owed) and named
after the run (``PS<hhmmss>-…``). Recorded: an adjustment sent without its ``base_``
amounts (a 500: ERPNext keeps the adjustment and never computes them), a shift's sales
invoice (amounts, rates and a non-zero adjustment kept as sent), one without an
adjustment (ERPNext rounds it itself),
its repeat (409) and a second copy of its origin event under another name (417), a
credit note without ``return_against``, a refund above its total, a sale beyond the stock,
a negative payment on a sale, and the pull's list of the shifts ERPNext holds.
"""

from __future__ import annotations

from typing import Any

from record_erpnext import COMPANY, PROFILE, V2, Recorder  # type: ignore[import-not-found]

RUN = __import__("time").strftime("PS%H%M%S")
DAY = "2026-11-22"
VAT = "VAT 19% - PLG"  # the account of the lab's "DE VAT 19% incl - PLG"
SHIFT = f"{RUN}-SH-000001"


def invoice(name: str, rows: list[tuple[str, float, float]], tax: float,
            payments: list[tuple[str, str, float]], *, adjustment: float, is_return: bool = False,
            origin: str | None = None, shift: str | None = None) -> dict[str, Any]:
    """A consolidated Sales Invoice: rows (item, qty, amount), one VAT row, payments
    (mode, account, amount) and the adjustment to what the customers owed."""
    net = round(sum(a for _, _, a in rows), 2)
    due = round(net + tax + adjustment, 2)
    body: dict[str, Any] = {
        "name": name, "docstatus": 1, "is_pos": 1, "is_consolidated": 1,
        "is_return": int(is_return), "update_stock": 1, "set_posting_time": 1,
        "posting_date": DAY, "posting_time": "21:00:00.000000", "due_date": DAY,
        "company": COMPANY, "pos_profile": PROFILE, "customer": "Walk-in Customer",
        "currency": "EUR", "selling_price_list": "Standard Selling",
        "set_warehouse": "POS Store - PLG", "ignore_pricing_rule": 1, "taxes_and_charges": "",
        "additional_discount_percentage": 0, "discount_amount": 0,
        "items": [{"item_code": code, "qty": qty, "stock_qty": qty, "uom": "Nos",
                   "stock_uom": "Nos", "conversion_factor": 1, "warehouse": "POS Store - PLG",
                   "price_list_rate": 0, "rate": round(amount / qty, 2),
                   "net_rate": round(amount / qty, 2), "amount": amount, "net_amount": amount,
                   "base_rate": round(amount / qty, 2), "base_net_rate": round(amount / qty, 2),
                   "base_amount": amount, "base_net_amount": amount}
                  for code, qty, amount in rows],
        "taxes": [{"charge_type": "Actual", "account_head": VAT, "description": "VAT 19%",
                   "rate": 0, "included_in_print_rate": 0, "tax_amount": tax,
                   "tax_amount_after_discount_amount": tax}],
        "payments": [{"mode_of_payment": mode, "account": account, "amount": amount,
                      "base_amount": amount} for mode, account, amount in payments],
        "rounding_adjustment": adjustment, "base_rounding_adjustment": adjustment,
        "rounded_total": due, "base_rounded_total": due,
        "paid_amount": round(sum(a for _, _, a in payments), 2),
        "base_paid_amount": round(sum(a for _, _, a in payments), 2),
        "tillmesh_origin_event": origin or f"{name}:1/S",
        "remarks": f"Tillmesh {name}"}
    if shift:
        body["tillmesh_shift"] = shift
    return body


def main() -> None:
    rec = Recorder()
    bare = invoice(f"{RUN}-SH-000000-S-a", [("O2-GIN", 1, 19.18)], 3.64,
                   [("Cash", "Cash - PLG", 22.83)], adjustment=0.01)
    del bare["base_rounded_total"], bare["base_rounding_adjustment"]
    rec.send("PS an adjustment without its base_ amounts: 500", "POST", f"{V2}Sales Invoice",
             body=bare)
    sales = invoice(f"{SHIFT}-S-a", [("O2-GIN", 3, 57.53), ("O2-CHEESE", 2, 6.11)], 12.09,
                    [("Cash", "Cash - PLG", 50.00), ("Credit Card", "Card Clearing - PLG", 25.74)],
                    adjustment=0.01, shift=SHIFT)
    rec.send("PS a shift's sales, consolidated, adjustment kept", "POST", f"{V2}Sales Invoice",
             body=sales)
    rec.send("PS the shift's sales read back", "GET", f"{V2}Sales Invoice/{sales['name']}")
    rec.send("PS the same sales again: 409", "POST", f"{V2}Sales Invoice", body=sales)
    rec.send("PS the same origin event under another name: 417", "POST",
             f"{V2}Sales Invoice", body={**sales, "name": f"{SHIFT}-S-b"})
    plain = invoice(f"{RUN}-SH-000002-S-a", [("O2-GIN", 1, 19.18)], 3.64,
                    [("Cash", "Cash - PLG", 22.82)], adjustment=0.0)
    rec.send("PS sales without an adjustment: rounded by ERPNext", "POST",
             f"{V2}Sales Invoice", body=plain)
    credit = invoice(f"{SHIFT}-R-a", [("O2-GIN", -1, -19.18)], -3.64,
                     [("Cash", "Cash - PLG", -22.82)], adjustment=0.0, is_return=True)
    rec.send("PS a shift's returns, a credit note against nothing", "POST",
             f"{V2}Sales Invoice", body=credit)
    rec.send("PS the credit note read back", "GET", f"{V2}Sales Invoice/{credit['name']}")
    over = invoice(f"{RUN}-SH-000003-R-a", [("O2-GIN", -1, -19.18)], -3.64,
                   [("Cash", "Cash - PLG", -22.83)], adjustment=0.0, is_return=True)
    over["rounded_total"] = over["base_rounded_total"] = -22.82
    rec.send("PS a refund above the credit note's total: 417", "POST", f"{V2}Sales Invoice",
             body=over)
    beyond = invoice(f"{RUN}-SH-000004-S-a", [("O2-CHEESE", 100000, 305500.0)], 58045.0,
                     [("Cash", "Cash - PLG", 363545.0)], adjustment=0.0)
    rec.send("PS a shift selling beyond the stock: 417", "POST", f"{V2}Sales Invoice",
             body=beyond)
    negative = invoice(f"{RUN}-SH-000005-S-a", [("O2-GIN", 1, 19.18)], 3.64,
                       [("Cash", "Cash - PLG", 32.82),
                        ("Credit Card", "Card Clearing - PLG", -10.00)], adjustment=0.0)
    rec.send("PS a negative payment on a sale: 417", "POST", f"{V2}Sales Invoice",
             body=negative)
    rec.send("PS the shifts ERPNext holds (the pull's list)", "GET", "/api/resource/Sales Invoice",
             params={"fields": '["tillmesh_shift"]', "limit_page_length": 0,
                     "filters": f'[["tillmesh_shift","like","{RUN}%"],["docstatus","=",1],'
                                f'["pos_profile","=","{PROFILE}"]]'})


if __name__ == "__main__":
    main()
