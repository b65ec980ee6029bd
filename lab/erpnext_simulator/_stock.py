"""Stock: the ledger (Stock Ledger Entry rows), Bin, and the Stock Entry doctype.

Every stock move is a ledger row booked at a posting moment; ``Bin.actual_qty`` is the
sum of all rows. A voucher booked at moment T is checked against the stock at T (rows on
or before T) and against every later row, as ERPNext's ``update_entries_after`` does: a
row that would take the quantity below zero is recorded as a shortfall and not applied,
and the error names the largest single shortfall. That is why a consolidation of six
one-unit sales with three in stock reads "1.0 units … needed" (as recorded). A move may
name a batch and serial numbers; their rows carry them, and ``_batches`` restates the
batches and serial numbers a booking or cancellation touched. The refusal names the
voucher and its posting time unless the voucher is being saved under its name (Frappe's
``currently_saving``: a merge's invoice, a submitted draft, a client-named insert).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from tillmesh.lab.erpnext_simulator._batches import restate, serial_list
from tillmesh.lab.erpnext_simulator._clock import (
    fmt_date,
    fmt_datetime,
    fmt_time,
    posting_moment,
    stored_time,
)
from tillmesh.lab.erpnext_simulator._const import QTY_EPSILON
from tillmesh.lab.erpnext_simulator._controller import Controller
from tillmesh.lab.erpnext_simulator._errors import (
    LinkValidationError,
    NegativeStockError,
    ValidationError,
)
from tillmesh.lab.erpnext_simulator._meta import cint, flt
from tillmesh.lab.erpnext_simulator._money import money
from tillmesh.lab.erpnext_simulator._naming import series_prefix
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn

RECONCILIATION_SERIES = "MAT-RECO-.YYYY.-"  # vouchers of set_bin / opening stock
_PURPOSES = ("Material Receipt", "Material Issue", "Material Transfer")
_STYLED_LINK = re.compile(r'<a href="([^"]*)" style="[^"]*">')


@dataclass(frozen=True)
class Move:
    item_code: str
    warehouse: str
    qty: float  # stock UOM; negative: out of the warehouse
    detail: str | None = None  # the voucher row it comes from
    batch_no: str | None = None
    serial_nos: tuple[str, ...] = ()

    @classmethod
    def of_row(cls, row: Doc, warehouse: str, qty: float) -> Move:
        """A voucher row's move, with the batch and serial numbers the row names."""
        return cls(row["item_code"], warehouse, qty, row.get("name"),
                   row.get("batch_no") or None, tuple(serial_list(row.get("serial_no"))))


def shortfalls(before: float, moves: Iterable[float], later: Iterable[float]) -> list[float]:
    """Quantities below zero met while booking ``moves`` on ``before`` units, then
    replaying the ``later`` rows; a move that would go below zero is not applied."""
    running, found = before, []
    for qty in moves:
        after = running + qty
        if after < -QTY_EPSILON:
            found.append(after)
        else:
            running = after
    for qty in later:
        running += qty
        if running < -QTY_EPSILON:
            found.append(running)
    return found


def ledger(txn: Txn, item_code: str, warehouse: str) -> list[Doc]:
    """Live ledger rows of one item in one warehouse, in booking order."""
    rows = [r for r in txn.find("Stock Ledger Entry", "item_code", item_code)
            if r.get("warehouse") == warehouse and not r.get("is_cancelled")]
    return sorted(rows, key=lambda r: (r["posting_datetime"], r["creation"], r["name"]))


def find_bin(txn: Txn, item_code: str, warehouse: str) -> Doc | None:
    for doc in txn.find("Bin", "item_code", item_code):
        if doc.get("warehouse") == warehouse:
            return doc
    return None


def bin_qty(txn: Txn, item_code: str, warehouse: str) -> float:
    doc = find_bin(txn, item_code, warehouse)
    return flt(doc.get("actual_qty")) if doc else 0.0


def _desk_link(txn: Txn, doctype: str, name: str, title: str | None = None, *,
               with_name: bool = True) -> str:
    """``frappe.get_desk_link`` (``with_name``: ``show_title_with_name``); Frappe 16 links
    ``/desk/<doctype slug>/<quoted name>``."""
    if not with_name:
        text = f"{doctype} {title or name}"
    else:
        text = f"{doctype} {name}: {title}" if title and title != name else f"{doctype} {name}"
    href = (f"/desk/{doctype.lower().replace(' ', '-')}/{quote(name)}"
            if txn.registry.release.frappe_major >= 16 else f"/app/Form/{doctype}/{name}")
    return f'<a href="{href}" style="font-weight: bold;">{text}</a>'


def _printed(txn: Txn, html: str) -> str:
    """A message as ``msgprint`` prints it: Frappe 16 cleans it (nh3), so a link keeps its
    href, loses its style and gains rel."""
    if txn.registry.release.frappe_major < 16:
        return html
    return _STYLED_LINK.sub(r'<a href="\1" rel="noopener noreferrer">', html)


def _shortfall(txn: Txn, deficiency: float, item_code: str, warehouse: str,
               voucher: tuple[str, str, str | None], at: datetime) -> NegativeStockError:
    """``raise_exceptions``: a voucher being saved under its name is the transaction; one
    inserted (Frappe records it nameless) is named, with its posting time."""
    item = txn.get("Item", item_code) or {}
    where = (f"{_desk_link(txn, 'Item', item_code, item.get('item_name'))} needed in "
             f"{_desk_link(txn, 'Warehouse', warehouse)}")
    voucher_type, voucher_no, title = voucher
    if (voucher_type, voucher_no) not in txn.saving:
        where += (f" on {fmt_date(at)} {stored_time(fmt_time(at))} for "
                  f"{_desk_link(txn, voucher_type, voucher_no, title, with_name=False)}")
    text = f"<strong>{abs(deficiency)}</strong> units of {where} to complete this transaction."
    return NegativeStockError(_printed(txn, text), exception=text)


def negative_stock_allowed(txn: Txn, item_code: str) -> bool:
    settings = txn.get("Stock Settings", "Stock Settings") or {}
    item = txn.get("Item", item_code) or {}
    return bool(cint(settings.get("allow_negative_stock")) or
                cint(item.get("allow_negative_stock")))


def post(txn: Txn, voucher_type: str, voucher_no: str, moves: list[Move], at: datetime,
         company: str | None, title: str | None = None) -> None:
    """Book ``moves`` at ``at``, or refuse with NegativeStockError and book nothing
    (``title``: the voucher's, which the refusal names)."""
    groups: dict[tuple[str, str], list[Move]] = {}
    for move in moves:
        groups.setdefault((move.item_code, move.warehouse), []).append(move)
    stamp = fmt_datetime(at)
    for (item_code, warehouse), group in groups.items():
        rows = ledger(txn, item_code, warehouse)
        before = sum(flt(r["actual_qty"]) for r in rows if r["posting_datetime"] <= stamp)
        later = [r for r in rows if r["posting_datetime"] > stamp]
        found = shortfalls(before, (m.qty for m in group), (flt(r["actual_qty"]) for r in later))
        if found and not negative_stock_allowed(txn, item_code):
            raise _shortfall(txn, min(found), item_code, warehouse,
                             (voucher_type, voucher_no, title), at)
    entries = []
    for move in moves:
        item = txn.get("Item", move.item_code) or {}
        entries.append(txn.create("Stock Ledger Entry", {
            "item_code": move.item_code, "warehouse": move.warehouse,
            "posting_date": fmt_date(at), "posting_time": fmt_time(at),
            "posting_datetime": stamp, "voucher_type": voucher_type, "voucher_no": voucher_no,
            "voucher_detail_no": move.detail, "actual_qty": move.qty, "company": company,
            "stock_uom": item.get("stock_uom"), "is_cancelled": 0,
            "batch_no": move.batch_no, "serial_no": "\n".join(move.serial_nos) or None}))
        add_to_bin(txn, move.item_code, move.warehouse, move.qty)
    for item_code, warehouse in groups:
        _restate(txn, item_code, warehouse)
    restate(txn, entries)


def _restate(txn: Txn, item_code: str, warehouse: str) -> None:
    """Recompute ``qty_after_transaction`` along the timeline (ERPNext reposts it)."""
    running = 0.0
    for row in ledger(txn, item_code, warehouse):
        running += flt(row["actual_qty"])
        if row.get("qty_after_transaction") != running:
            txn.edit("Stock Ledger Entry", row["name"])["qty_after_transaction"] = running


def add_to_bin(txn: Txn, item_code: str, warehouse: str, qty: float) -> None:
    found = find_bin(txn, item_code, warehouse)
    if found is None:
        item = txn.get("Item", item_code) or {}
        txn.create("Bin", {"item_code": item_code, "warehouse": warehouse, "actual_qty": qty,
                           "projected_qty": qty, "stock_uom": item.get("stock_uom")})
        return
    doc = txn.edit("Bin", found["name"])
    doc["actual_qty"] = flt(doc.get("actual_qty")) + qty
    doc["projected_qty"] = doc["actual_qty"] - flt(doc.get("reserved_qty"))
    txn.touch("Bin", doc)


def unpost(txn: Txn, voucher_type: str, voucher_no: str) -> None:
    """Cancel a voucher's ledger rows (ERPNext marks them cancelled) and undo the Bins."""
    cancelled = []
    for row in list(txn.all("Stock Ledger Entry")):
        if (row.get("voucher_type"), row.get("voucher_no")) != (voucher_type, voucher_no) \
                or row.get("is_cancelled"):
            continue
        txn.edit("Stock Ledger Entry", row["name"])["is_cancelled"] = 1
        add_to_bin(txn, row["item_code"], row["warehouse"], -flt(row["actual_qty"]))
        _restate(txn, row["item_code"], row["warehouse"])
        cancelled.append(row)
    restate(txn, cancelled)


def reconcile(txn: Txn, item_code: str, warehouse: str, qty: float, at: datetime) -> None:
    """Set the stock of an item to ``qty`` from ``at`` on (a Stock Reconciliation)."""
    delta = qty - bin_qty(txn, item_code, warehouse)
    voucher = txn.next_in_series(series_prefix(RECONCILIATION_SERIES, at))
    warehouse_doc = txn.get("Warehouse", warehouse) or {}
    post(txn, "Stock Reconciliation", voucher, [Move(item_code, warehouse, delta)], at,
         warehouse_doc.get("company"))


class StockEntry(Controller):
    """Material Receipt, Issue and Transfer; stock moves when the entry is submitted, with
    the batch or serial numbers its rows name (``use_serial_batch_fields``)."""

    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        doc.setdefault("purpose", doc.get("stock_entry_type"))
        if not cint(doc.get("set_posting_time")):
            doc["posting_date"], doc["posting_time"] = txn.today, txn.time
        company = txn.get("Company", doc.get("company")) or {}
        incoming = outgoing = 0.0
        for row in doc.get("items") or []:
            item = txn.get("Item", row.get("item_code")) or {}
            for key in ("item_name", "description", "item_group", "stock_uom"):
                row.setdefault(key, item.get(key))
            row.setdefault("uom", item.get("stock_uom"))
            row.setdefault("conversion_factor", 1.0)
            row["transfer_qty"] = flt(row.get("qty")) * flt(row["conversion_factor"])
            row.setdefault("t_warehouse", doc.get("to_warehouse"))
            row.setdefault("s_warehouse", doc.get("from_warehouse"))
            row["basic_amount"] = money(row["transfer_qty"] * flt(row.get("basic_rate")))
            row["amount"] = row["basic_amount"]
            row["valuation_rate"] = flt(row.get("basic_rate"))
            row.setdefault("expense_account", company.get("stock_adjustment_account"))
            row.setdefault("cost_center", company.get("cost_center"))
            if row.get("t_warehouse"):
                incoming += row["amount"]
            if row.get("s_warehouse"):
                outgoing += row["amount"]
        doc["total_incoming_value"], doc["total_outgoing_value"] = incoming, outgoing
        doc["value_difference"] = incoming - outgoing
        doc["total_amount"] = sum(flt(r.get("amount")) for r in doc.get("items") or [])

    def validate(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        purpose = doc.get("purpose")
        if purpose not in _PURPOSES:
            raise LinkValidationError(f"Could not find Stock Entry Type: {purpose}")
        for idx, row in enumerate(doc.get("items") or [], 1):
            if purpose != "Material Issue" and not row.get("t_warehouse"):
                raise ValidationError(f"Target warehouse is mandatory for row {idx}")
            if purpose != "Material Receipt" and not row.get("s_warehouse"):
                raise ValidationError(f"Source warehouse is mandatory for row {idx}")

    def on_submit(self, txn: Txn, doc: Doc, *, chosen_name: bool) -> None:
        moves: list[Move] = []
        for row in doc.get("items") or []:
            qty = flt(row.get("transfer_qty"))
            if row.get("s_warehouse"):
                moves.append(Move.of_row(row, row["s_warehouse"], -qty))
            if row.get("t_warehouse"):
                moves.append(Move.of_row(row, row["t_warehouse"], qty))
        at = posting_moment(doc["posting_date"], doc["posting_time"])
        post(txn, "Stock Entry", doc["name"], moves, at, doc.get("company"))

    def on_cancel(self, txn: Txn, doc: Doc) -> None:
        unpost(txn, "Stock Entry", doc["name"])
