"""Benchmark: the master-data pull of 100,000 items (prices, barcodes, UOMs, stock) from
the ERPNext simulator on 127.0.0.1 into a fresh node store, then a pull with nothing new;
and the same pull on a running counter (``tillmesh run``, whose forwarder pulls as it
starts) while its cashier sells, from a process of its own, as at a till.

``run(quick)`` and ``run_while_selling(quick)`` return rows (what, figure, target);
``quick`` pulls 10,000 items. The simulator runs in this process, so its own work
(filtering, JSON) is inside the figures: a real ERPNext does that work on another machine.
"""

from __future__ import annotations

import concurrent.futures
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.bench import cashier
from tests.bench.table import median_p99_ms
from tests.proc import Nodes, ok, tillmesh
from tillmesh.lab.demo_data import POS_PROFILE, bulk_barcode, bulk_item_code
from tillmesh.node.api.client import Client
from tillmesh.node.domain.barcode import rules_from_config
from tillmesh.node.erpnext import Direct, ErpNextClient, pull, setup
from tillmesh.node.projections import catalog
from tillmesh.node.store import create_key_file, open_engine
from tillmesh.node.store.event_log import EventLog

FULL_ITEMS = 100_000
QUICK_ITEMS = 10_000
TARGET_S = 60.0  # the whole pull of 100,000 items (issue 4)
SELL_S, SELL_QUICK_S = 120.0, 30.0  # seconds the cashier sells from the counter's start
OUTLASTS_S = 600.0  # how long the pull may go on once the cashier stopped, before it fails
SCANS = 5  # of each of the cashier's sales
BUSY_TILL_S = 0.5  # seconds from one sale's start to the next: faster than any person
POLL_S = 0.5  # seconds between two looks at the pull's progress


def run(quick: bool) -> list[tuple[str, str, str]]:
    from tillmesh.lab.erpnext_simulator import Simulator

    items = QUICK_ITEMS if quick else FULL_ITEMS
    tmp = Path(tempfile.mkdtemp(prefix="tmpull", dir="/tmp"))
    log = EventLog(open_engine(tmp / "db", create_key_file(tmp / "key")), "C01")
    rows: list[tuple[str, str, str]] = []
    with Simulator(seed="demo") as sim:
        sim.add_items(items)
        url = sim.start()
        with ErpNextClient(url, sim.api_key, sim.api_secret) as client:
            started = time.perf_counter()
            report = pull(client, Direct(log), "Demo POS")
            first = time.perf_counter() - started
            assert not report.errors, report.errors[:3]
            started = time.perf_counter()
            again = pull(client, Direct(log), "Demo POS")
            second = time.perf_counter() - started
    with log.reading() as session:  # the pulled catalog sells
        hit = catalog.scan(session, bulk_barcode(items - 1), rules_from_config([]))
        assert hit.item_code == bulk_item_code(items - 1)
    log.engine.dispose()
    target = f"< {TARGET_S * items / FULL_ITEMS:.0f} s"
    rows.append((f"ERPNext pull, {items:,} items with prices and barcodes (first)",
                 f"{first:.1f} s, {report.emitted:,} events", target))
    rows.append(("ERPNext pull again, nothing changed", f"{second:.1f} s,"
                 f" {again.emitted:,} events", "0 events"))
    return rows


def run_while_selling(quick: bool, items: int | None = None, sell_s: float | None = None,
                      every_s: float = BUSY_TILL_S) -> list[tuple[str, str, str]]:
    """The pull of a running counter linked to the simulator, while its cashier sells for
    ``sell_s`` seconds from the start on, a sale every ``every_s`` seconds (0: back to
    back): the pull's time, and the cashier's sales while it ran against the others."""
    from tillmesh.lab.erpnext_simulator import Simulator

    items = items or (QUICK_ITEMS if quick else FULL_ITEMS)
    sell_s = sell_s or (SELL_QUICK_S if quick else SELL_S)
    with Simulator(seed="demo") as sim, Nodes() as nodes:
        sim.add_items(items)
        url = sim.start()
        with ErpNextClient(url, sim.api_key, sim.api_secret) as client:
            setup(client, POS_PROFILE, lambda check: None)
        data_dir = nodes.init()
        ok(tillmesh(data_dir, "erpnext", "setup", "--url", url, "--key", sim.api_key,
                    "--secret", sim.api_secret, "--insecure"))
        till = nodes.start(data_dir).endpoint
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            selling = pool.submit(cashier.apart, till, 10**9, 0, SCANS, None, sell_s,
                                  every_s)
            with Client(till, timeout=cashier.TIMEOUT_S) as status:
                pulled = _pull_of(status, time.monotonic() + sell_s + OUTLASTS_S)
            timed = selling.result()
    begun, ended = (datetime.fromisoformat(pulled[k]).timestamp()
                    for k in ("started_at", "finished_at"))
    sold = list(zip(timed.wholes, timed.ended, strict=True))
    during = [whole for whole, at in sold if begun <= at <= ended]
    without = [whole for whole, at in sold if not begun <= at <= ended]
    emitted = pulled["report"]["emitted"]
    pace = f"a sale every {every_s:g} s" if every_s else "sales back to back (a stress)"
    # A pull slower than the cashier's selling is timed to its end, and says so.
    alone = ended - max(timed.ended, default=begun)
    after = f", the last {alone:.1f} s of it after the cashier stopped" if alone > 0 else ""
    return [
        (f"ERPNext pull, {items:,} items, on a running counter whose cashier sells"
         f" meanwhile ({pace})", f"{ended - begun:.1f} s, {emitted:,} events,"
         f" {len(during):,} sales answered meanwhile{after}",
         f"< {TARGET_S * items / FULL_ITEMS:.0f} s"),
        (f"whole sale (new + {SCANS} scans + submit) while that pull runs ({pace})",
         _ms(during), ""),
        (f"the same cashier's sales before and after it ({pace})", _ms(without), ""),
    ]


def _pull_of(client: Client, deadline: float) -> dict[str, Any]:
    """The forwarder's first pull, once done (AssertionError if it failed or ran past
    ``deadline``, ``time.monotonic``)."""
    while True:
        pulled: dict[str, Any] = client.call("erpnext_status")["pull"]
        if pulled["state"] == "done":
            return pulled
        assert pulled["state"] != "failed", pulled
        assert time.monotonic() < deadline, f"the pull did not end: {pulled}"
        time.sleep(POLL_S)


def _ms(samples: list[float]) -> str:
    if not samples:
        return "no sales"
    median, worst = median_p99_ms(samples)
    return f"median {median:.1f} ms, p99 {worst:.1f} ms, {len(samples):,} sales"


if __name__ == "__main__":
    import sys

    quick = "--quick" in sys.argv
    for row in run(quick) + run_while_selling(quick) + run_while_selling(quick, every_s=0):
        print("  ".join(row))
