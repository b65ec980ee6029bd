"""The audit trail: every ``audit.*`` event, as a queryable projection.

Sensitive actions (logins, overrides with a supervisor PIN, returns, voids, cash out,
drawer opens, shift closes, user changes) each write one ``audit.<what>`` event in the
same transaction as the action itself, so there is never an action without its trace.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.projections import projector
from tillmesh.node.projections.const import DEFAULT_AUDIT_ROWS
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event, unpack_body
from tillmesh.node.store.raw import raw
from tillmesh.node.store.types import UtcDateTime, utc_text


class AuditRow(Base):
    __tablename__ = "audit"
    __table_args__ = {"info": PROJECTION}
    origin: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hlc: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    user: Mapped[str | None] = mapped_column(String(140))
    approver: Mapped[str | None] = mapped_column(String(140))
    detail: Mapped[bytes] = mapped_column(LargeBinary)


@projector("audit.*")
def _audit(session: Session, event: Event, body: dict[str, Any]) -> None:
    raw(session).run(
        "INSERT INTO audit (origin, seq, hlc, kind, at, user, approver, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (event.origin, event.seq, event.hlc, event.kind, utc_text(event.wall),
         body.get("user"), body.get("approver"), event.body),
    )


def recent(session: Session, limit: int = DEFAULT_AUDIT_ROWS) -> list[dict[str, Any]]:
    rows = session.scalars(select(AuditRow).order_by(AuditRow.hlc.desc()).limit(limit))
    return [
        {**unpack_body(r.detail), "event": f"{r.origin}:{r.seq}", "kind": r.kind, "at": r.at,
         "user": r.user, "approver": r.approver}
        for r in rows
    ]
