"""The log replication reads and extends: ``EventStore`` is the interface,
``MemoryStore`` its in-memory twin for fast tests, ``EventLogStore`` the adapter of the
node's SQLite EventLog (typed against ``ReplicatedLog``, so replication never imports
node). ``extending`` is the one rule of what a store accepts: events that continue
their origin's hash chain; ``anchored`` the one rule of what it accepts below the chain it
holds (history a counter that joined from a checkpoint fetches): events whose hashes the
held chain names, down from its lowest event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from tillmesh.replication.event import GENESIS, Event, chain_hash
from tillmesh.replication.vector import VersionVector

log = logging.getLogger(__name__)


class EventStore(Protocol):
    """What replication needs from a node's log."""

    def vector(self) -> VersionVector: ...
    def range(self, origin: str, first: int, last: int) -> list[Event]: ...
    def receive(self, events: Sequence[Event]) -> int:
        """Apply the events that extend each origin's prefix (one transaction), skip
        those already held, stop an origin at a gap or bad hash; return how many were
        new. Never raises because of what a peer sent."""
        ...
    def history_gaps(self) -> Mapping[str, int]:
        """Per origin whose history the store lacks: the lowest seq from which it holds
        that origin's events up to its head (events 1 .. that - 1 are wanted)."""
        ...
    def backfill(self, events: Sequence[Event]) -> int:
        """Store the events of one origin that are ``anchored`` below its gap (one
        transaction), without applying them: what they did is in the tables already.
        Return how many; 0 when none chain. Never raises because of what a peer sent."""
        ...


def extending(events: Iterable[Event], head: Callable[[str], tuple[int, bytes]]
              ) -> list[Event]:
    """The events that extend their origin's chain, in order; ``head(origin)`` gives the
    held ``(seq, hash)``. Duplicates are skipped; an origin stops at a gap, and an event
    whose hash does not chain is passed over (another copy of that seq may chain)."""
    by_origin: dict[str, list[Event]] = {}
    for event in events:
        by_origin.setdefault(event.origin, []).append(event)
    out = []
    for origin, batch in by_origin.items():
        seq, digest = head(origin)
        for event in sorted(batch, key=lambda e: e.seq):
            if event.seq <= seq:
                continue
            if event.seq != seq + 1:
                break
            if event.verify(digest):
                out.append(event)
                seq, digest = event.seq, event.hash
    return out


def anchored(events: Iterable[Event], origin: str, low: int, prev: bytes) -> list[Event]:
    """Of ``events``, ``origin``'s run that ends right below ``low`` (the lowest event
    held, which names ``prev`` as its predecessor's hash), in seq order. Walked down from
    ``low - 1``: each event must have the hash the one above it names and hash to its
    own content, and event 1 must follow GENESIS; the run ends at the first that does
    not. The held chain vouches for every hash below it, so no forged event gets in."""
    by_seq: dict[int, list[Event]] = {}
    for event in events:
        if event.origin == origin and event.seq < low:
            by_seq.setdefault(event.seq, []).append(event)
    run: list[Event] = []
    seq, want = low - 1, prev
    while seq >= 1:
        found = next((e for e in by_seq.get(seq, ()) if e.hash == want
                      and e.verify(e.prev_hash)), None)
        if found is None or (seq == 1 and found.prev_hash != GENESIS):
            break
        run.append(found)
        seq, want = seq - 1, found.prev_hash
    run.reverse()
    return run


@dataclass(frozen=True)
class Fork:
    """Two different events hold one place in ``origin``'s chain: ours and another
    counter's. Only a second holder of that counter's signing key makes one."""

    origin: str
    seq: int  # where this counter's chain and the other one differ (at or before)
    ours: bytes  # the hash of our event there
    theirs: bytes  # the hash the other chain has there
    event: Event  # the other chain's event that showed it


def forks(events: Iterable[Event], head: Callable[[str], tuple[int, bytes]]) -> list[Fork]:
    """The origins whose events here contradict the chain held: an event at the head's
    place with another hash, or the next one naming another previous hash."""
    found: dict[str, Fork] = {}
    for event in events:
        if event.origin in found:
            continue
        seq, digest = head(event.origin)
        if seq and event.seq == seq and event.hash != digest:
            found[event.origin] = Fork(event.origin, seq, digest, event.hash, event)
        elif seq and event.seq == seq + 1 and event.prev_hash != digest:
            found[event.origin] = Fork(event.origin, seq, digest, event.prev_hash, event)
    return list(found.values())


class MemoryStore:
    """In-memory twin of the node's log for fast tests: origin -> its events from
    ``starts[origin]`` (1 unless ``forget_before`` dropped its history) up to its head."""

    def __init__(self) -> None:
        self.logs: dict[str, list[Event]] = {}
        self.starts: dict[str, int] = {}

    def append(self, origin: str, kind: str = "test.event", body: bytes = b"") -> Event:
        """Record the next event of ``origin`` (a node's own event, in tests)."""
        chain = self.logs.setdefault(origin, [])
        prev = chain[-1].hash if chain else GENESIS
        seq = self.vector().get(origin, 0) + 1
        event = Event(origin, seq, seq, seq, kind, body, prev,
                      chain_hash(prev, origin, seq, seq, seq, kind, body))
        chain.append(event)
        return event

    def forget_before(self, origin: str, seq: int) -> None:
        """Hold ``origin``'s events from ``seq`` on only (a counter joined from a
        checkpoint there)."""
        start = self.starts.get(origin, 1)
        self.logs[origin] = self.logs[origin][seq - start:]
        self.starts[origin] = seq

    def vector(self) -> VersionVector:
        return {origin: self.starts.get(origin, 1) + len(chain) - 1
                for origin, chain in self.logs.items() if chain}

    def range(self, origin: str, first: int, last: int) -> list[Event]:
        start = self.starts.get(origin, 1)
        if first < start:  # the run held from ``first``: none
            return []
        return list(self.logs.get(origin, [])[first - start:max(last - start + 1, 0)])

    def _head(self, origin: str) -> tuple[int, bytes]:
        chain = self.logs.get(origin)
        return (self.vector()[origin], chain[-1].hash) if chain else (0, GENESIS)

    def history_gaps(self) -> dict[str, int]:
        return {o: s for o, s in self.starts.items() if s > 1 and self.logs.get(o)}

    def backfill(self, events: Sequence[Event]) -> int:
        if not events:
            return 0
        origin = events[0].origin
        low = self.history_gaps().get(origin)
        if low is None:
            return 0
        run = anchored(events, origin, low, self.logs[origin][0].prev_hash)
        if run:
            self.logs[origin][:0] = run
            self.starts[origin] = run[0].seq
        return len(run)

    def receive(self, events: Sequence[Event]) -> int:
        new = extending(events, self._head)
        for event in new:
            self.logs.setdefault(event.origin, []).append(event)
        return len(new)


class LogTransaction(Protocol):
    def receive_many(self, events: list[Event]) -> int: ...


class ReplicatedLog(Protocol):
    """The part of ``tillmesh.node.store.event_log.EventLog`` the adapter uses."""

    def vector(self) -> VersionVector: ...
    def range(self, origin: str, first: int, last: int) -> list[Event]: ...
    def transaction(self) -> AbstractContextManager[LogTransaction]: ...
    def history_from(self) -> dict[str, int]: ...
    def backfill(self, events: list[Event]) -> int: ...


Gate = Callable[[Sequence[Event]], tuple[list[Event], list[tuple[Event, str]]]]
"""Which of these chained events may be stored and relayed, and why each other one may
not (``node.membership.trust``: signatures, membership, clocks)."""


class EventLogStore:
    """``EventStore`` over the node's EventLog: projections apply in the same transaction.

    A ``gate`` judges the events first: those it refuses are neither stored nor relayed,
    the origin stops there, and the refusal is logged once and kept in ``refusals``.

    The chain is checked before writing, so one bad event cannot roll back the good ones
    of the batch. If the batch transaction still fails (an event whose body a projection
    cannot apply, a full disk), events are retried one transaction each and an origin
    stops at its first failure; the error is logged, never raised.
    """

    def __init__(self, log: ReplicatedLog, gate: Gate | None = None) -> None:
        self.log = log
        self.gate = gate
        self.refusals: dict[str, tuple[str, str]] = {}  # origin -> (event id, why), latest
        self.forks: dict[str, Fork] = {}  # origin -> the first fork seen in its chain
        self._heads: dict[str, tuple[int, bytes]] = {}  # committed heads we have seen

    def vector(self) -> VersionVector:
        return self.log.vector()

    def range(self, origin: str, first: int, last: int) -> list[Event]:
        return self.log.range(origin, first, last)

    def history_gaps(self) -> dict[str, int]:
        return self.log.history_from()

    def backfill(self, events: Sequence[Event]) -> int:
        if not events:
            return 0
        try:
            return self.log.backfill(list(events))  # it keeps only what is ``anchored``
        except Exception as exc:  # the boundary for peers' data: never crash the node
            log.error("could not store %s's history %d..%d: %s", events[0].origin,
                      events[0].seq, events[-1].seq, exc)
            return 0

    def _head(self, origin: str) -> tuple[int, bytes]:
        seq = self.log.vector().get(origin, 0)
        cached = self._heads.get(origin)
        if cached is not None and cached[0] == seq:
            return cached
        held = self.log.range(origin, seq, seq) if seq else []
        return (seq, held[0].hash) if held else (0, GENESIS)

    def _refused(self, refused: Iterable[tuple[Event, str]]) -> None:
        for event, why in refused:
            if self.refusals.get(event.origin) != (event.id, why):
                log.warning("refused event %s: %s", event.id, why)
            self.refusals[event.origin] = (event.id, why)

    def _note_forks(self, events: Sequence[Event]) -> None:
        """A contradicting event that its origin signed is a fork (its key is in two
        places), said loudly once; one the gate refuses is a forgery, refused as such."""
        for fork in forks(events, self._head):
            if fork.origin in self.forks:
                continue
            refused = self.gate([fork.event])[1] if self.gate is not None else []
            if refused:
                self._refused(refused)
                continue
            self.forks[fork.origin] = fork
            log.error("FORK in %s's chain at %d: ours is %s, another counter holds %s "
                      "(event %s): two machines hold %s's key; revoke it from a counter "
                      "whose copy you trust", fork.origin, fork.seq, fork.ours.hex()[:12],
                      fork.theirs.hex()[:12], fork.event.id, fork.origin)

    def _apply(self, events: Sequence[Event]) -> int:
        with self.log.transaction() as tx:
            applied = tx.receive_many(list(events))
        for event in events:  # committed: remember the heads (a rollback never gets here)
            self._heads[event.origin] = (event.seq, event.hash)
        return applied

    def receive(self, events: Sequence[Event]) -> int:
        self._note_forks(events)
        new = extending(events, self._head)
        if new and self.gate is not None:
            new, refused = self.gate(new)
            self._refused(refused)
        if not new:
            return 0
        try:
            return self._apply(new)
        except Exception as exc:  # the boundary for peers' data: never crash the node
            log.warning("applying %d events failed (%s); retrying one by one", len(new), exc)
        applied, stopped = 0, set()
        for event in new:
            if event.origin not in stopped:
                try:
                    applied += self._apply([event])
                except Exception as exc:
                    stopped.add(event.origin)
                    log.error("event %s cannot be applied, origin held back: %s", event.id,
                              exc)
        return applied
