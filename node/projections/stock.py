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

Selling into negative stock is allowed offline; the sale's answer and ``negative()``
flag it for the supervisor.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain.money import to_decimal
from tillmesh.node.projections import projector
from tillmesh.node.projections.ledger import NANO, nano
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event
from tillmesh.node.store.raw import raw

BASE = "stock.base"


class StockBaseRow(Base):
    __tablename__ = "stock_base"
    __table_args__ = {"info": PROJECTION}
    item_code: Mapped[str] = mapped_column(String(140), primary_key=True)
    warehouse: Mapped[str] = mapped_column(String(140), primary_key=True)
    qty_nano: Mapped[int] = mapped_column(BigInteger)
    hlc: Mapped[int] = mapped_column(BigInteger)
    origin: Mapped[str] = mapped_column(String(32))
    reading: Mapped[str] = mapped_column(String(48))  # event id of the stock.base reading


class StockBaseShiftRow(Base):
    """The watermark of one reading: a shift whose sales the base already includes."""

    __tablename__ = "stock_base_shifts"
    __table_args__ = {"info": PROJECTION}
    reading: Mapped[str] = mapped_column(String(48), primary_key=True)
    shift: Mapped[str] = mapped_column(String(40), primary_key=True)


def base_body(warehouse: str, quantities: dict[str, Decimal], consolidated: list[str],
              read_at: str) -> dict[str, Any]:
    """A ``stock.base`` body: ERPNext's quantities and the shifts they already include."""
    return {"warehouse": warehouse, "items": {k: str(v) for k, v in quantities.items()},
            "consolidated_shifts": sorted(consolidated), "read_at": read_at}


@projector(BASE)
def _base(session: Session, event: Event, body: dict[str, Any]) -> None:
    sql = raw(session)
    sql.many("INSERT OR IGNORE INTO stock_base_shifts (reading, shift) VALUES (?, ?)",
             [(event.id, shift) for shift in body["consolidated_shifts"]])
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


_ON_HAND = """
SELECT b.qty_nano, (
    SELECT coalesce(sum(d.qty_nano), 0) FROM stock_deltas d
    WHERE d.item_code = :item AND d.warehouse = :wh AND d.shift NOT IN (
        SELECT s.shift FROM stock_base_shifts s WHERE s.reading = b.reading))
FROM (SELECT :item AS item) AS i
LEFT JOIN stock_base b ON b.item_code = :item AND b.warehouse = :wh
"""


def on_hand(session: Session, item_code: str, warehouse: str) -> OnHand:
    row = raw(session).one(_ON_HAND, {"item": item_code, "wh": warehouse})
    base = Decimal(row[0] or 0) / NANO
    pending = Decimal(row[1] or 0) / NANO
    return OnHand(item_code, warehouse, base, pending, base + pending)


def negative(session: Session, warehouse: str) -> list[OnHand]:
    """Every item of the warehouse whose on-hand quantity is below zero."""
    sql = raw(session)
    base = {i: (q, r) for i, q, r in sql.run(
        "SELECT item_code, qty_nano, reading FROM stock_base WHERE warehouse = ?", (warehouse,))}
    included: dict[str, set[str]] = defaultdict(set)
    for reading, shift in sql.run("SELECT reading, shift FROM stock_base_shifts"):
        included[reading].add(shift)
    pending: dict[str, int] = defaultdict(int)
    for item, shift, qty in sql.run(
            "SELECT item_code, shift, qty_nano FROM stock_deltas WHERE warehouse = ?",
            (warehouse,)):
        reading = base.get(item, (0, ""))[1]
        if shift not in included.get(reading, ()):
            pending[item] += qty
    out = []
    for item in sorted(set(base) | set(pending)):
        b = Decimal(base.get(item, (0, ""))[0]) / NANO
        p = Decimal(pending.get(item, 0)) / NANO
        if b + p < 0:
            out.append(OnHand(item, warehouse, b, p, b + p))
    return out
