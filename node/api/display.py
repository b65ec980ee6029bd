"""API methods for the customer display: what the customer at this till sees, and the
tender the cashier types for it before the sale.

``customer_display`` answers the display itself (no login, polled); ``cart_tender_draft``
is the cashier's app saying what the customer hands over while it is being typed. That
draft lives in memory on the node (``Node.tender_drafts``), never in the event log:
nothing has happened yet; ``sale_submit`` takes the payments that count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from tillmesh.node.api import _inputs as inputs
from tillmesh.node.api._methods import Auth, api_method
from tillmesh.node.api.const import (
    DISPLAY_LINES,
    DISPLAY_SALE_LOOKBACK,
    DISPLAY_VERSION_CHARS,
    TENDER_DIGEST_BYTES,
)
from tillmesh.node.domain.cart import Cart, CartStatus
from tillmesh.node.domain.money import ZERO, flt
from tillmesh.node.domain.pos_context import PosContext
from tillmesh.node.domain.sale import Tender, check_payments, price, price_paid, row_names
from tillmesh.node.domain.totals import amount_due, recorded_due
from tillmesh.node.errors import PaymentError, ValidationError
from tillmesh.node.store import cart_store
from tillmesh.node.store.event_codec import unpack_body
from tillmesh.node.store.raw import raw

if TYPE_CHECKING:
    from tillmesh.node.api import Caller, Node

_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # events keep their wall time in us from it


@api_method()
def cart_tender_draft(node: Node, caller: Caller, cart_id: str,
                      payments: list[dict[str, Any]]) -> dict[str, Any]:
    """What the customer hands over, as the cashier types it: the display's paid and change.

    Kept in memory only, one per cart, until the cart is sold, voided, held or changed,
    ``payments`` is empty, or this session locks, logs out or ends; never recorded
    (``sale_submit`` takes the payments). Only an open cart has one; each amount is
    checked as a payment's (mode, 2 decimals).
    """
    tenders = inputs.tenders(node, payments)
    with node.read() as s:
        cart, ctx = cart_store.load(s, cart_id), node.context(s)
    if cart.status is not CartStatus.OPEN:
        raise ValidationError("This cart is held: resume it first")
    for tender in tenders:
        ctx.mode(tender.mode_of_payment)
        inputs.money(node, tender.amount, f"{tender.mode_of_payment} amount")
    node.tender_drafts.put(cart.cart_id, tenders, caller.token)
    return {"paid": str(_sum(tenders))}


@api_method(auth=Auth.NONE)
async def customer_display(node: Node, since: str | None = None) -> dict[str, Any]:
    """What the customer display shows: the cart at this till, the sale just paid.

    No login (a display is no user), so it answers only what a customer at the till sees
    anyway: the cart's last lines (name, qty, amount), its total and, while the cashier
    types what the customer hands over (``cart_tender_draft``) in a session that is still
    live and unlocked, the paid amount and, if the sale would take that tender, the change,
    priced as the sale will book them; and a sale's total, payments and change;
    never who sells, to whom, an id or anything to act on. Made to be polled: ``since`` is
    the last answer's ``version``; if nothing changed the answer is ``{"version",
    "unchanged": true}`` with nothing priced, and ``sale`` is only ever a sale this
    counter recorded after ``since``.

    The cart at the till is the cart saved last, if it is open and was saved after this
    counter's last sale (among its last DISPLAY_SALE_LOOKBACK events): a cart left open
    by an app that stopped mid-sale never shows up between two customers.
    """
    if since is not None and (not isinstance(since, str) or len(since) > DISPLAY_VERSION_CHARS):
        raise ValidationError("since must be the version of an earlier answer")
    head = node.log.vector().get(node.node_id, 0)
    cart: Cart | None = None
    ctx: PosContext | None = None
    with node.read() as s:
        newest = cart_store.newest(s)
        active = partial(node.sessions.active, now=node.clock())
        draft = node.tender_drafts.live(newest.cart_id, active) if newest is not None else ()
        version = f"{head}-{newest.digest if newest else ''}-{_digest(draft)}"
        if since == version:
            return {"version": version, "unchanged": True}
        sale = raw(s).one(_LAST_SALE, (node.node_id, head - DISPLAY_SALE_LOOKBACK))
        sold_at = None if sale is None else _UTC_EPOCH + timedelta(microseconds=sale[1])
        if newest is not None and newest.status is CartStatus.OPEN and (
                sold_at is None or newest.saved_at > sold_at):
            cart = cart_store.load(s, newest.cart_id)
            ctx = node.context(s) if cart.lines else None
    shown: dict[str, Any] = {"lines": [], "line_count": 0, "total": "0.00", "paid": None,
                             "change": None}
    if cart is not None and ctx is not None:  # a cart with lines
        shown = await node.off_loop(partial(_shown, cart, ctx, draft), len(cart.lines))
    seen, _, _ = (since or "").partition("-")  # none seen on a first poll: no old change
    if sale is not None and seen.isascii() and seen.isdigit() and sale[0] > int(seen):
        return {"version": version, **shown, "sale": _paid(unpack_body(sale[2]))}
    return {"version": version, **shown, "sale": None}


_LAST_SALE = ("SELECT seq, wall_us, body FROM events WHERE origin = ? AND seq > ?"
              " AND kind = 'sale.submitted' ORDER BY seq DESC LIMIT 1")


def _sum(tenders: Sequence[Tender]) -> Decimal:
    return sum((t.amount for t in tenders), ZERO)


def _digest(draft: Sequence[Tender]) -> str:
    """A draft's digest for the display's version ("" for none). Pure."""
    if not draft:
        return ""
    text = "|".join(f"{t.mode_of_payment}:{t.amount}" for t in draft)
    return hashlib.blake2b(text.encode(), digest_size=TENDER_DIGEST_BYTES).hexdigest()


def _shown(cart: Cart, ctx: PosContext, draft: Sequence[Tender]) -> dict[str, Any]:
    """What a display shows of ``cart``: its last lines, the amount due and, with a draft,
    what is paid and the change. A draft the sale would take (``check_payments``, the
    sale's own rule) is priced as ``sale_submit`` will price the sale (ERPNext's paid and
    change amounts); one it would refuse (short of the due, change out of a card) has no
    change: the customer is never shown change the till will not give. Pure."""
    totals = price(cart, ctx)
    change: Decimal | None = None
    if draft:
        try:
            paid = check_payments(draft, ctx, amount_due(totals))
        except PaymentError:
            pass  # not a sale yet: what is paid shows, no change
        else:
            totals = price_paid(cart, ctx, totals, paid)
            change = totals.change_amount
    names = row_names(cart, totals, ctx)
    last = zip(names[-DISPLAY_LINES:], totals.lines[-DISPLAY_LINES:], strict=True)
    return {"lines": [{"name": name, "qty": str(t.qty), "uom": t.uom,
                       "amount": str(t.amount)} for name, t in last],
            "line_count": len(totals.lines), "total": str(amount_due(totals)),
            "paid": str(flt(_sum(draft))) if draft else None,
            "change": None if change is None else str(change)}


def _paid(body: dict[str, Any]) -> dict[str, Any]:
    """A ``sale.submitted`` body as the customer paid it. Pure."""
    t = body["totals"]
    return {"total": recorded_due(t),
            "paid": t["paid_amount"], "change": t["change_amount"],
            "payments": [{"mode": p["mode_of_payment"], "amount": p["amount"]}
                         for p in body["payments"]]}
