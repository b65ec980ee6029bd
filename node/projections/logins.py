"""Failed logins across the store, so a user's lockout is the same on every counter.

Every wrong PIN is an ``audit.login_failed`` event and replicates like any other, so
guessing spread over the store's counters counts as guessing at one of them.
``login.cleared`` (a right PIN after failures, or a new PIN set by an admin) forgets the
user's failures before it.

The table holds, per user, the latest clearing and the failures after it, in
``(hlc, origin, seq)`` order: the same rows whatever order events arrive in, since a
clearing drops everything older and anything older than a clearing is dropped on
arrival. Each counter folds these failures into a lock with its own policy when someone
logs in (``credentials.lockout_of``); their time is the HLC's, the same on every counter.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain.const import MAX_NAME_CHARS
from tillmesh.node.projections import projector
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event
from tillmesh.node.store.raw import raw
from tillmesh.replication.hlc import physical_ms

FAILED = "audit.login_failed"  # {"user", "failures"}: a wrong PIN or password
CLEARED = "login.cleared"  # {"user"}: the user's failures so far no longer count


class LoginAttemptRow(Base):
    __tablename__ = "login_attempts"
    __table_args__ = {"info": PROJECTION}
    origin: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user: Mapped[str] = mapped_column(String(MAX_NAME_CHARS), index=True)
    hlc: Mapped[int] = mapped_column(BigInteger)
    cleared: Mapped[bool]


@projector(FAILED, CLEARED)
def _attempt(session: Session, event: Event, body: dict[str, Any]) -> None:
    user = body.get("user")
    if not isinstance(user, str):
        return
    sql, key = raw(session), (user, event.hlc, event.origin, event.seq)
    if sql.one("SELECT 1 FROM login_attempts WHERE user = ? AND cleared"
               " AND (hlc, origin, seq) > (?, ?, ?)", key):
        return  # older than the user's latest clearing: already forgotten
    cleared = event.kind == CLEARED
    if cleared:
        sql.run("DELETE FROM login_attempts WHERE user = ? AND (hlc, origin, seq) < (?, ?, ?)",
                key)
    sql.run("INSERT INTO login_attempts (origin, seq, user, hlc, cleared) VALUES (?, ?, ?, ?, ?)",
            (event.origin, event.seq, user, event.hlc, int(cleared)))


def failures(session: Session, user: str, tz: tzinfo) -> list[datetime]:
    """When ``user``'s failed logins since their latest clearing were, oldest first, in
    ``tz`` (a lock's message shows the time of day there)."""
    rows = raw(session).run("SELECT hlc FROM login_attempts WHERE user = ? AND NOT cleared"
                            " ORDER BY hlc, origin, seq", (user,))
    return [datetime.fromtimestamp(physical_ms(hlc) / 1000, UTC).astimezone(tz)
            for (hlc,) in rows]
