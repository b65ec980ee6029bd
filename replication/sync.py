"""Anti-entropy between peers, sans-IO: version vectors in, bounded range pulls out.

``Replicator`` is one node's engine. It owns no socket, no task and no clock: the
transport calls ``connected``/``received``/``tick``/``local_events`` with the wall time
in ms and sends each returned ``(peer_id, message)``. What it does:

- Handshake: each side sends ``Hello(reply=False)`` on connect and answers a peer's
  ``Hello(reply=False)`` with ``Hello(reply=True)``; a peer is READY once its Hello was
  accepted (version within ±1, same cluster, node id as authenticated); from protocol 5
  it also says the peer's release and store schema (``peers``). Until then it
  is resent every HELLO_RETRY_MS, so lost or duplicated frames neither stall nor loop.
  A bad Hello gets a ``Bye`` with the reason and the peer is CLOSED until a Hello is
  accepted (it is greeted again every REGREET_MS, in case it was upgraded or fixed).
  Nothing but Hello and Bye is accepted from a peer that is not READY.
- Knowledge: a peer's vector comes from its Hello and Vectors (which replace it: a
  Vector is the truth at that moment) and rises with every event it sends us (a node
  holds a contiguous prefix, so an event ``(o, n)`` proves it holds ``o:1..n``).
- Pulls: for each origin some READY, live peer has beyond us, one Pull at a time
  (never the same range from two peers), at most ``batch`` events (also the most a push
  or an answer to a peer's Pull carries), at most
  ``max_inflight`` outstanding per peer; peers whose last Pull timed out or was answered
  with unusable events are asked last. A Pull is done when its answer arrives, when we
  already hold its range, when the peer's Vector shows it lacks the range, or after
  PULL_TIMEOUT_MS. Ranges are asked again from the new ``have + 1``.
- History: an origin whose first events the store lacks (``history_gaps``: it joined
  from a checkpoint) is fetched backwards when no forward Pull is outstanding, one Pull
  at a time, of the HISTORY_BATCH_EVENTS right below the lowest held; its answer goes to
  ``store.backfill``, which keeps what chains to the held events. A peer that does not
  answer within PULL_TIMEOUT_MS or answers with events that do not chain lacks that
  history: it is asked again after HISTORY_RETRY_MS, others first. An answer cut by the
  byte budget makes later Pulls of that origin as small as it was.
- Answers: a Pull gets the prefix of the range we hold, within ANSWER_BUDGET_BYTES,
  and our Vector when we hold less than asked (so the asker stops asking us).
- Relay: after applying anything, a Vector to every READY peer; peers that lack the
  events pull them, so A and C converge through B alone. Pushes of local events are a
  latency optimisation; heartbeats (HEARTBEAT_MS) make everything else eventual.
- Asks (protocol 3): ``ask`` sends a ReturnAsk to one READY, live peer that speaks
  ASK_PROTOCOL_VERSION, or a SaleAsk (protocol 5) to one that speaks
  SALE_PROTOCOL_VERSION (``cannot_ask`` says why another cannot be asked); its outcome
  reaches the node's ``ReturnDesk.settled`` exactly once: the peer's answer of that
  kind, or None when none came within ASK_TIMEOUT_MS or the link or the peer's session
  ended. A peer's ReturnAsk goes to ``ReturnDesk.decide`` and its SaleAsk to
  ``ReturnDesk.lend``, whose answer is sent back.

The log it reads and extends is an ``EventStore`` (``replication.stores``).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from tillmesh.replication import const
from tillmesh.replication.asks import Ask, Asks, NoDesk, ReturnDesk
from tillmesh.replication.election import elect
from tillmesh.replication.event import Event
from tillmesh.replication.protocol import (
    PROTOCOL_VERSION,
    Bye,
    Events,
    Hello,
    Message,
    ProtocolError,
    Pull,
    ReturnAnswer,
    ReturnAsk,
    SaleAnswer,
    SaleAsk,
    Vector,
    check_event,
    version_refusal,
)
from tillmesh.replication.stores import EventStore
from tillmesh.replication.vector import missing

log = logging.getLogger(__name__)

Outgoing = tuple[str, Message]  # (peer id, message) for the transport to send


# --- the engine ---------------------------------------------------------------------------


class PeerState(enum.Enum):
    GREETING = "greeting"  # our Hello is sent, the peer's not yet accepted
    READY = "ready"  # handshake done: vectors, pulls and events flow
    CLOSED = "closed"  # refused, or it said Bye: silent until it says Hello again


@dataclass
class _Peer:
    id: str
    state: PeerState = PeerState.GREETING
    proto: int = 0  # the protocol its accepted Hello spoke
    release: str = ""  # ... and the release and store schema it said ("", 0: an older one)
    schema: int = 0
    vector: dict[str, int] = field(default_factory=dict)
    skew_ms: int | None = None
    last_heard_ms: int | None = None
    live: bool = False
    hello_at_ms: int | None = None
    vector_at_ms: int | None = None
    vector_due: bool = False  # we received events since our last Vector to it
    erpnext: bool = False  # as its last Vector said
    forwarding: bool = False  # likewise: it forwards to ERPNext now
    suspect_until_ms: int = 0
    reason: str = ""


@dataclass(frozen=True)
class _Pull:
    peer: str
    origin: str
    first: int
    last: int
    deadline_ms: int
    overtook: bool = False  # answered before an earlier range of its origin: ask again later


@dataclass(frozen=True)
class PeerView:
    """What the node shows about a peer (``tillmesh peers``)."""

    peer: str
    state: PeerState
    live: bool
    last_heard_ms: int | None
    vector: Mapping[str, int]
    skew_ms: int | None  # the peer's wall clock minus ours, as last measured (+ latency)
    behind: int  # events the peer has that we lack
    ahead: int  # events we have that the peer lacks
    pulls: int  # origins we are pulling from it
    reason: str  # why it is CLOSED
    erpnext: bool  # its last Vector said it reaches ERPNext (a forwarder candidate)
    forwarding: bool  # and that it forwards now
    proto: int = 0  # the protocol its Hello spoke (0: no Hello accepted yet)
    release: str = ""  # the release it said ("": it did not say, protocol 4 or older)
    schema: int = 0  # the store schema it said (0: likewise)


# The first protocol that answers each kind of ask (an older peer drops the frame unread,
# so it is never asked), and what it could not do, for ``cannot_ask``.
_ASKS: dict[type[Ask], tuple[int, str]] = {
    ReturnAsk: (const.ASK_PROTOCOL_VERSION, "agree returns"),
    SaleAsk: (const.SALE_PROTOCOL_VERSION, "send old sales"),
}


def _sendable(event: Event) -> bool:
    try:
        check_event(event)
    except ProtocolError as exc:  # the node made an event the protocol cannot carry
        log.error("event %s cannot be replicated: %s", event.id, exc)
        return False
    return True


def _due(since_ms: int | None, now_ms: int, period_ms: int) -> bool:
    return since_ms is None or now_ms - since_ms >= period_ms


def _count(ranges: Mapping[str, tuple[int, int]]) -> int:
    return sum(last - first + 1 for first, last in ranges.values())


def _next_gap(have: int, pending: Sequence[_Pull]) -> tuple[int, int]:
    """The first seq neither held nor asked for, and the last seq a new Pull may reach
    (just before the next outstanding range, so ranges never overlap)."""
    first = have + 1
    for pull in sorted(pending, key=lambda q: q.first):
        if pull.first > first:
            return first, pull.first - 1
        first = max(first, pull.last + 1)
    return first, const.MAX_INT64


class Replicator:
    """One node's anti-entropy engine. Not thread-safe: call it from one task."""

    def __init__(self, store: EventStore, node_id: str, cluster: str, *,
                 batch: int = const.MAX_BATCH_EVENTS,
                 max_inflight: int = const.MAX_INFLIGHT_PULLS,
                 pipeline: int = const.MAX_PULLS_PER_ORIGIN,
                 desk: ReturnDesk | None = None, release: str = "", schema: int = 0) -> None:
        if not 1 <= batch <= const.MAX_BATCH_EVENTS or max_inflight < 1 or pipeline < 1:
            raise ValueError(f"batch must be 1..{const.MAX_BATCH_EVENTS}, max_inflight and"
                             " pipeline >= 1")
        self.store = store
        self.node_id = node_id
        self.cluster = cluster
        self.batch = batch
        self.max_inflight = max_inflight
        self.pipeline = pipeline
        self.release, self.schema = release, schema  # said in every Hello
        self.erpnext = False  # we reach ERPNext: said in every Vector (set_erpnext)
        self._forwarder: str | None = None
        # Revoked, still linked until they hold their revocation: never elected.
        self.parting: frozenset[str] = frozenset()
        self._started_ms: int | None = None  # first link or tick: the election settles after
        self._settled = False
        self._peers: dict[str, _Peer] = {}
        # (origin, first) -> an outstanding Pull. One origin's Pulls are consecutive ranges
        # asked of one peer, whose answers arrive in order on its one connection.
        self._pulls: dict[tuple[str, int], _Pull] = {}
        self._history: _Pull | None = None  # the one outstanding Pull of history
        self._history_take: dict[str, int] = {}  # origin -> events one answer holds
        self._lacks: dict[tuple[str, str], int] = {}  # (peer, origin) -> ask again after
        self._gaps: tuple[int, Mapping[str, int]] | None = None  # (read at, history_gaps)
        self.desk: ReturnDesk = desk or NoDesk()
        self._asks = Asks(self.desk)  # our ReturnAsks awaiting their answers

    # --- transport events -----------------------------------------------------------------

    def connected(self, peer_id: str, now_ms: int) -> list[Outgoing]:
        """A link to ``peer_id`` is up (new or re-established): greet it."""
        if peer_id == self.node_id:
            return []
        self._start(now_ms)
        self._forget_pulls(peer_id)
        self._asks.lost(peer_id)  # asked on the link that is gone
        peer = self._peers[peer_id] = _Peer(peer_id)
        return [self._hello(peer, now_ms, reply=False)]

    def disconnected(self, peer_id: str) -> None:
        """The link is gone: forget the peer; its ranges are asked from others."""
        self._forget_pulls(peer_id)
        self._asks.lost(peer_id)
        self._peers.pop(peer_id, None)

    def received(self, peer_id: str, msg: Message, now_ms: int) -> list[Outgoing]:
        """A decoded message from the authenticated ``peer_id``."""
        if peer_id == self.node_id:
            return []
        out: list[Outgoing] = []
        peer = self._peers.get(peer_id)
        if peer is None and isinstance(msg, Bye):
            return out
        if peer is None:  # the transport saw it before telling us: greet it first
            out += self.connected(peer_id, now_ms)
            peer = self._peers[peer_id]
        peer.last_heard_ms, peer.live = now_ms, True
        if isinstance(msg, Hello):
            return out + self._on_hello(peer, msg, now_ms)
        if msg.node != peer_id:
            log.warning("dropped a %s from %s claiming to be %s", type(msg).__name__,
                        peer_id, msg.node)
            return out
        if isinstance(msg, Bye):
            self._close(peer, f"peer said: {msg.reason}", now_ms)
            return out
        if peer.state is not PeerState.READY:
            return out
        if isinstance(msg, Vector):
            return out + self._on_vector(peer, msg, now_ms)
        if isinstance(msg, Pull):
            return out + self._on_pull(peer, msg, now_ms)
        if isinstance(msg, ReturnAsk):
            answer = self.desk.decide(peer_id, msg)
            return out + ([(peer_id, answer)] if answer is not None else [])
        if isinstance(msg, SaleAsk):
            lent = self.desk.lend(peer_id, msg)
            if lent is not None and lent.event is not None and not _sendable(lent.event):
                lent = replace(lent, event=None, reason=f"{msg.invoice} cannot be sent")
            return out + ([(peer_id, lent)] if lent is not None else [])
        if isinstance(msg, ReturnAnswer | SaleAnswer):
            self._asks.answered(peer_id, msg)
            return out
        return out + self._on_events(peer, msg, now_ms)

    def local_events(self, events: Sequence[Event], now_ms: int) -> list[Outgoing]:
        """The node recorded ``events`` (one group commit): push them to live peers, in as
        few messages as the wire bounds and ``batch`` allow (only to save latency)."""
        batches: list[tuple[Event, ...]] = []
        batch: list[Event] = []
        size = 0
        for event in filter(_sendable, events):
            size += const.EVENT_OVERHEAD_BYTES + len(event.body)
            if batch and (len(batch) == self.batch
                          or size > const.ANSWER_BUDGET_BYTES):
                batches.append(tuple(batch))
                batch, size = [], const.EVENT_OVERHEAD_BYTES + len(event.body)
            batch.append(event)
        if batch:
            batches.append(tuple(batch))
        return [(p.id, Events(self.node_id, b)) for b in batches
                for p in self._ready() if p.live]

    def set_erpnext(self, reachable: bool) -> None:
        """Whether this node reaches ERPNext now; peers hear it with the next tick."""
        if reachable != self.erpnext:
            self.erpnext = reachable
            for peer in self._peers.values():
                peer.vector_due = True

    def forwarder(self) -> str | None:
        """Who forwards to ERPNext as this node sees it (see ``replication.election``)."""
        was_me = self._forwarder == self.node_id
        self._forwarder = elect(
            self.node_id, self.erpnext,
            ((p.id, p.live and p.erpnext, p.forwarding) for p in self._ready()
             if p.id not in self.parting),
            self._forwarder, settled=self._settled)
        if was_me != (self._forwarder == self.node_id):
            for peer in self._peers.values():  # peers hear it with the next tick
                peer.vector_due = True
        return self._forwarder

    def state_of(self, peer_id: str) -> PeerState | None:
        """Where the session with ``peer_id`` stands; None before any."""
        peer = self._peers.get(peer_id)
        return None if peer is None else peer.state

    def cannot_ask(self, peer_id: str, kind: type[Ask] = ReturnAsk) -> str | None:
        """Why ``peer_id`` cannot be sent an ask of ``kind`` now, in words; None when it
        can."""
        peer = self._peers.get(peer_id)
        if peer is None or peer.state is PeerState.GREETING:
            return f"{peer_id} is not connected"
        if peer.state is PeerState.CLOSED:
            return f"{peer_id} refused the link ({peer.reason})"
        if not peer.live:
            return f"{peer_id} has not been heard for {const.PEER_TIMEOUT_MS // 1000} s"
        first, what = _ASKS[kind]
        if peer.proto < first:
            return (f"{peer_id} runs an older release (replication protocol {peer.proto}),"
                    f" which cannot {what}")
        return None

    def ask(self, peer_id: str, ask: Ask, now_ms: int) -> list[Outgoing]:
        """Send ``ask`` to ``peer_id``; its outcome comes through ``desk.settled`` (at once,
        None, when ``cannot_ask`` gives a reason)."""
        if self.cannot_ask(peer_id, type(ask)) is not None:
            self.desk.settled(ask.ask_id, None)
            return []
        self._asks.sent(ask, peer_id, now_ms)
        return [(peer_id, ask)]

    def tick(self, now_ms: int) -> list[Outgoing]:
        """Call about every HEARTBEAT_MS / 4: heartbeats, Hello retries, timeouts, pulls."""
        out: list[Outgoing] = []
        self._settled = now_ms - self._start(now_ms) >= const.ELECTION_SETTLE_MS
        for peer in self._peers.values():
            peer.live = (peer.last_heard_ms is not None
                         and now_ms - peer.last_heard_ms < const.PEER_TIMEOUT_MS)
            if peer.state is PeerState.GREETING and _due(peer.hello_at_ms, now_ms,
                                                         const.HELLO_RETRY_MS):
                out.append(self._hello(peer, now_ms, reply=False))
            elif peer.state is PeerState.READY and (
                    _due(peer.vector_at_ms, now_ms, const.HEARTBEAT_MS)
                    or (peer.vector_due and _due(peer.vector_at_ms, now_ms,
                                                 const.RELAY_VECTOR_MS))):
                out.append(self._vector(peer, now_ms))
            elif peer.state is PeerState.CLOSED and _due(peer.hello_at_ms, now_ms,
                                                         const.REGREET_MS):
                out.append(self._hello(peer, now_ms, reply=False))
        if self._history is not None and now_ms >= self._history.deadline_ms:
            self._lacking(self._history, now_ms)
        for key, pull in list(self._pulls.items()):
            if now_ms >= pull.deadline_ms:
                del self._pulls[key]
                log.info("Pull %s:%d..%d from %s timed out", pull.origin, pull.first,
                         pull.last, pull.peer)
                if pull.peer in self._peers:
                    self._peers[pull.peer].suspect_until_ms = now_ms + const.SUSPECT_MS
        self._asks.expire(now_ms)
        return out + self._plan(now_ms)

    def shutdown(self, reason: str = "node stopping") -> list[Outgoing]:
        """Say Bye to every peer (a clean stop); the engine forgets them."""
        out: list[Outgoing] = [(p, Bye(self.node_id, reason)) for p in sorted(self._peers)]
        for peer_id in sorted(self._peers):
            self._asks.lost(peer_id)
        self._peers.clear()
        self._pulls.clear()
        self._history = None
        return out

    def peers(self) -> list[PeerView]:
        have = self.store.vector()
        return [PeerView(p.id, p.state, p.live, p.last_heard_ms, dict(p.vector), p.skew_ms,
                         _count(missing(have, p.vector)), _count(missing(p.vector, have)),
                         len({q.origin for q in self._pulls.values() if q.peer == p.id}),
                         p.reason, p.erpnext, p.forwarding, p.proto, p.release, p.schema)
                for p in sorted(self._peers.values(), key=lambda p: p.id)]

    def pulls(self) -> list[tuple[str, str, int, int]]:
        """Outstanding Pulls as ``(peer, origin, first, last)`` (for status and tests)."""
        return [(p.peer, p.origin, p.first, p.last) for _, p in sorted(self._pulls.items())]

    # --- handlers ---------------------------------------------------------------------

    def _on_hello(self, peer: _Peer, msg: Hello, now_ms: int) -> list[Outgoing]:
        reason = version_refusal(msg.proto)
        if reason is None and msg.cluster != self.cluster:
            reason = f"peer is in cluster {msg.cluster!r}, this node in {self.cluster!r}"
        if reason is None and msg.node != peer.id:
            reason = f"peer authenticated as {peer.id} says it is {msg.node}"
        if reason is not None:
            log.warning("refused %s: %s", peer.id, reason)
            self._close(peer, reason, now_ms)
            return [(peer.id, Bye(self.node_id, reason))]
        peer.state, peer.reason, peer.proto = PeerState.READY, "", msg.proto
        peer.release, peer.schema = msg.release, msg.schema
        peer.vector, peer.skew_ms = dict(msg.vector), msg.wall_ms - now_ms
        out: list[Outgoing] = []
        if not msg.reply:  # a new session on its side: what we asked before is lost
            self._forget_pulls(peer.id)
            self._asks.lost(peer.id)
            out.append(self._hello(peer, now_ms, reply=True))
        return out + self._plan(now_ms)

    def _on_vector(self, peer: _Peer, msg: Vector, now_ms: int) -> list[Outgoing]:
        peer.vector, peer.skew_ms = dict(msg.vector), msg.wall_ms - now_ms
        peer.erpnext, peer.forwarding = msg.erpnext, msg.forwarding
        for key, pull in list(self._pulls.items()):
            if pull.peer == peer.id and peer.vector.get(pull.origin, 0) < pull.first:
                del self._pulls[key]  # it lacks the range: ask someone else
        return self._plan(now_ms)

    def _on_pull(self, peer: _Peer, msg: Pull, now_ms: int) -> list[Outgoing]:
        have = self.store.vector().get(msg.origin, 0)
        last = min(msg.last, have, msg.first + self.batch - 1)
        answer: list[Event] = []
        size = 0
        for event in self.store.range(msg.origin, msg.first, last) if last >= msg.first else []:
            size += const.EVENT_OVERHEAD_BYTES + len(event.body)
            if (answer and size > const.ANSWER_BUDGET_BYTES) or not _sendable(event):
                break
            answer.append(event)
        out: list[Outgoing] = [(peer.id, Events(self.node_id, tuple(answer)))] if answer else []
        if have < msg.last:
            out.append(self._vector(peer, now_ms))
        return out

    def _on_events(self, peer: _Peer, msg: Events, now_ms: int) -> list[Outgoing]:
        history = self._history
        if (history is not None and history.peer == peer.id and msg.events
                and (msg.events[0].origin, msg.events[0].seq) == (history.origin,
                                                                   history.first)):
            return self._on_history(history, msg, now_ms)
        for event in msg.events:
            if event.seq > peer.vector.get(event.origin, 0):
                peer.vector[event.origin] = event.seq
        before = dict(self.store.vector())
        applied = self.store.receive(msg.events)
        have = self.store.vector()
        starts = {(e.origin, e.seq) for e in msg.events}
        for key, pull in list(self._pulls.items()):
            origin = pull.origin
            answered = pull.peer == peer.id and key in starts  # an answer starts at first
            grew = have.get(origin, 0) > before.get(origin, 0)
            if have.get(origin, 0) >= pull.last or (pull.overtook and grew):
                del self._pulls[key]
            elif answered and before.get(origin, 0) + 1 < pull.first:
                # It overtook the answer of an earlier range, which is lost or late: asking
                # again now would only be overtaken again, so wait for that one first.
                self._pulls[key] = replace(pull, overtook=True)
            elif answered:  # in part (the byte budget), or not at all
                del self._pulls[key]
                if have.get(origin, 0) < pull.first:  # served events that do not chain
                    log.warning("%s answered %s:%d.. with events that do not chain",
                                peer.id, origin, pull.first)
                    peer.suspect_until_ms = now_ms + const.SUSPECT_MS
                    peer.vector[origin] = have.get(origin, 0)  # until its next Vector
        out: list[Outgoing] = []
        if applied:  # tell peers, so they can pull through us (relay), at a bounded rate
            for p in self._ready():
                if _due(p.vector_at_ms, now_ms, const.RELAY_VECTOR_MS):
                    out.append(self._vector(p, now_ms))
                else:
                    p.vector_due = True
        return out + self._plan(now_ms)

    def _on_history(self, pull: _Pull, msg: Events, now_ms: int) -> list[Outgoing]:
        self._history = None
        events = [e for e in msg.events if e.origin == pull.origin]
        size = sum(const.EVENT_OVERHEAD_BYTES + len(e.body) for e in events)
        if events[-1].seq < pull.last and (const.ANSWER_BUDGET_BYTES - size
                                           < const.EVENT_OVERHEAD_BYTES
                                           + const.MAX_EVENT_BODY_BYTES):
            # cut by the byte budget (any event fits in the room left otherwise, and the
            # run it holds ends there): ask for that many
            self._history_take[pull.origin] = len(events)
            log.info("%s's history from %s comes %d events at a time", pull.origin,
                     pull.peer, len(events))
        elif self.store.backfill(events):
            self._gaps = None  # read them again
        else:
            log.warning("%s answered %s's history %d..%d with events that do not chain",
                        pull.peer, pull.origin, pull.first, pull.last)
            self._lacking(pull, now_ms)
        return self._plan(now_ms)

    def _lacking(self, pull: _Pull, now_ms: int) -> None:
        """``pull.peer`` does not serve ``pull.origin``'s history: others first."""
        self._history = None
        self._lacks[(pull.peer, pull.origin)] = now_ms + const.HISTORY_RETRY_MS

    def _plan_history(self, now_ms: int) -> list[Outgoing]:
        """The next Pull of history, when nothing else is being pulled."""
        sources = [p for p in self._ready() if p.live]
        if self._history is not None or self._pulls or not sources:
            return []  # nobody to ask: the store is not read (a joining counter installs
            #            its snapshot meanwhile, on the same connection)
        if self._gaps is None or now_ms - self._gaps[0] >= const.HEARTBEAT_MS:
            self._gaps = (now_ms, self.store.history_gaps())  # a query: once a heartbeat
        for origin, low in sorted(self._gaps[1].items()):
            able = [p for p in sources if p.vector.get(origin, 0) >= low]
            if not able:
                continue
            peer = min(able, key=lambda p: (self._lacks.get((p.id, origin), 0) > now_ms,
                                            p.suspect_until_ms > now_ms, p.id))
            if self._lacks.get((peer.id, origin), 0) > now_ms:
                continue
            take = self._history_take.get(origin, min(self.batch, const.HISTORY_BATCH_EVENTS))
            first = max(1, low - take)
            self._history = _Pull(peer.id, origin, first, low - 1,
                                  now_ms + const.PULL_TIMEOUT_MS)
            return [(peer.id, Pull(self.node_id, origin, first, low - 1))]
        return []

    # --- helpers ------------------------------------------------------------------------

    def _ready(self) -> list[_Peer]:
        return [p for p in self._peers.values() if p.state is PeerState.READY]

    def _start(self, now_ms: int) -> int:
        """When this node started to hear the store (its first link or tick)."""
        if self._started_ms is None:
            self._started_ms = now_ms
        return self._started_ms

    def _hello(self, peer: _Peer, now_ms: int, *, reply: bool) -> Outgoing:
        peer.hello_at_ms = now_ms
        return (peer.id, Hello(PROTOCOL_VERSION, self.cluster, self.node_id,
                               dict(self.store.vector()), now_ms, reply, self.release,
                               self.schema))

    def _vector(self, peer: _Peer, now_ms: int) -> Outgoing:
        peer.vector_at_ms, peer.vector_due = now_ms, False
        return (peer.id, Vector(self.node_id, dict(self.store.vector()), now_ms, self.erpnext,
                                self._forwarder == self.node_id))

    def _close(self, peer: _Peer, reason: str, now_ms: int) -> None:
        peer.state, peer.reason, peer.hello_at_ms = PeerState.CLOSED, reason, now_ms
        self._forget_pulls(peer.id)
        self._asks.lost(peer.id)

    def _forget_pulls(self, peer_id: str) -> None:
        for key, pull in list(self._pulls.items()):
            if pull.peer == peer_id:
                del self._pulls[key]
        if self._history is not None and self._history.peer == peer_id:
            self._history = None

    def _plan(self, now_ms: int) -> list[Outgoing]:
        """Pull the next ranges peers have: per origin up to ``pipeline`` consecutive
        batches, all from one peer, so a node far behind is not paced by round trips."""
        have = self.store.vector()
        for key, pull in list(self._pulls.items()):
            if have.get(pull.origin, 0) >= pull.last:
                del self._pulls[key]
        sources = [p for p in self._ready() if p.live]
        asked: dict[str, list[_Pull]] = {}
        for pull in self._pulls.values():
            asked.setdefault(pull.origin, []).append(pull)
        serving = {p.id: 0 for p in sources}  # origins each peer is answering for us
        for pulls in asked.values():
            if pulls[0].peer in serving:
                serving[pulls[0].peer] += 1
        wanted = sorted({o for p in sources for o, n in p.vector.items()
                         if n > have.get(o, 0) and len(asked.get(o, ())) < self.pipeline})
        out: list[Outgoing] = []
        for origin in wanted:
            pending = asked.get(origin, [])
            first, upto = _next_gap(have.get(origin, 0), pending)
            if pending:
                able = [p for p in sources if p.id == pending[0].peer]
            else:
                able = [p for p in sources if serving[p.id] < self.max_inflight]
            able = [p for p in able if p.vector.get(origin, 0) >= first]
            if not able:
                continue
            peer = min(able, key=lambda p: (p.suspect_until_ms > now_ms, serving[p.id],
                                            -p.vector[origin], p.id))
            serving[peer.id] += not pending
            for _ in range(self.pipeline - len(pending)):
                if first > min(peer.vector[origin], upto):
                    break
                last = min(first + self.batch - 1, peer.vector[origin], upto)
                deadline = now_ms + const.PULL_TIMEOUT_MS
                self._pulls[(origin, first)] = _Pull(peer.id, origin, first, last, deadline)
                out.append((peer.id, Pull(self.node_id, origin, first, last)))
                first = last + 1
        return out + self._plan_history(now_ms)
