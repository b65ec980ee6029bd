"""Asking one peer and hearing its answer, sans-IO: ReturnAsk / ReturnAnswer (may I
refund this sale of yours?) and SaleAsk / SaleAnswer (send me this sale of yours).

Replication carries the asks and knows nothing of what they mean: the node's
``ReturnDesk`` answers a peer's ask and hears the outcome of its own. ``Asks`` is the
engine's book of the asks it sent: each one settles exactly once, with the peer's answer
of the same kind or with None (no answer within ASK_TIMEOUT_MS, or the link or the
peer's session ended, so an answer can no longer come).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from tillmesh.replication.const import ASK_TIMEOUT_MS
from tillmesh.replication.protocol import ReturnAnswer, ReturnAsk, SaleAnswer, SaleAsk

log = logging.getLogger(__name__)

Ask = ReturnAsk | SaleAsk
Answer = ReturnAnswer | SaleAnswer


class ReturnDesk(Protocol):
    """The node's side of the asks. Called from inside the engine's methods: never call
    the engine back from here."""

    def decide(self, peer: str, ask: ReturnAsk) -> ReturnAnswer | None:
        """The answer to a peer's ask (None: this node does not answer it)."""
        ...

    def lend(self, peer: str, ask: SaleAsk) -> SaleAnswer | None:
        """A sale of this node for a peer that does not hold it, or why not (None: this
        node does not answer)."""
        ...

    def settled(self, ask_id: str, answer: Answer | None) -> None:
        """The outcome of our ask ``ask_id``: the answer, or None when none came."""
        ...


class NoDesk:
    """A node that answers no asks and makes none (anti-entropy alone, in tests)."""

    def decide(self, peer: str, ask: ReturnAsk) -> ReturnAnswer | None:
        return None

    def lend(self, peer: str, ask: SaleAsk) -> SaleAnswer | None:
        return None

    def settled(self, ask_id: str, answer: Answer | None) -> None:
        return None


@dataclass(frozen=True)
class _Pending:
    peer: str
    deadline_ms: int
    answer: type[Answer]  # the kind that answers it


class Asks:
    """Our asks awaiting an answer, by ask id."""

    def __init__(self, desk: ReturnDesk) -> None:
        self.desk = desk
        self._pending: dict[str, _Pending] = {}

    def sent(self, ask: Ask, peer: str, now_ms: int) -> None:
        kind = SaleAnswer if isinstance(ask, SaleAsk) else ReturnAnswer
        self._pending[ask.ask_id] = _Pending(peer, now_ms + ASK_TIMEOUT_MS, kind)

    def answered(self, peer: str, answer: Answer) -> None:
        """``peer``'s answer: settles our ask, unless it was not asked of ``peer``, is
        of another kind, or has settled already (a late or duplicated answer is dropped)."""
        pending = self._pending.get(answer.ask_id)
        if pending is None or pending.peer != peer or not isinstance(answer, pending.answer):
            log.info("dropped %s's answer to ask %s: not awaited (late, duplicate or of"
                     " another kind)", peer, answer.ask_id)
            return
        del self._pending[answer.ask_id]
        self.desk.settled(answer.ask_id, answer)

    def expire(self, now_ms: int) -> None:
        for ask_id, pending in list(self._pending.items()):
            if now_ms >= pending.deadline_ms:
                log.info("ask %s to %s got no answer", ask_id, pending.peer)
                self._settle(ask_id)

    def lost(self, peer: str) -> None:
        """The link to ``peer`` or its session ended: no answer will come."""
        for ask_id, pending in list(self._pending.items()):
            if pending.peer == peer:
                self._settle(ask_id)

    def _settle(self, ask_id: str) -> None:
        del self._pending[ask_id]
        self.desk.settled(ask_id, None)
