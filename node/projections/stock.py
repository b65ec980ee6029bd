"""Stock on hand as every counter sees it: ERPNext's base plus what the base lacks.

The deltas are a PN-counter (``ledger.stock_deltas``): one slot per (item, warehouse,
origin, entry), moved only by that origin's sales and returns, so merging is summing.
The entry is the ERPNext closing that will list the sales: their shift's, or for late
sales their own entry pair's (``ledger``). ERPNext's ``Bin`` moves only when a POS
Closing Entry consolidates, so a ``stock.base`` reading carries, as its watermark, the
entries whose closing had consolidated when it was read: their deltas are already in the
base, every other entry's deltas are added. The newest reading (by HLC) per (item,
warehouse) wins.

    on hand = base qty + sum(deltas of entries not in the base's watermark)

The sum is kept per item (``ledger.stock_pending``): a slot's change adds to it unless
the item's base includes the slot, and a reading that replaces an item's base moves the
slots of the entries the two watermarks do not share in or out of it. Reading on-hand
costs one row, not one per shift the item ever sold in.

Selling into negative stock is allowed offline; the sale's answer and ``negative()``
flag it for the supervisor.

Batches and serial numbers are counted the same way, under keys of their own in the
item column (``stock_keys``: an item code never starts with a control character, Frappe
strips names): ERPNext's stock ledger per batch and its Serial Nos
move when a closing consolidates, as Bin does, so a reading of them carries the same
watermark. Only sales count against them until then: ERPNext gives a batch's units or a
serial number back for a return only once the return is consolidated (recorded:
``batch-cases.json``), so ``ledger`` leaves returns out of these keys. A serial number
is 1 in stock, 0 sold; below 0 it was sold twice (counters cut off from each other), and
``oversold`` names it until ERPNext's next reading.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain.money import to_decimal
from tillmesh.node.projections import projector
from tillmesh.node.projections.ledger import ADD_PENDING, DROP_PENDING, NANO, nano
from tillmesh.node.projections.stock_keys import BATCH, SERIAL, TRACKED
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event
from tillmesh.node.store.raw import Raw, raw

BASE = "stock.base"


class StockBaseRow(Base):
    __tablename__ = "stock_base"
    # Whether any item still stands on a reading (``_base`` drops the watermark of one
    # that no item does).
    __table_args__ = (Index("ix_stock_base_reading", "reading"), {"info": PROJECTION})
    item_code: Mapped[str] = mapped_column(String(140), primary_key=True)
    warehouse: Mapped[str] = mapped_column(String(140), primary_key=True)
    qty_nano: Mapped[int] = mapped_column(BigInteger)
    hlc: Mapped[int] = mapped_column(BigInteger)
    origin: Mapped[str] = mapped_column(String(32))
    reading: Mapped[str] = mapped_column(String(48))  # event id of the stock.base reading


class StockBaseShiftRow(Base):
    """The watermark of one reading: a shift whose sales the base already includes. Kept
    while some item's base is that reading: each reading names every closing ERPNext
    ever consolidated, so the watermarks of readings no item stands on any more would
    grow with the square of the store's age."""

    __tablename__ = "stock_base_shifts"
    # 2: only the watermarks of readings some item's base stands on.
    __table_args__ = {"info": {**PROJECTION, "format": 2}}
    reading: Mapped[str] = mapped_column(String(48), primary_key=True)
    shift: Mapped[str] = mapped_column(String(40), primary_key=True)


def base_body(warehouse: str, quantities: dict[str, Decimal], consolidated: list[str],
              read_at: str) -> dict[str, Any]:
    """A ``stock.base`` body: ERPNext's quantities and the shifts they already include."""
    return {"warehouse": warehouse, "items": {k: str(v) for k, v in quantities.items()},
            "consolidated_shifts": sorted(consolidated), "read_at": read_at}


@projector(BASE)
def _base(session: Session, event: Event, body: dict[str, Any]) -> None:
    sql, warehouse = raw(session), body["warehouse"]
    watermark = set(body["consolidated_shifts"])
    sql.many("INSERT OR IGNORE INTO stock_base_shifts (reading, shift) VALUES (?, ?)",
             [(event.id, shift) for shift in watermark])
    held = {item: (hlc, origin, reading) for item, hlc, origin, reading in sql.run(
        "SELECT item_code, hlc, origin, reading FROM stock_base WHERE warehouse = ?"
        " AND item_code IN (SELECT value FROM json_each(?))",
        (warehouse, json.dumps(list(body["items"]))))}
    replaced: dict[str | None, list[str]] = defaultdict(list)  # old reading -> items
    for item in body["items"]:
        old = held.get(item)
        if old is None or (event.hlc, event.origin) > (old[0], old[1]):
            replaced[None if old is None else old[2]].append(item)
    for old_reading, items in replaced.items():
        _rebase(sql, warehouse, items, old_reading, watermark)
    rows = []
    for item_code, qty in body["items"].items():
        rows.append((item_code, body["warehouse"], nano(to_decimal(qty, "stock qty")),
                     event.hlc, event.origin, event.id))
    sql.many(
        "INSERT INTO stock_base (item_code, warehouse, qty_nano, hlc, origin, reading)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET qty_nano = excluded.qty_nano,"
        " hlc = excluded.hlc, origin = excluded.origin, reading = excluded.reading"
        " WHERE (excluded.hlc, excluded.origin) > (stock_base.hlc, stock_base.origin)",
        rows)
    # The same rows in any order: a watermark is kept exactly while a base stands on it.
    sql.many("DELETE FROM stock_base_shifts WHERE reading = ?1 AND NOT EXISTS"
             " (SELECT 1 FROM stock_base WHERE reading = ?1)",
             [(r,) for r in {event.id, *(r for r in replaced if r is not None)}])


def _rebase(sql: Raw, warehouse: str, items: list[str], old_reading: str | None,
            watermark: set[str]) -> None:
    """``items``' base moves from ``old_reading`` (None: they had none) to a reading of
    ``watermark``: the slots of entries only the new one includes leave their pending
    sums, those of entries only the old one included come back. Reads the slots of
    those entries only (a day's closings, for the pull's next reading)."""
    before = set() if old_reading is None else {shift for (shift,) in sql.run(
        "SELECT shift FROM stock_base_shifts WHERE reading = ?", (old_reading,))}
    sign = {**{shift: -1 for shift in watermark - before},
            **{shift: 1 for shift in before - watermark}}
    if not sign:
        return
    wanted, change = set(items), defaultdict[str, int](int)
    for item, shift, qty in sql.run(
            "SELECT item_code, shift, qty_nano FROM every_stock_delta WHERE warehouse = ?"
            " AND shift IN (SELECT value FROM json_each(?))", (warehouse, json.dumps(list(sign)))):
        if item in wanted:
            change[item] += sign[shift] * qty
    moved = [(item, warehouse, qty) for item, qty in change.items() if qty]
    sql.many(ADD_PENDING, moved)
    sql.many(DROP_PENDING, [m[:2] for m in moved])


@dataclass(frozen=True)
class OnHand:
    item_code: str
    warehouse: str
    base: Decimal  # ERPNext's quantity (0 when never read)
    pending: Decimal  # sales and returns the base does not include yet
    on_hand: Decimal

    @property
    def negative(self) -> bool:
        return self.on_hand < 0


def _on_hand(item_code: str, warehouse: str, base_nano: int | None,
             pending_nano: int | None) -> OnHand:
    base = Decimal(base_nano or 0) / NANO
    pending = Decimal(pending_nano or 0) / NANO
    return OnHand(item_code, warehouse, base, pending, base + pending)


def on_hand(session: Session, item_code: str, warehouse: str) -> OnHand:
    return on_hand_of(session, [item_code], warehouse)[0]


def on_hand_of(session: Session, keys: Iterable[str], warehouse: str) -> list[OnHand]:
    """On hand of each of ``keys`` (items, ``batch_key`` or ``serial_key``), in one read."""
    rows = raw(session).run(
        "SELECT k.value, b.qty_nano, p.qty_nano FROM json_each(?) k"
        " LEFT JOIN stock_base b ON b.item_code = k.value AND b.warehouse = ?"
        " LEFT JOIN stock_pending p ON p.item_code = k.value AND p.warehouse = ?"
        " ORDER BY k.key", (json.dumps(list(keys)), warehouse, warehouse))
    return [_on_hand(key, warehouse, base, pending) for key, base, pending in rows]


def levels(session: Session, keys: list[str], warehouse: str) -> dict[str, Decimal]:
    """On hand of each of ``keys`` by key, in one read."""
    return {level.item_code: level.on_hand for level in on_hand_of(session, keys, warehouse)}


def _below_zero(session: Session, warehouse: str) -> list[OnHand]:
    sql = raw(session)
    base = dict(sql.run("SELECT item_code, qty_nano FROM stock_base WHERE warehouse = ?",
                        (warehouse,)))
    pending = dict(sql.run("SELECT item_code, qty_nano FROM stock_pending WHERE warehouse = ?",
                           (warehouse,)))
    levels = (_on_hand(item, warehouse, base.get(item), pending.get(item))
              for item in sorted(set(base) | set(pending)))
    return [level for level in levels if level.negative]


def negative(session: Session, warehouse: str) -> list[OnHand]:
    """Every item of the warehouse whose on-hand quantity is below zero."""
    return [level for level in _below_zero(session, warehouse)
            if not level.item_code.startswith(TRACKED)]


def oversold(session: Session, warehouse: str) -> dict[str, list[str]]:
    """Batches sold beyond what they held and serial numbers sold more than once (by
    counters cut off from each other), until ERPNext's next reading: ERPNext refuses the
    sale delivered last (it waits in the exceptions queue with ERPNext's reason) or, for
    a serial number, may book both (``tracking.sold_twice`` keeps those)."""
    out: dict[str, list[str]] = {"batches": [], "serial_numbers": []}
    for level in _below_zero(session, warehouse):
        if level.item_code.startswith(SERIAL):
            out["serial_numbers"].append(level.item_code.removeprefix(SERIAL))
        elif level.item_code.startswith(BATCH):
            out["batches"].append(level.item_code.removeprefix(BATCH))
    return out
