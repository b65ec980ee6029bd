"""A sale is refunded at most once across the store: returns are agreed with the counter
that made the sale.

That counter (the *owner*) decides every return of its sales, one at a time in its
store's write transactions: a return on the owner is checked against its ledger as it
stands, and so is a peer's ask (``decide``), which the owner answers only after it has
recorded the promise (``return.reserved``, see ``projections.refunds``) that keeps the
rows from being refunded twice until that return arrives.

A return on any other counter asks the owner first (``agree``), over replication
(``OwnerLink``, set by the daemon; a ``ReturnAsk`` on the wire) and records the return
naming the promise. When the owner cannot be asked (cut off, silent, an older release)
or does not answer in time, the return is refused with ``ReturnUnconfirmed``, which says
who holds the sale and the risk; the same call with ``unconfirmed`` and a supervisor's
permission ``return_unconfirmed`` records it flagged, and every counter flags an
over-return that results.

A counter asks about one invoice at a time and uses a promise only while it waits for
it, so when the owner holds every event the asker had recorded when it asked (``holds``)
the asker's earlier promises for that invoice that no return named are dead: the owner
releases them, and a cashier asking again after a lost answer is not refused by their
own earlier ask.

The owner always holds its sales, live or archived; a counter that joined from a later
checkpoint does not until it has fetched the history before it (``EventLog.backfill``
brings the ledger's rows of those sales too). Meanwhile it asks the owner for the sale's
event (``sale_of``, a ``SaleAsk`` on the wire; the owner answers with ``lend``), checks
it (the owner's enrolled signature over a hash of its fields, a sale or return, the
invoice asked) and uses it as if held, for one call: it is not this counter's history,
so it is never recorded here. What was returned of it comes from this counter's tables
as ever.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from tillmesh.node.api.const import ASK_ID_BYTES, PROMISE_MINUTES
from tillmesh.node.domain.roles import Action, Authorization
from tillmesh.node.domain.sale import returnable
from tillmesh.node.errors import (
    NotFoundError,
    ReturnError,
    ReturnUnconfirmed,
    StoreError,
    ValidationError,
)
from tillmesh.node.projections import counters, ledger, refunds
from tillmesh.node.store.event_codec import unpack_body
from tillmesh.replication.asks import Ask
from tillmesh.replication.const import ASK_TIMEOUT_MS
from tillmesh.replication.event import Event
from tillmesh.replication.protocol import ReturnAnswer, ReturnAsk, SaleAnswer, SaleAsk
from tillmesh.replication.signing import signed_by

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tillmesh.node.api import Caller, Node


log = logging.getLogger(__name__)

SALE_KINDS = ("sale.submitted", "sale.returned")  # what a SaleAsk may be answered with
# An invoice's number names the counter that made it (``_inputs.invoice_number``); the
# bounds keep what a caller typed within a SaleAsk's.
INVOICE = re.compile(r"([A-Za-z0-9]{1,8})-[0-9]{4}-[0-9]{1,12}")


class OwnerLink(Protocol):
    """How this counter reaches the owners of other counters' sales."""

    def unreachable(self, owner: str, kind: type[Ask] = ReturnAsk) -> str | None:
        """Why ``owner`` cannot be sent an ask of ``kind`` now, in words; None when it
        can."""
        ...

    async def ask(self, owner: str, ask: ReturnAsk) -> ReturnAnswer | None:
        """``owner``'s answer; None when none came in time (on the daemon's loop)."""
        ...

    async def fetch(self, owner: str, ask: SaleAsk) -> SaleAnswer | None:
        """Likewise, for a sale of ``owner``'s that this counter does not hold."""
        ...


class NoLink:
    """A counter that reaches no other (no replication): no owner can be asked."""

    def unreachable(self, owner: str, kind: type[Ask] = ReturnAsk) -> str | None:
        return "this counter is not linked to the other counters"

    async def ask(self, owner: str, ask: ReturnAsk) -> ReturnAnswer | None:
        return None

    async def fetch(self, owner: str, ask: SaleAsk) -> SaleAnswer | None:
        return None


# --- the owner's side ---------------------------------------------------------------------


def decide(node: Node, asker: str, ask: ReturnAsk) -> ReturnAnswer:
    """The owner's answer to ``asker``'s ask; a grant is recorded (``return.reserved``)
    in the same transaction as the check, before the answer leaves."""
    with node.write() as tx:
        s = tx.session
        if refunds.promised(s, ask.ask_id):  # the ask came twice: answer it alike
            return ReturnAnswer(node.node_id, ask.ask_id, True)
        try:
            releases = _check(node, s, asker, ask)
        except ValidationError as exc:  # ReturnError, NotFoundError: the reason, in words
            return ReturnAnswer(node.node_id, ask.ask_id, False, exc.message)
        expires = node.clock() + timedelta(minutes=PROMISE_MINUTES)
        tx.append("return.reserved", {
            "ask_id": ask.ask_id, "counter": asker, "invoice": ask.invoice,
            "rows": {row: str(qty) for row, qty in ask.rows.items()},
            "expires_at": expires.isoformat(), "releases": releases})
    return ReturnAnswer(node.node_id, ask.ask_id, True)


def _check(node: Node, s: Session, asker: str, ask: ReturnAsk) -> list[str]:
    """Refuse (ReturnError) unless every row asked is left to return; the promises the
    grant releases."""
    row, body = ledger.recorded_sale(s, ask.invoice)
    if row.is_return or row.origin != node.node_id:
        raise ReturnError(f"{ask.invoice} is not a sale of {node.node_id}")
    sold = {item["name"]: Decimal(item["qty"]) for item in body["items"]}
    releases = (refunds.open_promises(s, asker, ask.invoice)
                if node.log.vector().get(asker, 0) >= ask.holds else [])
    now = node.clock()
    for name, qty in ask.rows.items():
        if name not in sold:
            raise ReturnError(f"{ask.invoice} has no row {name!r}")
        returnable(sold[name], ledger.returned_qty(s, name), qty, name,
                   refunds.reserved(s, name, now, ignoring=releases))
    return releases


def lend(node: Node, asker: str, ask: SaleAsk) -> SaleAnswer:
    """The owner's answer to ``asker``, which does not hold ``ask.invoice``: the event of
    that sale or return of this counter's (live or archived, as recorded and signed), or
    why not."""
    with node.read() as s:
        try:
            row = ledger.recorded_sale(s, ask.invoice)[0]
        except NotFoundError as exc:
            return SaleAnswer(node.node_id, ask.ask_id, None, exc.message)
    if row.origin != node.node_id:
        return SaleAnswer(node.node_id, ask.ask_id, None,
                          f"{ask.invoice} is not a sale of {node.node_id}")
    (event,) = node.log.range(row.origin, row.seq, row.seq)
    return SaleAnswer(node.node_id, ask.ask_id, event)


# --- the asking counter's side ------------------------------------------------------------


def _ask_id(node: Node) -> str:
    return f"{node.node_id}-{secrets.token_hex(ASK_ID_BYTES)}"


async def sale_of(node: Node, invoice: str) -> tuple[ledger.SaleRow, dict[str, Any]]:
    """A sale or return as recorded, its ledger row and body (``ledger.recorded_sale``):
    held here, or else fetched from the counter that made it and checked. A fetched one
    is used for this call only (the row is never added to a session)."""
    with node.read() as s:
        try:
            return ledger.recorded_sale(s, invoice)
        except NotFoundError as exc:
            missing = exc
        found = INVOICE.fullmatch(invoice)
        maker = found[1] if found and found[1] != node.node_id else None
        trust = None if maker is None else counters.trust(s).get(maker)
    if maker is None or trust is None:  # no other counter of the store made it
        raise missing
    event = await _fetch(node, maker, invoice, trust)
    body = unpack_body(event.body)
    with node.read() as s:
        # A late sale's ledger row never leaves the live tables (``ledger.compact``), so
        # this counter holds it when the sale is late, and only its event is fetched.
        late = ledger.is_late(s, invoice)
    return ledger.SaleRow(**ledger.sale_fields(event, body), late=late), body


async def _fetch(node: Node, maker: str, invoice: str, trust: counters.Trust) -> Event:
    """``invoice``'s event from ``maker``, checked; NotFoundError saying why not."""
    why = f"{maker} was revoked" if trust.revoked else node.owners.unreachable(maker, SaleAsk)
    if why is None:
        answer = await node.owners.fetch(maker, SaleAsk(node.node_id, _ask_id(node), invoice))
        if answer is not None and answer.event is not None:
            refused = lent_refusal(answer.event, maker, invoice, trust.signing_key)
            if refused is None:
                return answer.event
            log.warning("refused %s's answer for %s: %s", maker, invoice, refused)
            raise NotFoundError(f"{invoice} is not held on this counter, and what {maker}"
                                f" sent for it is refused: {refused}", counter=maker,
                                invoice=invoice, reason=refused)
        if answer is not None:
            raise NotFoundError(f"{invoice} is not held on this counter, and {maker} does not"
                                f" send it: {answer.reason}", counter=maker, invoice=invoice,
                                reason=answer.reason)
        why = (node.owners.unreachable(maker, SaleAsk)
               or f"it did not answer within {ASK_TIMEOUT_MS / 1000:g} s")
    raise NotFoundError(f"{invoice} is not held on this counter; {maker}, which made it,"
                        f" holds it but cannot be asked now: {why}", counter=maker,
                        invoice=invoice, reason=why)


def lent_refusal(event: Event, maker: str, invoice: str, key: bytes | None) -> str | None:
    """Why the event ``maker`` sent for ``invoice`` must not be used; None when it may:
    it must be ``maker``'s, hash to its fields, carry ``maker``'s enrolled signature
    (``key``), and be the sale or return ``invoice``."""
    if event.origin != maker:
        return f"it sent {event.id}, an event of {event.origin}"
    if not event.verify(event.prev_hash):
        return f"{event.id} does not hash to its fields"
    if key is None or not signed_by(event, key):
        return f"{event.id} is not signed by {maker}'s enrolled key"
    if event.kind not in SALE_KINDS:
        return f"{event.id} is a {event.kind}, not a sale or return"
    try:
        named = unpack_body(event.body).get("invoice")
    except StoreError:
        named = None
    if named != invoice:
        return f"{event.id} is invoice {named!r}, not {invoice}"
    return None


def unconfirmed_error(owner: str, invoice: str, why: str) -> ReturnUnconfirmed:
    return ReturnUnconfirmed(
        f"{owner} made sale {invoice} and cannot confirm this return: {why}. {owner} may"
        " have refunded it already, so refunding here risks paying it back twice; a"
        " supervisor may approve the return anyway, and it is flagged for review",
        owner=owner, invoice=invoice, reason=why)


@contextmanager
def one_ask(node: Node, invoice: str) -> Iterator[None]:
    """One return of ``invoice`` at a time waits for its owner on this counter, from its
    ask until it is recorded: a promise is used only while its ask is waited for."""
    if invoice in node.asking:
        raise ReturnError(f"A return of {invoice} is already waiting for its counter's"
                          " answer here; try again in a moment")
    node.asking.add(invoice)
    try:
        yield
    finally:
        node.asking.discard(invoice)


async def agree(node: Node, caller: Caller, owner: str, invoice: str,
                rows: Mapping[str, Decimal], *, unconfirmed: bool,
                approver: dict[str, Any] | None) -> tuple[dict[str, Any], Authorization | None]:
    """Agree the return of ``rows`` of ``invoice`` with ``owner`` (inside ``one_ask``).

    Returns what the return's body records (``reservation``: the promise, or
    ``unconfirmed``: why the owner could not confirm) and, for the latter, the supervisor's
    acceptance of the risk. ReturnError when the owner refuses; ReturnUnconfirmed when it
    cannot confirm and the caller did not accept the risk.
    """
    why = node.owners.unreachable(owner)
    if why is None:
        ask = ReturnAsk(node.node_id, _ask_id(node), invoice, dict(rows),
                        node.log.vector().get(node.node_id, 0))
        answer = await node.owners.ask(owner, ask)
        if answer is not None and answer.granted:
            return {"reservation": ask.ask_id}, None
        if answer is not None:
            raise ReturnError(f"{owner} refuses this return: {answer.reason}")
        # The link may have gone meanwhile: that is the better reason to give.
        why = (node.owners.unreachable(owner)
               or f"it did not answer within {ASK_TIMEOUT_MS / 1000:g} s")
    if not unconfirmed:
        raise unconfirmed_error(owner, invoice, why)
    with node.read() as s:
        risk = node.authorize(s, caller, Action.RETURN_UNCONFIRMED, approver=approver)
    return {"unconfirmed": f"{owner} could not confirm: {why}"}, risk
