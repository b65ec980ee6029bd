"""Replication inside the node daemon: the anti-entropy engine wired to the ZeroMQ
transport, mDNS discovery and the event log. All of it runs on the daemon's loop.

Who is dialled: every enrolled, unrevoked counter whose address is known, from mDNS
(the freshest), the static ``peers`` setting (``NODE@host:port``) or the address it
enrolled with. Who is heard: only keys of those counters (the transport's Ironhouse
check), and a counter revoked while linked here until it holds its revocation
(``PARTING_S`` at most). Membership is re-read whenever a ``node.*`` event is recorded.

What it knows of the others (``link``: who is live, who refuses our key, when one was
last heard, whether an admin paused replication) is what ``membership.standing`` judges
this counter's standing from; ``peers`` never shows as live a counter that refuses us.

Returns of other counters' sales: this is the node's ``OwnerLink`` (a ReturnAsk to the
sale's counter, or a SaleAsk for a sale this counter does not hold, awaited on the loop)
and the engine's ``ReturnDesk`` (a peer's ask is decided by ``api._agreement.decide``
inside the drain's transaction, so the answer goes out only once the promise it grants
is durable; a peer's SaleAsk is answered by ``api._agreement.lend``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from tillmesh.node.api._agreement import decide, lend
from tillmesh.node.api._node import Node
from tillmesh.node.api.cluster import advertised
from tillmesh.node.errors import ConfigError, StoreError
from tillmesh.node.membership.const import (
    ASK_WAIT_MARGIN_S,
    DRAIN_SLICE_S,
    PARTING_S,
    PULL_EVENTS,
    REDIAL_HEARD_S,
    REDIAL_S,
    STORE_FAILURE_LOG_S,
    TICK_S,
)
from tillmesh.node.membership.release import RELEASE
from tillmesh.node.membership.standing import Link
from tillmesh.node.membership.trust import Gate
from tillmesh.node.ops.config import Config
from tillmesh.node.ops.logs import Throttled
from tillmesh.node.projections import counters
from tillmesh.node.projections.membership import revocation_of
from tillmesh.node.store import backup_restored as restored
from tillmesh.node.store.schema import SCHEMA_VERSION
from tillmesh.replication.asks import Answer, Ask
from tillmesh.replication.const import ASK_TIMEOUT_MS
from tillmesh.replication.event import Event
from tillmesh.replication.protocol import (
    PROTOCOL_VERSION,
    Events,
    Message,
    ProtocolError,
    ReturnAnswer,
    ReturnAsk,
    SaleAnswer,
    SaleAsk,
    decode,
    encode,
)
from tillmesh.replication.stores import EventLogStore
from tillmesh.replication.sync import Outgoing, PeerState, Replicator
from tillmesh.replication.transport import Transport, TransportError, fingerprint

log = logging.getLogger("tillmesh.replication")


def _now_ms() -> int:
    return int(time.time() * 1000)


def static_peers(entries: Sequence[str], cluster: str) -> dict[str, str]:
    """``["C02@10.0.0.7:7610"]`` -> ``{"C02": "tcp://10.0.0.7:7610"}``. Only entries that
    name their counter can be dialled (CurveZMQ needs its key); the rest are logged."""
    from tillmesh.replication.discovery import DiscoveryError, parse_static_peer

    out = {}
    for entry in entries:
        try:
            found = parse_static_peer(entry, cluster)
        except DiscoveryError as exc:
            log.warning("ignoring %s", exc)
            continue
        if found.node.startswith("static:"):
            log.warning("ignoring static peer %r: write it as NODE@host:port", entry)
            continue
        out[found.node] = found.endpoint
    return out


def coalesce(inbox: list[tuple[str, Message]]) -> list[tuple[str, Message]]:
    """Runs of ``Events`` from one peer become one message (of PULL_EVENTS at most)."""
    out: list[tuple[str, Message]] = []
    for peer, msg in inbox:
        if out and isinstance(msg, Events):
            last_peer, last = out[-1]
            if (last_peer == peer and isinstance(last, Events)
                    and len(last.events) + len(msg.events) <= PULL_EVENTS):
                out[-1] = (peer, replace(last, events=last.events + msg.events))
                continue
        out.append((peer, msg))
    return out


class _Parting(NamedTuple):
    """A counter revoked while linked here, heard and served until it holds its
    revocation: the ``seq``-th event of ``origin`` or later (``_end_partings``)."""

    member: counters.Member
    until: float  # monotonic: cut off then, whether it holds it or not
    origin: str
    seq: int


class Replication:
    def __init__(self, node: Node) -> None:
        if node.keypair is None:
            raise ValueError("replication needs the counter's keypair")
        self.node = node
        self.set_config(node.config)
        self.store = EventLogStore(node.log, Gate(node.log, node.config.max_clock_ahead_s,
                                                  node.clock))
        self.engine = Replicator(self.store, node.node_id, node.config.cluster, desk=self,
                                 batch=PULL_EVENTS, release=RELEASE, schema=SCHEMA_VERSION)
        self.transport = Transport(node.node_id, node.keypair.public, node.keypair.secret,
                                   node.config.listen, self._on_message)
        self.discovery: Any = None  # replication.discovery.Discovery when mDNS is on
        self._found: dict[str, str] = {}  # node -> endpoint seen on mDNS
        self._members: dict[str, counters.Member] = {}
        self._parting: dict[str, _Parting] = {}
        self._dialled_at: dict[str, float] = {}  # node -> monotonic time of our last dial
        self._task: asyncio.Task[None] | None = None
        self._refresh_members = True
        self.paused = False  # cut off: nothing in, nothing out (the counter sells on)
        self._paused_at: datetime | None = None
        self._heard_ms = _now_ms()  # when another counter was last heard (or we started)
        self._revoked = False  # this counter's own log says it was revoked
        self._refused_ms: int | None = None  # since when every other counter refuses us
        self._inbox: list[tuple[str, Message]] = []
        self._draining = False  # a drain is scheduled or running: it takes what comes
        self._seeded: dict[str, counters.Member] = {}
        # restored, not caught up: the most of its own events each peer held when linked
        self._restore_seen: dict[str, int] = {}
        self._answers: dict[str, asyncio.Future[Answer | None]] = {}  # by ask id
        self._store_failures = Throttled(STORE_FAILURE_LOG_S)  # a full disk, once a minute
        self._tick_failures = Throttled(STORE_FAILURE_LOG_S)

    def set_config(self, config: Config) -> None:
        """Use ``config`` (a join adds the inviting counter as a static peer)."""
        self.config = self.node.config = config
        self._static = static_peers(config.peers, config.cluster)

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.transport.start()
        except TransportError as exc:
            raise ConfigError(f"cannot start replication: {exc}") from exc
        port = int(self.transport.endpoint.rsplit(":", 1)[1])
        with contextlib.suppress(ConfigError):
            self.node.replication_endpoint = advertised(
                self.config.listen.rsplit(":", 1)[0] + f":{port}", self.config.advertise)
        self.node.log.listeners.append(self._recorded)
        self.node.peer_view = self.peer_view
        self.node.refused_events = lambda: dict(self.store.refusals)
        self.node.forks = self.forks
        self.node.cut_off = self.pause
        self.node.link = self.link
        self.node.refused_since = self.refused_since
        self.node.owners = self
        self._sync_members()
        if self.config.mdns:
            await self._start_mdns(port)
        self._task = asyncio.get_running_loop().create_task(self._ticker())

    async def _start_mdns(self, port: int) -> None:
        from tillmesh.replication.discovery import Discovery, DiscoveryError

        try:
            addresses = [self.config.advertise] if self.config.advertise else None
            public = self.node.keypair.public  # type: ignore[union-attr]
            # its whole key and join port too: a counter joining with a short invite
            # code finds this one by them (``membership.invite``)
            join_port = int((self.node.join_endpoint or self.config.join_listen
                             ).rsplit(":", 1)[1]) or None
            self.discovery = Discovery(
                self.config.cluster, self.node.node_id, PROTOCOL_VERSION, fingerprint(public),
                port, addresses=addresses, interfaces=self.config.mdns_interfaces or None,
                mdns_port=self.config.mdns_port, on_change=self._on_discovery,
                public_key=public.decode(), join_port=join_port)
            await self.discovery.start()
        except DiscoveryError as exc:
            # Selling never depends on mDNS: static peers and enrolment addresses remain.
            log.error("mDNS is off: %s", exc)
            self.discovery = None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._send(self.engine.shutdown())
        if self.discovery is not None:
            await self.discovery.close()
        await self.transport.close()
        with contextlib.suppress(ValueError):
            self.node.log.listeners.remove(self._recorded)

    # --- the engine's inputs --------------------------------------------------------------

    def pause(self, paused: bool) -> None:
        if paused != self.paused:
            self._paused_at = datetime.now(UTC) if paused else None
            self._heard_ms = _now_ms()  # silence while paused says nothing of the others
        self.paused = paused
        log.warning("replication %s", "paused: this counter is cut off" if paused
                    else "resumed")

    async def _on_message(self, peer: str, data: bytes) -> None:
        if self.paused:
            return
        self._heard_ms = _now_ms()  # the transport hands on members' messages only
        try:
            msg = decode(data)
        except ProtocolError as exc:
            log.warning("dropped a message from %s: %s", peer, exc)
            return
        self._inbox.append((peer, msg))
        if not self._draining:  # the first since the last drain: schedule one
            self._draining = True
            asyncio.get_running_loop().call_soon(self._schedule_drain)

    def _schedule_drain(self) -> None:
        asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Handle what arrived, in order, a slice at a time until nothing waits: what
        arrives meanwhile joins the inbox of this drain, never a second one beside it."""
        try:
            while self._inbox:
                await self._slice()
                if self._inbox:  # a counter catching up: its cashier first
                    await asyncio.sleep(0)  # a call that came meanwhile is taken in
                    await self.node.cashier_first()
        finally:
            self._draining = False

    async def _slice(self) -> None:
        """Handle the inbox from its start for DRAIN_SLICE_S, from every peer: one
        transaction (one fsync) for all of it (``EventLog.batch``); the rest waits."""
        inbox, self._inbox = coalesce(self._inbox), []
        out: list[Outgoing] = []
        now, started, taken = _now_ms(), time.monotonic(), 0
        try:
            with self.node.log.batch():  # one commit for everything received from all peers
                for peer, msg in inbox:
                    taken += 1
                    try:
                        out += self.engine.received(peer, msg, now)
                    except Exception:  # one message must not cost the rest of the inbox
                        log.exception("handling %s from %s failed", type(msg).__name__, peer)
                    if time.monotonic() - started >= DRAIN_SLICE_S:
                        break
        except StoreError as exc:  # nothing recorded: peers' vectors bring it back
            self._store_failures.say(log, logging.ERROR, "replication.store_failed",
                                     time.monotonic(), "recording what peers sent failed: %s",
                                     exc.message)
        self._inbox[:0] = inbox[taken:]  # before what arrives while this one is flushed
        await self.node.log.flush()  # announce received events only once they are durable
        await self._send(out)
        if self._refresh_members:
            self._sync_members()
        self._redial({peer for peer, _ in inbox[:taken]}, after_s=REDIAL_HEARD_S)

    def _recorded(self, events: list[Event]) -> None:
        """After each commit: push our own new events; re-read members on node.* events,
        once those are pushed. A revocation must reach the counter it revokes before our
        link to it closes: re-read first (by whatever else looked at the members before
        the push ran), the revoked counter never heard it, and showed only that it was
        refused."""
        members_changed = any(e.kind.startswith("node.") for e in events)
        own = [e for e in events if e.origin == self.node.node_id]
        out = self.engine.local_events(own, _now_ms())
        if out or members_changed or self._refresh_members:
            asyncio.get_running_loop().create_task(self._after_commit(out, members_changed))

    async def _after_commit(self, out: list[Outgoing], members_changed: bool) -> None:
        await self._send(out)
        if members_changed or self._refresh_members:
            self._sync_members()

    def _on_discovery(self, change: Any) -> None:
        """mDNS found (an endpoint) or lost a counter."""
        if getattr(change, "endpoint", None):
            member = self._members.get(change.node)
            if member is None or fingerprint(member.public_key.encode()) != change.key_fingerprint:
                return  # mDNS is a hint: an unknown node or another key is not dialled
            self._found[change.node] = change.endpoint
            self._dial(member)
        else:
            self._found.pop(change.node, None)

    async def _ticker(self) -> None:
        last_redial = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self._note_refusals()
                self._end_partings()
                self._catch_up()
                await self._send(self.engine.tick(_now_ms()))
                if time.monotonic() - last_redial > REDIAL_S:
                    last_redial = time.monotonic()
                    self._redial(self._members, after_s=0.0)
            except Exception:  # the node must keep selling whatever a peer did
                # a failure that repeats repeats every tick: once a minute, with its count
                self._tick_failures.say(log, logging.ERROR, "replication.tick_failed",
                                        time.monotonic(), "replication tick failed",
                                        exc_info=True)

    def _redial(self, nodes: Iterable[str], after_s: float) -> None:
        """Dial afresh those of ``nodes`` whose handshake has not succeeded and that we last
        dialled more than ``after_s`` ago: one that refused our key because it had not yet
        heard of our enrolment accepts it now, and one that just talked to us is up, so
        our connection's reconnect backoff (up to seconds) need not run out first: until
        both directions are up, neither side can answer the other's Hello."""
        if self.paused:  # nobody is dialled (``_dial``); the links we have are kept
            return
        up = self.transport.connected()
        now = time.monotonic()
        for node in nodes:
            member = self._members.get(node)
            if (member is None or node == self.node.node_id or node in up
                    or now - self._dialled_at.get(node, -math.inf) < after_s):
                continue
            self.transport.disconnect(node)
            self._dial(member)

    # --- returns agreed with the sale's counter --------------------------------------------

    def unreachable(self, owner: str, kind: type[Ask] = ReturnAsk) -> str | None:
        """Why ``owner`` cannot be sent an ask of ``kind`` now (``OwnerLink``). A link
        that is up while the two counters greet each other (a restart, a redial) is no
        reason: ``ask`` waits for the greeting."""
        if self.paused:
            return "this counter is cut off from the others (replication paused)"
        why = self.engine.cannot_ask(owner, kind)
        if why is not None and self._greeting(owner):
            return None
        return why

    def _greeting(self, owner: str) -> bool:
        return (owner in self.transport.connected()
                and self.engine.state_of(owner) in (None, PeerState.GREETING))

    async def ask(self, owner: str, ask: ReturnAsk) -> ReturnAnswer | None:
        """``owner``'s answer to ``ask``, or None when none came in time (``OwnerLink``)."""
        answer = await self._asked(owner, ask)
        return answer if isinstance(answer, ReturnAnswer) else None

    async def fetch(self, owner: str, ask: SaleAsk) -> SaleAnswer | None:
        """Likewise for a sale this counter does not hold (``OwnerLink``)."""
        answer = await self._asked(owner, ask)
        return answer if isinstance(answer, SaleAnswer) else None

    async def _asked(self, owner: str, ask: Ask) -> Answer | None:
        """``owner``'s answer to ``ask`` (the engine settles it with one of its kind), or
        None when none came in time."""
        loop = asyncio.get_running_loop()
        greeted_by = loop.time() + ASK_TIMEOUT_MS / 1000
        while self._greeting(owner):  # Hellos cross in milliseconds on a LAN
            if loop.time() >= greeted_by:
                return None
            await asyncio.sleep(TICK_S)
        answer = self._answers[ask.ask_id] = loop.create_future()
        try:
            await self._send(self.engine.ask(owner, ask, _now_ms()))
            return await asyncio.wait_for(answer, ASK_TIMEOUT_MS / 1000 + ASK_WAIT_MARGIN_S)
        except TimeoutError:
            log.error("ask %s to %s was never settled", ask.ask_id, owner)
            return None
        finally:
            del self._answers[ask.ask_id]

    def decide(self, peer: str, ask: ReturnAsk) -> ReturnAnswer | None:
        """A peer's ask about a sale of ours (``ReturnDesk``; in the drain's batch); none
        for a revoked counter still linked here (``_start_partings``)."""
        return None if peer in self._parting else decide(self.node, peer, ask)

    def lend(self, peer: str, ask: SaleAsk) -> SaleAnswer | None:
        """A peer's ask for a sale of ours it does not hold (``ReturnDesk``)."""
        return None if peer in self._parting else lend(self.node, peer, ask)

    def settled(self, ask_id: str, answer: Answer | None) -> None:
        """The outcome of our ask (``ReturnDesk``); one that nobody waits for is dropped."""
        waiting = self._answers.get(ask_id)
        if waiting is not None and not waiting.done():
            waiting.set_result(answer)

    # --- membership and dialling ----------------------------------------------------------

    def _sync_members(self) -> None:
        self._refresh_members = False
        with self.node.log.reading() as s:
            # The inviting counter's list only until our own log holds the members.
            current = {m.node: m for m in counters.members(s)} or dict(self._seeded)
            me = counters.trust(s).get(self.node.node_id)
            self._revoked = me is not None and me.revoked
            if self._revoked:  # it links to nobody: those it was parting with too
                for node in self._parting:
                    self.engine.disconnected(node)
                self._parting.clear()
            else:
                self._start_partings(s, current)
        self.engine.parting = frozenset(self._parting)
        # A revoked counter links to nobody: the store refuses what it would send, and
        # another counter revoked while away (whose revocation this one may never have
        # heard) must not find a link here and think itself part of the store.
        # Its peers stay in view (``peer_view``: refused), for IT to see why.
        dialled = {} if self._revoked else current
        admitted = {**dialled, **{n: p.member for n, p in self._parting.items()}}
        self.transport.set_members({n: m.public_key.encode() for n, m in admitted.items()})
        for gone in set(self._members) - set(current) - set(self._parting):
            self.transport.disconnect(gone)
            self.engine.disconnected(gone)
        self._members = current
        for member in dialled.values():
            if member.node != self.node.node_id:
                self._dial(member)

    def _start_partings(self, session: Session, current: dict[str, counters.Member]
                        ) -> None:
        """Members revoked since the last look that are linked here stay linked until they
        hold their revocation (PARTING_S at most): the push that tells one goes out once,
        and is lost if its link is down a moment or it lacks an event before it; cut off
        then, it could never fetch it, and would show only that it is refused. Never
        elected meanwhile (``Replicator.parting``), its asks unanswered, and what it
        records after the revocation refused by the store as from any revoked counter."""
        left = [n for n in self._members if n not in current and n not in self._parting]
        if not left:  # the common case: every node.* event re-reads the members
            return
        linked = {p.peer for p in self.engine.peers() if p.state is PeerState.READY}
        held = self.node.log.vector()
        for node in left:
            if node not in linked:
                continue
            revocation = revocation_of(session, node)
            if revocation is not None:
                self._parting[node] = _Parting(self._members[node],
                                               time.monotonic() + PARTING_S,
                                               revocation.counter,
                                               held.get(revocation.counter, 0))

    def _end_partings(self) -> None:
        """Cut off each parting counter that holds its revocation, or refuses our key
        (it knows: a revoked counter links to nobody), or whose time is up."""
        if not self._parting:
            return
        now = time.monotonic()
        vectors = {p.peer: p.vector for p in self.engine.peers()}
        refusing = self.transport.refusing()
        done = [node for node, p in self._parting.items()
                if now >= p.until or node in refusing
                or vectors.get(node, {}).get(p.origin, 0) >= p.seq]
        if not done:
            return
        for node in done:
            del self._parting[node]
        log.info("cut off %s: revoked, and told so or out of time", ", ".join(done))
        self._sync_members()  # drops their keys, and our links to them
        for node in done:
            self.engine.disconnected(node)

    def _dial(self, member: counters.Member) -> None:
        """Connect to ``member``, unless paused: what we would send is dropped anyway, and
        a joining counter (paused until its snapshot is in) would be refused by members
        that have not yet heard of its enrolment ("it refused our key")."""
        endpoint = (self._found.get(member.node) or self._static.get(member.node)
                    or member.endpoint)
        if endpoint is None or self.paused or self._revoked:
            return
        if self.transport.connect(member.node, endpoint, member.public_key.encode()):
            self._dialled_at[member.node] = time.monotonic()
            asyncio.get_running_loop().create_task(
                self._send(self.engine.connected(member.node, _now_ms())))

    async def _send(self, out: list[Outgoing]) -> None:
        if self.paused:
            return
        for peer, msg in out:
            await self.transport.send(peer, encode(msg))

    # --- joining ----------------------------------------------------------------------------

    def seed_members(self, members: list[dict[str, Any]], *, complete: bool = True) -> None:
        """Members as the inviting counter named them, before our log holds them;
        ``complete=False``: more are on their way, and the handshakes of keys not yet
        known wait for them (``Transport.expect_members``)."""
        self._seeded = {m["node"]: counters.Member(m["node"], m["public_key"], False,
                                                  m.get("endpoint"))
                        for m in members}
        self._sync_members()
        if not complete:
            self.transport.expect_members()

    def progress(self, peer: str) -> tuple[int, int]:
        """Events we hold and events ``peer`` holds (0 until it has said Hello)."""
        have = sum(self.node.log.vector().values())
        theirs = next((p.vector for p in self.engine.peers() if p.peer == peer), {})
        return have, sum(theirs.values())

    # --- views ------------------------------------------------------------------------------

    def link(self) -> Link:
        """What this counter knows of the others now (``membership.standing``)."""
        refused_since = self.refused_since()
        refusing = self._refusing()
        # A counter that refuses our key is no link to the store, even if it was heard
        # (what it sent before it knew, delivered as we came back): as ``peer_view`` says.
        live = tuple(p.peer for p in self.engine.peers() if p.live and p.peer not in refusing)
        return Link(self._others(), live, refusing,
                    datetime.fromtimestamp(self._heard_ms / 1000, UTC), self._paused_at,
                    refused_since)

    def refused_since(self) -> datetime | None:
        """Since when every other counter refuses our key (None: not all of them); what
        every sale asks, so it builds no view of the peers."""
        self._note_refusals()
        refused = self._refused_ms
        return None if refused is None else datetime.fromtimestamp(refused / 1000, UTC)

    def _others(self) -> tuple[str, ...]:
        return tuple(sorted(n for n in self._members if n != self.node.node_id))

    def _note_refusals(self) -> None:
        """Since when every other counter's handshake refuses our key (each tick): an
        answer from each of them, never a silence; one that lets us in again ends it."""
        others = self._others()
        if self._revoked or not others or not set(others) <= self.transport.refusing():
            self._refused_ms = None
        elif self._refused_ms is None:
            self._refused_ms = _now_ms()

    def _catch_up(self) -> None:
        """A counter restored from a backup records again once every other member has been
        linked to it and none held more of its own events than it has got back
        (``store.backup_restored``)."""
        if self.node.log.held is None:
            return
        mine, seen = self.node.node_id, self._restore_seen
        for p in self.engine.peers():
            # linked, and all it holds is here: members enrolled or revoked since the
            # backup among it, so the members waited for are the store's
            if p.state is PeerState.READY and p.live and p.behind == 0:
                seen[p.peer] = max(seen.get(p.peer, 0), p.vector.get(mine, 0))
        if self._refresh_members:
            self._sync_members()
        if restored.caught_up(self.node.log.vector().get(mine, 0), self._others(), seen):
            got = restored.release(self.node.log)
            log.warning("restored from a backup: %d event(s) of this counter recorded after "
                        "the backup came back from peers; it records again", got)

    def _refusing(self) -> tuple[str, ...]:
        """Counters that refuse this one: all of them once it knows it was revoked (their
        links to it close as they hear it), else those whose handshake refused our key."""
        if self._revoked:
            return self._others()
        return tuple(sorted(self.transport.refusing()))

    def peer_view(self) -> list[dict[str, Any]]:
        now = _now_ms()
        views = []
        refusing = set(self._refusing()) | set(self._parting)  # revoked, still linked
        for p in self.engine.peers():
            skew = p.skew_ms
            refused = p.peer in refusing  # what it says no longer reaches the store
            views.append({
                "node": p.peer, "state": "refused" if refused else p.state.value,
                "live": p.live and not refused, "refused": refused,
                "heard_ms_ago": None if p.last_heard_ms is None else now - p.last_heard_ms,
                "behind": p.behind, "ahead": p.ahead, "skew_ms": skew,
                "skew_warning": skew is not None and abs(skew) > self.config.max_skew_ms,
                "erpnext": p.erpnext, "forwarding": p.forwarding,
                "endpoint": self._found.get(p.peer) or (
                    self._members[p.peer].endpoint if p.peer in self._members else None),
                "fork": self._fork(p.peer),
                # as its Hello said them (None: not connected, or a release that does not)
                "release": p.release or None, "protocol": p.proto or None,
                "schema": p.schema or None,
            })
        return views

    def forks(self) -> list[dict[str, Any]]:
        """Counters whose chain this counter saw in two versions (``security_status``)."""
        return [view for origin in sorted(self.store.forks)
                if (view := self._fork(origin)) is not None]

    def _fork(self, origin: str) -> dict[str, Any] | None:
        fork = self.store.forks.get(origin)
        if fork is None:
            return None
        return {"origin": origin, "seq": fork.seq, "ours": fork.ours.hex(),
                "theirs": fork.theirs.hex(), "event": fork.event.id}
