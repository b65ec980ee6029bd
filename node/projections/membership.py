"""Users and counters as every replica judges them: the changes to them (``user.*`` and
``node.*`` events, and the store's allowed releases, ``releases.allowed``) are kept as
they arrive, and the ``users``, ``members`` and ``allowed_releases`` tables are the fold of
``domain.authority`` over all of them in HLC order, recomputed when one arrives. Changes
the fold refuses are listed in ``refused_changes`` for admins: kept in the log (their
counter's chain goes on), never applied.

Such changes are rare (tens a day), so folding them all again is cheap and keeps the
tables a pure function of the event set, whatever the order of arrival. ``revocation_of``
says who revoked a counter and when (the revocation the fold applied). ``generation``
moves at every refold, so what every API call reads of the fold (the caller's grant,
whether this counter may sell) is kept until then (``cached.Cached``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, LargeBinary, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain.authority import KINDS, REVOKED, Change, Refused, fold
from tillmesh.node.domain.releases import Hold
from tillmesh.node.projections import projector
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event, pack_body, unpack_body
from tillmesh.node.store.raw import raw
from tillmesh.replication.hlc import physical_ms

_generation = 0  # bumped at every refold, by any store of this process


class ChangeRow(Base):
    __tablename__ = "membership_changes"
    __table_args__ = {"info": PROJECTION}
    origin: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hlc: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    signed: Mapped[bool]


class RefusedRow(Base):
    __tablename__ = "refused_changes"
    __table_args__ = {"info": PROJECTION}
    origin: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    hlc: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(300))


class AllowedReleaseRow(Base):
    """One row per allowed release of the hold that stands (none: any release)."""

    __tablename__ = "allowed_releases"
    __table_args__ = {"info": PROJECTION}
    release: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int]  # as the admin listed them
    by: Mapped[str | None] = mapped_column(String(140))
    origin: Mapped[str] = mapped_column(String(32))  # the counter it was recorded on
    hlc: Mapped[int] = mapped_column(BigInteger)


@projector(*KINDS)
def _changed(session: Session, event: Event, body: dict[str, Any]) -> None:
    raw(session).run("INSERT OR IGNORE INTO membership_changes (origin, seq, hlc, kind, body,"
                     " signed) VALUES (?, ?, ?, ?, ?, ?)",
                     (event.origin, event.seq, event.hlc, event.kind, pack_body(body),
                      int(bool(event.sig))))
    _refold(session)


def _refold(session: Session) -> None:
    global _generation
    _generation += 1  # before the tables change: no cache keeps what they held
    sql = raw(session)
    store = fold(Change(hlc, origin, seq, kind, unpack_body(body), bool(signed))
                 for origin, seq, hlc, kind, body, signed in sql.run(
                     "SELECT origin, seq, hlc, kind, body, signed FROM membership_changes"))
    sql.run("DELETE FROM users")
    sql.many("INSERT INTO users (user, full_name, role, secret_kind, secret_hash, disabled,"
             " hlc, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
             [(u.user, u.full_name, u.role, u.secret_kind, u.secret_hash, int(u.disabled),
               u.hlc, u.origin) for u in store.users.values()])
    sql.run("DELETE FROM members")
    sql.many("INSERT INTO members (node, public_key, signing_key, enrolled_by, endpoint, hlc,"
             " revoked, last_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
             [(m.node, m.public_key, m.signing_key, m.enrolled_by, m.endpoint, m.hlc,
               int(m.revoked), m.last_seq) for m in store.members.values()])
    sql.run("DELETE FROM allowed_releases")
    hold = store.releases
    if hold is not None:
        sql.many("INSERT INTO allowed_releases (release, position, by, origin, hlc) VALUES"
                 " (?, ?, ?, ?, ?)", [(r, i, hold.by, hold.counter, hold.hlc)
                                      for i, r in enumerate(hold.releases)])
    sql.run("DELETE FROM refused_changes")
    sql.many("INSERT INTO refused_changes (origin, seq, kind, hlc, reason) VALUES"
             " (?, ?, ?, ?, ?)", [(r.origin, r.seq, r.kind, r.hlc, r.reason[:300])
                                  for r in store.refused])


def generation() -> int:
    """Moves at every refold (``cached.Cached``)."""
    return _generation


def allowed_releases(session: Session) -> Hold | None:
    """The releases the store lets sell (``domain.releases``); None: any release."""
    rows = raw(session).run("SELECT release, by, origin, hlc FROM allowed_releases"
                            " ORDER BY position")
    if not rows:
        return None
    _, by, origin, hlc = rows[0]
    return Hold(tuple(r[0] for r in rows), by, origin, hlc)


def refused(session: Session) -> list[Refused]:
    """Changes no replica applies, oldest first (for admins)."""
    return [Refused(*row) for row in raw(session).run(
        "SELECT origin, seq, kind, hlc, reason FROM refused_changes ORDER BY hlc")]


def rebuild(session: Session) -> None:
    """Take the changes again from the event log itself and fold them: a snapshot's
    tables are not trusted, its chained and signed events are."""
    sql = raw(session)
    sql.run("DELETE FROM membership_changes")
    marks = ", ".join("?" * len(KINDS))
    sql.many("INSERT INTO membership_changes (origin, seq, hlc, kind, body, signed) VALUES"
             " (?, ?, ?, ?, ?, ?)",
             [(origin, seq, hlc, kind, body, int(bool(sig))) for origin, seq, hlc, kind, body,
              sig in sql.run(f"SELECT origin, seq, hlc, kind, body, sig FROM every_event WHERE kind"
                             f" IN ({marks})", KINDS)])
    _refold(session)


@dataclass(frozen=True)
class Revocation:
    """The revocation of a counter that every replica applies."""

    node: str
    by: str | None  # the admin who revoked it (or approved it)
    counter: str  # the counter it was recorded on
    at: datetime  # when, from its stamp (UTC)
    last_seq: int | None  # the revoked counter's last event the store takes


def revocation_of(session: Session, node: str) -> Revocation | None:
    """Who revoked ``node`` and when, or None while it is a member: the first revocation
    of it (in HLC order) that the fold did not refuse."""
    sql = raw(session)
    if not sql.one("SELECT 1 FROM members WHERE node = ? AND revoked", (node,)):
        return None
    refused_ids = set(sql.run("SELECT origin, seq FROM refused_changes WHERE kind = ?",
                              (REVOKED,)))
    for origin, seq, hlc, body in sql.run(
            "SELECT origin, seq, hlc, body FROM membership_changes WHERE kind = ?"
            " ORDER BY hlc, origin, seq", (REVOKED,)):
        change = unpack_body(body)
        if change.get("node") != node or (origin, seq) in refused_ids:
            continue
        last = change.get("last_seq")
        return Revocation(node, None if change.get("by") is None else str(change["by"]),
                          origin, datetime.fromtimestamp(physical_ms(hlc) / 1000, UTC),
                          None if last is None else int(last))
    return None
