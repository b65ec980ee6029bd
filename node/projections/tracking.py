"""Which items are sold by batch or by serial number, their batches (with expiry) and
serial numbers, from the pulled Item, Batch and Serial No documents; the batches and
serial numbers a till may sell now, with the store's stock of each (``stock``); and the
serial numbers the store sold more often than it took them back.

A serial number sold by two counters cut off from each other is flagged for good, not
only while the stock count is below zero: ERPNext 15 may take both sales (recorded: a
sale delivered after another counter's closing consolidated the same unit, but posted
before it, passed ERPNext's check as of its own posting time), and once both closings
are consolidated the stock count reads 0 again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain.batches import Batch, serial_numbers
from tillmesh.node.projections import projector, stock
from tillmesh.node.projections.ledger import RETURNED, SUBMITTED
from tillmesh.node.projections.master_data import indexer
from tillmesh.node.projections.stock_keys import batch_key, serial_key
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event
from tillmesh.node.store.raw import raw


class TrackedItemRow(Base):
    """An item sold by batch or by serial number (no row: neither)."""

    __tablename__ = "tracked_items"
    __table_args__ = {"info": PROJECTION}
    item_code: Mapped[str] = mapped_column(String(140), primary_key=True)
    has_batch_no: Mapped[bool] = mapped_column(Boolean)
    has_serial_no: Mapped[bool] = mapped_column(Boolean)


class BatchRow(Base):
    __tablename__ = "batches"
    __table_args__ = {"info": PROJECTION}
    name: Mapped[str] = mapped_column(String(140), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(140), index=True)
    expiry_date: Mapped[str | None] = mapped_column(String(10))  # ISO date, or none
    disabled: Mapped[bool] = mapped_column(Boolean)


class SerialSaleRow(Base):
    """A serial number on a sale (+1) or a return (-1)."""

    __tablename__ = "serial_sales"
    __table_args__ = {"info": PROJECTION}
    serial_no: Mapped[str] = mapped_column(String(140), primary_key=True)
    invoice: Mapped[str] = mapped_column(String(40), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(140))
    way: Mapped[int] = mapped_column(Integer)


class SerialNumberRow(Base):
    __tablename__ = "serial_numbers"
    __table_args__ = {"info": PROJECTION}
    name: Mapped[str] = mapped_column(String(140), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(140), index=True)


def _flag(value: Any) -> bool:
    return bool(value) and value not in ("0", 0)


@projector(SUBMITTED, RETURNED)
def _serials_sold(session: Session, event: Event, body: dict[str, Any]) -> None:
    way = -1 if event.kind == RETURNED else 1
    rows = [(serial, str(body["invoice"]), str(row["item_code"]), way)
            for row in body["items"] for serial in serial_numbers(str(row.get("serial_no") or ""))]
    if rows:
        raw(session).many("INSERT OR IGNORE INTO serial_sales (serial_no, invoice, item_code,"
                          " way) VALUES (?, ?, ?, ?)", rows)


@indexer("Item")
def _item(session: Session, name: str, doc: dict[str, Any] | None) -> None:
    batched = doc is not None and _flag(doc.get("has_batch_no"))
    serialised = doc is not None and _flag(doc.get("has_serial_no"))
    sql = raw(session)
    if batched or serialised:
        sql.run("INSERT OR REPLACE INTO tracked_items (item_code, has_batch_no, has_serial_no)"
                " VALUES (?, ?, ?)", (name, int(batched), int(serialised)))
    else:
        sql.run("DELETE FROM tracked_items WHERE item_code = ?", (name,))


@indexer("Batch")
def _batch(session: Session, name: str, doc: dict[str, Any] | None) -> None:
    sql = raw(session)
    if doc is None or not doc.get("item"):
        sql.run("DELETE FROM batches WHERE name = ?", (name,))
        return
    expiry = str(doc["expiry_date"])[:10] if doc.get("expiry_date") else None
    sql.run("INSERT OR REPLACE INTO batches (name, item_code, expiry_date, disabled)"
            " VALUES (?, ?, ?, ?)", (name, str(doc["item"]), expiry,
                                     int(_flag(doc.get("disabled")))))


@indexer("Serial No")
def _serial(session: Session, name: str, doc: dict[str, Any] | None) -> None:
    sql = raw(session)
    if doc is None or not doc.get("item_code"):
        sql.run("DELETE FROM serial_numbers WHERE name = ?", (name,))
        return
    sql.run("INSERT OR REPLACE INTO serial_numbers (name, item_code) VALUES (?, ?)",
            (name, str(doc["item_code"])))


# --- reads --------------------------------------------------------------------------------


def tracking(session: Session, item_code: str) -> tuple[bool, bool]:
    """(sold by batch, sold by serial number) for an item."""
    row = raw(session).one("SELECT has_batch_no, has_serial_no FROM tracked_items"
                           " WHERE item_code = ?", (item_code,))
    return (False, False) if row is None else (bool(row[0]), bool(row[1]))


def batches(session: Session, item_code: str, warehouse: str) -> list[Batch]:
    """Every batch of the item, with what the store holds of it in ``warehouse``."""
    rows = raw(session).run("SELECT name, expiry_date, disabled FROM batches"
                            " WHERE item_code = ? ORDER BY name", (item_code,))
    held = stock.levels(session, [batch_key(name) for name, _, _ in rows], warehouse)
    return [_as_batch(name, item_code, expiry, disabled, held[batch_key(name)])
            for name, expiry, disabled in rows]


def _as_batch(name: str, item_code: str, expiry: str | None, disabled: int,
              available: Decimal) -> Batch:
    return Batch(name, item_code, date.fromisoformat(expiry) if expiry else None,
                 bool(disabled), available)


def batch(session: Session, name: str, warehouse: str) -> Batch | None:
    """One batch, with what the store holds of it in ``warehouse``."""
    row = raw(session).one("SELECT item_code, expiry_date, disabled FROM batches"
                           " WHERE name = ?", (name,))
    if row is None:
        return None
    key = batch_key(name)
    return _as_batch(name, str(row[0]), row[1], row[2],
                     stock.levels(session, [key], warehouse)[key])


def serial_item(session: Session, serial_no: str) -> str | None:
    """The item a serial number belongs to, if the store knows it."""
    row = raw(session).one("SELECT item_code FROM serial_numbers WHERE name = ?", (serial_no,))
    return None if row is None else str(row[0])


def serials(session: Session, names: Sequence[str], warehouse: str,
            ) -> tuple[dict[str, Any], dict[str, str]]:
    """({serial: what the store holds of it}, {serial: its item}) of ``names``."""
    owner = dict(raw(session).run(
        "SELECT name, item_code FROM serial_numbers WHERE name IN"
        " (SELECT value FROM json_each(?))", (json.dumps(list(names)),)))
    held = stock.levels(session, [serial_key(n) for n in names], warehouse)
    return {n: held[serial_key(n)] for n in names}, owner


def in_stock(session: Session, item_code: str, warehouse: str, limit: int) -> list[str]:
    """Serial numbers of the item the store holds, by name (for a till to offer)."""
    names = [str(n) for (n,) in raw(session).run(
        "SELECT name FROM serial_numbers WHERE item_code = ? ORDER BY name", (item_code,))]
    held = stock.levels(session, [serial_key(n) for n in names], warehouse)
    return [n for n in names if held[serial_key(n)] >= 1][:limit]


def sold_twice(session: Session) -> list[dict[str, Any]]:
    """Serial numbers the store sold more often than it took them back, with the sales."""
    sql = raw(session)
    flagged = [str(s) for (s,) in sql.run(
        "SELECT serial_no FROM serial_sales GROUP BY serial_no HAVING sum(way) > 1"
        " ORDER BY serial_no")]
    out = []
    for serial in flagged:
        rows = sql.run("SELECT invoice, item_code, way FROM serial_sales WHERE serial_no = ?"
                       " ORDER BY invoice", (serial,))
        out.append({"serial_no": serial, "item_code": rows[0][1],
                    "sales": [str(r[0]) for r in rows if r[2] > 0],
                    "returns": [str(r[0]) for r in rows if r[2] < 0]})
    return out
