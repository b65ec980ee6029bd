"""Users: who may log in, with which role.

Users replicate as ``user.upserted`` events (last writer wins on the HLC stamp, among the
changes every replica accepts: ``membership``), so a cashier enrolled on one counter logs
in on any counter offline. The PIN travels only as its argon2id hash. Failed logins
replicate too (``logins``): a lockout holds on every counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain.authority import USER_UPSERTED as USER_UPSERTED
from tillmesh.node.domain.const import MAX_NAME_CHARS
from tillmesh.node.domain.credentials import Grant
from tillmesh.node.domain.roles import Role
from tillmesh.node.errors import NotFoundError, ValidationError
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.raw import raw


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


@dataclass(frozen=True)
class User:
    user: str
    full_name: str
    role: Role
    secret_kind: str
    secret_hash: str
    disabled: bool

    @property
    def grant(self) -> Grant:
        """What this user's sessions hold their powers by (see ``SessionBook.recheck``)."""
        return Grant(self.role, self.secret_hash)

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


def grant_of(session: Session, user: str) -> Grant | None:
    """``user``'s grant as the users table holds it now; None if disabled or unknown.
    Read at every call, so raw SQL (~70 us, the ORM's ``get`` ~360 us)."""
    row = raw(session).one("SELECT role, secret_hash FROM users WHERE user = ? AND NOT disabled",
                           (user,))
    return None if row is None else Grant(Role(row[0]), row[1])
