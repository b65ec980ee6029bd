"""Anti-entropy scenarios on in-memory stores, deterministic: every frame is encoded and
decoded, time is a number the test moves."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace

import pytest

from tests.replication.invariants import check_pulls
from tillmesh.replication.asks import ReturnDesk
from tillmesh.replication.const import (
    ANSWER_BUDGET_BYTES,
    HEARTBEAT_MS,
    MAX_BATCH_EVENTS,
    MAX_EVENT_BODY_BYTES,
    PEER_TIMEOUT_MS,
    PROTOCOL_VERSION,
    PULL_TIMEOUT_MS,
    REGREET_MS,
    RELAY_VECTOR_MS,
)
from tillmesh.replication.event import GENESIS, Event, chain_hash
from tillmesh.replication.protocol import (
    Bye,
    Events,
    Hello,
    Message,
    Pull,
    Vector,
    decode,
    encode,
)
from tillmesh.replication.stores import EventLogStore, MemoryStore
from tillmesh.replication.sync import PeerState, Replicator

T0 = 1_700_000_000_000


class Net:
    """Replicators joined by links; frames queue in FIFO order (reordering on request)."""

    def __init__(self, *ids: str, batch: int = 1000, max_inflight: int = 4,
                 desks: Mapping[str, ReturnDesk] | None = None) -> None:
        self.stores = {i: MemoryStore() for i in ids}
        self.nodes = {i: Replicator(self.stores[i], i, "shop", batch=batch,
                                    max_inflight=max_inflight, desk=(desks or {}).get(i))
                      for i in ids}
        self.queue: list[tuple[str, str, bytes]] = []
        self.sent: list[tuple[str, str, Message]] = []
        self.now = T0

    def send(self, src: str, out: list[tuple[str, Message]]) -> None:
        for dst, msg in out:
            self.sent.append((src, dst, msg))
            self.queue.append((src, dst, encode(msg)))

    def link(self, a: str, b: str) -> None:
        self.send(a, self.nodes[a].connected(b, self.now))
        self.send(b, self.nodes[b].connected(a, self.now))

    def deliver(self, i: int = 0) -> None:
        src, dst, data = self.queue.pop(i)
        self.send(dst, self.nodes[dst].received(src, decode(data), self.now))

    def run(self, limit: int = 100_000, rng: random.Random | None = None) -> int:
        steps = 0
        while self.queue:
            self.deliver(rng.randrange(len(self.queue)) if rng else 0)
            steps += 1
            assert steps < limit, "message storm"
        return steps

    def tick(self, ms: int = HEARTBEAT_MS) -> None:
        self.now += ms
        for i, node in self.nodes.items():
            self.send(i, node.tick(self.now))

    def add(self, origin: str, n: int = 1, body: bytes = b"") -> list[Event]:
        evs = [self.stores[origin].append(origin, body=body) for _ in range(n)]
        for e in evs:
            self.send(origin, self.nodes[origin].local_events([e], self.now))
        return evs

    def settle(self, rounds: int = 20) -> None:
        for _ in range(rounds):
            self.run()
            if len({tuple(sorted(s.vector().items())) for s in self.stores.values()}) == 1 \
                    and not any(n.pulls() for n in self.nodes.values()):
                return
            self.tick()
        raise AssertionError("did not converge")

    def of(self, kind: type) -> list[tuple[str, str, Message]]:
        return [s for s in self.sent if isinstance(s[2], kind)]


def same(net: Net) -> None:
    logs = [s.logs for s in net.stores.values()]
    assert all(log == logs[0] for log in logs)


# --- catch-up, relay, ordering --------------------------------------------------------------


def test_two_nodes_catch_up_in_bounded_batches():
    net = Net("A", "B", batch=100, max_inflight=2)
    for _ in range(250):
        net.stores["A"].append("A")
    net.stores["B"].append("B")
    net.link("A", "B")
    net.run()
    same(net)
    assert net.stores["B"].vector() == {"A": 250, "B": 1}
    pulls = [m for _, _, m in net.of(Pull)]
    assert [(p.first, p.last) for p in pulls if p.origin == "A"] == [
        (1, 100), (101, 200), (201, 250)]
    assert all(len(m.events) <= 100 for _, _, m in net.of(Events))


def test_a_line_converges_through_the_middle_node():
    net = Net("A", "B", "C")
    net.link("A", "B")
    net.link("B", "C")
    net.add("A", 3)
    net.add("C", 2)
    net.settle()
    same(net)
    assert net.stores["A"].vector() == {"A": 3, "C": 2}
    assert not [s for s in net.sent if {s[0], s[1]} == {"A", "C"}]
    net.add("A", 1)  # a later event travels A -> B (push) -> C (Vector, then Pull)
    net.run()
    assert net.stores["C"].vector()["A"] == 3  # B just told C: its next Vector is due
    net.tick(RELAY_VECTOR_MS)
    net.run()
    assert net.stores["C"].vector()["A"] == 4


@pytest.mark.parametrize("seed", range(20))
def test_duplicated_and_reordered_frames_are_harmless(seed: int):
    rng = random.Random(seed)
    net = Net("A", "B", "C", batch=7, max_inflight=2)
    for n in ("A", "B", "C"):
        for _ in range(rng.randrange(30)):
            net.stores[n].append(n)
    net.link("A", "B")
    net.link("B", "C")
    net.link("A", "C")
    for _ in range(60):
        for _ in range(rng.randrange(4)):
            net.add(rng.choice("ABC"))
        if net.queue:
            i = rng.randrange(len(net.queue))
            if rng.random() < 0.3:
                net.queue.append(net.queue[i])  # duplicate
            net.deliver(i)
    net.run(rng=rng)
    net.settle()
    same(net)


def test_pushes_are_only_an_optimisation():
    net = Net("A", "B")
    net.link("A", "B")
    net.run()
    net.add("A", 5)
    net.queue.clear()  # every push lost
    assert net.stores["B"].vector() == {}
    net.settle()
    same(net)


def test_pulls_of_one_origin_are_consecutive_and_bounded_per_peer():
    net = Net("A", "B", "C", "D", batch=10, max_inflight=2)
    for origin in "PQRSTUVW":
        evs = [net.stores["B"].append(origin) for _ in range(25)]
        net.stores["C"].receive(evs)
    net.link("A", "B")
    net.link("A", "C")
    while net.queue:
        net.deliver()
        check_pulls(net.nodes["A"].pulls(), batch=10, per_peer=2)
    assert net.stores["A"].vector() == {o: 25 for o in "PQRSTUVW"}


def test_answers_stay_within_the_byte_budget():
    net = Net("A", "B")
    body = b"x" * MAX_EVENT_BODY_BYTES
    for _ in range(20):
        net.stores["A"].append("A", body=body)
    net.link("A", "B")
    net.run()
    same(net)
    sizes = [len(encode(m)) for _, _, m in net.of(Events)]
    assert len(sizes) >= 2 and max(sizes) <= ANSWER_BUDGET_BYTES + 64 * 1024


# --- answers, hostile peers ------------------------------------------------------------------


def ready(a: Replicator, b: Replicator, now: int = T0) -> None:
    for x, y in ((a, b), (b, a)):
        x.received(y.node_id, Hello(PROTOCOL_VERSION, "shop", y.node_id, {}, now), now)


def test_a_pull_for_a_range_the_peer_lacks_is_answered_with_its_vector():
    store = MemoryStore()
    for _ in range(3):
        store.append("X")
    c, b = Replicator(store, "C", "shop"), Replicator(MemoryStore(), "B", "shop")
    ready(c, b)
    out = c.received("B", Pull("B", "X", 2, 9), T0)
    assert [type(m) for _, m in out] == [Events, Vector]
    assert [e.seq for e in out[0][1].events] == [2, 3] and out[1][1].vector == {"X": 3}
    out = c.received("B", Pull("B", "Y", 1, 9), T0)
    assert [type(m) for _, m in out] == [Vector]


def test_a_vector_showing_the_peer_lacks_the_range_cancels_the_pull():
    a, b = Replicator(MemoryStore(), "A", "shop"), Replicator(MemoryStore(), "B", "shop")
    ready(a, b)
    out = a.received("B", Vector("B", {"X": 5}, T0), T0)
    assert [m for _, m in out] == [Pull("A", "X", 1, 5)]
    assert a.received("B", Vector("B", {}, T0), T0) == [] and a.pulls() == []


def chain(origin: str, n: int, prev: bytes = GENESIS, start: int = 1) -> list[Event]:
    out = []
    for seq in range(start, start + n):
        digest = chain_hash(prev, origin, seq, seq, seq, "k.v", b"b")
        out.append(Event(origin, seq, seq, seq, "k.v", b"b", prev, digest))
        prev = digest
    return out


def test_a_hostile_batch_is_not_applied_and_does_not_crash():
    good = chain("X", 4)
    forged = [replace(good[0], body=b"evil")] + good[1:]  # broken hash at seq 1
    gap = good[2:]  # starts at 3
    other = chain("X", 2, prev=b"\x01" * 32)  # a chain that does not start at genesis
    wrong = [replace(e, origin="Y") for e in good[:2]]  # X's hashes under origin Y
    store = MemoryStore()
    a, evil = Replicator(store, "A", "shop"), Replicator(MemoryStore(), "E", "shop")
    ready(a, evil)
    for batch in (forged, gap, other, wrong, list(reversed(good[1:]))):
        a.received("E", Events("E", tuple(batch)), T0)
    assert store.vector() == {}
    assert a.received("E", Events("E", tuple(good[:2] + good[3:] + [good[0]])), T0)
    assert store.vector() == {"X": 2}  # the prefix applies, the part after the gap does not
    assert store.receive(good) == 2 and store.logs["X"] == good


def test_a_peer_serving_bad_events_is_asked_last_and_the_honest_one_fills_in():
    honest = MemoryStore()
    good = chain("X", 3)
    honest.receive(good)
    a = Replicator(MemoryStore(), "A", "shop")
    h, e = Replicator(honest, "H", "shop"), Replicator(MemoryStore(), "E", "shop")
    ready(a, h)
    ready(a, e)
    out = a.received("E", Vector("E", {"X": 3}, T0), T0)
    assert [p for p, _ in out] == ["E"]
    out = a.received("E", Events("E", (replace(good[0], body=b"evil"),)), T0)
    a.received("H", Vector("H", {"X": 3}, T0), T0)
    assert a.pulls() == [("H", "X", 1, 3)]
    a.received("H", h.received("A", Pull("A", "X", 1, 3), T0)[0][1], T0)
    assert a.store.vector() == {"X": 3}


def test_events_from_a_peer_that_has_not_said_hello_are_ignored():
    store = MemoryStore()
    a = Replicator(store, "A", "shop")
    out = a.received("B", Events("B", tuple(chain("B", 2))), T0)
    assert [type(m) for _, m in out] == [Hello] and store.vector() == {}
    ready(a, Replicator(MemoryStore(), "B", "shop"))
    assert a.received("B", Events("C", tuple(chain("B", 2))), T0) == []  # not its name
    assert store.vector() == {}


# --- handshake, liveness, skew -----------------------------------------------------------


@pytest.mark.parametrize(("hello", "reason"), [
    (Hello(PROTOCOL_VERSION + 2, "shop", "B", {}, T0), "speaks replication protocol"),
    (Hello(PROTOCOL_VERSION, "other", "B", {}, T0), "cluster 'other'"),
    (Hello(PROTOCOL_VERSION, "shop", "Z", {}, T0), "says it is Z"),
])
def test_a_bad_hello_is_refused_with_a_clear_bye(hello: Hello, reason: str):
    a = Replicator(MemoryStore(), "A", "shop")
    a.connected("B", T0)
    out = a.received("B", hello, T0)
    assert len(out) == 1 and isinstance(out[0][1], Bye) and reason in out[0][1].reason
    (view,) = a.peers()
    assert view.state is PeerState.CLOSED and reason in view.reason
    assert a.received("B", Vector("B", {"X": 1}, T0), T0) == []
    assert a.tick(T0 + 10 * HEARTBEAT_MS) == []  # a closed peer is left alone...
    (out,) = a.tick(T0 + REGREET_MS)  # ...but greeted again now and then (fixed?)
    assert isinstance(out[1], Hello) and not out[1].reply
    out = a.received("B", Hello(PROTOCOL_VERSION, "shop", "B", {}, T0), T0)
    assert a.peers()[0].state is PeerState.READY and isinstance(out[0][1], Hello)


def test_lost_hellos_are_retried_and_duplicates_do_not_loop():
    net = Net("A", "B")
    net.link("A", "B")
    net.queue.clear()  # both Hellos lost
    assert [p.state for p in net.nodes["B"].peers()] == [PeerState.GREETING]
    net.tick()
    net.queue += net.queue * 3  # each retried Hello arrives four times
    assert net.run() < 30
    assert all(p.state is PeerState.READY for n in net.nodes.values() for p in n.peers())
    hellos = len(net.of(Hello))
    net.tick()
    net.run()
    assert len(net.of(Hello)) == hellos  # settled: heartbeats only


def test_skew_liveness_and_lag_are_measured():
    store = MemoryStore()
    store.append("A")
    a = Replicator(store, "A", "shop")
    a.connected("B", T0)
    a.received("B", Hello(PROTOCOL_VERSION, "shop", "B", {"B": 4}, T0 + 5000), T0)
    (v,) = a.peers()
    assert (v.skew_ms, v.live, v.behind, v.ahead, v.pulls) == (5000, True, 4, 1, 1)
    a.received("B", Vector("B", {"B": 4}, T0 - 300), T0 + 100)
    assert a.peers()[0].skew_ms == -400
    a.tick(T0 + 100 + PEER_TIMEOUT_MS)
    assert a.peers()[0].live is False
    a.received("B", Vector("B", {"B": 4}, T0), T0 + 2 * PEER_TIMEOUT_MS)
    assert a.peers()[0].live is True


def test_an_unanswered_pull_is_retried_from_another_peer():
    a = Replicator(MemoryStore(), "A", "shop")
    for p in ("B", "C"):
        ready(a, Replicator(MemoryStore(), p, "shop"))
    a.received("B", Vector("B", {"X": 9}, T0), T0)
    a.received("C", Vector("C", {"X": 5}, T0), T0)
    assert a.pulls() == [("B", "X", 1, 9)]
    a.received("C", Vector("C", {"X": 5}, T0), T0 + PULL_TIMEOUT_MS - 1)
    out = a.tick(T0 + PULL_TIMEOUT_MS)
    assert ("C", Pull("A", "X", 1, 5)) in out and a.pulls() == [("C", "X", 1, 5)]


def test_bye_and_disconnect_forget_the_peer_and_its_pulls():
    a = Replicator(MemoryStore(), "A", "shop")
    ready(a, Replicator(MemoryStore(), "B", "shop"))
    a.received("B", Vector("B", {"X": 2}, T0), T0)
    assert a.pulls()
    a.received("B", Bye("B", "stopping"), T0)
    assert a.pulls() == [] and a.peers()[0].state is PeerState.CLOSED
    assert a.local_events([MemoryStore().append("A")], T0) == []
    a.disconnected("B")
    assert a.peers() == []
    assert a.shutdown() == []


def test_local_events_are_pushed_to_live_ready_peers_only():
    store = MemoryStore()
    a = Replicator(store, "A", "shop")
    ready(a, Replicator(MemoryStore(), "B", "shop"))
    a.connected("C", T0)
    event = store.append("A")
    assert a.local_events([event], T0) == [("B", Events("A", (event,)))]
    big = store.append("A", body=b"x" * (MAX_EVENT_BODY_BYTES + 1))
    assert a.local_events([big], T0) == []  # cannot travel: logged, never sent


def test_one_commit_of_many_events_is_pushed_in_bounded_messages():
    store = MemoryStore()
    a = Replicator(store, "A", "shop")
    ready(a, Replicator(MemoryStore(), "B", "shop"))
    events = [store.append("A") for _ in range(MAX_BATCH_EVENTS + 5)]
    out = a.local_events(events, T0)
    assert [len(m.events) for _, m in out] == [MAX_BATCH_EVENTS, 5]
    assert [e for _, m in out for e in m.events] == events


# --- the adapter over the real event log ------------------------------------------------------


@pytest.fixture
def log(tmp_path):
    from tillmesh.node.store import create_key_file, open_engine
    from tillmesh.node.store.event_log import EventLog

    return EventLog(open_engine(tmp_path / "db", create_key_file(tmp_path / "key")), "C09")


def test_the_event_log_adapter_applies_the_good_part_of_a_bad_batch(log):
    from tests.nodekit import FakeClock
    from tillmesh.node.store.event_codec import make_event

    wall = FakeClock()()
    good, prev = [], GENESIS
    for seq in (1, 2, 3):
        good.append(make_event("C01", seq, seq, wall, "x.test", {"n": seq}, prev))
        prev = good[-1].hash
    store = EventLogStore(log)
    forged = replace(good[1], body=b"\x80")
    assert store.receive([good[0], forged, good[2]]) == 1
    assert store.receive(good) == 2 and store.receive(good) == 0
    assert store.vector() == {"C01": 3} and store.range("C01", 2, 3) == good[1:]


def test_an_event_its_projection_cannot_apply_holds_back_only_its_origin(log):
    from tests.nodekit import FakeClock
    from tillmesh.node.store.event_codec import make_event

    wall = FakeClock()()
    poison = make_event("C02", 1, 1, wall, "cash.moved", {"no": "fields"}, GENESIS)
    after = make_event("C02", 2, 2, wall, "x.test", {}, poison.hash)
    fine = make_event("C03", 1, 3, wall, "x.test", {}, GENESIS)
    store = EventLogStore(log)
    assert store.receive([poison, after, fine]) == 1
    assert store.vector() == {"C03": 1}


def test_a_peer_that_starts_a_new_session_is_asked_again_at_once():
    a = Replicator(MemoryStore(), "A", "shop")
    ready(a, Replicator(MemoryStore(), "B", "shop"))
    a.received("B", Vector("B", {"X": 3}, T0), T0)
    assert a.pulls() == [("B", "X", 1, 3)]
    out = a.received("B", Hello(PROTOCOL_VERSION, "shop", "B", {"X": 3}, T0), T0 + 10)
    assert [m for _, m in out][1:] == [Pull("A", "X", 1, 3)]  # after the Hello reply
    assert isinstance(out[0][1], Hello) and out[0][1].reply
