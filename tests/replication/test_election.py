"""The forwarder's election: lowest id among counters that reach ERPNext, sticky."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.replication.test_sync import Net
from tillmesh.replication.const import HEARTBEAT_MS, PEER_TIMEOUT_MS
from tillmesh.replication.election import elect

NODES = st.sampled_from(["C01", "C02", "C03", "C04"])


def test_the_lowest_id_that_reaches_erpnext_wins():
    assert elect("C02", True, [("C01", False), ("C03", True)], None) == "C02"
    assert elect("C02", False, [("C01", True), ("C03", True)], None) == "C01"
    assert elect("C02", False, [("C01", False)], None) is None


def test_a_working_forwarder_keeps_the_role_and_a_failed_one_hands_over():
    assert elect("C01", True, [("C03", True)], "C03") == "C03"  # C01 came back: no take-over
    assert elect("C01", True, [("C03", False)], "C03") == "C01"  # C03 lost ERPNext


@given(NODES, st.booleans(), st.dictionaries(NODES, st.booleans()), st.none() | NODES)
def test_the_forwarder_is_always_a_candidate_and_sticks_while_it_is_one(me, ok, peers, current):
    peers.pop(me, None)
    candidates = {n for n, good in peers.items() if good} | ({me} if ok else set())
    chosen = elect(me, ok, peers.items(), current)
    assert chosen == (current if current in candidates else min(candidates, default=None))


def test_counters_agree_through_their_vectors_and_hand_over_when_erpnext_fails():
    net = Net("C01", "C02", "C03")
    for a, b in (("C01", "C02"), ("C01", "C03"), ("C02", "C03")):
        net.link(a, b)
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


def test_a_silent_forwarder_is_replaced():
    net = Net("C01", "C02")
    net.link("C01", "C02")
    net.run()
    for n in net.nodes.values():
        n.set_erpnext(True)
    net.tick(HEARTBEAT_MS)
    net.run()
    assert net.nodes["C02"].forwarder() == "C01"
    now = net.now + PEER_TIMEOUT_MS + 1  # C01 goes quiet (killed, cut off)
    net.nodes["C02"].tick(now)
    assert net.nodes["C02"].forwarder() == "C02"
