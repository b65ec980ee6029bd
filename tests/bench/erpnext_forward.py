"""Benchmark: the forwarder delivering sales to the ERPNext simulator on 127.0.0.1.

1. Throughput: one counter with 1,000 sales (quick: 200) in shifts of ~100, closed; then
   ``Forwarder.cycle()`` runs as ``Forwarder.run`` does (a pause of ``FORWARD_IDLE_S`` when nothing
   was sent) until every document is acked and every closing Submitted (a Queued closing
   is looked at again every ``CLOSING_RECHECK_S``: that wait is in the total).
2. Catch-up after a day offline: 3 counters sell 5,000 sales (quick: 500) in 10 shifts
   while ERPNext is unreachable, sync with each other, then one forwarder delivers all.
3. The forwarder's long reads of the store (``bench_reads_off_the_loop``): 5,000 sales
   (quick: 500) behind their refused opening entry, then their shift's closing formed;
   how long the counter's loop, which answers the cashier, waits meanwhile.

Selling is not timed. The simulator runs in this process (its threads share the 2 cores)
and answers far faster than a real ERPNext 15, which tops out at ~10 invoices/s
(../shared/erpnext/NOTES.md). The simulator's own work is inside the figures (its
reserved-stock check is a running sum since 853098a; scanning every POS Invoice for each
line, it was half of the catch-up at 5,000 sales). Consolidation runs in the simulator's
background timer, as ERPNext's does.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path

from tests.node.erpnext.test_forwarder import demo_node, forwarder
from tests.nodekit import Till, approver, sync
from tillmesh.lab.demo_data import POS_PROFILE, PRICE_LIST, WAREHOUSE, demo_master_docs
from tillmesh.lab.erpnext_simulator import ManualClock, Simulator
from tillmesh.node.api import Node
from tillmesh.node.erpnext import ErpNextClient, setup
from tillmesh.node.erpnext._forwarder import Forwarder, _source
from tillmesh.node.erpnext.const import CLOSING_RECHECK_S, FORWARD_BATCH, FORWARD_IDLE_S
from tillmesh.node.ops.const import SWITCH_INTERVAL_S
from tillmesh.node.projections import outbox
from tillmesh.node.projections.outbox import CLOSING, INVOICE, OPENING
from tillmesh.node.store.raw import raw
from tillmesh.node.store.reader import Reader

DAY = datetime(2026, 11, 26)  # the nodes' FakeClock day (it starts at 09:00 UTC)
OPEN_S = 12 * 3600  # seconds a counter sells in that day
NOTE = "simulator; real ERPNext ~10 inv/s (NOTES.md)"


def _tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="tmfwd", dir="/tmp"))


def _items(n: int = 5) -> list[str]:
    docs = list(demo_master_docs())
    priced = {d["item_code"] for t, d in docs if t == "Item Price" and d["uom"] == "Nos"
              and d["price_list"] == PRICE_LIST}
    return [d["item_code"] for t, d in docs if t == "Item" and d["item_code"] in priced
            and not d.get("disabled") and d.get("is_stock_item")][:n]


def _sell_shift(node: Node, till: Till, sales: int, gap_s: float, items: list[str],
                rng: random.Random) -> None:
    """A shift of ``sales`` sales (the first returned in part), ``gap_s`` apart, closed."""
    shift = till("shift_open", opening={"Cash": "100.00"})["shift"]
    first, takings = _sell(node, till, sales, gap_s, items, rng)
    cash = Decimal("100.00") + takings
    node.clock.advance(seconds=gap_s)
    till("return_create", invoice=first, approver=approver("sup"),
         lines=[{"row": f"{first}-1", "qty": "1"}])
    node.clock.advance(minutes=2)
    till("shift_close", shift_id=shift, counted={"Cash": str(cash), "Card": "0"})
    node.clock.advance(minutes=5)  # the next cashier takes over


def _sell(node: Node, till: Till, sales: int, gap_s: float, items: list[str],
          rng: random.Random) -> tuple[str, Decimal]:
    """``sales`` sales of 1-3 items, ``gap_s`` apart, paid in cash: (the first, the cash)."""
    cash, first = Decimal(0), ""
    for _ in range(sales):
        node.clock.advance(seconds=gap_s)
        cart = till("cart_new")["cart_id"]
        for code in rng.sample(items, rng.randint(1, 3)):
            till("cart_add", cart_id=cart, item_code=code, qty=str(rng.randint(1, 2)))
        due = till("cart_get", cart_id=cart)["due"]
        invoice = till("sale_submit", cart_id=cart,
                       payments=[{"mode_of_payment": "Cash", "amount": due}])["invoice"]
        first, cash = first or invoice, cash + Decimal(due)
    return first, cash


def _simulator(items: list[str]) -> Simulator:
    """The demo site with its clock before the day (the stock is booked then), started."""
    clock = ManualClock(DAY.replace(hour=6))
    sim = Simulator(seed="demo", clock=clock)
    for code in items:
        sim.set_bin(code, WAREHOUSE, 1e6)
    sim.start()
    with ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
        assert setup(client, POS_PROFILE, lambda check: None)
    clock.set(DAY.replace(hour=23, minute=30))  # ERPNext is back in the evening
    return sim


def _left(node: Node) -> dict[str, int]:
    """Outbox documents not acked yet, by doctype; raises if ERPNext refused one."""
    with node.read() as s:
        rows = raw(s).run(
            "SELECT o.doctype, count(*), sum(coalesce(d.failed_hlc > d.retried_hlc, 0))"
            " FROM outbox o LEFT JOIN deliveries d ON d.doctype = o.doctype"
            " AND d.name = o.name WHERE coalesce(d.acked, 0) = 0 GROUP BY o.doctype")
    left = {str(doctype): int(n) for doctype, n, _ in rows}
    failed = sum(int(f or 0) for *_, f in rows)
    assert not failed, f"ERPNext refused {failed} documents"
    return left


def _deliver(fwd: Forwarder, node: Node) -> tuple[float, float, int]:
    """Cycles until everything is acked: (s to the last invoice ack, s in all, cycles)."""
    async def go() -> tuple[float, int]:
        started, cycles = time.perf_counter(), 0
        while True:
            sent = await fwd.cycle(lambda: True)  # as ``Forwarder.run``, elected throughout
            cycles += 1
            if not sent and not _left(node):  # idle: done, or a consolidation runs
                return time.perf_counter() - started, cycles
            await asyncio.sleep(0 if sent else FORWARD_IDLE_S)
    began = datetime.now(UTC)
    total_s, cycles = asyncio.run(go())
    with node.read() as s:  # the forwarder records when it acked each document
        last = raw(s).one("SELECT max(acked_at) FROM deliveries WHERE doctype = ?", (INVOICE,))
    return (datetime.fromisoformat(last[0]) - began).total_seconds(), total_s, cycles


def _check(sim: Simulator, node: Node) -> dict[str, int]:
    """What ERPNext holds matches the outbox; every closing Submitted."""
    with node.read() as s:
        owed = dict(raw(s).run("SELECT doctype, count(*) FROM outbox GROUP BY doctype"))
    closings = sim.docs(CLOSING)
    assert {c["status"] for c in closings} == {"Submitted"}, "a closing is not Submitted"
    held = {d: len(sim.docs(d)) for d in (OPENING, INVOICE)} | {CLOSING: len(closings)}
    assert held == owed, (held, owed)
    return held


def bench_throughput(sales: int, rows: list[tuple[str, str, str]]) -> None:
    shifts, items, rng = max(1, sales // 100), _items(), random.Random(1)
    node = demo_node(_tmp())
    till = Till(node, "ann")
    for _ in range(shifts):
        _sell_shift(node, till, sales // shifts, OPEN_S / sales, items, rng)
    with _simulator(items) as sim:
        fwd = forwarder(node, sim)
        invoices_s, total_s, cycles = _deliver(fwd, node)
        fwd.close()
        held = _check(sim, node)
    docs, invoices = sum(held.values()), held[INVOICE]
    rows.append((f"forward 1 counter, {sales:,} sales in {shifts} shifts: invoices",
                 f"{invoices:,} in {invoices_s:.1f} s, {invoices / invoices_s:.0f} inv/s", NOTE))
    rows.append((f"  all {docs:,} documents acked, closings Submitted ({cycles} cycles,"
                 f" Queued ones looked at every {CLOSING_RECHECK_S:.0f} s)",
                 f"{total_s:.1f} s, {docs / total_s:.0f} docs/s", NOTE))


def bench_catch_up(sales: int, rows: list[tuple[str, str, str]]) -> None:
    items, rng, tmp = _items(), random.Random(2), _tmp()
    c01 = demo_node(tmp / "c01")
    nodes = [c01, *(demo_node(tmp / f"c0{i}", f"C0{i}", seeded_from=c01) for i in (2, 3))]
    plan = {0: 4, 1: 3, 2: 3}  # shifts by counter: 10 in all
    per_shift = sales // sum(plan.values())
    sell_started = time.perf_counter()
    for index, node in enumerate(nodes):  # ERPNext unreachable: nothing is forwarded
        till = Till(node, ("ann", "bob", "admin")[index])
        for _ in range(plan[index]):
            _sell_shift(node, till, per_shift, OPEN_S / (per_shift * plan[index]), items, rng)
    selling_s = time.perf_counter() - sell_started
    started = time.perf_counter()
    for src in nodes:
        for dst in nodes:
            if src is not dst:
                sync(src.log, dst.log)
    sync_s = time.perf_counter() - started
    with _simulator(items) as sim:  # ERPNext comes back
        fwd = forwarder(c01, sim)
        invoices_s, total_s, cycles = _deliver(fwd, c01)
        fwd.close()
        held = _check(sim, c01)
    docs = sum(held.values())
    rows.append((f"catch-up: 3 counters, {sales:,} sales in 10 shifts offline; sync",
                 f"{sync_s:.1f} s (selling took {selling_s:.0f} s, untimed)", "-"))
    rows.append((f"  ERPNext back -> {docs:,} documents acked, 10 closings Submitted",
                 f"{total_s:.1f} s ({cycles} cycles), invoices acked by {invoices_s:.1f} s",
                 f"real ERPNext >= {held[INVOICE] / 10:.0f} s at ~10 inv/s"))


def bench_reads_off_the_loop(sales: int, rows: list[tuple[str, str, str]]) -> None:
    """The forwarder's two long reads of the store. A shift's sales owed behind its
    refused opening entry: each cycle's plan reads them all and finds nothing due. The
    shift closed: forming its closing entry reads them all, again at each look while
    ERPNext consolidates it. How long the loop that answers the cashier waits meanwhile,
    each read on it (as before 2026-12-07) against the forwarder's (its cycles; its
    reader)."""
    items, rng, tmp = _items(), random.Random(3), _tmp()
    node = demo_node(tmp / "c01")
    till = Till(node, "ann")
    shift = till("shift_open", opening={"Cash": "100.00"})["shift"]
    _sell(node, till, sales, 5, items, rng)
    with _simulator(items) as sim:
        fwd = forwarder(node, sim)
        sim.faults.only_paths = "Opening"  # the opening entry refused, the rest answered
        sim.faults.fail_next(1, status=417)
        asyncio.run(fwd.cycle())
        sim.faults.clear()
        refused = [e["id"] for e in Till(node, "sup")("exceptions_list")]
        assert [r.split("/")[0] for r in refused] == [OPENING], refused

        # As ``tillmesh run`` has it: the threads take turns every 0.5 ms, and what was
        # made before serving is kept out of the full collections.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        gc.freeze()

        def on_loop() -> None:
            with node.read() as s:
                assert not outbox.due(s, FORWARD_BATCH)[0]

        async def plan_on_loop() -> None:
            on_loop()

        async def cycle() -> None:
            assert not await fwd.cycle()

        before, plan_s = _loop_waits(plan_on_loop), _timed(on_loop)
        now = _loop_waits(cycle)
        fwd.close()

        till("shift_close", shift_id=shift, counted={"Cash": "100.00", "Card": "0"})
        with node.read() as s:
            closing = next(p for p in outbox.pending(s) if p.doctype == CLOSING)
        reader = Reader(node.log.engine, "bench-forwarder-reads")

        def form_on_loop() -> None:
            with node.read() as s:
                assert len(_source(s, closing, {})["listed"]) == sales

        async def form_on_it() -> None:
            form_on_loop()

        async def form() -> None:
            await reader.read(partial(_source, item=closing, states={}))

        formed_before, form_s = _loop_waits(form_on_it), _timed(form_on_loop)
        formed_now = _loop_waits(form)
        reader.close()
        gc.unfreeze()
        sys.setswitchinterval(interval)
    rows.append((f"{sales:,} sales owed behind their refused opening entry: the plan"
                 f" reads them all ({plan_s * 1e3:.1f} ms), once a cycle",
                 f"the cashier's loop waits at most {now * 1e3:.1f} ms (plan read on"
                 f" it: {before * 1e3:.1f} ms) over {PLANS} cycles", "-"))
    rows.append((f"the shift closed: forming its closing entry reads the {sales:,} sales"
                 f" ({form_s * 1e3:.1f} ms), at each look while ERPNext consolidates it",
                 f"the cashier's loop waits at most {formed_now * 1e3:.1f} ms (read on"
                 f" it: {formed_before * 1e3:.1f} ms) over {PLANS} reads", "-"))


PLANS = 10  # cycles (or plans) whose waits are taken


def _timed(work: Callable[[], None]) -> float:
    """The best of ``PLANS`` runs of ``work``, in seconds."""
    best = math.inf
    for _ in range(PLANS):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def _loop_waits(work: Callable[[], Awaitable[None]]) -> float:
    """The longest a task that wakes every millisecond waited past it, while ``work``
    runs ``PLANS`` times on the same loop, with pauses between (a cashier's call comes
    at any time: what the loop does meanwhile is what the call waits for)."""
    async def go() -> float:
        done, late = False, 0.0

        async def beat() -> None:
            nonlocal late
            while not done:
                started = time.perf_counter()
                await asyncio.sleep(0.001)
                late = max(late, time.perf_counter() - started - 0.001)

        beating = asyncio.create_task(beat())
        for _ in range(PLANS):
            await work()
            await asyncio.sleep(0.05)
        done = True
        await beating
        return late
    return asyncio.run(go())


def run(quick: bool) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    bench_throughput(200 if quick else 1000, rows)
    bench_catch_up(500 if quick else 5000, rows)
    bench_reads_off_the_loop(500 if quick else 5000, rows)
    return rows


def main(quick: bool) -> None:
    rows = run(quick)
    print(f"\nTillmesh ERPNext forwarding - {platform.processor() or platform.machine()},"
          f" {os.cpu_count()} cores, Python {platform.python_version()},"
          f" {time.strftime('%Y-%m-%d %H:%M')}{' (quick)' if quick else ''}")
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    import sys

    main("--quick" in sys.argv)
