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

The same invite has a short code a person types, ``7QK2-M9XD-4HTR-0BWE``: 16 Crockford
base32 characters (no I, L, O, U; typed in any case, ``O`` read as 0 and ``I``/``L``
as 1), 80 bits, two halves:

    token  40 random bits: what the joining counter presents instead of the secret
    tag    40 bits of HMAC-SHA256(key=token, the inviting counter's public key)

The joining counter listens on mDNS, where every counter announces its public key and
join port (``replication.discovery``), and takes the one record whose key gives the tag
with the token; it then talks to that counter with CurveZMQ pinned to that key, as with
the full code, so the short code authenticates the inviting counter too. The tag is
keyed by the secret token: an impostor on the LAN cannot make a key that matches a code
it has not seen (a plain fingerprint of the key could be matched ahead of time, once for
every invite, with 2^40 key pairs: hours on one GPU), and a mistyped code matches no
counter, so it is caught before anything is sent. The token is short, so the inviting
counter allows ``SHORT_MISSES_ALLOWED`` wrong ones while short codes are open and then
closes them all (the full code still works; a new invite opens a new short code).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgpack
from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.errors import AuthError, ValidationError
from tillmesh.node.membership.const import (
    INVITE_MAX_MINUTES,
    INVITE_SECRET_BYTES,
    SHORT_MISSES_ALLOWED,
    SHORT_TAG_BYTES,
    SHORT_TOKEN_BYTES,
)
from tillmesh.node.store.base import Base
from tillmesh.node.store.raw import raw
from tillmesh.node.store.types import UtcDateTime, utc_text

PREFIX = "TM1-"  # version of the code format
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # base32 without I, L, O, U
_READ_AS = str.maketrans("OIL", "011")  # what a person means by the letters left out
SHORT_CHARS = (SHORT_TOKEN_BYTES + SHORT_TAG_BYTES) * 8 // 5  # 16
SHORT_GROUP = 4  # characters between dashes


class InviteRow(Base):
    """Invites this counter issued (local state: only the issuer redeems its codes)."""

    __tablename__ = "invites"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of secret
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(140))
    used_by: Mapped[str | None] = mapped_column(String(8))


class ShortInviteRow(Base):
    """The short code of an invite: the sha256 of its token, and how many wrong short
    codes this counter took while it was open (local, as ``invites``)."""

    __tablename__ = "invite_short"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of token
    invite: Mapped[str] = mapped_column(String(64))  # ``invites.digest``
    misses: Mapped[int] = mapped_column(Integer, default=0)


class UnknownShortCode(AuthError):
    """A short code this counter did not issue (or no longer takes): a guess or a typo
    that matched a key by chance, counted against every open short code."""


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


@dataclass(frozen=True)
class ShortCode:
    token: bytes = field(repr=False)
    tag: bytes

    def names(self, public_key: str) -> bool:
        """Whether this code was made by the counter with ``public_key`` (z85)."""
        return hmac.compare_digest(self.tag, _tag(self.token, public_key))


def short_code(token: bytes, issuer_key: str) -> str:
    """The short code a person types: ``XXXX-XXXX-XXXX-XXXX``."""
    bits = int.from_bytes(token + _tag(token, issuer_key))
    text = "".join(CROCKFORD[(bits >> (5 * i)) & 31] for i in reversed(range(SHORT_CHARS)))
    return "-".join(text[i:i + SHORT_GROUP] for i in range(0, SHORT_CHARS, SHORT_GROUP))


def parse_short(text: str) -> ShortCode | None:
    """The short code in ``text``, or None when it is not one (a full code, say)."""
    chars = "".join(text.replace("-", " ").split()).upper().translate(_READ_AS)
    if len(chars) != SHORT_CHARS or not all(c in CROCKFORD for c in chars):
        return None
    bits = 0
    for c in chars:
        bits = bits << 5 | CROCKFORD.index(c)
    raw_bytes = bits.to_bytes(SHORT_TOKEN_BYTES + SHORT_TAG_BYTES)
    return ShortCode(raw_bytes[:SHORT_TOKEN_BYTES], raw_bytes[SHORT_TOKEN_BYTES:])


def _tag(token: bytes, public_key: str) -> bytes:
    return hmac.digest(token, public_key.encode(), "sha256")[:SHORT_TAG_BYTES]


def issue(session: Session, *, cluster: str, issuer: str, join_endpoint: str,
          issuer_key: str, created_by: str, now: datetime, minutes: int,
          ) -> tuple[InviteCode, str]:
    """A new invite: its full code and its short code."""
    if not 1 <= minutes <= INVITE_MAX_MINUTES:
        raise ValidationError(f"An invite lasts 1 to {INVITE_MAX_MINUTES} minutes")
    secret = secrets.token_bytes(INVITE_SECRET_BYTES)
    token = secrets.token_bytes(SHORT_TOKEN_BYTES)
    code = InviteCode(cluster, issuer, join_endpoint, issuer_key, secret,
                      now + timedelta(minutes=minutes))
    db = raw(session)
    db.run("INSERT INTO invites (digest, expires_at, created_by) VALUES (?, ?, ?)",
           (_digest(secret), utc_text(code.expires_at), created_by))
    db.run("INSERT INTO invite_short (digest, invite, misses) VALUES (?, ?, 0)",
           (_digest(token), _digest(secret)))
    return code, short_code(token, issuer_key)


def _invite_digest(session: Session, secret: bytes) -> str:
    """The ``invites`` row a full secret or a short token stands for."""
    if len(secret) != SHORT_TOKEN_BYTES:
        return _digest(secret)
    match = raw(session).one("SELECT invite FROM invite_short WHERE digest = ? AND misses < ?",
                             (_digest(secret), SHORT_MISSES_ALLOWED))
    if match is None:
        raise UnknownShortCode("Unknown short invite code (or short codes were closed after "
                               f"{SHORT_MISSES_ALLOWED} wrong ones)")
    return str(match[0])


def check(session: Session, secret: bytes, now: datetime) -> str:
    """The admin who made the invite, if ``secret`` (an invite's secret, or its short
    code's token) is an invite of this counter, unused and unexpired; AuthError
    otherwise (UnknownShortCode for a short code it does not know)."""
    # Looked up by the SHA-256 of the secret: timing reveals nothing useful.
    match = raw(session).one("SELECT expires_at, used_by, created_by FROM invites WHERE"
                             " digest = ?", (_invite_digest(session, secret),))
    if match is None:
        raise AuthError("Unknown invite code")
    if match[1] is not None:
        raise AuthError("This invite code has been used already")
    if datetime.fromisoformat(match[0]) < now:
        raise AuthError("This invite code has expired: make a new one")
    return str(match[2])


def use(session: Session, secret: bytes, node: str) -> None:
    """Mark the invite (``check``-ed in the same transaction) used by ``node``."""
    raw(session).run("UPDATE invites SET used_by = ? WHERE digest = ?",
                     (node, _invite_digest(session, secret)))


def missed(session: Session) -> int:
    """Count a wrong short code against every open one; how many it closed."""
    db = raw(session)
    (closing,) = db.one("SELECT count(*) FROM invite_short WHERE misses = ?",
                        (SHORT_MISSES_ALLOWED - 1,))
    db.run("UPDATE invite_short SET misses = misses + 1 WHERE misses < ?",
           (SHORT_MISSES_ALLOWED,))
    return int(closing)


def _digest(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()
