"""The counters of this store: their CurveZMQ and signing keys, enrolment and revocation.

``node.enrolled`` carries a counter's public keys; ``node.revoked`` removes it for good
(a revoked counter that comes back must join again under a new id) and names its last
event the store accepts. Revocation wins whatever the order the two events arrive in, so
every node agrees on the member set (the table is written by ``membership``); the
replication transport accepts exactly these keys (Ironhouse).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, LargeBinary, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain.authority import ENROLLED as ENROLLED
from tillmesh.node.domain.authority import REVOKED as REVOKED
from tillmesh.node.domain.authority import SIGNING_KEY as SIGNING_KEY
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.raw import raw


class MemberRow(Base):
    __tablename__ = "members"
    __table_args__ = {"info": PROJECTION}
    node: Mapped[str] = mapped_column(String(8), primary_key=True)
    public_key: Mapped[str | None] = mapped_column(String(40))  # z85, None until enrolled
    enrolled_by: Mapped[str | None] = mapped_column(String(8))
    endpoint: Mapped[str | None] = mapped_column(String(200))  # where it listened, a hint
    hlc: Mapped[int] = mapped_column(BigInteger, default=0)
    revoked: Mapped[bool] = mapped_column(default=False)
    signing_key: Mapped[bytes | None] = mapped_column(LargeBinary)  # Ed25519, 32 bytes
    last_seq: Mapped[int | None] = mapped_column(BigInteger)  # when revoked: its last event


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


@dataclass(frozen=True)
class Trust:
    """What the replication gate needs of a counter to judge its events."""

    signing_key: bytes | None  # None: made before signatures (its events are trusted by chain)
    revoked: bool
    last_seq: int | None  # a revoked counter's last event the store accepts


def trust(session: Session) -> dict[str, Trust]:
    """Every counter this store ever enrolled, revoked ones included."""
    return {node: Trust(key, bool(revoked), last) for node, key, revoked, last in raw(session).run(
        "SELECT node, signing_key, revoked, last_seq FROM members WHERE public_key IS NOT NULL")}
