"""What has reached ERPNext, what failed and why: the projection of ``forward.*`` events.

Whichever counter forwards records its results as events, so a new forwarder resumes
where the last one stopped and every counter shows the same exceptions queue.

- ``forward.acked``    ERPNext holds the document (200, or 409 / found: delivered before)
- ``forward.failed``   ERPNext refused it (417 …) with its message; it waits for a person
- ``forward.retried``  a supervisor asks for another try (after fixing ERPNext)
- ``forward.resolved`` a supervisor settled it outside Tillmesh: no more tries

The state of a document is a pure function of those events in any order: acked wins;
then resolved; then failed if its latest failure is newer than its latest retry. An acked
row is a function of its acks alone (the earliest by HLC names it), so nothing a late
forwarder or supervisor records changes it.

That lets the rows of invoices delivered for good leave the live store (``compact``, with
their sales: ERPNext consolidated them and their events are archived) into the archive's
``deliveries``; ``delivered_for_good`` keeps them as ranges of invoice numbers
(``domain.invoice_ranges``), a few rows whatever the store's age, which a counter that
joined from a checkpoint holds too. Such an invoice reads as acked, and an event about it
changes nothing: on every counter, with its row or without.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain import invoice_ranges
from tillmesh.node.projections import projector
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event
from tillmesh.node.store.raw import Raw, raw

ACKED, FAILED, RETRIED, RESOLVED = ("forward.acked", "forward.failed", "forward.retried",
                                    "forward.resolved")


class Delivery(enum.Enum):
    PENDING = "pending"  # not yet delivered (or retried after a failure)
    ACKED = "acked"
    FAILED = "failed"
    RESOLVED = "resolved"


class DeliveryRow(Base):
    __tablename__ = "deliveries"
    # The exceptions queue reads the unsettled few among every document ever delivered.
    __table_args__ = (Index("ix_deliveries_unsettled", "acked", "resolved"),
                      {"info": PROJECTION})
    doctype: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(140), primary_key=True)
    acked: Mapped[bool] = mapped_column(Boolean, default=False)
    erpnext_name: Mapped[str | None] = mapped_column(String(140))
    acked_at: Mapped[str | None] = mapped_column(String(40))  # ISO-8601 UTC, by the acker
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_hlc: Mapped[int] = mapped_column(BigInteger, default=0)  # latest failure
    failed_origin: Mapped[str] = mapped_column(String(32), default="")  # breaks hlc ties
    retried_hlc: Mapped[int] = mapped_column(BigInteger, default=0)  # latest retry
    failures: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[int | None] = mapped_column(Integer)  # HTTP status of the latest failure
    exc_type: Mapped[str | None] = mapped_column(String(140))
    message: Mapped[str | None] = mapped_column(Text)  # ERPNext's own words
    stage: Mapped[str | None] = mapped_column(String(32))  # "insert", "consolidation" …
    # The supervisor's, on resolve; the forwarder's on an ack of a sale that went without
    # its coupon (``coupons.unlinked_note``).
    note: Mapped[str | None] = mapped_column(Text)
    note_hlc: Mapped[int] = mapped_column(BigInteger, default=0)  # latest resolve; earliest ack
    note_origin: Mapped[str] = mapped_column(String(32), default="")


class DeliveredForGood(Base):
    """Invoices whose rows left with their sales (``compact``): numbers lo..hi of a series."""

    __tablename__ = "delivered_for_good"
    __table_args__ = {"info": PROJECTION}
    series: Mapped[str] = mapped_column(String(140), primary_key=True)
    lo: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hi: Mapped[int] = mapped_column(BigInteger)


INVOICE = "POS Invoice"
# Every column, as the archive's ``deliveries`` has them too (a test holds them equal).
ROW_COLUMNS = ("doctype, name, acked, erpnext_name, acked_at, resolved, failed_hlc,"
               " failed_origin, retried_hlc, failures, status, exc_type, message, stage, note,"
               " note_hlc, note_origin")
_ENSURE = ("INSERT OR IGNORE INTO deliveries (doctype, name, acked, resolved, failed_hlc,"
           " failed_origin, retried_hlc, failures, note_hlc, note_origin)"
           " VALUES (?, ?, 0, 0, 0, '', 0, 0, 0, '')")


@projector(ACKED, FAILED, RETRIED, RESOLVED)
def _apply(session: Session, event: Event, body: dict[str, Any]) -> None:
    sql = raw(session)
    key = (str(body["doctype"]), str(body["name"]))
    if _for_good(sql, *key):
        return  # acked, and its row left for good: an acked row is final
    sql.run(_ENSURE, key)
    if event.kind == ACKED:
        # The earliest ack names it and clears what came before: acks alone decide the row.
        sql.run("UPDATE deliveries SET erpnext_name = ?, acked_at = ?, note = ?, note_hlc = ?,"
                " note_origin = ? WHERE doctype = ? AND name = ?"
                " AND (acked = 0 OR (note_hlc, note_origin) > (?, ?))",
                (body.get("erpnext_name"), body.get("at"), body.get("note"), event.hlc,
                 event.origin, *key, event.hlc, event.origin))
        sql.run("UPDATE deliveries SET acked = 1, resolved = 0, failed_hlc = 0,"
                " failed_origin = '', retried_hlc = 0, failures = 0, status = NULL,"
                " exc_type = NULL, message = NULL, stage = NULL"
                " WHERE doctype = ? AND name = ?", key)
    elif event.kind == FAILED:
        sql.run("UPDATE deliveries SET failures = failures + 1 WHERE doctype = ? AND name = ?"
                " AND acked = 0", key)
        # The latest failure by (hlc, origin) tells the reason: the same on every counter.
        sql.run("UPDATE deliveries SET failed_hlc = ?, failed_origin = ?, status = ?,"
                " exc_type = ?, message = ?, stage = ? WHERE doctype = ? AND name = ?"
                " AND acked = 0 AND (failed_hlc, failed_origin) < (?, ?)",
                (event.hlc, event.origin, body.get("status"), body.get("exc_type"),
                 body.get("message"), body.get("stage"), *key, event.hlc, event.origin))
    elif event.kind == RETRIED:
        sql.run("UPDATE deliveries SET retried_hlc = max(retried_hlc, ?)"
                " WHERE doctype = ? AND name = ? AND acked = 0", (event.hlc, *key))
    else:
        sql.run("UPDATE deliveries SET resolved = 1 WHERE doctype = ? AND name = ?"
                " AND acked = 0", key)
        # The supervisor's latest note tells why.
        sql.run("UPDATE deliveries SET note = ?, note_hlc = ?, note_origin = ?"
                " WHERE doctype = ? AND name = ? AND acked = 0"
                " AND (note_hlc, note_origin) < (?, ?)",
                (body.get("note"), event.hlc, event.origin, *key, event.hlc, event.origin))
    if event.kind in (ACKED, RESOLVED):  # settled for good: the outbox stops offering it
        sql.run("UPDATE outbox SET settled = 1 WHERE doctype = ? AND name = ?", key)


def _for_good(sql: Raw, doctype: str, name: str) -> bool:
    """Whether the invoice's row left the live store for good (``compact``); for many at
    once, ``_gone_for_good``."""
    split = invoice_ranges.split(name) if doctype == INVOICE else None
    if split is None:
        return False
    row = sql.one("SELECT hi FROM delivered_for_good WHERE series = ? AND lo <= ?"
                  " ORDER BY lo DESC LIMIT 1", split)
    return row is not None and int(row[0]) >= split[1]


def compact(session: Session, invoices: Iterable[str]) -> None:
    """Let the acked rows of ``invoices`` (whose sales left the ledger, ``ledger.compact``)
    go to the archive's ``deliveries``, and add them to ``delivered_for_good``; a row not
    acked (settled by hand) or not named by a counter stays."""
    sql = raw(session)
    names = json.dumps(sorted(set(invoices)))
    leaving: list[str] = []
    by_series: dict[str, list[int]] = {}
    for (name,) in sql.run("SELECT name FROM deliveries WHERE doctype = ? AND acked = 1 AND"
                           " name IN (SELECT value FROM json_each(?))", (INVOICE, names)):
        if (split := invoice_ranges.split(str(name))) is not None:
            leaving.append(str(name))
            by_series.setdefault(split[0], []).append(split[1])
    for series, numbers in sorted(by_series.items()):
        held = sql.run("SELECT lo, hi FROM delivered_for_good WHERE series = ?", (series,))
        sql.run("DELETE FROM delivered_for_good WHERE series = ?", (series,))
        sql.many("INSERT INTO delivered_for_good (series, lo, hi) VALUES (?, ?, ?)",
                 [(series, lo, hi) for lo, hi in invoice_ranges.merged(
                     ((int(lo), int(hi)) for lo, hi in held), numbers)])
    chunk = json.dumps(leaving)
    sql.run(f"INSERT OR REPLACE INTO archive.deliveries ({ROW_COLUMNS}) SELECT {ROW_COLUMNS}"
            " FROM main.deliveries WHERE doctype = ? AND name IN (SELECT value FROM"
            " json_each(?))", (INVOICE, chunk))
    sql.run("DELETE FROM main.deliveries WHERE doctype = ? AND name IN"
            " (SELECT value FROM json_each(?))", (INVOICE, chunk))


@dataclass(frozen=True)
class State:
    doctype: str
    name: str
    delivery: Delivery
    erpnext_name: str | None
    failures: int
    status: int | None
    exc_type: str | None
    message: str | None
    stage: str | None


def _state(row: tuple[Any, ...]) -> State:
    doctype, name, acked, erp, resolved, failed_hlc, retried_hlc, failures, status, exc, \
        message, stage = row
    if acked:
        delivery = Delivery.ACKED
    elif resolved:
        delivery = Delivery.RESOLVED
    elif failed_hlc > retried_hlc:
        delivery = Delivery.FAILED
    else:
        delivery = Delivery.PENDING
    return State(doctype, name, delivery, erp, failures, status, exc, message, stage)


_COLUMNS = ("doctype, name, acked, erpnext_name, resolved, failed_hlc, retried_hlc, failures,"
            " status, exc_type, message, stage")


def states(session: Session, keys: Iterable[tuple[str, str]] | None = None,
           ) -> dict[tuple[str, str], State]:
    """What forwarders reported, by (doctype, name): on ``keys`` only (an invoice delivered
    for good reads as acked), or on every row the live store holds (not for hot paths)."""
    sql = raw(session)
    if keys is None:
        return {(s.doctype, s.name): s for s in map(
            _state, sql.run(f"SELECT {_COLUMNS} FROM deliveries"))}
    # In one read, not one per key: the forwarder plans over everything still owed.
    wanted = sorted(set(keys))
    found = {(s.doctype, s.name): s for s in map(_state, sql.run(
        f"SELECT {_COLUMNS} FROM deliveries WHERE (doctype, name) IN (SELECT"
        " json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))",
        (json.dumps(wanted),)))}
    missing = [(d, n) for d, n in wanted if (d, n) not in found]
    gone = _gone_for_good(sql, [n for d, n in missing if d == INVOICE])
    found.update((key, _archived(sql, *key)) for key in missing if key[1] in gone)
    return found


def _gone_for_good(sql: Raw, invoices: list[str]) -> set[str]:
    """Those of ``invoices`` whose rows left the live store for good (``compact``)."""
    numbered = [(name, split) for name in invoices
                if (split := invoice_ranges.split(name)) is not None]
    ranges: dict[str, list[invoice_ranges.Range]] = {}
    for series, lo, hi in sql.run(
            "SELECT series, lo, hi FROM delivered_for_good WHERE series IN"
            " (SELECT value FROM json_each(?)) ORDER BY series, lo",
            (json.dumps(sorted({series for _, (series, _) in numbered})),)):
        ranges.setdefault(str(series), []).append((int(lo), int(hi)))
    return {name for name, (series, number) in numbered
            if invoice_ranges.covered(ranges.get(series, ()), number)}


def is_settled(session: Session, doctype: str, name: str) -> bool:
    """Acked or resolved: nothing more to send."""
    state = get(session, doctype, name)
    return state is not None and state.delivery in (Delivery.ACKED, Delivery.RESOLVED)


def exceptions(session: Session) -> list[State]:
    """Documents ERPNext refused that wait for a supervisor, oldest failure first."""
    rows = raw(session).run(f"SELECT {_COLUMNS} FROM deliveries WHERE acked = 0 AND"
                            " resolved = 0 AND failed_hlc > retried_hlc ORDER BY failed_hlc")
    return [_state(r) for r in rows]


def get(session: Session, doctype: str, name: str) -> State | None:
    sql = raw(session)
    row = sql.one(f"SELECT {_COLUMNS} FROM deliveries WHERE doctype = ? AND name = ?",
                  (doctype, name))
    if row is not None:
        return _state(tuple(row))
    if not _for_good(sql, doctype, name):
        return None
    return _archived(sql, doctype, name)


def _archived(sql: Raw, doctype: str, name: str) -> State:
    """A document delivered for good: acked; its row is in the archive where the counter
    holds it (not when it joined later)."""
    kept = sql.one("SELECT erpnext_name FROM archive.deliveries WHERE doctype = ? AND"
                   " name = ?", (doctype, name))
    return State(doctype, name, Delivery.ACKED, None if kept is None else kept[0], 0, None,
                 None, None, None)
