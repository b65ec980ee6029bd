"""Every customer's loyalty points as the store knows them: ERPNext's Loyalty Point
Entries as pulled, and the points this store's sales earned that ERPNext has not entered
yet (it enters them when the sale reaches it, and the entry, pulled, then stands in for
the sale's own). The same in any arrival order: a sale's own points count only while no
entry of ERPNext names its invoice.

A return at the till lowers the sale's own points at once, as ERPNext does when the
return reaches it (it enters the sale again on its grand total less what was returned):
a customer cannot redeem at another till the points of a purchase they brought back.
ERPNext's tier is taken as the sale's (ERPNext looks it up again then); once ERPNext has
entered the sale, its entry stands as pulled until the next pull brings the new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain.loyalty import Entry, LoyaltyProgram, Member, points_left
from tillmesh.node.projections import projector
from tillmesh.node.projections.master_data import get_doc, indexer
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event
from tillmesh.node.store.raw import raw

_SALE = "sale:"  # the name of a sale's own entry: "sale:<invoice>"
_NEVER = "9999-12-31"


class LoyaltyEntryRow(Base):
    __tablename__ = "loyalty_entries"
    __table_args__ = {"info": PROJECTION}
    name: Mapped[str] = mapped_column(String(180), primary_key=True)  # ERPNext's, or sale:…
    customer: Mapped[str] = mapped_column(String(140), index=True)
    program: Mapped[str] = mapped_column(String(140))
    invoice: Mapped[str] = mapped_column(String(140), index=True)
    points: Mapped[int] = mapped_column(Integer)
    purchase_amount: Mapped[str] = mapped_column(String(40))  # a Decimal
    posting_date: Mapped[str] = mapped_column(String(10))
    expiry_date: Mapped[str] = mapped_column(String(10))
    own: Mapped[bool] = mapped_column(Boolean)  # this store's sale, not yet ERPNext's entry
    # a sale's own: what it earned on, and the money per point of its tier
    earned_amount: Mapped[str | None] = mapped_column(String(40))
    factor: Mapped[str | None] = mapped_column(String(40))


class LoyaltyReturnRow(Base):
    """A member's return at a till: what it gave back of which sale."""

    __tablename__ = "loyalty_returns"
    __table_args__ = {"info": PROJECTION}
    invoice: Mapped[str] = mapped_column(String(140), primary_key=True)  # the return's
    against: Mapped[str] = mapped_column(String(140), index=True)
    amount: Mapped[str] = mapped_column(String(40))  # a Decimal, positive


_INSERT = ("INSERT OR REPLACE INTO loyalty_entries (name, customer, program, invoice, points,"
           " purchase_amount, posting_date, expiry_date, own, earned_amount, factor)"
           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


@indexer("Loyalty Point Entry")
def _entered(session: Session, name: str, doc: dict[str, Any] | None) -> None:
    sql = raw(session)
    sql.run("DELETE FROM loyalty_entries WHERE name = ?", (name,))
    if doc is not None and doc.get("customer") and doc.get("expiry_date"):
        sql.run(_INSERT, (name, str(doc["customer"]), str(doc.get("loyalty_program") or ""),
                          str(doc.get("invoice") or ""), int(doc.get("loyalty_points") or 0),
                          str(doc.get("purchase_amount") or 0),
                          str(doc.get("posting_date") or "")[:10],
                          str(doc["expiry_date"])[:10], 0, None, None))


@projector("sale.submitted")
def _sold(session: Session, event: Event, body: dict[str, Any]) -> None:
    loyalty = body.get("loyalty")
    if not loyalty:
        return
    sql, invoice = raw(session), str(body["invoice"])
    own = (str(body["customer"]), str(loyalty["program"]), invoice)
    if loyalty.get("earned"):
        earned = loyalty["earned"]
        sql.run(_INSERT, (_SALE + invoice, *own, int(earned["points"]),
                          str(earned["purchase_amount"]), str(body["posting_date"]),
                          str(earned["expiry_date"]), 1, str(earned["purchase_amount"]),
                          _factor(session, str(loyalty["program"]), str(earned["tier"]))))
        _restate(session, invoice)
    if loyalty.get("redeemed"):
        # ERPNext takes redeemed points from the earliest to expire, and counts the
        # sale's grand total as spent with them; until its entries arrive, one of our own
        # that never expires (the balance is then never more than ERPNext's)
        sql.run(_INSERT, (f"{_SALE}{invoice}:redeemed", *own, -int(loyalty["redeemed"]),
                          str(body["totals"]["grand_total"]), str(body["posting_date"]),
                          _NEVER, 1, None, None))


def _factor(session: Session, program: str, tier: str) -> str | None:
    """Money per point of the program's tier, as the sale earned at it."""
    doc = get_doc(session, "Loyalty Program", program)
    found = [t.collection_factor for t in LoyaltyProgram.from_doc(doc).tiers
             if t.name == tier] if doc else []
    return str(found[0]) if found and found[0] else None


@projector("sale.returned")
def _returned(session: Session, event: Event, body: dict[str, Any]) -> None:
    against = body.get("return_against")
    customer = get_doc(session, "Customer", str(body["customer"])) or {}
    if not against or not customer.get("loyalty_program"):
        return
    amount = abs(Decimal(str(body["totals"]["grand_total"])))
    raw(session).run("INSERT OR IGNORE INTO loyalty_returns (invoice, against, amount)"
                     " VALUES (?, ?, ?)", (str(body["invoice"]), str(against), str(amount)))
    _restate(session, str(against))


def _restate(session: Session, invoice: str) -> None:
    """A sale's own points on what its returns left of it (``points_left``)."""
    sql = raw(session)
    own = sql.one("SELECT earned_amount, factor FROM loyalty_entries WHERE name = ?",
                  (_SALE + invoice,))
    if own is None or own[0] is None or own[1] is None:
        return
    back = [Decimal(a) for (a,) in sql.run("SELECT amount FROM loyalty_returns"
                                           " WHERE against = ?", (invoice,))]
    amount, points = points_left(Decimal(own[0]), back, Decimal(own[1]))
    sql.run("UPDATE loyalty_entries SET purchase_amount = ?, points = ? WHERE name = ?",
            (str(amount), points, _SALE + invoice))


def entries(session: Session, customer: str, program: str) -> list[Entry]:
    """The customer's entries in ``program``: ERPNext's, and this store's sales' own
    for sales ERPNext has not entered yet."""
    rows = raw(session).run(
        "SELECT points, purchase_amount, posting_date, expiry_date FROM loyalty_entries e"
        " WHERE customer = ? AND program = ? AND (NOT own OR NOT EXISTS (SELECT 1 FROM"
        " loyalty_entries o WHERE o.invoice = e.invoice AND NOT o.own))", (customer, program))
    return [Entry(int(points), Decimal(amount), date.fromisoformat(posted),
                  date.fromisoformat(expires)) for points, amount, posted, expires in rows]


def member(session: Session, customer: str, programs: Mapping[str, LoyaltyProgram],
           ) -> Member | None:
    """``customer`` in their Loyalty Program (the Customer's ``loyalty_program``, one of
    ``programs``), with their entries; None when not enrolled in one of them."""
    if not programs:
        return None
    doc = get_doc(session, "Customer", customer) or {}
    program = programs.get(str(doc.get("loyalty_program") or ""))
    if program is None:
        return None
    return Member(program, tuple(entries(session, customer, program.name)))
