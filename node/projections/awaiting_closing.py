"""Invoices ERPNext holds and no POS Closing Entry has consolidated (or, in Sales Invoice
mode, listed) yet, where closings list every invoice delivered since the last one
(ERPNext 16, ``outbox.by_session``).

ERPNext 16 holds one open POS Opening Entry per POS Profile, so the forwarder keeps one
open for the whole store and each shift's closing lists whatever was delivered under it:
the shift's own sales, and the other shifts' (``carried``, as ``ledger`` counts their
stock under that closing from then on). The forwarder acks each such invoice with the
closing that is its own (``entry``: its shift's, or its late sales' pair); a closing's
ack takes out its own and what it carried. Only invoices waiting for a closing are held,
so the next closing's list is read from a few rows, not from the store's history.

The rows are a function of the acks in any order: an invoice whose own closing is acked
already, or that a closing carried, is consolidated when its ack comes in late.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.projections import projector
from tillmesh.node.projections.deliveries import ACKED
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event
from tillmesh.node.store.raw import raw

INVOICE, CLOSING = "POS Invoice", "POS Closing Entry"


class AwaitingClosingRow(Base):
    __tablename__ = "awaiting_closing"
    __table_args__ = {"info": PROJECTION}
    invoice: Mapped[str] = mapped_column(String(140), primary_key=True)
    entry: Mapped[str] = mapped_column(String(60), index=True)  # its own closing


@projector(ACKED)
def _acked(session: Session, event: Event, body: dict[str, Any]) -> None:
    sql, name = raw(session), str(body["name"])
    if body["doctype"] == INVOICE and body.get("entry"):
        entry = str(body["entry"])
        if sql.one("SELECT 1 FROM deliveries WHERE doctype = ? AND name = ? AND acked = 1",
                   (CLOSING, entry)) or sql.one("SELECT 1 FROM carried WHERE invoice = ?",
                                                (name,)):
            return  # consolidated already: its closing's ack came in first
        sql.run("INSERT OR IGNORE INTO awaiting_closing (invoice, entry) VALUES (?, ?)",
                (name, entry))
    elif body["doctype"] == CLOSING:
        sql.run("DELETE FROM awaiting_closing WHERE entry = ?", (name,))
        sql.run("DELETE FROM awaiting_closing WHERE invoice IN (SELECT value FROM json_each(?))",
                (json.dumps([str(i) for i in body.get("carried") or ()]),))


def awaiting(session: Session) -> list[tuple[str, str]]:
    """(invoice, its own closing) of every invoice no closing has consolidated yet."""
    return [(str(i), str(e)) for i, e in raw(session).run(
        "SELECT invoice, entry FROM awaiting_closing ORDER BY invoice")]
