"""Invite codes: how a new counter joins the store without any central server.

``tillmesh invite`` (an admin, on any running counter) makes a one-time code that
expires (15 minutes by default). It holds the cluster id, where this counter takes join
requests, this counter's public key and a random secret. ``tillmesh join CODE`` on the
new machine sends its own node id and public key, encrypted to that key (CurveZMQ), with
the secret; the inviting counter checks the secret (unused, unexpired, this cluster),
records ``node.enrolled`` and marks the invite used. From then on the new counter is a
member: peers accept its key and it pulls the whole store's state.

Only the inviting counter can redeem its code (the invite table is local), so a code
cannot be used twice even while counters are partitioned. A code that was used, has
expired, belongs to another cluster or was tampered with gets nothing, and its holder
hears only the join listener's generic refusal (the inviting counter's log says which).
Guessing is hopeless: 128 random bits, valid for minutes, answered 50 times a second
at most (``membership.const``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgpack
from sqlalchemy import String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.errors import AuthError, ValidationError
from tillmesh.node.membership.const import INVITE_MAX_MINUTES, INVITE_SECRET_BYTES
from tillmesh.node.store.base import Base
from tillmesh.node.store.raw import raw
from tillmesh.node.store.types import UtcDateTime, utc_text

PREFIX = "TM1-"  # version of the code format


class InviteRow(Base):
    """Invites this counter issued (local state: only the issuer redeems its codes)."""

    __tablename__ = "invites"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of secret
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(140))
    used_by: Mapped[str | None] = mapped_column(String(8))


@dataclass(frozen=True)
class InviteCode:
    cluster: str
    issuer: str  # node id of the inviting counter
    join_endpoint: str  # tcp://host:port of its join listener
    issuer_key: str  # its CurveZMQ public key (z85)
    secret: bytes
    expires_at: datetime

    def encode(self) -> str:
        packed = msgpack.packb([self.cluster, self.issuer, self.join_endpoint,
                                self.issuer_key, self.secret,
                                int(self.expires_at.timestamp())], use_bin_type=True)
        check = hashlib.sha256(packed).digest()[:4]  # catches a mistyped code
        return PREFIX + base64.b32encode(packed + check).decode().rstrip("=")


def decode(code: str) -> InviteCode:
    text = "".join(code.split()).upper()
    if not text.startswith(PREFIX):
        raise ValidationError("This is not a Tillmesh invite code (it starts with TM1-)")
    body = text[len(PREFIX):]
    try:
        raw_bytes = base64.b32decode(body + "=" * (-len(body) % 8))
        packed, check = raw_bytes[:-4], raw_bytes[-4:]
        if hashlib.sha256(packed).digest()[:4] != check:
            raise ValidationError("The invite code is mistyped (its check does not match)")
        cluster, issuer, endpoint, key, secret, expires = msgpack.unpackb(packed, raw=False)
        return InviteCode(str(cluster), str(issuer), str(endpoint), str(key), bytes(secret),
                          datetime.fromtimestamp(int(expires), UTC))
    except (binascii.Error, ValueError, TypeError, msgpack.ExtraData) as exc:
        raise ValidationError("The invite code is damaged: copy it again") from exc


def issue(session: Session, *, cluster: str, issuer: str, join_endpoint: str,
          issuer_key: str, created_by: str, now: datetime, minutes: int) -> InviteCode:
    if not 1 <= minutes <= INVITE_MAX_MINUTES:
        raise ValidationError(f"An invite lasts 1 to {INVITE_MAX_MINUTES} minutes")
    secret = secrets.token_bytes(INVITE_SECRET_BYTES)
    code = InviteCode(cluster, issuer, join_endpoint, issuer_key, secret,
                      now + timedelta(minutes=minutes))
    raw(session).run("INSERT INTO invites (digest, expires_at, created_by) VALUES (?, ?, ?)",
                     (_digest(secret), utc_text(code.expires_at), created_by))
    return code


def check(session: Session, secret: bytes, now: datetime) -> str:
    """The admin who made the invite, if ``secret`` is an invite of this counter, unused
    and unexpired; AuthError otherwise."""
    # Looked up by the SHA-256 of a 128-bit secret: timing reveals nothing useful.
    match = raw(session).one("SELECT expires_at, used_by, created_by FROM invites WHERE"
                             " digest = ?", (_digest(secret),))
    if match is None:
        raise AuthError("Unknown invite code")
    if match[1] is not None:
        raise AuthError("This invite code has been used already")
    if datetime.fromisoformat(match[0]) < now:
        raise AuthError("This invite code has expired: make a new one")
    return str(match[2])


def use(session: Session, secret: bytes, node: str) -> None:
    """Mark the invite (``check``-ed in the same transaction) used by ``node``."""
    raw(session).run("UPDATE invites SET used_by = ? WHERE digest = ?", (node, _digest(secret)))


def _digest(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()
