"""Batches and serial numbers: the Batch doctype, what the stock ledger says of each batch
and serial number, and ``get_batch_qty`` (recorded on ERPNext 15.71:
``tests/lab/recorded/batch-cases.json``).

A batch's stock is the ledger rows naming it, so it moves when a voucher is booked (a
Stock Entry, a consolidated Sales Invoice), never for a POS Invoice; each booking sets the
Batch's ``batch_qty``, and with it its ``modified`` (ERPNext's ``update_batch_qty``, which
counts only batches not expired on the day: an expired one reads 0, as recorded). A
serial number is where its ledger rows leave it: received, it gets a Serial No "Active"
in that warehouse; booked out, it is "Delivered" with none. ERPNext writes a Serial No's
status and warehouse without touching its ``modified`` (recorded), so the simulator does
too. What POS sales not yet consolidated sell stays theirs until then: :func:`held` takes
it off a batch, :func:`sold_serials` names the serial numbers; their returns give nothing
back before they are consolidated (recorded: a serial number sold, then returned, is
still refused).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tillmesh.lab.erpnext_simulator._clock import getdate
from tillmesh.lab.erpnext_simulator._const import QTY_EPSILON
from tillmesh.lab.erpnext_simulator._controller import Controller
from tillmesh.lab.erpnext_simulator._errors import ValidationError
from tillmesh.lab.erpnext_simulator._meta import cint, flt
from tillmesh.lab.erpnext_simulator._money import quantity
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn

LEDGER = "Stock Ledger Entry"


def serial_list(text: Any) -> list[str]:
    """ERPNext's ``get_serial_nos``: one serial number a line (or between commas)."""
    return [s.strip() for s in str(text or "").replace(",", "\n").split("\n") if s.strip()]


class Batch(Controller):
    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        item = txn.get("Item", doc.get("item")) or {}
        doc.setdefault("item_name", item.get("item_name"))
        doc.setdefault("stock_uom", item.get("stock_uom"))
        if old is None:  # valued by batch, as ERPNext's default Stock Settings make it
            doc["use_batchwise_valuation"] = 1

    def validate(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        item = txn.get("Item", doc.get("item")) or {}
        if not cint(item.get("has_batch_no")):
            raise ValidationError("The selected item cannot have Batch", erpnext=True)


# -- the ledger's word ------------------------------------------------------------------
def batch_stock(txn: Txn, batch_no: str) -> dict[str, float]:
    """A batch's ledger quantity per warehouse."""
    found: dict[str, float] = {}
    for row in txn.find(LEDGER, "batch_no", batch_no):
        if not row.get("is_cancelled"):
            found[row["warehouse"]] = found.get(row["warehouse"], 0.0) + flt(row["actual_qty"])
    return {warehouse: quantity(qty) for warehouse, qty in found.items()}


def serial_place(txn: Txn, item_code: str, serial: str, as_of: str | None = None) -> str | None:
    """The warehouse a serial number's live ledger rows leave it in, if any; ``as_of`` a
    posting datetime, only the rows posted up to it (what ERPNext checks a sale against:
    a row posted later does not count, even if it was booked before)."""
    count: dict[str, int] = {}
    for row in txn.find(LEDGER, "item_code", item_code):
        if not row.get("is_cancelled") and serial in serial_list(row.get("serial_no")) \
                and (as_of is None or row["posting_datetime"] <= as_of):
            count[row["warehouse"]] = count.get(row["warehouse"], 0) + (
                1 if flt(row["actual_qty"]) > 0 else -1)
    return next((warehouse for warehouse, n in count.items() if n > 0), None)


def restate(txn: Txn, entries: Iterable[Doc]) -> None:
    """After the ledger rows ``entries`` were booked or cancelled: their batches'
    ``batch_qty`` and their serial numbers' status and warehouse, as the ledger says."""
    entries = list(entries)
    for batch_no in dict.fromkeys(e["batch_no"] for e in entries if e.get("batch_no")):
        batch = txn.edit("Batch", batch_no)
        batch["batch_qty"] = 0.0 if expired(batch, txn.today) else quantity(
            sum(batch_stock(txn, batch_no).values()))
        txn.touch("Batch", batch)
    for entry in entries:
        for serial in serial_list(entry.get("serial_no")):
            warehouse = serial_place(txn, entry["item_code"], serial)
            state = {"warehouse": warehouse, "status": "Active" if warehouse else "Delivered"}
            if txn.exists("Serial No", serial):
                txn.edit("Serial No", serial).update(state)  # modified stays (recorded)
                continue
            item = txn.get("Item", entry["item_code"]) or {}
            txn.create("Serial No", {
                "serial_no": serial, "item_code": entry["item_code"],
                "item_name": item.get("item_name"), "company": entry.get("company"),
                "batch_no": entry.get("batch_no"), "purchase_document_no": entry["voucher_no"],
                **state}, name=serial)


# -- what POS sales hold ----------------------------------------------------------------
def _pending_sales(txn: Txn, but: str | None) -> Iterator[Doc]:
    """Rows of the submitted POS sales not yet consolidated, but invoice ``but``'s."""
    for invoice in txn.all("POS Invoice"):
        if invoice.get("docstatus") == 1 and not invoice.get("consolidated_invoice") \
                and not cint(invoice.get("is_return")) and invoice["name"] != but:
            yield from invoice.get("items") or []


def held(txn: Txn, batch_no: str, warehouse: str, but: str | None = None) -> float:
    """What a batch holds in a warehouse for a sale: its ledger quantity less what POS
    sales not yet consolidated (but invoice ``but``) sell of it."""
    sold = sum(flt(row.get("stock_qty")) for row in _pending_sales(txn, but)
               if row.get("batch_no") == batch_no and row.get("warehouse") == warehouse)
    return quantity(batch_stock(txn, batch_no).get(warehouse, 0.0) - sold)


def sold_serials(txn: Txn, but: str | None = None) -> set[str]:
    """Serial numbers sold by POS sales not yet consolidated (but invoice ``but``)."""
    return {serial for row in _pending_sales(txn, but)
            for serial in serial_list(row.get("serial_no"))}


# -- which batches ----------------------------------------------------------------------
def batches(txn: Txn, item_code: str | None, *, unexpired_on: str | None) -> list[Doc]:
    """Batches not disabled (of ``item_code``), oldest first; only those not expired on
    ``unexpired_on`` unless that is None."""
    found = [b for b in txn.all("Batch") if not cint(b.get("disabled"))
             and (not item_code or b.get("item") == item_code)
             and (unexpired_on is None or not expired(b, unexpired_on))]
    return oldest_first(found)


def expired(batch: Doc, on: Any) -> bool:
    """Whether the batch expired before the date ``on``."""
    return bool(batch.get("expiry_date")) and getdate(batch["expiry_date"]) < getdate(on)


def oldest_first(docs: Iterable[Doc]) -> list[Doc]:
    return sorted(docs, key=lambda d: (d["creation"], d["name"]))


def pick_order(txn: Txn, docs: Iterable[Doc]) -> list[Doc]:
    """Stock Settings' ``pick_serial_and_batch_based_on``: FIFO (the oldest first), LIFO,
    or Expiry (the first to expire first, those without an expiry date last)."""
    settings = txn.get("Stock Settings", "Stock Settings") or {}
    based_on = settings.get("pick_serial_and_batch_based_on")
    ordered = oldest_first(docs)
    if based_on == "LIFO":
        return ordered[::-1]
    if based_on == "Expiry":
        return sorted(ordered, key=lambda d: str(d.get("expiry_date") or "9999-12-31"))
    return ordered


def get_batch_qty(txn: Txn, args: Mapping[str, Any]) -> list[Doc] | float:
    """ERPNext's ``get_batch_qty``: each batch's quantity per warehouse above zero, the
    oldest batch first, expired ones only ``for_stock_levels``. The quantity is the
    ledger's; asked for an ``item_code``, less what POS sales not yet consolidated hold
    (recorded: ERPNext looks its POS reservations up by item, so a whole warehouse's
    reading has none). With ``batch_no`` and ``warehouse``: that batch's quantity there."""
    item_code, warehouse, batch_no = (args.get(k) or None
                                      for k in ("item_code", "warehouse", "batch_no"))
    levels = cint(args.get("for_stock_levels"))
    found: list[Doc] = []
    for batch in batches(txn, item_code, unexpired_on=None if levels else txn.today):
        if batch_no and batch["name"] != batch_no:
            continue
        for place, qty in batch_stock(txn, batch["name"]).items():
            if warehouse and place != warehouse:
                continue
            qty = held(txn, batch["name"], place) if item_code else qty
            if qty > QTY_EPSILON:
                found.append({"batch_no": batch["name"], "warehouse": place, "qty": qty,
                              "expiry_date": batch.get("expiry_date")})
    if batch_no and warehouse:
        return quantity(sum(row["qty"] for row in found))
    return found
