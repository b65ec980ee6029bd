"""ReturnAsk / ReturnAnswer and SaleAsk / SaleAnswer between Replicators, sans-IO: every
frame is encoded and decoded, time is a number the test moves. Each ask settles exactly
once: with the owner's answer of its kind, or with None when none can come (lost, timed
out, link or session gone, an owner of an older protocol that would drop the frame
unread)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.replication.test_sync import T0, Net
from tillmesh.replication.const import (
    ASK_TIMEOUT_MS,
    HEARTBEAT_MS,
    PEER_TIMEOUT_MS,
    PROTOCOL_VERSION,
    SALE_PROTOCOL_VERSION,
)
from tillmesh.replication.event import GENESIS, Event
from tillmesh.replication.protocol import (
    Bye,
    Hello,
    ReturnAnswer,
    ReturnAsk,
    SaleAnswer,
    SaleAsk,
)

SOLD = Event.make("A", 42, 7, datetime(2024, 3, 4, tzinfo=UTC), "sale.submitted", b"\x80",
                  GENESIS)  # A's sale, long archived


class Desk:
    """A node's side of asks: grants unless told ``refuse``, and keeps every outcome."""

    def __init__(self, node_id: str, refuse: str = "") -> None:
        self.node_id, self.refuse = node_id, refuse
        self.asked: list[tuple[str, ReturnAsk | SaleAsk]] = []
        self.outcomes: dict[str, ReturnAnswer | SaleAnswer | None] = {}

    def decide(self, peer: str, ask: ReturnAsk) -> ReturnAnswer | None:
        self.asked.append((peer, ask))
        return ReturnAnswer(self.node_id, ask.ask_id, not self.refuse, self.refuse)

    def lend(self, peer: str, ask: SaleAsk) -> SaleAnswer | None:
        self.asked.append((peer, ask))
        return SaleAnswer(self.node_id, ask.ask_id, None if self.refuse else SOLD, self.refuse)

    def settled(self, ask_id: str, answer: ReturnAnswer | SaleAnswer | None) -> None:
        assert ask_id not in self.outcomes, f"{ask_id} settled twice"
        self.outcomes[ask_id] = answer


def ask(ask_id: str = "B-1", node: str = "B") -> ReturnAsk:
    return ReturnAsk(node, ask_id, "A-2026-000001", {"A-2026-000001-1": Decimal("1.000")}, 7)


def sale_ask(ask_id: str = "B-9") -> SaleAsk:
    return SaleAsk("B", ask_id, "A-2024-000042")


def linked(*ids: str, refuse: str = "") -> tuple[Net, dict[str, Desk]]:
    desks = {i: Desk(i, refuse) for i in ids}
    net = Net(*ids, desks=desks)
    for other in ids[1:]:
        net.link(ids[0], other)
    net.run()
    return net, desks


@pytest.mark.parametrize(("sent", "answer"), [
    (ask(), ReturnAnswer("A", "B-1", True)),  # may I refund? yes
    (sale_ask(), SaleAnswer("A", "B-9", SOLD)),  # send me that sale: the owner's event
], ids=["return", "sale"])
def test_the_owner_answers_and_the_asker_hears_the_answer_once(
        sent: ReturnAsk | SaleAsk, answer: ReturnAnswer | SaleAnswer) -> None:
    net, desks = linked("A", "B")
    assert net.nodes["B"].cannot_ask("A", type(sent)) is None
    net.send("B", net.nodes["B"].ask("A", sent, net.now))
    net.run()
    assert desks["A"].asked == [("B", sent)]
    assert desks["B"].outcomes == {sent.ask_id: answer}


def test_a_refusal_carries_the_owners_reason():
    net, desks = linked("A", "B", refuse="returned already by A-2026-000007")
    net.send("B", net.nodes["B"].ask("A", ask(), net.now))
    net.run()
    assert desks["B"].outcomes["B-1"] == ReturnAnswer(
        "A", "B-1", False, "returned already by A-2026-000007")


def test_a_lost_answer_settles_as_none_after_the_timeout_and_a_late_one_is_dropped():
    net, desks = linked("A", "B")
    net.send("B", net.nodes["B"].ask("A", ask(), net.now))
    net.deliver()  # the ask reaches A, which decides and answers ...
    (late,) = net.queue
    net.queue.clear()  # ... and the answer is lost
    net.tick(ASK_TIMEOUT_MS - 1)
    assert desks["B"].outcomes == {}  # still waiting
    net.tick(1)
    assert desks["B"].outcomes == {"B-1": None}
    net.queue.append(late)  # the answer arrives after all: it settles nothing again
    net.run()
    assert desks["B"].outcomes == {"B-1": None}


def test_an_owner_speaking_protocol_2_is_never_asked():
    net, desks = linked("A", "B")
    b = net.nodes["B"]
    b.received("A", Hello(2, "shop", "A", {}, net.now), net.now)  # A restarted, downgraded
    assert b.cannot_ask("A").startswith("A refused the link (peer speaks replication "
                                        "protocol 2")
    assert b.ask("A", ask(), net.now) == []  # the frame would be dropped unread
    assert desks["B"].outcomes == {"B-1": None}
    assert desks["A"].asked == []


@pytest.mark.parametrize("cut", ["disconnected", "bye", "restarted"])
def test_an_ask_settles_at_once_when_the_link_or_the_owners_session_ends(cut: str):
    net, desks = linked("A", "B")
    b = net.nodes["B"]
    net.send("B", b.ask("A", ask(), net.now))
    net.queue.clear()
    if cut == "disconnected":
        b.disconnected("A")
    elif cut == "bye":
        b.received("A", Bye("A", "node stopping"), net.now)
    else:  # a new session on A's side: it cannot answer what its old one was asked
        b.received("A", Hello(PROTOCOL_VERSION, "shop", "A", {}, net.now), net.now)
    assert desks["B"].outcomes == {"B-1": None}


def test_who_cannot_be_asked_and_why():
    net, desks = linked("A", "B")
    b = net.nodes["B"]
    assert b.cannot_ask("C") == "C is not connected"
    net.tick(PEER_TIMEOUT_MS)  # A's heartbeats stay in the queue: B hears nothing
    assert b.cannot_ask("A") == f"A has not been heard for {PEER_TIMEOUT_MS // 1000} s"
    net.run()
    net.tick(HEARTBEAT_MS)
    assert b.cannot_ask("A") is None
    b.received("A", Hello(9, "shop", "A", {}, net.now), net.now)  # refused: too new
    assert b.cannot_ask("A").startswith("A refused the link (peer speaks replication")


def test_only_the_peer_asked_can_answer_and_asks_need_a_ready_peer():
    net, desks = linked("A", "B", "C")
    net.send("B", net.nodes["B"].ask("A", ask(), net.now))
    net.queue.clear()
    net.nodes["B"].received("C", ReturnAnswer("C", "B-1", True), net.now)  # not asked
    assert desks["B"].outcomes == {}
    stranger = Net("A", desks={"A": desks["A"]}).nodes["A"]
    out = stranger.received("B", ask(), T0)
    assert [type(m) for _, m in out] == [Hello]  # greeted first, the ask never decided
    assert desks["A"].asked == []


def test_a_claimed_sender_other_than_the_link_is_dropped():
    net, desks = linked("A", "B")
    assert net.nodes["A"].received("B", ask(node="C"), net.now) == []
    assert desks["A"].asked == []


# --- a sale the asker does not hold -------------------------------------------------------


def test_a_sale_ask_refused_carries_the_reason_and_an_unanswered_one_settles_as_none():
    net, desks = linked("A", "B", refuse="No invoice 'A-2024-000042' on this counter")
    net.send("B", net.nodes["B"].ask("A", sale_ask(), net.now))
    net.run()
    assert desks["B"].outcomes["B-9"] == SaleAnswer(
        "A", "B-9", None, "No invoice 'A-2024-000042' on this counter")
    net.send("B", net.nodes["B"].ask("A", sale_ask("B-10"), net.now))
    net.queue.clear()  # lost
    net.tick(ASK_TIMEOUT_MS)
    assert desks["B"].outcomes["B-10"] is None


def test_an_owner_of_an_older_protocol_is_never_sent_a_sale_ask():
    """A protocol-4 counter would drop the frame unread: it is not sent, the ask settles
    at once, and the reason says so. It is still asked about returns."""
    net, desks = linked("A", "B")
    b = net.nodes["B"]
    older = SALE_PROTOCOL_VERSION - 1
    b.received("A", Hello(older, "shop", "A", {}, net.now), net.now)  # A runs 0.1
    assert b.cannot_ask("A", SaleAsk) == (f"A runs an older release (replication protocol"
                                          f" {older}), which cannot send old sales")
    net.sent.clear()
    assert b.ask("A", sale_ask(), net.now) == []
    assert desks["B"].outcomes == {"B-9": None}
    assert b.cannot_ask("A") is None  # a ReturnAsk it does answer
    net.send("B", b.ask("A", ask(), net.now))
    assert [type(m) for _, _, m in net.sent] == [ReturnAsk]


def test_an_answer_of_the_other_kind_settles_nothing():
    net, desks = linked("A", "B")
    b = net.nodes["B"]
    net.send("B", b.ask("A", sale_ask("B-1"), net.now))
    net.queue.clear()
    b.received("A", ReturnAnswer("A", "B-1", True), net.now)  # B asked for a sale
    assert desks["B"].outcomes == {}
    b.received("A", SaleAnswer("A", "B-1", SOLD), net.now)
    assert desks["B"].outcomes == {"B-1": SaleAnswer("A", "B-1", SOLD)}


def test_an_event_the_wire_cannot_carry_is_answered_with_a_reason_instead():
    net, desks = linked("A", "B")
    desks["A"].lend = lambda peer, ask: SaleAnswer(  # type: ignore[method-assign]
        "A", ask.ask_id, Event.make("A", 42, 7, datetime(2024, 3, 4, tzinfo=UTC), "k" * 65,
                                    b"\x80", GENESIS))
    net.send("B", net.nodes["B"].ask("A", sale_ask(), net.now))
    net.run()
    assert desks["B"].outcomes == {"B-9": SaleAnswer("A", "B-9", None,
                                                     "A-2024-000042 cannot be sent")}
