"""The puller's local state (watermarks, last pull) and what the store already holds.

Watermarks are local to the counter that pulls, in the table ``erpnext_pull_state``
(not a projection: ``tillmesh rebuild`` keeps it, and peers never see it). They are not
derived from the replicated master documents' highest ``modified``, because not every
document there comes from a pull in ERPNext's clock: an offline customer carries the
counter's UTC time (hours ahead of a site west of Greenwich, which would skip ERPNext's
changes until then), and a demo store's documents a made-up date. A counter that takes
over pulling starts with no watermark: its first pull reads every row once but emits
only what its store does not hold already (replication brought it the rest), so it
costs requests, not events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.erpnext._mapping import Held, HeldStock
from tillmesh.node.projections.master_data import get_doc
from tillmesh.node.projections.pos_profile import RELEASE
from tillmesh.node.store.base import Base
from tillmesh.node.store.raw import raw


class PullStateRow(Base):
    """One scope (a doctype, per company or price list; Bin per warehouse) of the pull."""

    __tablename__ = "erpnext_pull_state"
    scope: Mapped[str] = mapped_column(String(300), primary_key=True)
    watermark: Mapped[str | None] = mapped_column(String(32))  # site-local, as ERPNext
    pulled_at: Mapped[str] = mapped_column(String(40))  # UTC ISO-8601 of the last pull
    seen: Mapped[int]  # rows ERPNext listed in that pull
    emitted: Mapped[int]  # events it recorded
    errors: Mapped[int]  # malformed rows skipped


@dataclass(frozen=True)
class ScopeState:
    scope: str
    watermark: str | None
    pulled_at: str
    seen: int
    emitted: int
    errors: int


def ensure_table(session: Session) -> None:
    """Create the table if this store predates it (it is not in the core schema)."""
    Base.metadata.tables[PullStateRow.__tablename__].create(session.connection(),
                                                            checkfirst=True)


def record(session: Session, state: ScopeState) -> None:
    """Store a pull's outcome; the watermark never moves back."""
    raw(session).run(
        "INSERT INTO erpnext_pull_state (scope, watermark, pulled_at, seen, emitted, errors)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope) DO UPDATE SET"
        " watermark = nullif(max(coalesce(excluded.watermark, ''), coalesce(watermark, '')), ''),"
        " pulled_at = excluded.pulled_at, seen = excluded.seen, emitted = excluded.emitted,"
        " errors = excluded.errors",
        (state.scope, state.watermark, state.pulled_at, state.seen, state.emitted,
         state.errors))


def states(session: Session) -> list[ScopeState]:
    """Every scope pulled here (none before the first pull made the table)."""
    sql = raw(session)
    if sql.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
               (PullStateRow.__tablename__,)) is None:
        return []
    rows = sql.run("SELECT scope, watermark, pulled_at, seen, emitted, errors"
                            " FROM erpnext_pull_state ORDER BY scope")
    return [ScopeState(*row) for row in rows]


def held(session: Session, doctype: str) -> dict[str, Held]:
    """{name: (modified, deleted)} of every document of ``doctype`` in the store."""
    rows = raw(session).run("SELECT name, modified, deleted FROM master_docs WHERE doctype = ?",
                            (doctype,))
    return {name: (modified, bool(deleted)) for name, modified, deleted in rows}


def held_stock(session: Session, warehouse: str) -> dict[str, HeldStock]:
    """{item: (base qty in nano units, shifts that base includes)} for one warehouse.

    The items of one reading share its set of shifts (one object): a reading names every
    closing ERPNext ever consolidated, so a set per item would take 100,000 x the store's
    closings (gigabytes after a year)."""
    sql = raw(session)
    shifts: dict[str, set[str]] = {}
    for reading, shift in sql.run(
            "SELECT s.reading, s.shift FROM stock_base_shifts s WHERE s.reading IN"
            " (SELECT reading FROM stock_base WHERE warehouse = ?)", (warehouse,)):
        shifts.setdefault(reading, set()).add(shift)
    shared = {reading: frozenset(names) for reading, names in shifts.items()}
    return {item: (qty, shared.get(reading, frozenset()))
            for item, qty, reading in sql.run(
                "SELECT item_code, qty_nano, reading FROM stock_base WHERE warehouse = ?",
                (warehouse,))}


@dataclass
class Snapshot:
    """What the store held when a pull began. The pull reads it once, then adds what it
    records itself, so that no read has to wait for its own writes queued before it."""

    watermarks: dict[str, str | None]
    held: dict[str, dict[str, Held]]  # doctype -> name -> (modified, deleted)
    stock: dict[str, HeldStock]  # item -> base of the profile's warehouse
    release: dict[str, Any] | None  # the site's release, as last recorded


def snapshot(session: Session, doctypes: tuple[str, ...], warehouse: str) -> Snapshot:
    return Snapshot({s.scope: s.watermark for s in states(session)},
                    {d: held(session, d) for d in doctypes}, held_stock(session, warehouse),
                    get_doc(session, RELEASE, RELEASE))
