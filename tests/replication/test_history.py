"""History backfill: a counter that joined from a checkpoint holds each origin's events
from the checkpoint on only; it fetches the earlier ones backwards from its peers and
keeps only what chains to the events it holds (``stores.anchored``)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.replication.test_sync import Net
from tillmesh.replication.const import HISTORY_RETRY_MS, MAX_EVENT_BODY_BYTES
from tillmesh.replication.event import Event, chain_hash
from tillmesh.replication.protocol import Pull
from tillmesh.replication.stores import MemoryStore, anchored


def chain(n: int, origin: str = "A") -> list[Event]:
    store = MemoryStore()
    return [store.append(origin, body=str(i).encode()) for i in range(n)]


def joined(net: Net, node: str, origin: str, source: str, start: int) -> None:
    """``node`` holds ``source``'s copy of ``origin``'s chain from ``start`` on."""
    net.stores[node].logs[origin] = list(net.stores[source].logs[origin])
    net.stores[node].forget_before(origin, start)


def history_pulls(net: Net, node: str) -> list[tuple[str, int, int]]:
    held = net.stores[node].vector()
    return [(dst, m.first, m.last) for src, dst, m in net.of(Pull)
            if src == node and m.last < held.get(m.origin, 0)]


def run_until_whole(net: Net, node: str, ticks: int = 200) -> None:
    for _ in range(ticks):
        net.run()
        if not net.stores[node].history_gaps():
            return
        net.tick()
    raise AssertionError(f"{node}'s history is not whole: {net.stores[node].history_gaps()}")


# --- the rule: what chains below the held events --------------------------------------------


@given(n=st.integers(2, 60), data=st.data())
def test_an_honest_history_is_taken_whole_in_any_batches(n: int, data: st.DataObject) -> None:
    events = chain(n)
    low = data.draw(st.integers(2, n))
    store = MemoryStore()
    store.logs["A"] = list(events)
    store.forget_before("A", low)
    while store.history_gaps():
        gap = store.history_gaps()["A"]
        size = data.draw(st.integers(1, gap - 1))
        batch = events[gap - 1 - size:gap - 1]
        assert store.backfill(data.draw(st.permutations(batch))) == size
    assert store.logs["A"] == events


@given(n=st.integers(3, 40), data=st.data())
def test_no_forged_event_gets_below_the_held_chain(n: int, data: st.DataObject) -> None:
    """Whatever a peer changes, drops or adds, what is taken is the true events right
    below the held ones, and only those."""
    events = chain(n)
    low = data.draw(st.integers(2, n))
    answer = list(events[:low - 1])
    i = data.draw(st.integers(0, len(answer) - 1))
    how = data.draw(st.sampled_from(["body", "hash", "drop", "other origin", "extra"]))
    if how == "body":
        answer[i] = replace(answer[i], body=answer[i].body + b"!")
    elif how == "hash":
        answer[i] = replace(answer[i], hash=bytes(32))
    elif how == "drop":
        del answer[i]
    elif how == "other origin":
        answer[i] = chain(i + 1, "B")[-1]
    else:  # another event 1 of the same origin, beside the true one
        answer.append(MemoryStore().append("A", body=b"another"))
    taken = anchored(data.draw(st.permutations(answer)), "A", low, events[low - 1].prev_hash)
    assert taken == events[low - 1 - len(taken):low - 1]
    assert len(taken) == (low - 1 if how == "extra" else low - 1 - (i + 1))


def test_the_first_event_must_start_the_chain() -> None:
    """An event 1 that hashes right but names a predecessor is not the origin's first."""
    before = bytes(range(32))
    first = Event("A", 1, 1, 1, "test.event", b"", before,
                  chain_hash(before, "A", 1, 1, 1, "test.event", b""))
    assert anchored([first], "A", 2, first.hash) == []
    events = chain(3)
    assert anchored(events[:2], "A", 3, events[2].prev_hash) == events[:2]


# --- the engine: backwards, from whoever has it ---------------------------------------------


def test_a_counter_joined_from_a_checkpoint_fetches_its_history_backwards() -> None:
    net = Net("A", "B", batch=100)
    for _ in range(250):
        net.stores["A"].append("A")
    joined(net, "B", "A", "A", 200)
    net.link("A", "B")
    run_until_whole(net, "B")
    assert net.stores["B"].logs["A"] == net.stores["A"].logs["A"]
    assert history_pulls(net, "B") == [("A", 100, 199), ("A", 1, 99)]
    # whole: nothing more is asked
    sent = len(net.sent)
    net.tick()
    net.run()
    assert not [m for _, _, m in net.sent[sent:] if isinstance(m, Pull)]


def test_history_waits_for_the_events_the_counter_lacks_ahead() -> None:
    """Catching up forward comes first: a history Pull only when no other is out."""
    net = Net("A", "B", batch=50)
    for _ in range(200):
        net.stores["A"].append("A")
    joined(net, "B", "A", "A", 100)
    net.stores["B"].logs["A"] = net.stores["B"].logs["A"][:50]  # holds 100..149
    net.link("A", "B")
    run_until_whole(net, "B")
    pulls = [(m.first, m.last) for src, _, m in net.of(Pull) if src == "B"]
    assert pulls.index((150, 199)) < pulls.index((50, 99))
    assert net.stores["B"].logs["A"] == net.stores["A"].logs["A"]


def test_a_peer_without_the_history_or_with_forged_events_is_passed_over() -> None:
    """E joined from a checkpoint too (it holds H's events from 50) and changed one of
    them; N, which joined later, asks E first (by name), and ends with H's true chain."""
    net = Net("E", "H", "N", batch=100)
    for _ in range(300):
        net.stores["H"].append("H")
    joined(net, "E", "H", "H", 50)
    forged = net.stores["E"].logs["H"]
    forged[149 - 50] = replace(forged[149 - 50], body=b"changed")
    joined(net, "N", "H", "H", 250)
    net.link("N", "E")
    net.link("N", "H")
    run_until_whole(net, "N")
    assert net.stores["N"].logs["H"] == net.stores["H"].logs["H"]
    # E's 150..249 are true; its 50..149 do not chain (149 changed): H is asked, and E
    # not again for a while
    assert history_pulls(net, "N") == [("E", 150, 249), ("E", 50, 149), ("H", 50, 149),
                                       ("H", 1, 49)]


def test_a_peer_that_does_not_answer_is_asked_again_after_a_while() -> None:
    """E holds nothing below where N starts either: it does not answer N's Pull; N asks
    it again a minute later (it may have fetched it since), and anyone who has it first."""
    net = Net("E", "H", "N", batch=100)
    for _ in range(150):
        net.stores["H"].append("H")
    joined(net, "E", "H", "H", 140)
    joined(net, "N", "H", "H", 140)
    net.link("N", "E")
    for _ in range(10):
        net.run()
        net.tick()
    assert history_pulls(net, "N") == [("E", 40, 139)]
    net.tick(HISTORY_RETRY_MS)
    net.run()
    assert history_pulls(net, "N") == [("E", 40, 139)] * 2
    net.link("N", "H")
    run_until_whole(net, "N")
    assert history_pulls(net, "N") == [("E", 40, 139)] * 2 + [("H", 40, 139), ("H", 1, 39)]
    assert net.stores["N"].logs["H"] == net.stores["H"].logs["H"]


def test_an_answer_cut_by_the_byte_budget_makes_smaller_pulls() -> None:
    net = Net("A", "B")
    body = b"x" * (MAX_EVENT_BODY_BYTES // 2)
    for _ in range(70):
        net.stores["A"].append("A", body=body)
    joined(net, "B", "A", "A", 60)
    net.link("A", "B")
    run_until_whole(net, "B")
    assert net.stores["B"].logs["A"] == net.stores["A"].logs["A"]
    pulls = history_pulls(net, "B")
    # the first answer holds 31 of them (the byte budget): later Pulls ask for that many
    assert pulls == [("A", 1, 59), ("A", 29, 59), ("A", 1, 28)]


def test_a_peer_holding_only_the_first_few_is_passed_over_not_taken_for_a_cut() -> None:
    """A counter that joined from a checkpoint keeps the store's first events (its
    membership): asked for 1..99 it answers those few. That is not an answer cut by the
    byte budget, so the batch stays whole and another counter is asked."""
    net = Net("E", "H", "N", batch=100)
    for _ in range(150):
        net.stores["H"].append("H")
    joined(net, "E", "H", "H", 100)
    joined(net, "N", "H", "H", 100)
    first_three = net.stores["H"].logs["H"][:3]
    held = net.stores["E"].range

    def kept_only(origin: str, first: int, last: int) -> list[Event]:
        return first_three if first == 1 else held(origin, first, last)

    net.stores["E"].range = kept_only  # type: ignore[method-assign]
    net.link("N", "E")
    net.link("N", "H")
    run_until_whole(net, "N")
    assert history_pulls(net, "N") == [("E", 1, 99), ("H", 1, 99)]
    assert net.stores["N"].logs["H"] == net.stores["H"].logs["H"]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 120), batch=st.integers(1, 40), data=st.data())
def test_history_arrives_whole_and_true_through_lost_duplicated_and_reordered_frames(
        n: int, batch: int, data: st.DataObject) -> None:
    """Two counters that hold all of A's events (one of them joined from a checkpoint,
    holding from the middle) and a third that joined from a checkpoint later; frames are
    lost, duplicated and reordered for a while. Once the network behaves, the last one
    holds A's whole true chain, and at no step anything else."""
    net = Net("A", "M", "N", batch=batch)
    for _ in range(n):
        net.stores["A"].append("A")
    truth = list(net.stores["A"].logs["A"])
    joined(net, "M", "A", "A", data.draw(st.integers(1, n)))
    joined(net, "N", "A", "A", data.draw(st.integers(1, n)))
    net.link("N", "A")
    net.link("N", "M")
    for _ in range(data.draw(st.integers(0, 60))):
        step = data.draw(st.sampled_from(["deliver", "drop", "duplicate", "tick"]))
        if step == "tick":
            net.tick(data.draw(st.sampled_from([100, 1000, 5000])))
        elif net.queue:
            i = data.draw(st.integers(0, len(net.queue) - 1))
            if step == "deliver":
                net.deliver(i)
            elif step == "drop":
                net.queue.pop(i)
            else:
                net.queue.append(net.queue[i])
        held = net.stores["N"]
        assert held.logs["A"] == truth[held.starts.get("A", 1) - 1:]
    run_until_whole(net, "N", ticks=400)
    assert net.stores["N"].logs["A"] == truth


def test_the_store_is_not_read_for_history_while_nobody_could_be_asked() -> None:
    """A joining counter installs its snapshot on the store's one connection while its
    replication ticks with nobody linked: the engine must not read the store then."""
    reads = []

    class Counting(MemoryStore):
        def history_gaps(self) -> dict[str, int]:
            reads.append(1)
            return super().history_gaps()

    net = Net("A", "B")
    net.stores["B"] = Counting()
    net.nodes["B"].store = net.stores["B"]
    for _ in range(20):
        net.stores["A"].append("A")
    joined(net, "B", "A", "A", 10)
    for _ in range(5):
        net.tick()
    assert reads == []
    net.link("A", "B")
    run_until_whole(net, "B")
    assert reads and net.stores["B"].logs["A"] == net.stores["A"].logs["A"]
