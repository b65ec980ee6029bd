"""Every customer's loyalty points as the store knows them: ERPNext's Loyalty Point
Entries as pulled, and the points this store's sales earned that ERPNext has not entered
yet (it enters them when the sale reaches it, and the entry, pulled, then stands in for
the sale's own). The same in any arrival order: a sale's own points count only while no
entry of ERPNext names its invoice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain.loyalty import Entry, LoyaltyProgram, Member
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


_INSERT = ("INSERT OR REPLACE INTO loyalty_entries (name, customer, program, invoice, points,"
           " purchase_amount, posting_date, expiry_date, own) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


@indexer("Loyalty Point Entry")
def _entered(session: Session, name: str, doc: dict[str, Any] | None) -> None:
    sql = raw(session)
    sql.run("DELETE FROM loyalty_entries WHERE name = ?", (name,))
    if doc is not None and doc.get("customer") and doc.get("expiry_date"):
        sql.run(_INSERT, (name, str(doc["customer"]), str(doc.get("loyalty_program") or ""),
                          str(doc.get("invoice") or ""), int(doc.get("loyalty_points") or 0),
                          str(doc.get("purchase_amount") or 0),
                          str(doc.get("posting_date") or "")[:10],
                          str(doc["expiry_date"])[:10], 0))


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
                          str(earned["expiry_date"]), 1))
    if loyalty.get("redeemed"):
        # ERPNext takes redeemed points from the earliest to expire, and counts the
        # sale's grand total as spent with them; until its entries arrive, one of our own
        # that never expires (the balance is then never more than ERPNext's)
        sql.run(_INSERT, (f"{_SALE}{invoice}:redeemed", *own, -int(loyalty["redeemed"]),
                          str(body["totals"]["grand_total"]), str(body["posting_date"]),
                          _NEVER, 1))


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
