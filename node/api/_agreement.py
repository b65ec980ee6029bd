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
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from tillmesh.node.api.const import ASK_ID_BYTES, PROMISE_MINUTES
from tillmesh.node.domain.roles import Action, Authorization
from tillmesh.node.domain.sale import returnable
from tillmesh.node.errors import ReturnError, ReturnUnconfirmed, ValidationError
from tillmesh.node.projections import ledger, refunds
from tillmesh.replication.const import ASK_TIMEOUT_MS
from tillmesh.replication.protocol import ReturnAnswer, ReturnAsk

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tillmesh.node.api import Caller, Node


class OwnerLink(Protocol):
    """How this counter reaches the owners of other counters' sales."""

    def unreachable(self, owner: str) -> str | None:
        """Why ``owner`` cannot be asked now, in words; None when it can."""
        ...

    async def ask(self, owner: str, ask: ReturnAsk) -> ReturnAnswer | None:
        """``owner``'s answer; None when none came in time (on the daemon's loop)."""
        ...


class NoLink:
    """A counter that reaches no other (no replication): no owner can be asked."""

    def unreachable(self, owner: str) -> str | None:
        return "this counter is not linked to the other counters"

    async def ask(self, owner: str, ask: ReturnAsk) -> ReturnAnswer | None:
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


# --- the asking counter's side ------------------------------------------------------------


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
        ask = ReturnAsk(node.node_id, f"{node.node_id}-{secrets.token_hex(ASK_ID_BYTES)}",
                        invoice, dict(rows), node.log.vector().get(node.node_id, 0))
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
