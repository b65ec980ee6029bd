"""Users and their login state.

Users replicate as ``user.upserted`` events (last writer wins on the HLC stamp, among the
changes every replica accepts: ``membership``), so a cashier enrolled on one counter logs
in on any counter offline. The PIN travels only as
its argon2id hash. Failed-login counters are local to this counter (a table outside the
projections): they protect this keypad and are never replicated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain.authority import USER_UPSERTED as USER_UPSERTED
from tillmesh.node.domain.const import MAX_NAME_CHARS
from tillmesh.node.domain.credentials import LockoutState
from tillmesh.node.domain.roles import Role
from tillmesh.node.errors import NotFoundError, ValidationError
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.types import UtcDateTime


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = {"info": PROJECTION}
    user: Mapped[str] = mapped_column(String(MAX_NAME_CHARS), primary_key=True)
    full_name: Mapped[str] = mapped_column(String(140))
    role: Mapped[str] = mapped_column(String(16))
    secret_kind: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(default=False)
    hlc: Mapped[int] = mapped_column(BigInteger)
    origin: Mapped[str] = mapped_column(String(32))


class LoginStateRow(Base):
    """Failed logins on this counter (local state, not replicated, not a projection)."""

    __tablename__ = "login_state"
    user: Mapped[str] = mapped_column(String(MAX_NAME_CHARS), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class User:
    user: str
    full_name: str
    role: Role
    secret_kind: str
    secret_hash: str
    disabled: bool

    def public(self) -> dict[str, Any]:
        """What the API shows about a user: never the hash."""
        return {
            "user": self.user,
            "full_name": self.full_name,
            "role": self.role.value,
            "secret_kind": self.secret_kind,
            "disabled": self.disabled,
        }


def validate_user_id(user: object) -> str:
    if not isinstance(user, str) or not user.strip() or len(user) > MAX_NAME_CHARS:
        raise ValidationError(f"user must be a name of 1-{MAX_NAME_CHARS} characters")
    return user.strip()


def _user(row: UserRow) -> User:
    return User(row.user, row.full_name, Role(row.role), row.secret_kind, row.secret_hash,
                row.disabled)


def find_user(session: Session, user: str) -> User | None:
    row = session.get(UserRow, user)
    return None if row is None else _user(row)


def get_user(session: Session, user: str) -> User:
    found = find_user(session, user)
    if found is None:
        raise NotFoundError(f"No user {user!r}")
    return found


def list_users(session: Session) -> list[User]:
    return [_user(r) for r in session.scalars(select(UserRow).order_by(UserRow.user))]


def login_state(session: Session, user: str) -> LockoutState:
    row = session.get(LoginStateRow, user)
    if row is None:
        return LockoutState()
    return LockoutState(row.failures, row.locked_until)


def save_login_state(session: Session, user: str, state: LockoutState) -> None:
    row = session.get(LoginStateRow, user)
    if row is None:
        session.add(LoginStateRow(user=user, failures=state.failures,
                                  locked_until=state.locked_until))
    else:
        row.failures, row.locked_until = state.failures, state.locked_until
