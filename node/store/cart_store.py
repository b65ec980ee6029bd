"""Carts in progress and held carts: local working state of this counter.

Not events and not a projection: a cart becomes a fact only when it is sold. Kept in the
encrypted database so that a held cart, or a half-scanned one, survives a restart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import msgpack
from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain.cart import Cart, CartStatus, from_data, to_data
from tillmesh.node.errors import NotFoundError
from tillmesh.node.store.base import Base
from tillmesh.node.store.const import CART_DIGEST_BYTES
from tillmesh.node.store.raw import raw
from tillmesh.node.store.types import UtcDateTime, utc_text


class CartRow(Base):
    __tablename__ = "carts"
    cart_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    cashier: Mapped[str] = mapped_column(String(140))
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    data: Mapped[bytes] = mapped_column(LargeBinary)


# The carts last saved or read, by their stored bytes: a scan reads its cart twice (to
# change it, then to see nobody else did meanwhile) and the next scan reads what this one
# saved, so most reads decode nothing. Carts are immutable; the bytes say all they hold.
_DECODED: dict[bytes, Cart] = {}
_DECODED_MAX = 64


def _remember(data: bytes, cart: Cart) -> Cart:
    if len(_DECODED) >= _DECODED_MAX:
        _DECODED.clear()
    _DECODED[data] = cart
    return cart


def load(session: Session, cart_id: object) -> Cart:
    row = raw(session).one("SELECT data FROM carts WHERE cart_id = ?", (str(cart_id),))
    if row is None:
        raise NotFoundError(f"No cart {cart_id!r} (sold, voided or never opened)")
    data = bytes(row[0])
    known = _DECODED.get(data)
    return known if known is not None else _remember(
        data, from_data(msgpack.unpackb(data, raw=False)))


def save(session: Session, cart: Cart, now: datetime) -> None:
    data = msgpack.packb(to_data(cart), use_bin_type=True)
    # An upsert changes the row where it is: a REPLACE deletes it and inserts it anew,
    # which also rewrites the key's index and the free list (4.9 pages written a scan
    # against 2.4, each page encrypted).
    raw(session).run(
        "INSERT INTO carts (cart_id, cashier, status, updated_at, data) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (cart_id) DO UPDATE SET cashier = excluded.cashier,"
        " status = excluded.status, updated_at = excluded.updated_at, data = excluded.data",
        (cart.cart_id, cart.cashier, cart.status.value, utc_text(now), data),
    )
    _remember(data, cart)


def drop(session: Session, cart_id: str) -> None:
    raw(session).run("DELETE FROM carts WHERE cart_id = ?", (cart_id,))


@dataclass(frozen=True)
class Newest:
    """The cart saved last, told without decoding it (``cart_store.newest``)."""

    cart_id: str
    status: CartStatus
    saved_at: datetime
    digest: str  # of what it holds: a poller decodes the cart only when this changes


def newest(session: Session) -> Newest | None:
    """The cart saved last, open or held: the one at the till, unless it was just held."""
    row = raw(session).one(
        "SELECT cart_id, status, updated_at, data FROM carts"
        " ORDER BY updated_at DESC, rowid DESC LIMIT 1")
    if row is None:
        return None
    return Newest(str(row[0]), CartStatus(row[1]), datetime.fromisoformat(row[2]),
                  hashlib.blake2b(row[3], digest_size=CART_DIGEST_BYTES).hexdigest())


def held(session: Session) -> list[Cart]:
    rows = raw(session).run(
        "SELECT data FROM carts WHERE status = ? ORDER BY updated_at", (CartStatus.HELD.value,))
    return [from_data(msgpack.unpackb(r[0], raw=False)) for r in rows]
