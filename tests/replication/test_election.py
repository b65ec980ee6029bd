"""The forwarder's election: one forwarder per store, the same answer on every counter.

The rule is pure (``elect``); the scenarios drive real Replicators through a simulated
network with partitions, heals and restarts and count, second by second, how many
counters believe they are the forwarder."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.replication.test_sync import Net
from tillmesh.replication.const import ELECTION_SETTLE_MS, HEARTBEAT_MS, PEER_TIMEOUT_MS
from tillmesh.replication.election import elect
from tillmesh.replication.sync import Replicator

NODES = st.sampled_from(["C01", "C02", "C03", "C04"])


def test_the_lowest_id_that_reaches_erpnext_wins():
    assert elect("C02", True, [("C01", False, False), ("C03", True, False)], None) == "C02"
    assert elect("C02", False, [("C01", True, False), ("C03", True, False)], None) == "C01"
    assert elect("C02", False, [("C01", False, False)], None) is None


def test_a_working_forwarder_keeps_the_role_and_a_failed_one_hands_over():
    assert elect("C01", True, [("C03", True, True)], "C03") == "C03"  # C01 came back
    assert elect("C01", True, [("C03", False, True)], "C03") == "C01"  # C03 lost ERPNext


def test_of_two_forwarders_that_meet_the_lower_keeps_the_role():
    assert elect("C03", True, [("C01", True, True)], "C03") == "C01"
    assert elect("C01", True, [("C03", True, True)], "C01") == "C01"


def test_a_counter_that_just_started_takes_no_role_it_has_not_heard_of():
    assert elect("C01", True, [], None, settled=False) is None
    assert elect("C01", True, [("C02", True, True)], None, settled=False) == "C02"


@given(NODES, st.booleans(), st.dictionaries(NODES, st.tuples(st.booleans(), st.booleans())),
       st.none() | NODES, st.booleans())
def test_the_forwarder_is_a_candidate_and_the_lowest_that_forwards(me, ok, peers, current,
                                                                  settled):
    peers.pop(me, None)
    candidates = {n for n, (good, _) in peers.items() if good} | ({me} if ok else set())
    forwarding = ({n for n, (good, fw) in peers.items() if good and fw}
                  | ({me} if ok and current == me else set()))
    chosen = elect(me, ok, [(n, good, fw) for n, (good, fw) in peers.items()], current,
                   settled=settled)
    assert chosen is None or chosen in candidates
    if forwarding:
        assert chosen == min(forwarding)
    elif settled:
        assert chosen == min(candidates, default=None)
    else:
        assert chosen is None


def test_counters_agree_through_their_vectors_and_hand_over_when_erpnext_fails():
    net = Net("C01", "C02", "C03")
    for a, b in (("C01", "C02"), ("C01", "C03"), ("C02", "C03")):
        net.link(a, b)
    net.run()
    net.tick(ELECTION_SETTLE_MS)
    net.run()
    net.nodes["C02"].set_erpnext(True)
    net.nodes["C03"].set_erpnext(True)
    net.tick(HEARTBEAT_MS)
    net.run()
    assert {n.forwarder() for n in net.nodes.values()} == {"C02"}
    net.nodes["C01"].set_erpnext(True)  # a lower id that comes later does not take over
    net.tick(HEARTBEAT_MS)
    net.run()
    assert {n.forwarder() for n in net.nodes.values()} == {"C02"}
    net.nodes["C02"].set_erpnext(False)
    net.tick(HEARTBEAT_MS)
    net.run()
    assert {n.forwarder() for n in net.nodes.values()} == {"C01"}


def _two_reaching_erpnext() -> Net:
    """C01 and C02, linked, both reaching ERPNext, the election settled on C01."""
    net = Net("C01", "C02")
    net.link("C01", "C02")
    net.run()
    net.tick(ELECTION_SETTLE_MS)
    net.run()
    for n in net.nodes.values():
        n.set_erpnext(True)
    net.tick(HEARTBEAT_MS)
    net.run()
    assert net.nodes["C02"].forwarder() == "C01"
    return net


def test_a_silent_forwarder_is_replaced():
    net = _two_reaching_erpnext()
    now = net.now + PEER_TIMEOUT_MS + 1  # C01 goes quiet (killed, cut off)
    net.nodes["C02"].tick(now)
    assert net.nodes["C02"].forwarder() == "C02"


def test_a_forwarder_revoked_and_still_linked_while_it_parts_is_not_followed():
    """A revoked counter stays linked a moment to hear its revocation (``parting``): it
    may still say it forwards, but the others elect among themselves."""
    net = _two_reaching_erpnext()
    net.nodes["C02"].parting = frozenset({"C01"})
    assert net.nodes["C02"].forwarder() == "C02"


class Store(Net):
    """Counters that all reach ERPNext, polled every second as the daemon polls them,
    with links that can be cut and counters that can be restarted."""

    def __init__(self, *ids: str) -> None:
        super().__init__(*ids)
        self.cut: set[frozenset[str]] = set()
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                self.link(a, b)
        for node in self.nodes.values():
            node.set_erpnext(True)

    def deliver(self, i: int = 0) -> None:
        src, dst, _ = self.queue[i]
        if frozenset((src, dst)) in self.cut:
            self.queue.pop(i)  # lost on the cut link
        else:
            super().deliver(i)

    def second(self) -> set[str]:
        """One second of the store: ticks, messages, every counter asked who forwards.
        Returns the counters that believe they forward."""
        for _ in range(4):
            self.tick(HEARTBEAT_MS // 4)
            self.run()
        return {n for n, node in self.nodes.items() if node.forwarder() == n}

    def partition(self, *side: str) -> None:
        self.cut = {frozenset((a, b)) for a in side for b in self.nodes if b not in side}

    def heal(self) -> None:
        self.cut = set()
        for i, a in enumerate(sorted(self.nodes)):
            for b in sorted(self.nodes)[i + 1:]:
                self.link(a, b)

    def restart(self, node_id: str) -> None:
        self.queue = [q for q in self.queue if node_id not in q[:2]]
        self.nodes[node_id] = Replicator(self.stores[node_id], node_id, "shop")
        self.nodes[node_id].set_erpnext(True)
        for other in self.nodes:
            if other != node_id:
                self.link(node_id, other)


def seconds_until_one(store: Store, limit: int = 30) -> tuple[int, str]:
    """Seconds until exactly one counter forwards and every counter names it."""
    for elapsed in range(1, limit + 1):
        forwarders = store.second()
        named = {node.forwarder() for node in store.nodes.values()}
        if len(forwarders) == 1 and named == forwarders:
            return elapsed, forwarders.pop()
    raise AssertionError(f"still {forwarders} forwarding after {limit} s (named: {named})")


def test_after_a_partition_heals_one_forwarder_remains_within_seconds():
    store = Store("C01", "C02", "C03", "C04")
    assert seconds_until_one(store)[1] == "C01"
    store.partition("C01", "C02")
    for _ in range(10):  # each side elects its own forwarder while cut off
        forwarders = store.second()
    assert forwarders == {"C01", "C03"}
    store.heal()
    elapsed, winner = seconds_until_one(store)
    assert (elapsed, winner) == (1, "C01") or elapsed <= 3
    for _ in range(20):  # and it stays one
        assert store.second() == {winner}


def test_a_restarted_lowest_counter_does_not_take_the_role_back():
    store = Store("C01", "C02", "C03")
    assert seconds_until_one(store)[1] == "C01"
    store.partition("C01")  # C01 goes away; C02 takes over
    for _ in range(8):
        store.second()
    assert store.nodes["C02"].forwarder() == "C02"
    store.heal()
    store.restart("C01")
    history = [store.second() for _ in range(20)]
    assert all(seen == {"C02"} for seen in history), history


def test_a_restarted_forwarder_alone_in_its_store_forwards_once_settled():
    store = Store("C01")
    store.restart("C01")
    history = [store.second() for _ in range(5)]
    assert history[0] == set()  # not before it has heard the store
    assert history[-1] == {"C01"}
    assert ELECTION_SETTLE_MS <= PEER_TIMEOUT_MS  # settles before a silent peer is dropped
