"""Record how a real ERPNext 15 takes POS Invoices of batch- and serial-tracked items
(issue 15): which rows it accepts or refuses and with what words, what it stores on them,
how the batches' stock and the serial numbers read before and after the shift's closing
consolidates. The oracle of the counter's batches and serials.

Run by hand against a lab ERPNext (never by pytest: it writes to that site)::

    source /work/erpnext-lab/env.sh
    cd tests/lab/recorded && ../../../.venv/bin/python record_batches.py > batch-cases.json

It makes the items of ``batch_store`` with this run's batches and serial numbers, opens a
shift, and submits the ``STEPS`` one after another as a counter forwards them (rows with
``batch_no`` / ``serial_no``, the list price, paid exactly; a return names its sold rows
by ``pos_invoice_item``). Then it reads the stock of every batch and serial number of the
warehouse, closes the shift with ERPNext's own closing entry (which consolidates it) and
reads them again, with the consolidated Sales Invoice's rows. Last, a sale under a
name of the counter's, submitted in the request that creates it and as a draft then
submitted (``named``): ERPNext 15.71 takes only the second.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).parents[3]))  # the repository: batch_store's home

from record_pricing import (  # noqa: E402
    ABBR,
    COMPANY,
    PRICE_LIST,
    PROFILE,
    TODAY,
    V1,
    WAREHOUSE,
    Site,
    _message,
    opening,
)

from tests.lab.recorded.batch_store import (  # noqa: E402
    BATCHES,
    FLOUR,
    ITEMS,
    PHONE,
    SYRUP,
    batch,
    make,
    serial,
)
from tests.lab.recorded.pricing_store import WALK_IN  # noqa: E402

SITE_ZONE = ZoneInfo("Europe/Berlin")  # the lab site's (tools/erpnext-lab)
ROW = ("idx", "name", "item_code", "qty", "stock_qty", "rate", "amount", "warehouse",
       "batch_no", "serial_no", "use_serial_batch_fields", "serial_and_batch_bundle",
       "pos_invoice_item")
_BATCH = "erpnext.stock.doctype.batch.batch."
_CLOSING = "erpnext.accounts.doctype.pos_closing_entry.pos_closing_entry."

# A row: (item, qty, batch name without suffix or None, serial numbers or None)
Row = tuple[str, int, str | None, list[int] | None]
# (about, rows) a sale; or (about, step number returned, [(its row index, qty)]) a return
STEPS: list[tuple[str, Any, Any]] = [
    ("a batch expiring soon", [(SYRUP, 2, "BT-01-SOON", None)], None),
    ("an expired batch: refused", [(SYRUP, 1, "BT-01-EXPIRED", None)], None),
    ("a batch item without its batch: ERPNext picks one", [(SYRUP, 1, None, None)], None),
    ("more than the batch holds", [(SYRUP, 5, "BT-01-SOON", None)], None),
    ("another item's batch", [(SYRUP, 1, "BT-02-A", None)], None),
    ("one line's qty from two batches", [(SYRUP, 1, "BT-01-SOON", None),
                                         (SYRUP, 2, "BT-01-LATE", None)], None),
    ("a batch without expiry", [(FLOUR, 3, "BT-02-A", None)], None),
    ("a serial number", [(PHONE, 1, None, [1])], None),
    ("the same serial number again, not consolidated", [(PHONE, 1, None, [1])], None),
    ("two serial numbers on a row", [(PHONE, 2, None, [2, 3])], None),
    ("a serial item without its serial number: ERPNext picks one", [(PHONE, 1, None, None)], None),
    ("two units with one serial number", [(PHONE, 2, None, [4])], None),
    ("a serial number the store never had", [(PHONE, 1, None, [99])], None),
    ("a batch and a serial number in one sale", [(FLOUR, 1, "BT-02-B", None),
                                                 (PHONE, 1, None, [5])], None),
    ("the first sale returned in part", 1, [(0, 1)]),
    ("the serial number returned", 8, [(0, 1)]),
    ("the returned serial number sold again", [(PHONE, 1, None, [1])], None),
    ("a serial number returned twice", 8, [(0, 1)]),
]

# Sold in the next shift, after the first one's closing consolidated it
AFTER_CLOSING: list[tuple[str, list[Row]]] = [
    ("the returned serial number, its return consolidated", [(PHONE, 1, None, [1])]),
    ("a serial number sold and consolidated", [(PHONE, 1, None, [2])]),
    ("the batch sold out before, its return consolidated", [(SYRUP, 1, "BT-01-SOON", None)]),
]


def _row(item: str, qty: int, batch_name: str | None, serials: list[int] | None,
         suffix: str) -> dict[str, Any]:
    price = ITEMS[item][1]
    return {"item_code": item, "qty": qty, "uom": "Nos", "price_list_rate": price,
            "rate": price, "use_serial_batch_fields": int(bool(batch_name or serials)),
            **({"batch_no": batch(batch_name, suffix)} if batch_name else {}),
            **({"serial_no": "\n".join(serial(n, suffix) for n in serials)}
               if serials else {})}


def _invoice(customer: str, items: list[dict[str, Any]], paid: float, docstatus: int,
             **more: Any) -> dict[str, Any]:
    return {"is_pos": 1, "update_stock": 1, "pos_profile": PROFILE, "company": COMPANY,
            "customer": customer,
            "selling_price_list": PRICE_LIST, "ignore_pricing_rule": 1,
            "docstatus": docstatus, "items": items,
            "payments": [{"mode_of_payment": "Cash", "amount": paid,
                          "account": f"Cash - {ABBR}", "default": 1}],
            "paid_amount": paid, **more}


def _post(site: Site, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = site.client.post(f"{V1}POS Invoice", json=body)
    return response.status_code, response.json()


def _refusal(answer: dict[str, Any]) -> dict[str, Any]:
    return {"exc_type": answer.get("exc_type"), "message": _message(answer)}


def sell(site: Site, customer: str, rows: list[Row], suffix: str) -> dict[str, Any]:
    items = [_row(*row, suffix=suffix) for row in rows]
    status, draft = _post(site, _invoice(customer, items, 10_000, 0))
    if status != 200:
        return {"request": items, "status": status, "stage": "draft", "error": _refusal(draft)}
    due = float(draft["data"]["rounded_total"] or draft["data"]["grand_total"])
    status, answer = _post(site, _invoice(customer, items, due, 1))
    if status != 200:
        return {"request": items, "status": status, "stage": "submit",
                "error": _refusal(answer)}
    doc = answer["data"]
    return {"request": items, "status": 200, "name": doc["name"],
            "grand_total": doc["grand_total"],
            "items": [{k: r.get(k) for k in ROW} for r in doc["items"]]}


def give_back(site: Site, customer: str, sold: dict[str, Any],
              rows: list[tuple[int, int]]) -> dict[str, Any]:
    items = []
    for index, qty in rows:
        row = sold["items"][index]
        items.append({"item_code": row["item_code"], "qty": -qty, "uom": "Nos",
                      "price_list_rate": row["rate"], "rate": row["rate"],
                      "pos_invoice_item": row["name"], "use_serial_batch_fields": 1,
                      **{k: row[k] for k in ("batch_no",) if row.get(k)},
                      **({"serial_no": row["serial_no"].split("\n")[0]}
                         if row.get("serial_no") else {})})
    refund = -round(sum(i["rate"] * -i["qty"] for i in items), 2)
    body = _invoice(customer, items, refund, 1, is_return=1,
                    return_against=sold["name"])
    status, answer = _post(site, body)
    out: dict[str, Any] = {"request": items, "return_against": sold["name"], "status": status}
    if status != 200:
        return {**out, "error": _refusal(answer)}
    doc = answer["data"]
    return {**out, "name": doc["name"], "grand_total": doc["grand_total"],
            "items": [{k: r.get(k) for k in ROW} for r in doc["items"]]}


def named(site: Site, customer: str, suffix: str) -> dict[str, Any]:
    """A sale of a batch under a name of the counter's (as the forwarder sends it), in one
    request submitted, and as a draft then submitted with a PUT."""
    out: dict[str, Any] = {}
    for way, docstatus in (("submitted in one request", 1), ("draft, then submitted", 0)):
        name = f"BT-NAMED-{suffix}-{docstatus}"
        body = {**_invoice(customer, [_row(SYRUP, 1, "BT-01-LATE", None, suffix)], 4.5,
                           docstatus), "name": name}
        status, answer = _post(site, body)
        if status == 200 and docstatus == 0:
            response = site.client.put(f"{V1}POS Invoice/{name}", json={"docstatus": 1})
            status, answer = response.status_code, response.json()
        out[way] = {"name": name, "status": status,
                    **({"docstatus": answer["data"]["docstatus"],
                        "batch_no": answer["data"]["items"][0]["batch_no"]} if status == 200
                       else {"error": _refusal(answer)})}
    return out


def readings(site: Site, suffix: str) -> dict[str, Any]:
    """The warehouse's batches as ``get_batch_qty`` gives them (the whole warehouse, and
    per item), and this run's serial numbers as Serial No holds them."""
    def call(**args: Any) -> Any:
        response = site.client.get(f"/api/method/{_BATCH}get_batch_qty", params=args)
        return response.json().get("message") if response.status_code == 200 else {
            "status": response.status_code, **_refusal(response.json())}

    ours = {batch(name, suffix) for name in BATCHES}
    whole = call(warehouse=WAREHOUSE, for_stock_levels=1)
    per_item = {item: call(warehouse=WAREHOUSE, item_code=item, for_stock_levels=1)
                for item in (SYRUP, FLOUR)}
    serials = site.client.get(f"{V1}Serial No", params={
        "filters": json.dumps([["item_code", "=", PHONE], ["name", "like", f"%-{suffix}-%"]]),
        "fields": json.dumps(["name", "status", "warehouse", "modified"]),
        "limit_page_length": 0}).json()["data"]
    bins = site.client.get(f"{V1}Bin", params={
        "filters": json.dumps([["warehouse", "=", WAREHOUSE],
                               ["item_code", "in", list(ITEMS)]]),
        "fields": json.dumps(["item_code", "actual_qty", "projected_qty"])}).json()["data"]
    return {"whole_warehouse": [b for b in whole if b.get("batch_no") in ours]
            if isinstance(whole, list) else whole,
            "per_item": {item: [b for b in rows if b.get("batch_no") in ours]
                         if isinstance(rows, list) else rows for item, rows in per_item.items()},
            "serials": sorted(serials, key=lambda s: s["name"]), "bins": bins}


def close(site: Site, shift: str, invoices: list[dict[str, Any]]) -> dict[str, Any]:
    """The shift closed as a counter closes it, listing its invoices (which consolidates
    them), and the consolidated Sales Invoices' rows."""
    opened = site.get("POS Opening Entry", shift) or {}
    now = datetime.now(SITE_ZONE).strftime("%Y-%m-%d %H:%M:%S")  # ERPNext's local time
    total = round(sum(i["grand_total"] for i in invoices), 2)
    body = {"docstatus": 1, "pos_opening_entry": shift, "company": COMPANY,
            "pos_profile": PROFILE, "user": opened.get("user"),
            "period_start_date": opened.get("period_start_date"), "period_end_date": now,
            "posting_date": now[:10], "posting_time": now[11:],
            "grand_total": total, "net_total": total,
            "total_quantity": 0,
            "pos_transactions": [{"pos_invoice": i["name"], "posting_date": str(TODAY),
                                  "grand_total": i["grand_total"], "customer": WALK_IN}
                                 for i in invoices],
            "payment_reconciliation": [{"mode_of_payment": "Cash", "opening_amount": 0,
                                        "expected_amount": total, "closing_amount": total,
                                        "difference": 0}]}
    response = site.client.post(f"{V1}POS Closing Entry", json=body)
    if response.status_code != 200:
        return {"status": response.status_code, **_refusal(response.json())}
    closing = response.json()["data"]
    for _ in range(60):  # a big closing consolidates in the background
        closing = site.get("POS Closing Entry", closing["name"]) or closing
        if closing.get("status") != "Queued":
            break
        time.sleep(1)
    logs = site.client.get(f"{V1}POS Invoice Merge Log", params={
        "filters": json.dumps([["pos_closing_entry", "=", closing["name"]]]),
        "fields": json.dumps(["name", "consolidated_invoice", "consolidated_credit_note"])}
    ).json()["data"]
    consolidated = []
    for log in logs:
        for name in (log.get("consolidated_invoice"), log.get("consolidated_credit_note")):
            if name:
                doc = site.get("Sales Invoice", name) or {}
                consolidated.append({"name": name, "is_return": doc.get("is_return"),
                                     "items": [{k: r.get(k) for k in (
                                         "item_code", "qty", "batch_no", "serial_no",
                                         "serial_and_batch_bundle", "use_serial_batch_fields")}
                                         for r in doc.get("items", [])]})
    return {"status": 200, "name": closing["name"], "state": closing.get("status"),
            "error_message": closing.get("error_message"), "consolidated": consolidated}


def main() -> None:
    site = Site()
    suffix = time.strftime("%m%d%H%M%S")
    make(site.insert, lambda doctype, name: site.get(doctype, name) is not None,
         company=COMPANY, price_list=PRICE_LIST, warehouse=WAREHOUSE, today=TODAY,
         suffix=suffix)
    customer = WALK_IN
    shift = opening(site)
    steps: list[dict[str, Any]] = []
    for number, (about, what, rows) in enumerate(STEPS, 1):
        if isinstance(what, int):
            sold = steps[what - 1]
            record = give_back(site, customer, sold, rows)
        else:
            record = sell(site, customer, what, suffix)
        steps.append({"id": f"batch-{number:02d}", "about": about, **record})
    before = readings(site, suffix)
    closing = close(site, shift, [s for s in steps if s.get("status") == 200])
    after = readings(site, suffix)
    shift = opening(site)
    try:
        for number, (about, rows) in enumerate(AFTER_CLOSING, len(steps) + 1):
            steps.append({"id": f"batch-{number:02d}", "about": about,
                          **sell(site, customer, rows, suffix)})
        under_our_name = named(site, customer, suffix)
    finally:
        site.client.post("/api/method/frappe.client.cancel",
                         json={"doctype": "POS Opening Entry", "name": shift})
    version = site.client.get("/api/method/frappe.utils.change_log.get_versions").json()
    json.dump({"erpnext_version": version.get("message", {}).get("erpnext", {}),
               "recorded_on": str(TODAY), "suffix": suffix, "warehouse": WAREHOUSE,
               "items": ITEMS, "batches": {batch(n, suffix): site.get("Batch", batch(n, suffix))
                                           for n in BATCHES},
               "steps": steps, "before_closing": before, "closing": closing,
               "named": under_our_name,
               "after_closing": after,
               "expired_on": str(TODAY + timedelta(days=BATCHES["BT-01-EXPIRED"][1] or 0))},
              sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
