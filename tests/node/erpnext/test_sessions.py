"""Per-sale delivery to ERPNext 16 under the one POS Opening Entry the forwarder keeps open
for the store (``_sessions``, ``outbox.by_session``): through midnight, a forwarder's
restart, and an opening entry someone else left open; in Sales Invoice mode, the stock
ERPNext books as each sale arrives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.node.erpnext.test_cross_shift_returns import bin_qty
from tests.node.erpnext.test_forwarder import (
    MILK,
    SOAP,
    cycles,
    demo_node,
    drain,
    forwarder,
)
from tests.node.store.test_archive import (
    NOW,
    _count,
    _demo_node,
    _every_sale,
    _signer,
    _tables,
)
from tests.nodekit import FakeClock, Till, make_node, sync
from tillmesh.lab.demo_data import POS_PROFILE, WAREHOUSE
from tillmesh.lab.erpnext_simulator import ERPNEXT_16, Simulator
from tillmesh.node.erpnext import ErpNextClient, setup
from tillmesh.node.erpnext._forwarder import consolidated_shifts
from tillmesh.node.erpnext._pull import Direct, pull
from tillmesh.node.erpnext._pull_job import unclosed_of
from tillmesh.node.erpnext._settings import ErpNextSettings
from tillmesh.node.erpnext._site_release import SALES_INVOICE, Release
from tillmesh.node.ops import archiving as archive_ops
from tillmesh.node.projections import awaiting_closing, deliveries, outbox, stock
from tillmesh.node.projections.deliveries import ACKED, Delivery
from tillmesh.node.projections.outbox import CLOSING, INVOICE, OPENING, Due, by_session
from tillmesh.node.store.event_log import EventLog

BERLIN = ZoneInfo("Europe/Berlin")
POS_INVOICE_MODE = replace(ERPNEXT_16, invoice_type="POS Invoice")
SALES_INVOICE_MODE = replace(ERPNEXT_16, invoice_type="Sales Invoice")


class SameClock:
    """The site's clock is the counter's (site-local and naive, as ERPNext's)."""

    def __init__(self, node) -> None:
        self.node = node

    def now(self) -> datetime:
        return self.node.clock.now.astimezone(BERLIN).replace(tzinfo=None)


def sell(node, item: str) -> str:
    ann = Till(node, "ann")
    node.clock.advance(minutes=1)
    cart = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=cart, item_code=item, qty="1")
    due = ann("cart_get", cart_id=cart)["due"]
    return str(ann("sale_submit", cart_id=cart, payments=[
        {"mode_of_payment": "Cash", "amount": due}])["invoice"])


class Ahead(SameClock):
    """A site whose clock is two minutes ahead of the counter's."""

    def now(self) -> datetime:
        return super().now() + timedelta(minutes=2)


@contextmanager
def site16(node, clock: SameClock | None = None,
           release: Release = POS_INVOICE_MODE) -> Iterator[Simulator]:
    with Simulator(seed="demo", job_delay=None, clock=clock or SameClock(node),
                   release=release) as sim:
        with ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
            assert setup(client, POS_PROFILE, lambda check: None)
        yield sim


def openings(sim: Simulator) -> dict[str, str]:
    return {str(d["name"]): str(d["status"]) for d in sim.docs(OPENING)
            if d.get("docstatus") == 1}


def state(node, doctype: str, name: str) -> deliveries.State:
    with node.read() as s:
        found = deliveries.get(s, doctype, name)
    assert found is not None, (doctype, name)
    return found


def test_a_day_that_runs_past_midnight_goes_under_an_opening_of_each_day(tmp_path):
    node = demo_node(tmp_path / "c1")
    node.clock.now = datetime(2026, 11, 26, 22, 40, tzinfo=UTC)  # 23:40 in the store
    with site16(node) as sim:
        ann = Till(node, "ann")
        shift = ann("shift_open", opening={"Cash": "100.00"})["shift"]
        before = sell(node, MILK)
        fwd = forwarder(node, sim)
        drain(fwd, sim)
        [first] = openings(sim)
        assert first.startswith("TM-20261126-") and sim.get(INVOICE, before)

        node.clock.advance(minutes=30)  # 00:11: ERPNext refuses sales under yesterday's
        after = sell(node, SOAP)
        node.clock.advance(minutes=5)
        Till(node, "ann")("shift_close", shift_id=shift, counted={"Cash": "103.00",
                                                                  "Card": "0"})
        drain(fwd, sim)

        second = next(name for name in openings(sim) if name != first)
        assert openings(sim) == {first: "Closed", second: "Closed"}
        assert second.startswith("TM-20261127-")
        ended = sim.get(CLOSING, f"{first}-END")  # closed with nothing: the sale waited
        assert ended["docstatus"] == 1 and ended["pos_invoices"] == []
        closing = sim.get(CLOSING, shift)
        assert closing["pos_opening_entry"] == second and closing["status"] == "Submitted"
        assert sorted(r["pos_invoice"] for r in closing["pos_invoices"]) == sorted([before,
                                                                                   after])
        assert {sim.get(INVOICE, i)["status"] for i in (before, after)} == {"Consolidated"}
        assert state(node, OPENING, shift).erpnext_name == second
        with node.read() as s:
            assert awaiting_closing.awaiting(s) == []


def test_a_sale_the_site_refuses_past_its_midnight_waits_for_the_counter_s_midnight(
        tmp_path):
    """The site two minutes ahead: at 23:59 on the counter it is the next day there. The
    sale is not sent under an opening the site calls outdated, and is not an exception:
    it goes once the counter's day has turned too."""
    node = demo_node(tmp_path / "c1")
    node.clock.now = datetime(2026, 11, 26, 22, 58, tzinfo=UTC)  # 23:58 in the store
    with site16(node, Ahead(node)) as sim:
        Till(node, "ann")("shift_open", opening={"Cash": "100.00"})
        sale = sell(node, MILK)
        fwd = forwarder(node, sim)
        drain(fwd, sim, rounds=3)
        with node.read() as s:
            assert deliveries.get(s, INVOICE, sale) is None  # nothing recorded: not failed
        assert sim.get(INVOICE, sale) is None
        node.clock.advance(minutes=5)
        drain(fwd, sim)
        assert state(node, INVOICE, sale).delivery is Delivery.ACKED
        assert any(name.startswith("TM-20261127-") for name in openings(sim))


def test_a_forwarder_started_again_goes_on_under_the_opening_it_left_open(tmp_path):
    node = demo_node(tmp_path / "c1")
    with site16(node) as sim:
        ann = Till(node, "ann")
        shift = ann("shift_open", opening={"Cash": "100.00"})["shift"]
        sales = [sell(node, MILK)]
        drain(forwarder(node, sim), sim)
        sales.append(sell(node, SOAP))
        ann("shift_close", shift_id=shift, counted={"Cash": "105.00", "Card": "0"})
        drain(forwarder(node, sim), sim)  # a new process: it knows no opening yet
        [opening] = openings(sim)
        assert sim.get(CLOSING, shift)["pos_opening_entry"] == opening
        assert sorted(r["pos_invoice"] for r in sim.get(CLOSING, shift)["pos_invoices"]) \
            == sorted(sales)


def test_an_opening_entry_someone_else_left_open_is_named_in_the_exceptions(tmp_path):
    node = demo_node(tmp_path / "c1")
    with site16(node) as sim:
        today = SameClock(node).now()
        sim.put_doc(OPENING, {"name": "POS-OPE-0001", "docstatus": 1, "status": "Open",
                              "pos_profile": POS_PROFILE, "user": "till@example.com",
                              "period_start_date": today.isoformat(sep=" "),
                              "company": "Demo Store GmbH", "balance_details": []})
        Till(node, "ann")("shift_open", opening={"Cash": "100.00"})
        sale = sell(node, MILK)
        drain(forwarder(node, sim), sim)
        refused = state(node, INVOICE, sale)
        assert refused.delivery is Delivery.FAILED and refused.exc_type == "ProfileOpenElsewhere"
        assert "POS-OPE-0001 of till@example.com" in (refused.message or "")
        assert sim.get(INVOICE, sale) is None


@settings(max_examples=40, deadline=None)
@given(st.permutations(range(4)))
def test_what_awaits_a_closing_is_the_same_whatever_order_the_acks_came_in(tmp_path_factory,
                                                                          order):
    """Two sales of shift A and one of B delivered, then A's closing listing all three:
    nothing awaits a closing on any counter, whichever ack it held first."""
    acks = [("C01", {"doctype": INVOICE, "name": "A-1", "entry": "A"}),
            ("C01", {"doctype": INVOICE, "name": "A-2", "entry": "A"}),
            ("C02", {"doctype": INVOICE, "name": "B-1", "entry": "B"}),
            ("C02", {"doctype": CLOSING, "name": "A", "carried": ["B-1"]})]
    node = make_node(tmp_path_factory.mktemp("acks"))
    for k in order:
        origin, body = acks[k]
        with node.log.transaction() as tx:
            tx.append(ACKED, {**body, "by": origin, "at": "2026-11-26T10:00:00+00:00",
                              "erpnext_name": body["name"]})
    with node.read() as s:
        assert awaiting_closing.awaiting(s) == []


def test_before_their_closing_the_sales_await_it_with_their_own_entry(tmp_path):
    node = make_node(tmp_path)
    with node.log.transaction() as tx:
        for name, entry in (("A-1", "A"), ("B-1", "B")):
            tx.append(ACKED, {"doctype": INVOICE, "name": name, "entry": entry, "by": "C01",
                              "at": "2026-11-26T10:00:00+00:00", "erpnext_name": name})
    with node.read() as s:
        assert awaiting_closing.awaiting(s) == [("A-1", "A"), ("B-1", "B")]


def test_the_plan_sends_no_shift_openings_and_one_closing_after_another():
    pending = [Due(OPENING, "A", "C01", 1, "A"), Due(OPENING, "B", "C02", 1, "B"),
               Due(INVOICE, "A-1", "C01", 2, "A", ((OPENING, "A"), ("Customer", "Walk-in"))),
               Due(CLOSING, "B", "C02", 2, "B", ((OPENING, "B"),)),
               Due(CLOSING, "A", "C01", 3, "A", ((OPENING, "A"), (INVOICE, "A-1")))]
    assert [(d.doctype, d.name, d.after) for d in by_session(pending)] == [
        (OPENING, "A", ((CLOSING, "A"),)),  # acked with its closing, or once it is settled
        (OPENING, "B", ((CLOSING, "B"),)),
        (INVOICE, "A-1", (("Customer", "Walk-in"),)),
        (CLOSING, "B", ()),
        (CLOSING, "A", ((INVOICE, "A-1"), (CLOSING, "B")))]


def test_a_shift_whose_closing_a_supervisor_settled_owes_nothing_more(tmp_path):
    """ERPNext refused the closing; a supervisor booked it by hand and resolved it: the
    shift's opening (never sent: the store's one stood for it) is owed no more, so it
    holds neither the forwarder nor the archive."""
    node = demo_node(tmp_path / "c1")
    with site16(node) as sim:
        ann = Till(node, "ann")
        shift = ann("shift_open", opening={"Cash": "100.00"})["shift"]
        sell(node, MILK)
        Till(node, "ann")("shift_close", shift_id=shift, counted={"Cash": "101.09",
                                                                  "Card": "0"})
        sim.faults.only_paths = "POS Closing Entry"
        sim.faults.fail_next(1, status=417)
        drain(forwarder(node, sim), sim)
        assert state(node, CLOSING, shift).delivery is Delivery.FAILED
        Till(node, "sup")("exception_resolve", id=f"{CLOSING}/{shift}", note="by hand")
        drain(forwarder(node, sim), sim)
        assert state(node, OPENING, shift).delivery is Delivery.ACKED
        with node.read() as s:
            assert outbox.pending(s) == []


def test_a_closing_consolidated_in_the_background_is_acked_with_the_opening_it_closed(
        tmp_path):
    """11 invoices: ERPNext 16 consolidates them in the background (Queued); the closing
    is looked at again until then, and no other opening entry is made meanwhile."""
    node = demo_node(tmp_path / "c1")
    with site16(node) as sim:
        ann = Till(node, "ann")
        shift = ann("shift_open", opening={"Cash": "100.00"})["shift"]
        sales = [sell(node, MILK if i % 2 else SOAP) for i in range(11)]
        Till(node, "ann")("shift_close", shift_id=shift, counted={"Cash": "0", "Card": "0"})
        fwd = forwarder(node, sim)
        cycles(fwd, 4)
        assert sim.get(CLOSING, shift)["status"] == "Queued"
        sim.run_jobs()
        cycles(fwd, 2)
        [opening] = openings(sim)
        assert state(node, CLOSING, shift).delivery is Delivery.ACKED
        assert state(node, OPENING, shift).erpnext_name == opening
        assert sim.get(CLOSING, shift)["pos_opening_entry"] == opening
        assert {sim.get(INVOICE, i)["status"] for i in sales} == {"Consolidated"}


def test_sales_a_closing_carried_leave_the_live_store_with_the_rest(tmp_path):
    """Two counters' shifts of 2024 under the store's one opening entry: C02's close
    lists C01's sales too (carried). Archived two years on, every sale's row leaves the
    live store, the carried ones too (else a store delivering this way keeps a row for
    most of its sales for ever), and every sale reads the same."""
    c1 = _demo_node(tmp_path / "c1", datetime(2024, 3, 4, 9, 0, tzinfo=UTC))
    clock = FakeClock()
    clock.now = c1.clock.now  # from its first event: an HLC never goes back
    c2 = make_node(tmp_path / "c2", "C02", clock=clock, profile=POS_PROFILE)
    sync(c1.log, c2.log)
    with site16(c1) as sim:
        shifts = {}
        for node in (c1, c2):
            shifts[node] = Till(node, "ann")("shift_open", opening={"Cash": "0"})["shift"]
            for item in (MILK, SOAP):
                sell(node, item)
        sync(c1.log, c2.log)
        sync(c2.log, c1.log)
        for node in (c2, c1):
            Till(node, "ann")("shift_close", shift_id=shifts[node], counted={
                "Cash": "0", "Card": "0"})
            sync(c2.log, c1.log)
            drain(forwarder(c1, sim), sim)
        listed = [r["pos_invoice"] for r in sim.get(CLOSING, shifts[c2])["pos_invoices"]]
        assert len(listed) == 4  # C02's close listed C01's sales as well
        with ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
            pull(client, Direct(c1.log), POS_PROFILE,  # Bin, with the closings it includes
                 consolidated=lambda: consolidated_shifts(client, POS_PROFILE))
        sales = _every_sale(c1)
        moved = archive_ops.run(c1.config, NOW, _signer(c1))
        assert moved.sales == 4 and _count(c1, "main.sales") == 0
        assert _every_sale(c1) == sales
        # the checkpoint (built with the carried sales' stock moved) and the live events
        # give what the store holds
        tables = _tables(c1)
        EventLog(c1.log.engine, "C01", clock=c1.clock).rebuild(trusted={
            "C01": _signer(c1).public, "C02": _signer(c2).public})
        assert _tables(c1) == tables


def test_in_sales_invoice_mode_stock_erpnext_booked_before_the_closing_counts_once(tmp_path):
    """ERPNext 16 in Sales Invoice mode books a sale's stock as it arrives, long before
    the shift's closing (the slot a Bin reading's watermark names): a pull in between
    must not take the delivered sales off twice, once in Bin and once as pending."""
    node = demo_node(tmp_path / "c1")
    node.clock.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    with site16(node, release=SALES_INVOICE_MODE) as sim, \
            ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
        settings = ErpNextSettings(sim.url, sim.api_key, sim.api_secret, POS_PROFILE,
                                   verify=False)

        def pulled() -> tuple[D, D]:
            report = pull(client, Direct(node.log), POS_PROFILE,
                          consolidated=lambda: consolidated_shifts(client, POS_PROFILE),
                          unclosed=unclosed_of(client, settings))
            assert report.errors == []
            with node.read() as s:
                held = stock.on_hand(s, MILK, WAREHOUSE)
            return held.on_hand, bin_qty(sim, MILK)

        start, in_bin = pulled()
        assert start == in_bin
        ann = Till(node, "ann")
        shift = ann("shift_open", opening={"Cash": "0"})["shift"]
        sold = [sell(node, MILK) for _ in range(2)]
        drain(forwarder(node, sim), sim)
        assert [sim.get(SALES_INVOICE, i)["docstatus"] for i in sold] == [1, 1]
        assert pulled() == (start - 2, start - 2)  # booked in Bin, not closed: once
        sell(node, MILK)  # not delivered yet: pending on the counter only
        assert pulled() == (start - 3, start - 2)
        ann("shift_close", shift_id=shift, counted={"Cash": "0", "Card": "0"})
        drain(forwarder(node, sim), sim)
        assert sim.get(CLOSING, shift)["status"] == "Submitted"
        assert pulled() == (start - 3, start - 3)
