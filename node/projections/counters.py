"""The counters of this store: their CurveZMQ keys, enrolment and revocation.

``node.enrolled`` carries a counter's public key; ``node.revoked`` removes it for good
(a revoked counter that comes back must join again under a new id). Revocation wins
whatever the order the two events arrive in, so every node agrees on the member set;
the replication transport accepts exactly these keys (Ironhouse).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.projections import projector
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event
from tillmesh.node.store.raw import raw

ENROLLED = "node.enrolled"
REVOKED = "node.revoked"


class MemberRow(Base):
    __tablename__ = "members"
    __table_args__ = {"info": PROJECTION}
    node: Mapped[str] = mapped_column(String(8), primary_key=True)
    public_key: Mapped[str | None] = mapped_column(String(40))  # z85, None until enrolled
    enrolled_by: Mapped[str | None] = mapped_column(String(8))
    endpoint: Mapped[str | None] = mapped_column(String(200))  # where it listened, a hint
    hlc: Mapped[int] = mapped_column(BigInteger, default=0)
    revoked: Mapped[bool] = mapped_column(default=False)


@projector(ENROLLED)
def _enrolled(session: Session, event: Event, body: dict[str, Any]) -> None:
    sql = raw(session)
    sql.run("INSERT OR IGNORE INTO members (node, hlc, revoked) VALUES (?, 0, 0)",
            (body["node"],))
    # Two enrolments of one id (should not happen): the later stamp wins everywhere.
    sql.run("UPDATE members SET public_key = ?, enrolled_by = ?, endpoint = ?, hlc = ?"
            " WHERE node = ? AND hlc < ?", (body["public_key"], event.origin,
                                            body.get("endpoint"), event.hlc, body["node"],
                                            event.hlc))


@projector(REVOKED)
def _revoked(session: Session, event: Event, body: dict[str, Any]) -> None:
    sql = raw(session)
    sql.run("INSERT OR IGNORE INTO members (node, hlc, revoked) VALUES (?, 0, 1)",
            (body["node"],))
    sql.run("UPDATE members SET revoked = 1 WHERE node = ?", (body["node"],))


@dataclass(frozen=True)
class Member:
    node: str
    public_key: str
    revoked: bool
    endpoint: str | None = None


def members(session: Session, *, include_revoked: bool = False) -> list[Member]:
    rows = raw(session).run(
        "SELECT node, public_key, revoked, endpoint FROM members WHERE public_key IS NOT NULL"
        " ORDER BY node")
    return [Member(n, k, bool(r), e) for n, k, r, e in rows if include_revoked or not r]


def is_member(session: Session, node: str) -> bool:
    return any(m.node == node for m in members(session))


def was_enrolled(session: Session, node: str) -> bool:
    """True for a current or a revoked member: its id can never be used again."""
    return raw(session).one("SELECT 1 FROM members WHERE node = ?", (node,)) is not None


# --- this counter's keypair ---------------------------------------------------------------
