"""Refunded at most once: what the sale's counter promised to returns made elsewhere, and
the returns that gave back more than was sold anyway.

A return of another counter's sale is agreed with that counter first (``node.api``'s
return agreement): it records ``return.reserved`` (ask id, asking counter, invoice,
rows and quantities, when the promise lapses) and counts it against later returns until
the return it was made for arrives (its ``sale.returned`` names the ask id), a newer
ask of the same counter for the same invoice releases it (``releases``), or it lapses.
Only the sale's counter reads the promises: it alone decides its sales' returns.

When the sale's counter could not be asked, the return is recorded all the same with a
supervisor's approval (``unconfirmed`` in its body, the reason) and two such returns can
give back more than was sold. Every counter flags that here: per original row, returns
in (hlc, origin) order add up, and a return that takes the total beyond what was sold
is an over-return, together with every return after it. The flags are recomputed from
the rows held whenever a return of that sale or the sale itself arrives, so they are the
same in any arrival order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain.money import FLOAT_PRECISION, flt
from tillmesh.node.projections import projector
from tillmesh.node.projections.ledger import NANO, nano
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event, unpack_body
from tillmesh.node.store.raw import Raw, raw
from tillmesh.node.store.types import UtcDateTime, utc_text


class ReturnLineRow(Base):
    """One row of a return: how much of which sold row it gave back, and when."""

    __tablename__ = "return_lines"
    invoice: Mapped[str] = mapped_column(String(40), primary_key=True)  # the return
    row: Mapped[str] = mapped_column(String(48), primary_key=True)  # the sold row
    against: Mapped[str] = mapped_column(String(40), index=True)  # the sale
    qty_nano: Mapped[int] = mapped_column(BigInteger)  # see ledger.NANO
    # What the sold row sold, as the return carries it (None: a return recorded before
    # returns carried it; then the sale's own event says).
    sold_nano: Mapped[int | None] = mapped_column(BigInteger)
    hlc: Mapped[int] = mapped_column(BigInteger)
    origin: Mapped[str] = mapped_column(String(32))
    # Why the sale's counter could not be asked, when the return went ahead without it.
    unconfirmed: Mapped[str | None] = mapped_column(String(512), index=True)
    # 2: sold_nano.
    __table_args__ = {"info": {**PROJECTION, "format": 2}}


class OverReturnRow(Base):
    """A return row that took the sold row's returns beyond what was sold."""

    __tablename__ = "over_returns"
    invoice: Mapped[str] = mapped_column(String(40), primary_key=True)
    row: Mapped[str] = mapped_column(String(48), primary_key=True)
    against: Mapped[str] = mapped_column(String(40), index=True)
    sold_nano: Mapped[int] = mapped_column(BigInteger)
    returned_nano: Mapped[int] = mapped_column(BigInteger)  # with this return and those before
    qty_nano: Mapped[int] = mapped_column(BigInteger)  # this return's
    origin: Mapped[str] = mapped_column(String(32))
    __table_args__ = {"info": PROJECTION}


class ReservationRow(Base):
    """One row of a ``return.reserved`` promise."""

    __tablename__ = "return_reservations"
    ask_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    row: Mapped[str] = mapped_column(String(48), primary_key=True, index=True)
    counter: Mapped[str] = mapped_column(String(32))  # the counter the return is made on
    invoice: Mapped[str] = mapped_column(String(40))
    qty_nano: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The promises of one invoice to one counter (``open_promises``, at every ask), not
    # every promise the store ever made.
    __table_args__ = (Index("ix_return_reservations_invoice", "invoice", "counter"),
                      {"info": PROJECTION})


class ReservationEndRow(Base):
    """A promise that no longer counts: its return arrived, or a newer ask released it."""

    __tablename__ = "reservation_ends"
    ask_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ended_by: Mapped[str] = mapped_column(String(48), primary_key=True)  # the event id
    __table_args__ = {"info": PROJECTION}


# --- handlers -----------------------------------------------------------------------------


_END = "INSERT OR IGNORE INTO reservation_ends (ask_id, ended_by) VALUES (?, ?)"


@projector("return.reserved")
def _reserved(session: Session, event: Event, body: dict[str, Any]) -> None:
    sql = raw(session)
    expires = utc_text(datetime.fromisoformat(body["expires_at"]))
    sql.many("INSERT OR IGNORE INTO return_reservations (ask_id, row, counter, invoice,"
             " qty_nano, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
             [(body["ask_id"], row, body["counter"], body["invoice"], nano(Decimal(qty)),
               expires) for row, qty in body["rows"].items()])
    sql.many(_END, [(ask_id, event.id) for ask_id in body["releases"]])


@projector("sale.returned")
def _returned(session: Session, event: Event, body: dict[str, Any]) -> None:
    sql = raw(session)
    if body.get("reservation"):
        sql.run(_END, (body["reservation"], event.id))
    against = body["return_against"]
    sql.many("INSERT INTO return_lines (invoice, row, against, qty_nano, sold_nano, hlc,"
             " origin, unconfirmed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
             [(body["invoice"], item["pos_invoice_item"], against, -nano(Decimal(item["qty"])),
               None if item.get("sold_qty") is None else nano(Decimal(item["sold_qty"])),
               event.hlc, event.origin, body.get("unconfirmed")) for item in body["items"]])
    _judge(sql, against)


@projector("sale.submitted")
def _sold(session: Session, event: Event, body: dict[str, Any]) -> None:
    sql = raw(session)
    if sql.one("SELECT 1 FROM return_lines WHERE against = ? LIMIT 1", (body["invoice"],)):
        _judge(sql, body["invoice"], body["items"])  # its returns arrived before it


def _sold_items(sql: Raw, invoice: str) -> list[dict[str, Any]] | None:
    found = sql.one("SELECT e.body FROM every_sale s JOIN every_event e ON e.origin = s.origin"
                    " AND e.seq = s.seq WHERE s.invoice = ? AND s.is_return = 0", (invoice,))
    return None if found is None else list(unpack_body(found[0])["items"])


def _judge(sql: Raw, against: str, items: list[dict[str, Any]] | None = None) -> None:
    """Flag again, from every return row held, the returns of ``against`` that gave back
    more than it sold. What a row sold is what its returns carry, so every counter judges
    alike whether it holds the sale or not (archived, or before its history began); for
    rows whose returns predate that, the sale's event (``items``, else looked up): such a
    row is not judged until the sale is held."""
    sql.run("DELETE FROM over_returns WHERE against = ?", (against,))
    lines = sql.run("SELECT invoice, row, qty_nano, sold_nano, origin FROM return_lines"
                    " WHERE against = ? ORDER BY hlc, origin, invoice", (against,))
    sold = {row: int(s) for _, row, _, s, _ in lines if s is not None}
    held = False  # whether the sale's own rows are known
    if any(row not in sold for _, row, _, _, _ in lines):
        found = items if items is not None else _sold_items(sql, against)
        if found is not None:
            sold, held = {item["name"]: nano(Decimal(item["qty"])) for item in found} | sold, True
    total: dict[str, int] = {}
    flagged = []
    for invoice, row, qty, _, origin in lines:
        if row not in sold and not held:
            continue  # neither its returns nor the sale say what it sold: not yet judged
        total[row] = total.get(row, 0) + qty
        if total[row] > sold.get(row, 0):
            flagged.append((invoice, row, against, sold.get(row, 0), total[row], qty, origin))
    sql.many("INSERT INTO over_returns (invoice, row, against, sold_nano, returned_nano,"
             " qty_nano, origin) VALUES (?, ?, ?, ?, ?, ?, ?)", flagged)


# --- reads ----------------------------------------------------------------------------------


def _qty(value: int) -> Decimal:
    return flt(Decimal(value) / NANO, FLOAT_PRECISION)


def reserved(session: Session, row: str, now: datetime, ignoring: Iterable[str] = ()
             ) -> Decimal:
    """What of ``row`` is promised to returns in progress on other counters at ``now``
    (the promises ``ignoring`` names left out). A promise past its time still counts
    until this counter holds an event its asker recorded after that time (or the asker is
    revoked): an asker cut off right after the promise may well have refunded it, and its
    return has not come yet. Released earlier, a second refund would follow."""
    sql = raw(session)
    found = sql.run(
        "SELECT ask_id, qty_nano, counter, expires_at FROM return_reservations WHERE row = ?"
        " AND ask_id NOT IN (SELECT ask_id FROM reservation_ends)", (row,))
    left_out, at = set(ignoring), utc_text(now)
    return _qty(sum(qty for ask_id, qty, counter, expires in found if ask_id not in left_out
                    and (expires > at or not _heard_since(sql, str(counter), str(expires)))))


def _heard_since(sql: Raw, counter: str, when: str) -> bool:
    """Whether ``counter`` recorded an event after ``when`` that this counter holds, or
    left the store (its return will never come)."""
    latest = sql.one("SELECT wall_us FROM events WHERE origin = ? ORDER BY seq DESC LIMIT 1",
                     (counter,))
    if latest is not None and int(latest[0]) > datetime.fromisoformat(when).timestamp() * 1e6:
        return True
    return sql.one("SELECT 1 FROM members WHERE node = ? AND revoked", (counter,)) is not None


def open_promises(session: Session, counter: str, invoice: str) -> list[str]:
    """The ask ids of promises to ``counter`` for ``invoice`` that still stand (no return
    named them, none released them; lapsed or not)."""
    return sorted({r[0] for r in raw(session).run(
        "SELECT ask_id FROM return_reservations WHERE counter = ? AND invoice = ?"
        " AND ask_id NOT IN (SELECT ask_id FROM reservation_ends)", (counter, invoice))})


def promised(session: Session, ask_id: str) -> bool:
    """Whether the promise ``ask_id`` was recorded (a repeated ask is answered alike)."""
    return raw(session).one("SELECT 1 FROM return_reservations WHERE ask_id = ? LIMIT 1",
                            (ask_id,)) is not None


@dataclass(frozen=True)
class OverReturn:
    """A return row beyond what was sold: ``returned`` counts this return and those
    before it (by hlc, origin), ``qty`` this return's part."""

    invoice: str
    against: str
    row: str
    sold: Decimal
    returned: Decimal
    qty: Decimal
    origin: str

    @property
    def reason(self) -> str:
        return (f"over-return: {self.invoice} gives back {self.qty} of row {self.row} of"
                f" {self.against}, which sold {self.sold}; with the returns before it"
                f" {self.returned} would come back")


def over_returns(session: Session, invoices: Iterable[str] | None = None) -> list[OverReturn]:
    """The over-returns held here (of ``invoices`` only, when given: looked up by invoice,
    as the forwarder asks for each return it forms), by return and row."""
    columns = "invoice, against, row, sold_nano, returned_nano, qty_nano, origin"
    sql = raw(session)
    rows = (sql.run(f"SELECT {columns} FROM over_returns ORDER BY invoice, row")
            if invoices is None else
            sql.run(f"SELECT {columns} FROM over_returns WHERE invoice IN"
                    " (SELECT value FROM json_each(?)) ORDER BY invoice, row",
                    (json.dumps(sorted(set(invoices))),)))
    return [OverReturn(inv, against, row, _qty(sold), _qty(returned), _qty(qty), origin)
            for inv, against, row, sold, returned, qty, origin in rows]


@dataclass(frozen=True)
class Unconfirmed:
    """A return recorded without its sale's counter's agreement, and why."""

    invoice: str
    against: str
    origin: str
    reason: str


def unconfirmed_returns(session: Session) -> list[Unconfirmed]:
    """Returns made without the sale's counter's agreement, oldest first."""
    # By the index on ``unconfirmed``, named: left to itself the planner groups along the
    # primary key and reads every return line the store ever had (``status`` asks this).
    return [Unconfirmed(*r) for r in raw(session).run(
        "SELECT invoice, against, origin, MIN(unconfirmed) FROM return_lines"
        " INDEXED BY ix_return_lines_unconfirmed WHERE unconfirmed IS NOT NULL"
        " GROUP BY invoice ORDER BY MIN(hlc), invoice")]
