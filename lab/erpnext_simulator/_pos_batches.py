"""Batch and serial numbers on POS Invoice rows (recorded on ERPNext 15.71:
``tests/lab/recorded/batch-cases.json``).

A sold row of a batch item without a batch of its own (none, or another item's) gets one,
and a serial item's row without serial numbers gets them, as ERPNext's
``get_item_details`` picks them: from what the warehouse holds for a sale, in the order of
Stock Settings (FIFO: the oldest first), the row then marked ``use_serial_batch_fields``.
A batch expired before the posting date is refused, drafts too. Submitting checks each
sold row as ERPNext's Serial and Batch Bundle does, saving them all and then submitting
them: every serial number must exist, the batch must hold the row's quantity
(``_batches.held``), the row must carry as many serial numbers as units; then each serial
number must be in the row's warehouse and not sold by a POS Invoice not yet consolidated,
even one returned since. A return row of a batch item without ``use_serial_batch_fields``
fails with ERPNext's own AttributeError (a 500), so a counter that forgets the flag fails
here as it would there.
"""

from __future__ import annotations

from urllib.parse import quote

from tillmesh.lab.erpnext_simulator._batches import (
    batches,
    expired,
    held,
    pick_order,
    serial_list,
    serial_place,
    sold_serials,
)
from tillmesh.lab.erpnext_simulator._clock import fmt_datetime, posting_moment
from tillmesh.lab.erpnext_simulator._const import QTY_EPSILON
from tillmesh.lab.erpnext_simulator._documents import row_missing
from tillmesh.lab.erpnext_simulator._errors import (
    BatchExpiredError,
    BatchNegativeStockError,
    LinkValidationError,
    MandatoryError,
    SerialNoWarehouseError,
    ServerAttributeError,
    ValidationError,
)
from tillmesh.lab.erpnext_simulator._meta import cint, flt
from tillmesh.lab.erpnext_simulator._money import quantity
from tillmesh.lab.erpnext_simulator._stock import negative_stock_allowed
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn


def _bold(value: object) -> str:
    return f"<strong>{value}</strong>"


def _sold(invoice: Doc, row: Doc) -> bool:
    return not cint(invoice.get("is_return")) and flt(row.get("stock_qty")) > 0


def pick(txn: Txn, invoice: Doc, row: Doc) -> None:
    """A batch and serial numbers for a sold row that names none of its item's."""
    item = txn.get("Item", row.get("item_code")) or {}
    warehouse, need = row.get("warehouse"), flt(row.get("stock_qty"))
    if not (_sold(invoice, row) and warehouse):
        return
    own = txn.get("Batch", row.get("batch_no")) or {}
    if cint(item.get("has_batch_no")) and own.get("item") != item.get("name"):
        stock = [(b["name"], held(txn, b["name"], warehouse, invoice.get("name")))
                 for b in pick_order(txn, batches(txn, item.get("name"),
                                                  unexpired_on=txn.today))]
        stock = [(name, qty) for name, qty in stock if qty > QTY_EPSILON]
        if stock:  # the first holding enough, else the last (ERPNext's loop)
            row["batch_no"] = next((name for name, qty in stock if qty >= need - QTY_EPSILON),
                                   stock[-1][0])
            row["use_serial_batch_fields"] = 1
    if cint(item.get("has_serial_no")) and not serial_list(row.get("serial_no")):
        sold = sold_serials(txn, invoice.get("name"))
        free = [s["name"] for s in pick_order(txn, txn.find("Serial No", "item_code",
                                                           item.get("name")))
                if s.get("warehouse") == warehouse and s["name"] not in sold]
        if free:
            row["serial_no"] = "\n".join(free[:max(1, int(need))])
            row["use_serial_batch_fields"] = 1


def check_expiry(txn: Txn, invoice: Doc) -> None:
    """``validate_serialized_batch``: no sold row's batch expired before the posting
    date."""
    for idx, row in enumerate(invoice.get("items") or [], 1):
        batch = txn.get("Batch", row.get("batch_no"))
        if batch and flt(row.get("qty")) > 0 and expired(batch, invoice.get("posting_date")):
            link = _form_link(txn, "Batch", batch["name"])
            raise BatchExpiredError(f"Row #{idx}: The batch {link} has already expired.")


def _form_link(txn: Txn, doctype: str, name: str) -> str:
    """Frappe's ``get_link_to_form``: the desk form, at the site's own address."""
    slug = doctype.lower().replace(" ", "-")
    return f'<a href="{txn.host_url}/app/{slug}/{quote(name)}">{name}</a>'


def check_on_submit(txn: Txn, invoice: Doc, *, chosen_name: bool) -> None:
    """The rows' Serial and Batch Bundles: all saved (:func:`_check_saved`), then all
    submitted (:func:`_check_present`)."""
    rows = invoice.get("items") or []
    if chosen_name and any(row.get("batch_no") or row.get("serial_no") for row in rows):
        # Recorded (batch-cases.json "named"): a name of the client's with docstatus 1 in
        # the request that creates it leaves the bundle's entries without a parent; as a
        # draft, then a submit, it works.
        message = row_missing("Serial and Batch Entry", 1, "parent")
        raise MandatoryError(message, notes=[message], erpnext=True)
    for row in rows:
        _check_saved(txn, invoice, row)
    serialised = [row for row in rows if _sold(invoice, row) and row.get("serial_no")]
    sold = sold_serials(txn, invoice["name"]) if serialised else set()
    for row in serialised:
        _check_present(txn, invoice, row, sold)


def _check_saved(txn: Txn, invoice: Doc, row: Doc) -> None:
    """What saving a row's bundle refuses: a batch return row without the flag (ERPNext's
    own 500), an unknown serial number, a sale of more than its batch holds, fewer serial
    numbers (or no batch) than units."""
    item = txn.get("Item", row.get("item_code")) or {}
    batched, serialised = cint(item.get("has_batch_no")), cint(item.get("has_serial_no"))
    if cint(invoice.get("is_return")):
        if batched and not cint(row.get("use_serial_batch_fields")):
            raise ServerAttributeError("'SerialBatchCreation' object has no attribute "
                                       "'is_rejected'")
        return
    if not (batched or serialised) or not _sold(invoice, row):
        return
    serials = serial_list(row.get("serial_no"))
    unknown = [f"Row #{n}: Serial No: {s}" for n, s in enumerate(serials, 1)
               if not txn.exists("Serial No", s)]
    if unknown:  # the bundle's link check
        raise LinkValidationError(f"Could not find {', '.join(unknown)}")
    code, warehouse, required = row["item_code"], row.get("warehouse"), flt(row["stock_qty"])
    if batched and row.get("batch_no") and not negative_stock_allowed(txn, code):
        left = quantity(held(txn, row["batch_no"], str(warehouse), invoice["name"]) - required)
        if left < -QTY_EPSILON:
            raise BatchNegativeStockError(
                f"Batch No {_bold(row['batch_no'])} of an Item {_bold(code)}\n\t\t\t\thas "
                f"negative stock\n\t\t\t\tof quantity {_bold(left)} in the\n\t\t\t\t"
                f"warehouse {warehouse}")
    available = float(len(serials)) if serialised else required if row.get("batch_no") else 0.0
    if available < required - QTY_EPSILON:
        raise ValidationError(
            f"For the item {_bold(code)}, the Available qty {_bold(available)} is less than "
            f"the Required Qty {_bold(required)} in the warehouse {_bold(warehouse)}. Please "
            "add sufficient qty in the warehouse.", title="Insufficient Stock", erpnext=True)


def _check_present(txn: Txn, invoice: Doc, row: Doc, sold: set[str]) -> None:
    """``validate_serial_nos_inventory``: each serial number in the row's warehouse as of
    the invoice's posting time (a sale posted before another's booking of the unit passes:
    seen on ERPNext 15.71 with counters cut off from each other)."""
    as_of = fmt_datetime(posting_moment(invoice["posting_date"], invoice["posting_time"]))
    for serial in serial_list(row.get("serial_no")):
        if serial in sold or serial_place(txn, row["item_code"], serial,
                                          as_of) != row.get("warehouse"):
            raise SerialNoWarehouseError(f"Serial No {_bold(serial)} is not present in the "
                                         f"warehouse {_bold(row.get('warehouse'))}.")
