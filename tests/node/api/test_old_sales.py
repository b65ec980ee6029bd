"""Issue 14, point 1 on a counter that joined later: it holds neither an older sale nor
its event, so it asks the counter that made it (a SaleAsk, carried in process by
``nodekit.DirectLink`` as replication carries it between daemons), checks what comes back
and uses it for that call only. C01 sells in 2024 and in 2026, ERPNext holds and
consolidates both shifts, C01 archives 2024 and checkpoints both; C09 joins from C01's
checkpoint (``join_from_checkpoint``), so the 2024 sale comes from C01's archive and the
2026 one, yesterday's, from its live store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.node.erpnext.test_forwarder import MILK, SOAP, drain, forwarder
from tests.node.store.test_archive import NOW, _demo_node, _key, _signer
from tests.nodekit import CLUSTER, DirectLink, FakeClock, Till, approver, link, sync
from tests.proc import free_port
from tests.waits import until
from tillmesh.lab.demo_data import POS_PROFILE
from tillmesh.lab.erpnext_simulator import Simulator
from tillmesh.node.api import Node
from tillmesh.node.api._agreement import lend
from tillmesh.node.api.dispatch import new_node
from tillmesh.node.erpnext import ErpNextClient, setup
from tillmesh.node.erpnext._forwarder import consolidated_shifts
from tillmesh.node.erpnext._pull import Direct, pull
from tillmesh.node.errors import NotFoundError, ReturnError
from tillmesh.node.membership.keys import create_keypair_file
from tillmesh.node.membership.replicate import Replication
from tillmesh.node.membership.trust import adopt_snapshot, announce_key
from tillmesh.node.ops import archiving as archive_ops
from tillmesh.node.ops.config import Config, PrinterConfig
from tillmesh.node.printing import spool_key
from tillmesh.node.projections import ledger
from tillmesh.node.store import create_key_file, open_engine, snapshot
from tillmesh.node.store.event_codec import pack_body, unpack_body
from tillmesh.node.store.event_log import EventLog
from tillmesh.replication.event import Event
from tillmesh.replication.protocol import ReturnAsk, SaleAnswer, SaleAsk
from tillmesh.replication.signing import Signer

LINK_S = 20.0  # for two counters on 127.0.0.1 to link, and a revocation to be heard


@dataclass
class Store:
    c01: Node
    c09: Node
    sale: str  # C01's, 2024, archived: 3 x SOAP (row -1, one given back on C01), 1 x MILK
    newer: str  # C01's, 2026, alike: live on C01, behind the checkpoint C09 joined from

    @property
    def soap(self) -> str:
        return f"{self.sale}-1"

    def events(self, node: Node) -> list[tuple[str, int]]:
        return [(e.origin, e.seq) for e in node.log.events()]


def _sell(node: Node, *lines: tuple[str, str]) -> str:
    ann = Till(node, "ann")
    cart = ann("cart_new")["cart_id"]
    for code, qty in lines or ((SOAP, "1"),):
        ann("cart_add", cart_id=cart, item_code=code, qty=qty)
    due = ann("cart_get", cart_id=cart)["due"]
    return str(ann("sale_submit", cart_id=cart,
                   payments=[{"mode_of_payment": "Cash", "amount": due}])["invoice"])


def _day(node: Node) -> str:
    """A shift: the sale, a return of one of its three SOAP, closed."""
    assert isinstance(node.clock, FakeClock)
    ann = Till(node, "ann")
    shift = ann("shift_open", opening={"Cash": "100.00"})["shift"]
    sale = _sell(node, (SOAP, "3"), (MILK, "1"))
    node.clock.advance(minutes=1)
    ann("return_create", invoice=sale, approver=approver("sup"),
        lines=[{"row": f"{sale}-1", "qty": "1"}])
    node.clock.advance(minutes=1)
    ann("shift_close", shift_id=shift, counted={"Cash": "100.00", "Card": "0"})
    return sale


def _join(c01: Node, folder: Path) -> Node:
    """C09 from C01's snapshot (the checkpoint and the events after it), enrolled by C01
    with its signing key as an invitation does."""
    _, ticket = snapshot.new_ticket("C09", folder / "snapshots")
    snapshot.export(c01.config.db_path, _key(c01), ticket, from_checkpoint=True)
    (folder / "c9").mkdir()
    config = Config(data_dir=folder / "c9", node_id="C09", pos_profile=POS_PROFILE,
                    cluster=CLUSTER, printer=PrinterConfig(kind="dummy"))
    key = create_key_file(config.key_path)
    keypair = create_keypair_file(config.node_key_path)
    clock = FakeClock()
    log = EventLog(open_engine(config.db_path, key), "C09", clock=clock,
                   signer=keypair.signer)
    adopt_snapshot(log, snapshot.install(config.db_path, key, ticket.path, ticket.key))
    with c01.log.transaction() as tx:
        tx.append("node.enrolled", {"node": "C09", "public_key": keypair.public.decode(),
                                    "cluster": CLUSTER, "signing_key": keypair.signer.public,
                                    "by": "admin"})
    sync(c01.log, log)
    node = new_node(config, log, clock=clock, keypair=keypair)
    node.print_service.open_spool(spool_key(key))
    return node


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    with Simulator(seed="demo", job_delay=None) as sim:
        with ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
            setup(client, POS_PROFILE, lambda check: None)
        c01 = _demo_node(tmp_path / "c1", datetime(2024, 3, 4, 9, 0, tzinfo=UTC))
        c01.log.signer = _signer(c01)  # its events are signed from here on
        assert announce_key(c01.log, c01.log.signer.public)
        sale = _day(c01)
        fwd = forwarder(c01, sim)
        drain(fwd, sim)
        c01.clock.now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
        newer = _day(c01)
        drain(fwd, sim)
        with ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
            pull(client, Direct(c01.log), POS_PROFILE,
                 consolidated=lambda: consolidated_shifts(client, POS_PROFILE))
        fwd.close()
    assert archive_ops.run(c01.config, NOW, _signer(c01)).sales > 0
    with c01.read() as s:
        seqs = [ledger.recorded_sale(s, invoice)[0].seq for invoice in (sale, newer)]
    assert seqs[0] <= c01.log.floors()["C01"][0] < seqs[1]  # one archived, one live
    c09 = _join(c01, tmp_path)
    link(c01, c09)
    Till(c09, "ann")("shift_open", opening={"Cash": "100.00"})
    # What the issue is about: C09 holds nothing of either.
    for invoice in (sale, newer):
        with c09.read() as s, pytest.raises(NotFoundError, match="No invoice"):
            ledger.recorded_sale(s, invoice)
    try:
        yield Store(c01, c09, sale, newer)
    finally:
        c09.print_service.close()


@pytest.mark.parametrize("archived", [True, False], ids=["archived", "yesterday"])
def test_a_counter_that_joined_later_shows_reprints_and_returns_an_older_sale(store,
                                                                              archived):
    c01, c09 = store.c01, store.c09
    if not archived:
        store = replace(store, sale=store.newer)
    ann = Till(c09, "ann")

    got = ann("invoice_get", invoice=store.sale)
    assert (got["invoice"], got["origin"], got["is_return"], got["late"]) == (
        store.sale, "C01", False, False)
    # What was returned of it comes from C09's own tables (C01's 2024 return is there).
    assert [(i["item_code"], i["qty"], i["returned_qty"]) for i in got["items"]] == [
        (SOAP, "3.000", "1.000"), (MILK, "1.000", "0.000")]
    assert got == Till(c01, "ann")("invoice_get", invoice=store.sale)  # as its maker says

    printed = ann("receipt_print", invoice=store.sale)
    assert (printed["title"], printed["copy"]) == (f"COPY {store.sale}", True)

    back = ann("return_create", invoice=store.sale, approver=approver("sup"),
               lines=[{"row": store.soap, "qty": "1"}])
    assert back["invoice"].startswith("C09-") and back["unconfirmed"] is None
    (promise,) = [e for e in c01.log.events() if e.kind == "return.reserved"]  # agreed
    assert unpack_body(promise.body)["rows"] == {store.soap: "1"}
    row = ann("invoice_get", invoice=back["invoice"])["items"][0]
    assert (row["pos_invoice_item"], row["sold_qty"]) == (store.soap, "3.000")
    # Over-returns are judged as ever: by C09 from its tables, by C01 with its promise.
    with pytest.raises(ReturnError, match=r"Cannot return 2 of row .*-1: sold 3\.000,"
                       r" already returned 2\.000"):
        ann("return_create", invoice=store.sale, approver=approver("sup"),
            lines=[{"row": store.soap, "qty": "2"}])
    at_c01 = Till(c01, "ann")
    at_c01("shift_open", opening={"Cash": "100.00"})
    with pytest.raises(ReturnError, match="1.000 promised to a return in progress"):
        at_c01("return_create", invoice=store.sale, approver=approver("sup"),
               lines=[{"row": store.soap, "qty": "2"}])
    sync(c09.log, c01.log)
    soap = at_c01("invoice_get", invoice=store.sale)["items"][0]
    assert soap["returned_qty"] == "2.000"
    for node in (c01, c09):
        assert Till(node, "sup")("returns_flagged")["over_returns"] == []

    # Nothing of the sale was recorded on C09: it is fetched again each time.
    seq = int(got["event"].split(":")[1])
    assert c09.log.range("C01", seq, seq) == [] and c09.log.vector()["C01"] > seq
    with c09.read() as s, pytest.raises(NotFoundError):
        ledger.recorded_sale(s, store.sale)


def _link(store: Store, fetch: Callable[[DirectLink, str, SaleAsk], SaleAnswer | None],
          up: Callable[[str], bool] = lambda owner: True) -> None:
    """C09's link to C01, whose answers to a SaleAsk ``fetch`` makes."""

    class Link(DirectLink):
        async def fetch(self, owner: str, ask: SaleAsk) -> SaleAnswer | None:
            return fetch(self, owner, ask)

    store.c09.owners = Link(store.c09, {"C01": store.c01}, up)


def _refused_everywhere(store: Store, match: str, invoice: str | None = None) -> None:
    """Every way to use the sale on C09 says ``match``, and nothing is recorded."""
    ann, invoice = Till(store.c09, "ann"), invoice or store.sale
    c01, c09 = store.events(store.c01), store.events(store.c09)
    line = [{"row": f"{invoice}-1", "qty": "1"}]
    for method, params in (("invoice_get", {}), ("receipt_print", {}),
                           ("return_create", {"approver": approver("sup"), "lines": line}),
                           ("return_create", {"approver": approver("sup"), "lines": line,
                                              "unconfirmed": True})):
        with pytest.raises(NotFoundError, match=match) as refused:
            ann(method, invoice=invoice, **params)
        assert refused.value.details["counter"] == "C01"
    assert (store.events(store.c01), store.events(store.c09)) == (c01, c09)


def test_a_maker_that_cannot_be_asked_is_named_with_the_reason(store):
    held = f"{store.sale} is not held on this counter; C01, which made it, holds it but"
    _link(store, lambda link, owner, ask: pytest.fail("asked"), up=lambda owner: False)
    _refused_everywhere(store, f"{held} cannot be asked now: C01 is not connected")
    _link(store, lambda link, owner, ask: None)  # silent
    _refused_everywhere(store, f"{held} cannot be asked now: it did not answer within 2 s")


def test_the_maker_sends_only_its_own_sales_and_says_why_not(store):
    missing = store.sale[:-1] + "9"
    assert lend(store.c01, "C09", SaleAsk("C09", "a1", missing)) == SaleAnswer(
        "C01", "a1", None, f"No invoice {missing!r} on this counter")
    _refused_everywhere(store, f"{missing} is not held on this counter, and C01 does not send"
                        f" it: No invoice {missing!r} on this counter", missing)
    theirs = _sell(store.c09)
    sync(store.c09.log, store.c01.log)
    assert lend(store.c01, "C09", SaleAsk("C09", "a2", theirs)) == SaleAnswer(
        "C01", "a2", None, f"{theirs} is not a sale of C01")


def test_a_revoked_maker_is_not_asked(store):
    with store.c09.log.transaction() as tx:
        tx.append("node.revoked", {"node": "C01", "by": "admin",
                                   "last_seq": store.c09.log.vector()["C01"]})
    _link(store, lambda link, owner, ask: pytest.fail("asked"))
    _refused_everywhere(store, f"{store.sale} is not held on this counter; C01, which made"
                        " it, holds it but cannot be asked now: C01 was revoked")


def test_an_answer_that_is_not_the_makers_sale_is_refused_and_nothing_used(store):
    c01 = store.c01

    def genuine(invoice: str) -> Event:
        answer = lend(c01, "C09", SaleAsk("C09", "x", invoice))
        assert answer.event is not None
        return answer.event

    old = genuine(store.sale)
    opened = [e for e in c01.log.events() if e.kind == "shift.opened"][-1]  # signed, live
    mine = next(e for e in store.c09.log.events() if e.origin == "C09")
    body = unpack_body(old.body)
    forgeries: list[tuple[Event, str]] = [
        (Signer.generate().sign(old), f"{old.id} is not signed by C01's enrolled key"),
        (replace(old, body=pack_body({**body, "customer": "Mallory"})),
         f"{old.id} does not hash to its fields"),
        (genuine(store.newer), f"is invoice '{store.newer}', not {store.sale}"),
        (opened, f"{opened.id} is a shift.opened, not a sale or return"),
        (mine, f"it sent {mine.id}, an event of {mine.origin}"),
    ]
    for forged, why in forgeries:
        _link(store, lambda link, owner, ask, forged=forged: SaleAnswer("C01", ask.ask_id,
                                                                         forged))
        _refused_everywhere(store, f"{store.sale} is not held on this counter, and what C01"
                            f" sent for it is refused: .*{why}")


@contextlib.asynccontextmanager
async def _replicating(store: Store) -> AsyncIterator[tuple[Replication, Replication]]:
    """C01's and C09's replication engines on ZeroMQ over 127.0.0.1, wired as the daemon
    wires them, once C09 can ask C01."""
    c01, c09 = store.c01, store.c09
    ports = {"C01": free_port(), "C09": free_port()}
    for node, other in ((c01, "C09"), (c09, "C01")):
        node.config = replace(node.config, listen=f"tcp://127.0.0.1:{ports[node.node_id]}",
                              mdns=False, peers=[f"{other}@127.0.0.1:{ports[other]}"])
    running = (Replication(c01), Replication(c09))
    for replication in running:
        await replication.start()
    try:
        await until(lambda: running[1].engine.cannot_ask("C01", SaleAsk) is None, LINK_S,
                    lambda: running[1].engine.cannot_ask("C01", SaleAsk))
        yield running
    finally:
        for replication in running:
            await replication.close()


def test_between_running_counters_the_ask_and_its_answer_travel_over_replication(store):
    """The same fetch between two running replication engines: C09's SaleAsk reaches
    C01, which answers from its archive."""
    token = Till(store.c09, "ann").token
    expected = Till(store.c01, "ann")("invoice_get", invoice=store.sale)

    async def over_replication() -> object:
        async with _replicating(store):
            return await store.c09.call("invoice_get", {"invoice": store.sale}, token)

    assert asyncio.run(over_replication()) == expected


def test_a_counter_revoked_while_linked_is_answered_nothing_while_it_parts(store):
    """C01 revokes C09, which is linked and has not heard it yet: C01 keeps the link until
    C09 holds its revocation, and meanwhile answers none of its asks (a sale it would
    lend, a return it would agree to)."""
    lent = SaleAsk("C09", "p1", store.newer)
    agreed = ReturnAsk("C09", "p2", store.newer, {f"{store.newer}-1": Decimal(1)}, 0)

    async def revoked() -> tuple[object, ...]:
        async with _replicating(store) as (c01, c09):
            before = (c01.lend("C09", lent), c01.decide("C09", agreed))
            c09.pause(True)  # it hears nothing more: not its revocation either
            with store.c01.log.transaction() as tx:
                tx.append("node.revoked", {"node": "C09", "by": "admin",
                                           "last_seq": store.c09.log.vector()["C09"]})
            await until(lambda: "C09" in c01.engine.parting, LINK_S, lambda: c01.engine.parting)
            return (*before, c01.lend("C09", lent), c01.decide("C09", agreed))

    lent_before, agreed_before, lent_after, agreed_after = asyncio.run(revoked())
    assert lent_before.event is not None and agreed_before.ask_id == "p2"  # answered
    assert (lent_after, agreed_after) == (None, None)
