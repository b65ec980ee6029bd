"""The forwarder against the ERPNext simulator: every document once, in ERPNext's order,
through time-outs after commit, kills before the ack, two forwarders, refusals."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest

from tests.nodekit import Till, approver, make_node, sync
from tillmesh.lab.demo_data import POS_PROFILE, WAREHOUSE, demo_master_docs
from tillmesh.lab.erpnext_simulator import Simulator
from tillmesh.node.erpnext import ErpNextClient, ErpNextSettings, setup
from tillmesh.node.erpnext._forwarder import Forwarder
from tillmesh.node.erpnext.const import FORWARD_IN_FLIGHT
from tillmesh.node.errors import PermissionDenied
from tillmesh.node.projections import deliveries
from tillmesh.node.projections.deliveries import Delivery
from tillmesh.node.projections.master_data import upserted_body
from tillmesh.node.projections.outbox import CLOSING, INVOICE, OPENING

MILK, SOAP = "DAI-0001", "HOU-0001"


def demo_node(tmp, node_id: str = "C01", seeded_from=None):
    node = make_node(tmp, node_id, profile=POS_PROFILE)
    if seeded_from is None:
        with node.log.transaction() as tx:
            for doctype, doc in demo_master_docs():
                tx.append("master.upserted", upserted_body(doctype, doc))
    else:
        sync(seeded_from.log, node.log)
    return node


def sell_day(node, sales: int = 3) -> tuple[str, list[str]]:
    """A shift with ``sales`` sales (one returned in part), closed; (shift, invoices)."""
    ann = Till(node, "ann")
    shift = ann("shift_open", opening={"Cash": "100.00"})["shift"]
    invoices = []
    for i in range(sales):
        node.clock.advance(minutes=1)
        cart = ann("cart_new")["cart_id"]
        ann("cart_add", cart_id=cart, item_code=MILK if i % 2 else SOAP, qty="1")
        due = ann("cart_get", cart_id=cart)["due"]
        invoices.append(ann("sale_submit", cart_id=cart, payments=[
            {"mode_of_payment": "Cash", "amount": due}])["invoice"])
    node.clock.advance(minutes=1)
    invoices.append(ann("return_create", invoice=invoices[0], approver=approver("sup"),
                        lines=[{"row": f"{invoices[0]}-1", "qty": "1"}])["invoice"])
    node.clock.advance(minutes=1)
    ann("shift_close", shift_id=shift, counted={"Cash": "100.00", "Card": "0"})
    return shift, invoices


def forwarder(node, sim, **client_options) -> Forwarder:
    settings = ErpNextSettings(sim.url, sim.api_key, sim.api_secret, POS_PROFILE,
                               verify=False)  # the simulator: plain http on 127.0.0.1
    return Forwarder(node, settings, client=lambda: settings.client(**client_options))


def cycles(fwd: Forwarder, n: int) -> None:
    """``n`` forwarder cycles, a queued consolidation looked at again at each."""
    async def go() -> None:
        for _ in range(n):
            await fwd.cycle()
            fwd._recheck.clear()  # no waiting between looks in tests
    asyncio.run(go())


def drain(fwd: Forwarder, sim: Simulator, rounds: int = 20) -> None:
    """Cycles until nothing is due (running ERPNext's queued jobs in between)."""
    async def go() -> None:
        for _ in range(rounds):
            sent = await fwd.cycle()
            sim.run_jobs()
            fwd._recheck.clear()  # no waiting between looks at a queued closing in tests
            if not sent and not fwd._recheck:
                with fwd.node.log.reading() as s:  # not a forwarder's step (Node.read)
                    if not _open_closings(s):
                        return
    asyncio.run(go())


def _open_closings(session) -> list[str]:
    states = deliveries.states(session)
    from tillmesh.node.projections import outbox

    return [p.name for p in outbox.pending(session) if p.doctype == CLOSING
            and (CLOSING, p.name) not in states]


def names(sim: Simulator, doctype: str) -> list[str]:
    return sorted(d["name"] for d in sim.docs(doctype))


def state(node, doctype: str, name: str):
    with node.read() as s:
        return deliveries.get(s, doctype, name)


def test_a_day_reaches_erpnext_once_in_order_and_consolidates(tmp_path, erpnext):
    node = demo_node(tmp_path / "c1")
    shift, invoices = sell_day(node)
    fwd = forwarder(node, erpnext)
    drain(fwd, erpnext)
    assert names(erpnext, OPENING) == [shift]
    assert names(erpnext, INVOICE) == sorted(invoices)
    closing = erpnext.get(CLOSING, shift)
    assert closing["status"] == "Submitted" and erpnext.get(OPENING, shift)["status"] == "Closed"
    assert {erpnext.get(INVOICE, i)["status"] for i in invoices} == {"Consolidated"}
    assert erpnext.get(INVOICE, invoices[-1])["return_against"] == invoices[0]
    for doctype, name in [(OPENING, shift), (CLOSING, shift), *((INVOICE, i) for i in invoices)]:
        assert state(node, doctype, name).delivery is Delivery.ACKED
    posted = len(erpnext.requests)
    drain(fwd, erpnext)
    assert [r for r in erpnext.requests[posted:] if r.method != "GET"] == []  # nothing again


class Overlap(httpx.HTTPTransport):
    """The real transport with a LAN's latency on writes, noting the most requests in
    flight at once and the names of the documents created, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.writes: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            if request.method != "GET":
                time.sleep(0.02)  # the latency, so requests can overlap at all
            response = super().handle_request(request)
            if request.method == "POST" and response.status_code < 300:
                with self.lock:
                    self.writes.append(json.loads(request.content).get("name", ""))
            return response
        finally:
            with self.lock:
                self.now -= 1


def test_the_forwarder_sends_from_threads_of_its_own(tmp_path, erpnext):
    """Not the loop's shared threads, which a sale's fsync and the local API need too:
    here they are all held, and the forwarder delivers the day all the same."""
    node = demo_node(tmp_path / "c1")
    shift, invoices = sell_day(node, sales=3)
    fwd = forwarder(node, erpnext)
    held = threading.Event()

    async def main() -> int:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(1))
        holding = loop.run_in_executor(None, held.wait)
        try:
            return await asyncio.wait_for(fwd.cycle(go_on=lambda: True), 30)
        finally:
            held.set()
            await holding

    asyncio.run(main())
    assert names(erpnext, OPENING) == [shift] and names(erpnext, INVOICE) == sorted(invoices)


@pytest.mark.parametrize("read", ["what is due", "what a document is formed from"])
def test_the_cashier_is_answered_while_the_forwarder_reads_the_store(tmp_path, erpnext,
                                                                     monkeypatch, read):
    """The plan reads every document owed when the first ones wait (a refused opening
    entry, a store delivering per shift: 37-60 ms at 5,000 owed, once a second), and a
    closing is formed from every sale of its shift, so both read on a connection and a
    thread of their own, not on the loop that answers the cashier. Here a read is held
    in its middle: a sale goes through, then the day is delivered as ever."""
    from tillmesh.node.erpnext import _forwarder
    from tillmesh.node.projections import outbox

    node = demo_node(tmp_path / "c1")
    shift, invoices = sell_day(node, sales=2)
    ann = Till(node, "ann")
    second = ann("shift_open", opening={"Cash": "100.00"})["shift"]
    fwd = forwarder(node, erpnext)
    reading, release, done = threading.Event(), threading.Event(), threading.Event()
    module, name = (outbox, "due") if read == "what is due" else (_forwarder, "_source")
    real = getattr(module, name)

    def held(*args, **kwargs):
        reading.set()
        release.wait(5)  # on the loop (the code before) the test fails after this
        done.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, held)

    async def main() -> tuple[str, bool]:
        cycle = asyncio.create_task(fwd.cycle())
        assert await asyncio.to_thread(reading.wait, 30)
        cart = ann("cart_new")["cart_id"]  # on this loop, the read still held
        ann("cart_add", cart_id=cart, item_code=MILK, qty="1")
        sold = ann("sale_submit", cart_id=cart, payments=[
            {"mode_of_payment": "Cash", "amount": ann("cart_get", cart_id=cart)["due"]}])
        answered_first = not done.is_set()
        release.set()
        await cycle
        return str(sold["invoice"]), answered_first

    sold, answered_first = asyncio.run(main())
    assert answered_first
    monkeypatch.setattr(module, name, real)
    drain(fwd, erpnext)
    fwd.close()
    assert names(erpnext, OPENING) == [shift, second]
    assert names(erpnext, INVOICE) == sorted([*invoices, sold])
    assert names(erpnext, CLOSING) == [shift]


def test_each_step_the_forwarder_takes_in_the_store_lets_the_cashier_go_first(tmp_path,
                                                                            erpnext):
    """Reading what is due, reading a document's records, reading the selling context,
    recording what ERPNext said: each first waits for a lull in the cashier's calls (the
    daemon's ``cashier_first``). Without it, at a till selling ten sales a second,
    forwarding each sale as it was made took the sale's payment from p99 5 ms to 12 ms.
    The first two are read off the loop (the test above), and start in a lull all the
    same: a short read is then over before the next call comes."""
    node = demo_node(tmp_path / "c1")
    shift, invoices = sell_day(node, sales=3)
    # "w": waited for the cashier; "r", "x": read, wrote the store; "o": read it off the loop
    order: list[str] = []

    async def cashier_first() -> None:
        order.append("w")

    def noted(step, mark):
        def use(*args, **kwargs):
            order.append(mark)
            return step(*args, **kwargs)
        return use

    node.cashier_first = cashier_first
    node.read, node.write = noted(node.read, "r"), noted(node.write, "x")
    fwd = forwarder(node, erpnext)
    fwd._reader.read = noted(fwd._reader.read, "o")
    drain(fwd, erpnext)
    fwd.close()
    assert names(erpnext, INVOICE) == sorted(invoices) and names(erpnext, CLOSING) == [shift]
    steps = "".join(order)
    assert "r" in steps and "x" in steps and "o" in steps
    assert all(i and steps[i - 1] == "w" for i, step in enumerate(steps) if step in "rxo")


def test_one_cycle_keeps_several_requests_in_flight_and_erpnexts_order(tmp_path, erpnext):
    node = demo_node(tmp_path / "c1")
    shift, invoices = sell_day(node, sales=12)
    wire = Overlap()
    fwd = forwarder(node, erpnext, transport=wire)
    sent = asyncio.run(fwd.cycle(go_on=lambda: True))  # planned again as requests finish
    assert wire.most == FORWARD_IN_FLIGHT
    # One cycle: the opening, the sales, the return once its sale is in, the closing
    # (queued: 10+ invoices consolidate in ERPNext's background job, looked at later).
    assert sent == 1 + len(invoices)
    assert wire.writes[0] == shift and wire.writes[-2:] == [invoices[-1], shift]
    assert sorted(wire.writes[1:-2]) == sorted(invoices[:-1])
    drain(fwd, erpnext)
    assert erpnext.get(CLOSING, shift)["status"] == "Submitted"


def test_a_time_out_after_erpnexts_commit_still_delivers_once(tmp_path, erpnext):
    node = demo_node(tmp_path / "c1")
    shift, invoices = sell_day(node, sales=2)
    erpnext.faults.only_paths = "POS Invoice"
    erpnext.faults.timeout_after_commit_next(2, hang_s=1.0)
    fwd = forwarder(node, erpnext, read_timeout_s=0.3)
    drain(fwd, erpnext)
    assert names(erpnext, INVOICE) == sorted(invoices)  # each once: the repeats got 409
    assert erpnext.get(CLOSING, shift)["status"] == "Submitted"
    assert any(r.status == 409 for r in erpnext.requests)


def test_a_forwarder_killed_before_its_ack_is_followed_without_a_duplicate(tmp_path, erpnext):
    node = demo_node(tmp_path / "c1")
    shift, invoices = sell_day(node, sales=2)
    first = forwarder(node, erpnext)
    drain(first, erpnext, rounds=1)  # the opening entry is acked
    # The forwarder posts the invoices, then dies before recording their acks.
    first._record = lambda results: None
    asyncio.run(first.cycle())
    assert names(erpnext, INVOICE) == sorted(invoices[:-1])  # the return waits its sale's ack
    assert all(state(node, INVOICE, i) is None for i in invoices)  # no ack recorded
    drain(forwarder(node, erpnext), erpnext)  # the next forwarder (another counter, later)
    assert names(erpnext, INVOICE) == sorted(invoices)
    assert all(state(node, INVOICE, i).delivery is Delivery.ACKED for i in invoices)


def test_two_forwarders_at_once_still_give_one_document_each(tmp_path, erpnext):
    c1 = demo_node(tmp_path / "c1")
    shift, invoices = sell_day(c1)
    c2 = demo_node(tmp_path / "c2", "C02", seeded_from=c1)  # a split store: both elected

    async def both() -> None:
        for _ in range(15):
            await asyncio.gather(forwarder(c1, erpnext).cycle(), forwarder(c2, erpnext).cycle())
            erpnext.run_jobs()
    asyncio.run(both())
    assert names(erpnext, INVOICE) == sorted(invoices)
    assert names(erpnext, OPENING) == [shift] and names(erpnext, CLOSING) == [shift]
    sync(c2.log, c1.log)
    assert state(c1, CLOSING, shift).delivery is Delivery.ACKED


def test_a_refused_sale_waits_in_the_exceptions_queue_and_the_rest_goes_on(tmp_path, erpnext):
    node = demo_node(tmp_path / "c1")
    erpnext.set_bin(SOAP, WAREHOUSE, 0)  # ERPNext has no soap: the first sale is refused
    shift, invoices = sell_day(node, sales=3)
    fwd = forwarder(node, erpnext)
    drain(fwd, erpnext)
    refused = state(node, INVOICE, invoices[0])
    assert refused.delivery is Delivery.FAILED and refused.status == 417
    assert SOAP in refused.message and "warehouse" in refused.message  # ERPNext's words
    assert state(node, INVOICE, invoices[1]).delivery is Delivery.ACKED  # milk went on
    assert erpnext.get(CLOSING, shift) is None  # the closing waits for the refused sale
    listed = Till(node, "sup")("exceptions_list")  # both soap sales, ERPNext's words
    # oldest failure first; the two sales are in flight at once, so either may fail first
    assert sorted(e["id"] for e in listed) == [f"{INVOICE}/{invoices[0]}",
                                               f"{INVOICE}/{invoices[2]}"]
    assert all(SOAP in e["message"] for e in listed)


def test_a_supervisor_retries_a_refused_document_once_it_is_fixed(tmp_path, erpnext):
    node = demo_node(tmp_path / "c1")
    shift, invoices = sell_day(node, sales=2)
    erpnext.faults.only_paths = "POST /api/v2/document/POS Invoice"
    erpnext.faults.fail_next(1, status=417)  # one sale is refused once
    fwd = forwarder(node, erpnext)
    drain(fwd, erpnext)
    # both sales are in flight at once, so either may be the one that arrives first
    delivered = {i: state(node, INVOICE, i).delivery for i in invoices[:2]}  # not the return
    assert sorted(d.value for d in delivered.values()) == ["acked", "failed"]
    refused = next(i for i, d in delivered.items() if d is Delivery.FAILED)
    assert erpnext.get(CLOSING, shift) is None
    sup, ann = Till(node, "sup"), Till(node, "ann")
    with pytest.raises(PermissionDenied):
        ann("exception_retry", id=f"{INVOICE}/{refused}")
    sup("exception_retry", id=f"{INVOICE}/{refused}")
    drain(fwd, erpnext)
    assert names(erpnext, INVOICE) == sorted(invoices)
    assert erpnext.get(CLOSING, shift)["status"] == "Submitted"
    assert sup("exceptions_list") == []
    assert [a["kind"] for a in sup("audit_list") if "exception" in a["kind"]] == [
        "audit.exception_retried"]


def test_a_big_closing_is_acked_only_once_erpnext_consolidated_it(tmp_path, erpnext):
    node = demo_node(tmp_path / "c1")
    shift, invoices = sell_day(node, sales=11)
    fwd = forwarder(node, erpnext)

    async def until_queued() -> None:
        for _ in range(10):
            await fwd.cycle()
    asyncio.run(until_queued())
    assert erpnext.get(CLOSING, shift)["status"] == "Queued"
    assert state(node, CLOSING, shift) is None  # not acked while ERPNext works on it
    erpnext.run_jobs()
    drain(fwd, erpnext)
    assert state(node, CLOSING, shift).delivery is Delivery.ACKED
    assert {erpnext.get(INVOICE, i)["status"] for i in invoices} == {"Consolidated"}


def test_while_erpnext_consolidates_a_closing_each_look_asks_its_status_only(
        tmp_path, erpnext, monkeypatch):
    """A big shift's closing consolidates for minutes in a real ERPNext, looked at every
    2 s: a look asks its status, not every sale of the shift read and the closing formed
    again, and ERPNext's copy of it with every invoice fetched (170-330 ms of the
    counter's CPU a look at 5,000 sales). Once consolidated it is formed again, to ack
    what ERPNext holds."""
    from tillmesh.node.erpnext import _delivery, _forwarder

    node = demo_node(tmp_path / "c1")
    shift, invoices = sell_day(node, sales=11)
    fwd = forwarder(node, erpnext)
    formed, asked = [], []
    source, consolidating = _forwarder._source, _delivery.consolidating

    def forming(*args, **kwargs):
        item = kwargs["item"]
        if item.doctype == CLOSING:
            formed.append(item.name)
        return source(*args, **kwargs)

    def asking(client, name):
        asked.append(name)
        return consolidating(client, name)

    monkeypatch.setattr(_forwarder, "_source", forming)
    monkeypatch.setattr(_delivery, "consolidating", asking)

    async def looks(n: int) -> None:
        for _ in range(n):
            await fwd.cycle()
            for key in fwd._recheck:
                fwd._recheck[key] = 0  # looked at again at once

    asyncio.run(looks(10))
    assert erpnext.get(CLOSING, shift)["status"] == "Queued"
    assert formed == [shift] and len(asked) >= 3 and set(asked) == {shift}
    erpnext.run_jobs()
    asyncio.run(looks(2))
    fwd.close()
    assert state(node, CLOSING, shift).delivery is Delivery.ACKED
    assert formed == [shift, shift]


def test_erpnext_down_records_nothing_and_says_so(tmp_path, erpnext):
    node = demo_node(tmp_path / "c1")
    sell_day(node, sales=1)
    erpnext.faults.down = True
    fwd = forwarder(node, erpnext, max_attempts=1)
    said: list[bool] = []

    async def one_turn() -> None:
        task = asyncio.create_task(fwd.run(lambda: True, said.append))
        for _ in range(100):
            await asyncio.sleep(0.02)
            if said:
                break
        task.cancel()
    asyncio.run(one_turn())
    assert said == [False]
    with node.read() as s:
        assert deliveries.states(s) == {}


def test_a_restored_counter_leaves_forwarding_to_others_until_it_records_again(
        tmp_path, erpnext):
    """Restored from a backup, not caught up: it records nothing, an ack neither, so it
    sends nothing and tells the election it is no candidate; once released it forwards."""
    node = demo_node(tmp_path / "c1")
    _, invoices = sell_day(node, sales=1)
    node.log.held = "restored from a backup"  # as the log reads the mark
    fwd = forwarder(node, erpnext)
    fwd.reachable = True  # it was a candidate, maybe the forwarder, before
    said: list[bool] = []

    async def until(check) -> None:
        for _ in range(250):
            if check():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("not within 5 s")

    async def restored_then_released() -> None:
        task = asyncio.create_task(fwd.run(lambda: True, said.append))
        try:
            await until(lambda: said)
            assert said == [False] and names(erpnext, INVOICE) == []
            node.log.held = None  # caught up: it records again
            await until(lambda: set(invoices) <= set(names(erpnext, INVOICE)))
            await until(lambda: said == [False, True])
        finally:
            task.cancel()
    asyncio.run(restored_then_released())


def test_a_failed_consolidation_is_an_exception_and_a_retry_reruns_it(tmp_path):
    from datetime import datetime

    from tillmesh.lab.erpnext_simulator import ManualClock

    site = ManualClock(datetime(2026, 11, 26, 7, 0))  # site-local, before the day's sales
    with Simulator(seed="demo", job_delay=None, clock=site) as sim:
        with ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
            setup(client, POS_PROFILE, lambda check: None)
        node = demo_node(tmp_path / "c1")
        shift, invoices = sell_day(node, sales=11)  # 10+ invoices: consolidated in the background
        fwd = forwarder(node, sim)
        cycles(fwd, 5)
        assert sim.get(CLOSING, shift)["status"] == "Queued"
        sim.set_bin(SOAP, WAREHOUSE, 0)  # someone booked the soap out, back in the morning
        sim.run_jobs()
        cycles(fwd, 2)
        failed = state(node, CLOSING, shift)
        assert (failed.delivery, failed.stage) == (Delivery.FAILED, "consolidation")
        assert SOAP in failed.message and "<" not in failed.message  # ERPNext's words, as text
        cycles(fwd, 2)
        assert [r for r in sim.requests if "run_method" in r.path] == []  # waits for a person
        sim.set_bin(SOAP, WAREHOUSE, 500)  # the stock is put right (as of the morning)
        Till(node, "sup")("exception_retry", id=f"{CLOSING}/{shift}")
        cycles(fwd, 1)
        assert sim.get(CLOSING, shift)["status"] == "Queued"  # ERPNext runs it again
        sim.run_jobs()
        cycles(fwd, 2)
        assert state(node, CLOSING, shift).delivery is Delivery.ACKED
        assert {sim.get(INVOICE, i)["status"] for i in invoices} == {"Consolidated"}


@pytest.mark.slow
def test_tillmesh_exceptions_lists_erpnexts_refusal_and_a_supervisor_retries_it(site):
    """The CLI on a running counter whose forwarder met a refusal (real processes)."""
    from tests.proc import Nodes, ok, tillmesh

    sim, url = site
    with ErpNextClient(url, sim.api_key, sim.api_secret) as client:
        setup(client, POS_PROFILE, lambda check: None)
    sim.faults.only_paths = "POST /api/v2/document/POS Invoice"
    sim.faults.fail_next(1, status=417)  # ERPNext refuses the first sale once
    with Nodes() as nodes:
        data = nodes.init()
        ok(tillmesh(data, "erpnext", "setup", "--url", url, "--key", sim.api_key,
                    "--secret", sim.api_secret, "--insecure"))
        node = nodes.start(data)
        with node.client() as api:
            api.login("cashier", "1111")
            api.call("shift_open", opening={"Cash": "10"})
            sale = api.call("sale_create", items=[{"code": "4250100000011"}],
                            payments=[{"mode_of_payment": "Cash", "amount": "5"}])
        listed = ""
        for _ in range(100):  # the forwarder sends within a second or two
            listed = ok(tillmesh(data, "exceptions", "--user", "supervisor", stdin="2222\n"))
            if sale["invoice"] in listed:
                break
        assert f"{INVOICE}/{sale['invoice']}" in listed and "417" in listed
        refused = tillmesh(data, "exceptions", "--retry", f"{INVOICE}/{sale['invoice']}",
                           "--user", "cashier", stdin="1111\n")
        assert refused.returncode == 1 and "not allowed" in refused.stderr.lower()
        ok(tillmesh(data, "exceptions", "--retry", f"{INVOICE}/{sale['invoice']}",
                    "--user", "supervisor", stdin="2222\n"))
        for _ in range(100):
            if sim.get(INVOICE, sale["invoice"]) is not None:
                break
            time.sleep(0.1)
        assert sim.get(INVOICE, sale["invoice"])["docstatus"] == 1
        assert "no exceptions" in ok(tillmesh(data, "exceptions", "--user", "supervisor",
                                             stdin="2222\n"))


def sell_one(node, item: str = MILK, till: str = "ann") -> str:
    node.clock.advance(minutes=1)
    cart = Till(node, till)("cart_new")["cart_id"]
    Till(node, till)("cart_add", cart_id=cart, item_code=item, qty="1")
    due = Till(node, till)("cart_get", cart_id=cart)["due"]
    return Till(node, till)("sale_submit", cart_id=cart, payments=[
        {"mode_of_payment": "Cash", "amount": due}])["invoice"]


def test_late_sales_reach_erpnext_with_their_own_opening_and_closing(tmp_path, erpnext):
    """C01 is cut off while a supervisor on C02 closes its shift; what C01 sold meanwhile
    is late. It is owed (``pending`` counts it) but not sent until a supervisor
    reconciles it; then it reaches ERPNext between an opening and a closing of its own."""
    c1 = demo_node(tmp_path / "c1")
    c2 = demo_node(tmp_path / "c2", "C02", seeded_from=c1)
    shift = Till(c1, "ann")("shift_open", opening={"Cash": "100.00"})["shift"]
    on_time = sell_one(c1)
    sync(c1.log, c2.log)
    c2.clock.advance(minutes=5)
    Till(c2, "sup")("shift_close", shift_id=shift, counted={"Cash": "100.00", "Card": "0"})
    late = [sell_one(c1), sell_one(c1, SOAP)]  # C01 does not know yet
    sync(c1.log, c2.log)
    fwd = forwarder(c2, erpnext)
    drain(fwd, erpnext)
    assert erpnext.get(CLOSING, shift)["status"] == "Submitted"
    assert names(erpnext, INVOICE) == [on_time]
    sup = Till(c2, "sup")
    assert sup("deliveries_pending") == {"pending": {INVOICE: 2}, "late": 2, "failed": 0}
    assert (c2.call("erpnext_status")["pending"], c2.call("erpnext_status")["late"]) == (2, 2)

    report = sup("shift_reconcile", shift_id=shift, counted={"Cash": "50.00"})
    drain(fwd, erpnext)
    [entry] = [n for n in names(erpnext, OPENING) if n != shift]
    assert entry.startswith(f"{shift}-L-C02-")
    assert erpnext.get(OPENING, entry)["status"] == "Closed"
    closing = erpnext.get(CLOSING, entry)
    assert closing["status"] == "Submitted"
    assert sorted(r["pos_invoice"] for r in closing["pos_transactions"]) == sorted(late)
    assert {erpnext.get(INVOICE, i)["status"] for i in [on_time, *late]} == {"Consolidated"}
    [cash] = closing["payment_reconciliation"]  # what the supervisor counted, as reported
    expected = report["report"]["expected"]["Cash"]
    assert (str(cash["expected_amount"]), str(cash["closing_amount"])) == (
        str(float(expected)), "50.0")
    assert Decimal(str(closing["grand_total"])) == sum(
        Decimal(str(erpnext.get(INVOICE, i)["grand_total"])) for i in late)
    assert sup("deliveries_pending") == {"pending": {}, "late": 0, "failed": 0}


@pytest.mark.slow
def test_erpnext_setup_takes_effect_on_a_running_counter(site):
    """Set up while the counter runs (real processes): it forwards at once, no restart."""
    from tests.proc import Nodes, ok, tillmesh

    sim, url = site
    setup_args = ("erpnext", "setup", "--url", url, "--key", sim.api_key,
                  "--secret", sim.api_secret, "--insecure")
    with Nodes() as nodes:
        data = nodes.init()
        node = nodes.start(data)
        with node.client() as api:
            assert api.call("erpnext_status")["configured"] is False
            api.login("cashier", "1111")
            api.call("shift_open", opening={"Cash": "10"})
            sale = api.call("sale_create", items=[{"code": "4250100000011"}],
                            payments=[{"mode_of_payment": "Cash", "amount": "5"}])
        assert "the running counter forwards with these settings now" in ok(
            tillmesh(data, *setup_args))
        deadline = time.monotonic() + 30.0  # the election names a counter within seconds
        while sim.get(INVOICE, sale["invoice"]) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sim.get(INVOICE, sale["invoice"])["docstatus"] == 1
        with node.client() as api:
            assert api.call("erpnext_status")["configured"] is True
        assert "forwards with these settings now" not in ok(tillmesh(data, *setup_args))


def test_an_over_return_is_held_from_erpnext_and_its_shift_waits(tmp_path, erpnext):
    """Two counters cut off from the sale's counter both refunded it (each with a
    supervisor accepting the risk): the later return is never sent to be refused."""
    c01 = demo_node(tmp_path / "c1")
    c02, c03 = (demo_node(tmp_path / n, n.upper(), seeded_from=c01) for n in ("c02", "c03"))
    ann1 = Till(c01, "ann")
    ann1("shift_open", opening={"Cash": "100.00"})
    sale = ann1.sell("4250100000011")["invoice"]  # milk, from the demo catalog
    for node in (c02, c03):
        sync(c01.log, node.log)
        till = Till(node, "ann")
        till("shift_open", opening={"Cash": "100.00"})
        till("return_create", invoice=sale, unconfirmed=True, approver=approver("sup"))
        node.clock.advance(minutes=1)
    for node in (c02, c03):
        sync(node.log, c01.log)
    drain(forwarder(c01, erpnext), erpnext)
    with c01.read() as s:
        refunds_in_erpnext = [d["name"] for d in erpnext.docs(INVOICE) if d.get("is_return")]
        held = [e for e in deliveries.exceptions(s) if e.doctype == INVOICE]
    assert len(refunds_in_erpnext) == 1  # the first refund reached ERPNext, once
    (over,) = held
    assert over.name not in refunds_in_erpnext
    assert "returns more than was sold" in (over.message or "")
