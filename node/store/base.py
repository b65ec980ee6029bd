"""Declarative base and the two tables every other part builds on: events and meta.

Tables whose ``info`` carries ``projection=True`` are pure functions of the event set:
``tillmesh rebuild`` empties them and replays the log. Every other table is local state
(the event log itself, meta, carts in progress, lockout counters).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Index, LargeBinary, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tillmesh.node.store.types import DecimalText

PROJECTION: dict[str, Any] = {"projection": True}
PROJECTIONS_KEY = "projection_shape"  # meta: the shape of the tables the events built


class Base(DeclarativeBase):
    type_annotation_map = {Decimal: DecimalText()}


class EventRow(Base):
    """The replicated truth: one row per event, a gap-free prefix per origin."""

    __tablename__ = "events"
    origin: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hlc: Mapped[int] = mapped_column(BigInteger)
    wall_us: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary)
    hash: Mapped[bytes] = mapped_column(LargeBinary)
    sig: Mapped[bytes | None] = mapped_column(LargeBinary)  # origin's Ed25519 signature

    # (hlc, origin, seq) is the replay order; the index makes each page of it a seek.
    __table_args__ = (Index("ix_events_order", "hlc", "origin", "seq"),)


class EventFloor(Base):
    """Per origin, the last event that left the live store for the archive (``archive``):
    the live events of that origin start at ``seq + 1`` and chain from ``hash``."""

    __tablename__ = "event_floor"
    origin: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class Meta(Base):
    """Local key/value state of this node (its id, schema version, counters)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String)
