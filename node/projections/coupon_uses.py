"""The store's uses of each Coupon Code: every counter's sales that carried one, and what
their delivery to ERPNext made of the coupon.

ERPNext counts a use when the POS Invoice that names the coupon is submitted; a sale
ERPNext took without the coupon (it refused the coupon: used up by cut-off counters,
expired by its own date) is a use all the same, that ERPNext never counts. What a till
needs is ``domain.coupons.Uses``: this store's uses by delivery, beside ERPNext's count
as pulled. The same in any arrival order: a sale that arrives after its ack reads the
ack from ``deliveries``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain.coupons import Coupon, Uses
from tillmesh.node.projections import projector
from tillmesh.node.projections.deliveries import ACKED, INVOICE
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event
from tillmesh.node.store.raw import raw

PENDING, LINKED, UNLINKED = 0, 1, 2


class CouponUseRow(Base):
    """A sale that used a coupon."""

    __tablename__ = "coupon_uses"
    __table_args__ = {"info": PROJECTION}
    invoice: Mapped[str] = mapped_column(String(40), primary_key=True)
    coupon: Mapped[str] = mapped_column(String(140), index=True)  # the Coupon Code's name
    delivery: Mapped[int] = mapped_column(Integer)  # PENDING, LINKED or UNLINKED


def unlinked_note(coupon: str, why: str) -> str:
    """The note on the ack of a sale delivered without its coupon (``deliveries``)."""
    return f"delivered without coupon {coupon}: ERPNext refused it ({why})"


@projector("sale.submitted")
def _sold(session: Session, event: Event, body: dict[str, Any]) -> None:
    coupon = body.get("coupon_code")
    if not coupon:
        return
    sql = raw(session)
    acked = sql.one("SELECT acked, note FROM deliveries WHERE doctype = ? AND name = ?",
                    (INVOICE, str(body["invoice"])))
    delivery = PENDING if acked is None or not acked[0] else \
        UNLINKED if acked[1] else LINKED  # an ack's note is that of a coupon left out
    sql.run("INSERT OR REPLACE INTO coupon_uses (invoice, coupon, delivery) VALUES (?, ?, ?)",
            (str(body["invoice"]), str(coupon), delivery))


@projector(ACKED)
def _delivered(session: Session, event: Event, body: dict[str, Any]) -> None:
    if body.get("doctype") != INVOICE:
        return
    raw(session).run("UPDATE coupon_uses SET delivery = ? WHERE invoice = ?",
                     (UNLINKED if body.get("coupon_unlinked") else LINKED, str(body["name"])))


def uses(session: Session, coupon: Coupon) -> Uses:
    """``coupon``'s uses as this store knows them."""
    counts = dict.fromkeys((PENDING, LINKED, UNLINKED), 0)
    for delivery, count in raw(session).run(
            "SELECT delivery, count(*) FROM coupon_uses WHERE coupon = ? GROUP BY delivery",
            (coupon.name,)):
        counts[int(delivery)] = int(count)
    return Uses(erpnext=coupon.used, linked=counts[LINKED], unlinked=counts[UNLINKED],
                pending=counts[PENDING])
