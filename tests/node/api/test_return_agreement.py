"""A sale is refunded at most once across the store (in process): three counters, C01's
sale returned on C02 and C03, which ask C01 directly (``nodekit.link``) as replication
carries the ask between daemons."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from tests.nodekit import DirectLink, FakeClock, Till, approver, link, make_node, sync
from tillmesh.node.api import Node
from tillmesh.node.api._agreement import decide
from tillmesh.node.api.const import PROMISE_MINUTES
from tillmesh.node.errors import PermissionDenied, ReturnError, ReturnUnconfirmed
from tillmesh.node.projections import refunds
from tillmesh.node.store.raw import raw
from tillmesh.replication.protocol import ReturnAsk

D = Decimal


@dataclass
class Store:
    c1: Node
    c2: Node
    c3: Node
    sale: str  # C01's: 2 x WINE (row -1), 1 x BOOK (row -2)
    tills: dict[tuple[str, str], Till] = field(default_factory=dict)

    @property
    def wine(self) -> str:
        return f"{self.sale}-1"

    def till(self, node: Node, user: str = "ann") -> Till:
        """Logged in once (a login is an event of the counter)."""
        key = (node.node_id, user)
        if key not in self.tills:
            self.tills[key] = Till(node, user)
        return self.tills[key]

    def give_back(self, node: Node, qty: str = "1", **params: object) -> dict[str, object]:
        params.setdefault("approver", approver("sup"))
        return self.till(node)("return_create", invoice=self.sale,
                               lines=[{"row": self.wine, "qty": qty}], **params)

    def cut_off(self, *nodes: Node) -> None:
        """Their link to C01 is down: C01 cannot be asked."""
        for node in nodes:
            assert isinstance(node.owners, DirectLink)
            node.owners.up = lambda owner: owner != "C01"

    def promised(self, row: str) -> Decimal:
        with self.c1.read() as s:
            return refunds.reserved(s, row, self.c1.clock())


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    nodes = [make_node(tmp_path / f"c{i}", f"C0{i}", FakeClock()) for i in (1, 2, 3)]
    link(*nodes)
    for node in nodes:
        Till(node, "ann")("shift_open", opening={"Cash": "100"})
    sale = Till(nodes[0], "ann").sell("4000000000044", "4000000000044", "4000000000082")
    for node in nodes[1:]:
        sync(nodes[0].log, node.log)
    yield Store(*nodes, sale=sale["invoice"])


def everywhere(*nodes: Node) -> None:
    for a in nodes:
        for b in nodes:
            if a is not b:
                sync(a.log, b.log)


def test_a_return_on_another_counter_is_promised_by_the_sale_s_counter_first(store):
    ret = store.give_back(store.c2)
    assert ret["unconfirmed"] is None
    (promise,) = [e for e in store.c1.log.events() if e.kind == "return.reserved"]
    assert promise.origin == "C01"
    assert store.promised(store.wine) == 1  # counted until C02's return reaches C01
    sync(store.c2.log, store.c1.log)
    assert store.promised(store.wine) == 0  # the return names its promise: counted once
    got = store.till(store.c1)("invoice_get", invoice=store.sale)
    assert got["items"][0]["returned_qty"] == "1.000"


def test_a_second_counter_is_refused_before_the_first_return_replicates(store):
    store.give_back(store.c2, "2")  # all of the wine; C03 has not heard of it
    with pytest.raises(ReturnError, match=r"C01 refuses this return: Cannot return 1 of row"
                       r" .*-1: sold 2\.000, already returned 0\.000, 2\.000 promised to a return"
                       " in progress on another counter"):
        store.give_back(store.c3, unconfirmed=True)  # a refusal is final: no override
    store.till(store.c3)("return_create", invoice=store.sale, approver=approver("sup"),
                         lines=[{"row": f"{store.sale}-2", "qty": "1"}])  # the book is free


def test_the_sale_s_own_counter_counts_its_promises_too(store):
    store.give_back(store.c2, "2")
    with pytest.raises(ReturnError, match="promised to a return in progress"):
        store.give_back(store.c1)
    rest = store.till(store.c1)("return_create", invoice=store.sale, approver=approver("sup"))
    got = store.till(store.c1)("invoice_get", invoice=rest["invoice"])
    assert [i["pos_invoice_item"] for i in got["items"]] == [f"{store.sale}-2"]  # the book


def test_a_promise_whose_return_never_came_lapses_once_its_counter_is_heard_from(store):
    ask = ReturnAsk("C02", "C02-lost", store.sale, {store.wine: D(2)}, 0)
    assert decide(store.c1, "C02", ask).granted  # C02 stopped before it used the answer
    with pytest.raises(ReturnError, match="promised"):
        store.give_back(store.c3)
    store.c1.clock.advance(minutes=PROMISE_MINUTES)
    # Past its time, but C02 may have refunded it and be cut off since: it still counts.
    with pytest.raises(ReturnError, match="promised"):
        store.give_back(store.c3)
    store.c2.clock.advance(minutes=PROMISE_MINUTES + 1)
    store.till(store.c2, "sup")  # C02 is back: an event of its after that time
    sync(store.c2.log, store.c1.log)
    assert store.give_back(store.c3)["unconfirmed"] is None


def test_a_promise_to_a_revoked_counter_lapses_at_its_time(store):
    assert decide(store.c1, "C02", ReturnAsk("C02", "C02-lost", store.sale,
                                             {store.wine: D(2)}, 0)).granted
    with store.c1.write() as tx:  # as ``counters.REVOKED`` leaves it (C02 enrolled by hand)
        raw(tx.session).run("INSERT INTO members (node, public_key, hlc, revoked) VALUES"
                            " ('C02', 'key', 1, 1)")
    store.c1.clock.advance(minutes=PROMISE_MINUTES)
    assert store.give_back(store.c3)["unconfirmed"] is None


def test_asking_again_after_a_lost_answer_releases_that_counter_s_unused_promise(store):
    store.till(store.c2)  # logged in before: the asks below hold the same C02 events
    head = store.c2.log.vector()["C02"]
    lost = ReturnAsk("C02", "C02-lost", store.sale, {store.wine: D(2)}, head)
    assert decide(store.c1, "C02", lost).granted  # the answer never reached C02
    with pytest.raises(ReturnError, match="promised"):  # C01 lacks C02's latest events:
        store.give_back(store.c2)  # an earlier return of C02 might have used the promise
    sync(store.c2.log, store.c1.log)  # now C01 holds all C02 had recorded when it asked
    store.give_back(store.c2, "2")
    assert store.promised(store.wine) == 2  # the new promise only, until its return arrives
    sync(store.c2.log, store.c1.log)
    assert store.promised(store.wine) == 0


def test_a_repeated_ask_is_answered_alike_and_promises_once(store):
    ask = ReturnAsk("C02", "C02-twice", store.sale, {store.wine: D(1)}, 0)
    assert decide(store.c1, "C02", ask).granted and decide(store.c1, "C02", ask).granted
    assert store.promised(store.wine) == 1


def test_an_owner_is_told_what_it_did_not_sell(store):
    other = store.till(store.c2).sell("4000000000082")["invoice"]
    answer = decide(store.c1, "C03", ReturnAsk("C03", "C03-x", other, {f"{other}-1": D(1)}, 0))
    assert not answer.granted and answer.reason.startswith("No invoice")
    answer = decide(store.c1, "C03", ReturnAsk("C03", "C03-y", store.sale, {"nope": D(1)}, 0))
    assert (answer.granted, answer.reason) == (False, f"{store.sale} has no row 'nope'")


def test_a_cut_off_owner_needs_a_supervisor_who_accepts_the_risk(store):
    store.cut_off(store.c2)
    # Said before the supervisor's PIN is asked for, so one prompt approves both.
    refusal = ("C01 made sale .* and cannot confirm this return: C01 is not connected. C01"
               " may have refunded it already")
    with pytest.raises(ReturnUnconfirmed, match=refusal) as refused:
        store.give_back(store.c2, approver=None)
    assert refused.value.owner == "C01" and refused.value.details["reason"]
    with pytest.raises(PermissionDenied, match="supervisor PIN"):
        store.give_back(store.c2, approver=None, unconfirmed=True)
    ret = store.give_back(store.c2, unconfirmed=True)
    assert ret["unconfirmed"] == "C01 could not confirm: C01 is not connected"
    sup = store.till(store.c2, "sup")
    (risk,) = [a for a in sup("audit_list") if a["kind"] == "audit.return_unconfirmed"]
    assert (risk["approver"], risk["owner"], risk["invoice"]) == ("sup", "C01", ret["invoice"])
    assert sup("invoice_get", invoice=ret["invoice"])["unconfirmed"] == ret["unconfirmed"]
    assert sup("returns_flagged")["unconfirmed"] == [{
        "invoice": ret["invoice"], "return_against": store.sale, "counter": "C02",
        "reason": ret["unconfirmed"]}]
    assert sup("status")["returns_flagged"] == {"over_returns": 0, "unconfirmed": 1}


def test_a_supervisor_at_the_till_accepts_the_risk_themselves(store):
    store.cut_off(store.c2)
    ret = store.till(store.c2, "sup")("return_create", invoice=store.sale, unconfirmed=True,
                                      lines=[{"row": store.wine, "qty": "1"}])
    assert ret["unconfirmed"]


def test_two_unconfirmed_returns_are_an_over_return_flagged_on_every_counter(store):
    store.cut_off(store.c2, store.c3)
    first = store.give_back(store.c2, "2", unconfirmed=True)
    store.c3.clock.advance(seconds=1)
    second = store.give_back(store.c3, "1", unconfirmed=True)
    everywhere(store.c1, store.c2, store.c3)
    for node in (store.c1, store.c2, store.c3):
        sup = store.till(node, "sup")
        (over,) = sup("returns_flagged")["over_returns"]
        assert (over["invoice"], over["row"], over["sold"], over["returned"], over["qty"]) == (
            second["invoice"], store.wine, "2.000", "3.000", "1.000")
        assert over["reason"].startswith(f"over-return: {second['invoice']} gives back 1.000")
        assert sup("status")["returns_flagged"] == {"over_returns": 1, "unconfirmed": 2}
        assert sup("invoice_get", invoice=second["invoice"])["over_returns"] == [over]
        assert sup("invoice_get", invoice=first["invoice"])["over_returns"] == []
        assert sup("invoice_get", invoice=store.sale)["over_returns"] == [over]  # the sale


def test_one_return_of_an_invoice_waits_for_its_owner_at_a_time(store):
    class Slow(DirectLink):
        """An owner that answers only once the test opens the gate."""

        def __init__(self) -> None:
            super().__init__(store.c2, {"C01": store.c1})
            self.gate = asyncio.Event()

        async def ask(self, owner, ask):
            await self.gate.wait()
            return await super().ask(owner, ask)

    async def both() -> list[object]:
        slow = Slow()
        store.c2.owners = slow
        till = store.till(store.c2)
        calls = [store.c2.call("return_create", {
            "invoice": store.sale, "lines": [{"row": store.wine, "qty": "1"}],
            "approver": approver("sup")}, till.token) for _ in range(2)]
        tasks = [asyncio.ensure_future(c) for c in calls]
        await asyncio.sleep(0)
        slow.gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    first, second = asyncio.run(both())
    assert isinstance(first, dict) and first["unconfirmed"] is None
    assert isinstance(second, ReturnError) and "already waiting" in second.message
    assert store.till(store.c2)("return_create", invoice=store.sale, approver=approver("sup"),
                                lines=[{"row": store.wine, "qty": "1"}])  # then it may

