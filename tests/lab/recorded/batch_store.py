"""The batch- and serial-tracked items the recordings and contract tests sell (issue 15):
a syrup in batches with expiry dates (one expired, one expiring soon, one late), flour in
batches without one, and a phone sold by serial number. ``make`` sets them up on a site
(the lab's ERPNext 15 or the simulator) with their stock received two weeks back, the
batch ids and serial numbers ending in ``suffix`` so that every run has its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

SYRUP, FLOUR, PHONE = "BT-01", "BT-02", "SN-01"
# item -> (name, price per Nos, batch-tracked with expiry, batch-tracked, serial-tracked)
ITEMS: dict[str, tuple[str, float, bool, bool, bool]] = {
    SYRUP: ("Cough Syrup 100 ml", 4.50, True, True, False),
    FLOUR: ("Flour 1 kg", 1.29, False, True, False),
    PHONE: ("Phone X1", 199.00, False, False, True),
}
# batch (without its suffix) -> (item, days to expiry from today or None, qty received)
BATCHES: dict[str, tuple[str, int | None, int]] = {
    "BT-01-EXPIRED": (SYRUP, -1, 5),
    "BT-01-SOON": (SYRUP, 10, 3),
    "BT-01-LATE": (SYRUP, 300, 50),
    "BT-02-A": (FLOUR, None, 20),
    "BT-02-B": (FLOUR, None, 20),
}
GROUP = "BT Tracked"
SERIALS = 8  # of the phone: SN-01-0001 ... received


def batch(name: str, suffix: str) -> str:
    return f"{name}-{suffix}"


def serial(number: int, suffix: str) -> str:
    return f"{PHONE}-{suffix}-{number:04d}"


def make(insert: Callable[[str, dict[str, Any]], Any], exists: Callable[[str, str], bool], *,
         company: str, price_list: str, warehouse: str, today: date, suffix: str) -> None:
    """The items (once), this run's batches and serial numbers, and their stock."""
    if not exists("Item Group", GROUP):
        insert("Item Group", {"item_group_name": GROUP, "parent_item_group": "All Item Groups"})
    for code, (name, price, expiry, batched, serialised) in ITEMS.items():
        if exists("Item", code):
            continue
        insert("Item", {
            "item_code": code, "item_name": name, "item_group": GROUP, "stock_uom": "Nos",
            "is_stock_item": 1, "has_batch_no": int(batched), "has_expiry_date": int(expiry),
            "has_serial_no": int(serialised), "create_new_batch": 0,
            "uoms": [{"uom": "Nos", "conversion_factor": 1}]})
        insert("Item Price", {"item_code": code, "price_list": price_list, "uom": "Nos",
                              "price_list_rate": price, "valid_from": "2020-01-01"})
    received = today - timedelta(days=14)
    for name, (item, days, _) in BATCHES.items():
        insert("Batch", {"batch_id": batch(name, suffix), "item": item,
                         "manufacturing_date": str(received - timedelta(days=30)),
                         **({} if days is None else
                            {"expiry_date": str(today + timedelta(days=days))})})
    rows = [{"item_code": item, "t_warehouse": warehouse, "qty": qty, "basic_rate": 1,
             "uom": "Nos", "conversion_factor": 1, "use_serial_batch_fields": 1,
             "batch_no": batch(name, suffix)} for name, (item, _, qty) in BATCHES.items()]
    rows.append({"item_code": PHONE, "t_warehouse": warehouse, "qty": SERIALS,
                 "basic_rate": 100, "uom": "Nos", "conversion_factor": 1,
                 "use_serial_batch_fields": 1,
                 "serial_no": "\n".join(serial(n, suffix) for n in range(1, SERIALS + 1))})
    insert("Stock Entry", {"company": company, "stock_entry_type": "Material Receipt",
                           "purpose": "Material Receipt", "docstatus": 1,
                           "posting_date": str(received), "set_posting_time": 1,
                           "items": rows})
