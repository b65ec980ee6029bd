"""Carts in progress and held carts: local working state of this counter.

Not events and not a projection: a cart becomes a fact only when it is sold. Kept in the
encrypted database so that a held cart, or a half-scanned one, survives a restart.
"""

from __future__ import annotations

from datetime import datetime

import msgpack
from sqlalchemy import LargeBinary, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from node.cart import Cart, CartStatus, from_data, to_data
from node.errors import NotFoundError
from node.store.base import Base
from node.store.types import UtcDateTime


class CartRow(Base):
    __tablename__ = "carts"
    cart_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    cashier: Mapped[str] = mapped_column(String(140))
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    data: Mapped[bytes] = mapped_column(LargeBinary)


def load(session: Session, cart_id: object) -> Cart:
    row = session.get(CartRow, str(cart_id))
    if row is None:
        raise NotFoundError(f"No cart {cart_id!r} (sold, voided or never opened)")
    return from_data(msgpack.unpackb(row.data, raw=False))


def save(session: Session, cart: Cart, now: datetime) -> None:
    data = msgpack.packb(to_data(cart), use_bin_type=True)
    row = session.get(CartRow, cart.cart_id)
    if row is None:
        session.add(CartRow(cart_id=cart.cart_id, cashier=cart.cashier,
                            status=cart.status.value, updated_at=now, data=data))
    else:
        row.cashier, row.status, row.updated_at, row.data = (
            cart.cashier, cart.status.value, now, data)


def drop(session: Session, cart_id: str) -> None:
    session.execute(delete(CartRow).where(CartRow.cart_id == cart_id))


def held(session: Session) -> list[Cart]:
    rows = session.scalars(
        select(CartRow.data).where(CartRow.status == CartStatus.HELD.value)
        .order_by(CartRow.updated_at)
    )
    return [from_data(msgpack.unpackb(raw, raw=False)) for raw in rows]
