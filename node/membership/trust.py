"""Which events of peers this counter stores and relays: the replication gate.

Every event must come from a counter this store enrolled, other than this one (only it
writes its own events; a counter restored from a backup takes them back from peers until
it has caught up: ``store.backup_restored``), carry that counter's signature
(its Ed25519 key, enrolled with it) and not be stamped further ahead of this counter's
clock than the store allows. So one enrolled till cannot write as another counter, as
this counter itself or as a counter nobody enrolled, and a bad clock cannot drag every
counter's clock into the future. A revoked counter's events stand up to the one its
revocation names; later ones are refused. Counters made before events were signed are
trusted on their hash chain until they announce a key (``node.signing_key``).

A refused event is neither stored nor relayed, and its origin stops there for this batch;
``replication.stores.EventLogStore`` logs it and keeps it for the status.

The gate gets each origin's events as a run that extends the chain this counter holds
(``replication.stores.extending`` checked every hash and link). So one signature vouches
for the whole run: the last event's, over a hash that commits to every one before it.
Only when that one fails is each event's checked, to find the first forgery. (Checking
every signature cost ~75 µs an event: 1.6 s of a 20,000-event heal.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from tillmesh.node.domain.authority import ENROLLED, REVOKED, SIGNING_KEY
from tillmesh.node.errors import StoreError
from tillmesh.node.projections import counters, membership
from tillmesh.node.store import snapshot, snapshot_check
from tillmesh.node.store.event_codec import Event, data
from tillmesh.node.store.event_log import EventLog
from tillmesh.replication import hlc
from tillmesh.replication.signing import signed_by


class Gate:
    def __init__(self, log: EventLog, ahead_s: float, clock: Callable[[], datetime]) -> None:
        self.log = log
        self.ahead_ms = int(ahead_s * 1000)
        self.clock = clock

    def __call__(self, events: Sequence[Event]) -> tuple[list[Event], list[tuple[Event, str]]]:
        with self.log.reading() as session:
            known = counters.trust(session)
        now_ms = int(self.clock().timestamp() * 1000)
        accepted: list[tuple[Event, bytes | None]] = []  # with the key it must be signed by
        refused: list[tuple[Event, str]] = []
        stopped: set[str] = set()
        for event in events:
            if event.origin in stopped:
                continue
            why = self.judge(event, known, now_ms)
            if why is not None:
                stopped.add(event.origin)
                refused.append((event, why))
                continue
            accepted.append((event, known[event.origin].signing_key))
            _learn(event, known)
        return signed_runs(accepted, refused)

    def judge(self, event: Event, known: dict[str, counters.Trust], now_ms: int) -> str | None:
        """Why ``event`` may not be stored, its signature aside (``signed_runs``), or None."""
        ahead_ms = hlc.physical_ms(event.hlc) - now_ms
        if ahead_ms > self.ahead_ms:
            return (f"stamped {ahead_ms / 1000:.0f} s ahead of this counter's clock (at most "
                    f"{self.ahead_ms / 1000:.0f} s): refused until the clocks agree")
        # Its own events come only from itself, but for a restored counter getting back
        # what it recorded after its backup (``store.backup_restored``).
        if event.origin == self.log.origin and self.log.held is None:
            return ("an event under this counter's own name, which only it writes: a "
                    "forgery, or another machine holds this counter's key")
        member = known.get(event.origin)
        if member is None:
            return f"{event.origin} is not a counter of this store"
        if member.revoked and (member.last_seq is None or event.seq > member.last_seq):
            return (f"{event.origin} was revoked after its event "
                    f"{event.origin}:{member.last_seq or 0}")
        return None


FORGED = "not signed by counter {}: a forgery, or a corrupted copy"


def signed_runs(accepted: list[tuple[Event, bytes | None]], refused: list[tuple[Event, str]],
            ) -> tuple[list[Event], list[tuple[Event, str]]]:
    """``accepted`` less what is not signed by its counter: per origin the last event that
    must be signed is checked (its chain vouches for the rest of the run); if it fails,
    each one, and the origin stops at the first that fails. (A counter made before
    signatures has no key: its chain alone vouches for it.)"""
    last: dict[str, tuple[Event, bytes]] = {}
    for event, key in accepted:
        if key is not None:
            last[event.origin] = (event, key)
    failed = {origin for origin, (event, key) in last.items() if not signed_by(event, key)}
    kept: list[Event] = []
    stopped: set[str] = set()
    for event, key in accepted:
        if event.origin in stopped:
            continue
        if event.origin in failed and key is not None and not signed_by(event, key):
            stopped.add(event.origin)
            refused.append((event, FORGED.format(event.origin)))
            continue
        kept.append(event)
    return kept, refused


def _learn(event: Event, known: dict[str, counters.Trust]) -> None:
    """Membership changes earlier in the same batch count for the events after them (the
    fold of ``domain.authority`` settles them for good once they are applied)."""
    if event.kind not in (ENROLLED, REVOKED, SIGNING_KEY):
        return
    try:
        body = data(event)
        node = str(body["node"])
        held = known.get(node) or counters.Trust(None, False, None)
        if event.kind == ENROLLED:
            if node in known:
                return  # enrolled already: the fold refuses it, its key stays
            key = body.get("signing_key")
            known[node] = counters.Trust(bytes(key) if key else None, held.revoked,
                                         held.last_seq)
        elif event.kind == REVOKED and not held.revoked:
            last = body.get("last_seq")
            known[node] = counters.Trust(held.signing_key, True,
                                         None if last is None else int(last))
        elif held.signing_key is None and node == event.origin:
            known[node] = counters.Trust(bytes(body["key"]), held.revoked, held.last_seq)
    except (StoreError, KeyError, TypeError, ValueError):
        return  # a malformed change: the fold refuses it, it teaches the gate nothing


def announce_key(log: EventLog, public: bytes) -> bool:
    """A counter made before events were signed announces its signing key once, in its
    own chain, at its first start on this release; True if it did."""
    with log.reading() as session:
        me = counters.trust(session).get(log.origin)
    if me is None or me.signing_key is not None:
        return False
    with log.transaction() as tx:
        tx.append(SIGNING_KEY, {"node": log.origin, "key": public})
    return True


def adopt_snapshot(log: EventLog, installed: snapshot.Installed) -> None:
    """After ``snapshot.install``: the store's members and heads checked from its events
    (``check_snapshot``) and, when it carried a checkpoint, the tables built from that
    (checked: signed by one of those members) and the events after it. StoreError: the
    store holds the snapshot but cannot be trusted."""
    log.reload()
    check_snapshot(log)
    if not installed.tables:
        snapshot_check.built(log)


def check_snapshot(log: EventLog) -> None:
    """After a snapshot is installed: users and counters are folded again from its events
    (nothing planted in its tables survives), and each origin's head must be signed by
    that origin's enrolled key (its hash chain, checked on install, vouches for the rest).
    StoreError names the first origin that fails."""
    with log.transaction() as tx:
        membership.rebuild(tx.session)
    with log.reading() as session:
        known = counters.trust(session)
    for origin, seq in sorted(log.vector().items()):
        member = known.get(origin)
        if member is None:
            raise StoreError(f"the snapshot holds events of {origin}, which is not a "
                             "counter of this store")
        (head,) = log.range(origin, seq, seq)
        if member.signing_key is not None and not signed_by(head, member.signing_key):
            raise StoreError(f"the snapshot's last event of {origin} ({head.id}) is not "
                             f"signed by {origin}")
