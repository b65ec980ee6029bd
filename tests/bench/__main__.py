"""Counter benchmarks: ``./dev.sh bench`` (or ``python -m tests.bench [--items N]``).

Prints one table. Its header gives the machine and the floors measured in the same run
(tests/bench/floors.py: a durable SQLite commit, a ZeroMQ IPC round trip, msgpack of a
sale), and each latency is also given as a multiple of its floor, so that figures from
machines that differ by 2x still compare. Parts: item look-up by barcode and by text over
N items (default 100,000); a cashier's sale through the local API of a real ``tillmesh
run`` process with a file printer, including the durable commit; the rebuild of 200,000
events; the CPU work of a sale in instructions, which do not move with the machine's
minute as times do (tests/bench/work.py); ``sale_submit`` idle and at a busy till
(tests/bench/under_load.py); replication, ERPNext, the app, and the pricing of a big cart
under the store's Pricing Rules (tests/bench/pricing.py). A part with runs is run
``--runs`` times (default 3): the median of the runs' figures and their range (the
spread). ERPNext 15's own figures on the same kind of machine are in
../shared/erpnext/NOTES.md (19 ms per barcode, 125 ms per invoice).

``--only year [--days N] [--keep-days N]`` is a store's history of N days (default a
year) and what the counter costs at its end, before and after archiving all but its last
days (tests/bench/year.py): an hour and more, so never by default. ``--year-without PART``
leaves a part of it out (at a year, ``join`` and ``rebuild`` of a store that never ran its
nightly job replay every event and take most of an hour each). A year takes longer than
one sitting: ``--year-dir DIR --stop-after MINUTES`` keeps the stores and figures in DIR
and stops at the end of a day or part after MINUTES; the same command goes on from there.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.bench import cashier
from tests.bench.floors import Floors, measure
from tests.bench.table import Latency, Row, rate_row, render
from tests.bench.year import KEEP_DAYS, restamp
from tests.bench.year import PARTS as YEAR_PARTS
from tests.proc import Nodes, with_printer
from tillmesh.lab.demo_data import bulk_items, demo_master_docs
from tillmesh.node.domain.barcode import rules_from_config
from tillmesh.node.projections import catalog
from tillmesh.node.projections.master_data import upserted_body
from tillmesh.node.store import create_key_file, open_engine
from tillmesh.node.store.event_log import EventLog

BATCH = 5000  # events per transaction while loading
PARTS = ("counter", "work", "pricing", "load", "replication", "erpnext", "ui")  # the default table
LONG = ("year",)  # only when named with --only


def _tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="tmb", dir="/tmp"))


def _time_each(fn: Callable[[Any], object], args: Iterable[Any]) -> list[float]:
    out = []
    for arg in args:
        start = time.perf_counter()
        fn(arg)
        out.append(time.perf_counter() - start)
    return out


def _load(log: EventLog, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
    count = 0
    batch: list[tuple[str, dict[str, Any]]] = []

    def flush() -> None:
        with log.transaction() as tx:
            for doctype, doc in batch:
                tx.append("master.upserted", upserted_body(doctype, doc))
        batch.clear()

    for item in docs:
        batch.append(item)
        count += 1
        if len(batch) >= BATCH:
            flush()
    flush()
    return count


def sample_sale() -> dict[str, Any]:
    """One real sale's body, priced by a node: sale events as big as real ones."""
    from tests.nodekit import Till, make_node

    till = Till(make_node(_tmp()), "ann")
    till("shift_open", opening={"Cash": "0"})
    sale = till.sell("4000000000044", "4000000000082")
    body = till("invoice_get", invoice=sale["invoice"])
    for key in ("is_return", "late", "origin", "event", "unconfirmed", "over_returns"):
        body.pop(key)
    for item in body["items"]:
        item.pop("returned_qty")
    return body


def _chunks(samples: list[float], runs: int) -> list[list[float]]:
    size = max(1, len(samples) // runs)
    return [samples[i:i + size] for i in range(0, size * runs, size)]


def bench_catalog(n_items: int, rows: list[Row], runs: int) -> EventLog:
    tmp = _tmp()
    log = EventLog(open_engine(tmp / "db", create_key_file(tmp / "key")), "C01")
    start = time.perf_counter()
    events = _load(log, list(demo_master_docs()) + list(bulk_items(n_items)))
    rows.append(Row("load items as events", f"{events:,} events",
                    f"{time.perf_counter() - start:.1f} s total"))
    with log.reading() as s:
        barcodes = list(s.scalars(
            select(catalog.CatalogBarcode.barcode)
            .join(catalog.CatalogItem,
                  catalog.CatalogItem.item_code == catalog.CatalogBarcode.item_code)
            .where(catalog.CatalogItem.disabled.is_(False))))
        names = list(s.scalars(select(catalog.CatalogItem.item_name).limit(20000)))
        rng = random.Random(1)
        rules = rules_from_config([])
        picks = [rng.choice(barcodes) for _ in range(3000)]
        scan = _time_each(lambda code: catalog.scan(s, code, rules), picks)
        words = [rng.choice(rng.choice(names).split())[:4] for _ in range(2000)]
        text = _time_each(lambda w: catalog.search(s, w, 20), words)
    for label, samples in (("barcode scan", scan), ("text search (20 hits)", text)):
        measured = Latency(_chunks(samples, runs))  # the look-ups in ``runs`` slices
        rows.append(Row(f"{label} in the store, {n_items:,} items", measured.samples(),
                        measured.figure(), "", measured.spread(), "p99 < 2 ms"))
    return log


SCANS_PER_SALE = 5


def _api_run(sales: int, seed: int) -> cashier.Timed:
    """One counter process: ``sales`` sales of 5 scans each through the local API."""
    with Nodes() as nodes:
        data_dir = nodes.init()
        with_printer(data_dir, kind="file", file="receipt.bin")  # a receipt per sale
        return cashier.sales(nodes.start(data_dir).endpoint, sales, seed, SCANS_PER_SALE)


def bench_api(rows: list[Row], floors: Floors, sales: int, runs: int) -> None:
    """A real ``tillmesh run`` per run, with a file printer as a store has one."""
    results = [_api_run(sales, seed) for seed in range(runs)]
    scans, submits, wholes = (Latency([getattr(r, k) for r in results])
                              for k in ("scans", "submits", "wholes"))
    rows.append(scans.row("cart_scan via API (re-priced cart)", floors.ipc_ms, "IPC",
                          ""))
    rows.append(submits.row("sale_submit via API, durable", floors.commit_ms, "commit",
                            "median < 5x commit, p99 < 5 ms"))
    rows.append(wholes.row(f"whole sale: new + {SCANS_PER_SALE} scans + submit",
                           floors.commit_ms, "commit", "p99 < 10 ms"))


def bench_rebuild(rows: list[Row], floors: Floors, n_events: int, runs: int,
                  body: dict[str, Any]) -> None:
    """Half master data, half sales: 200,000 events in all by default."""
    tmp = _tmp()
    log = EventLog(open_engine(tmp / "db", create_key_file(tmp / "key")), "C01")
    n_items = n_events // 4
    loaded = _load(log, bulk_items(n_items))  # an Item and an Item Price each
    posted_at = datetime.fromisoformat(body["posted_at"])
    remaining = n_events - loaded
    with log.transaction() as tx:
        tx.append("shift.opened", {"shift": body["shift"], "pos_profile": "Test POS",
                                   "cashier": "ann", "opened_at": body["posted_at"],
                                   "opening": {"Cash": "0"}})
    done = 1
    while done < remaining:  # the one sale replayed with new numbers
        with log.transaction() as tx:
            for _ in range(min(BATCH, remaining - done)):
                tx.append("sale.submitted", restamp(
                    body, invoice=f"C01-2026-{done:06d}", shift=body["shift"],
                    cashier=body["cashier"], posted_at=posted_at))
                done += 1
    total = sum(log.vector().values())
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        replayed = log.rebuild()
        rates.append(total / (time.perf_counter() - start))
        assert replayed == total
    per_event_ms = 1000 / statistics.median(rates)
    rows.append(rate_row(
        f"rebuild {total:,} events ({loaded:,} master, {done:,} sales/shift)",
        f"{total:,} events", rates, "events/s", ">= 20,000 events/s",
        f"{per_event_ms / floors.codec_ms:.1f}x codec per event"))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--sales", type=int, default=1000, help="sales per API run")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of each repeated part; its median and spread are shown")
    parser.add_argument("--only", choices=PARTS + LONG, action="append",
                        help="run only these parts of the table (repeatable)")
    parser.add_argument("--days", type=int, default=365,
                        help="days of the store's history (--only year)")
    parser.add_argument("--keep-days", type=int, default=KEEP_DAYS,
                        help="days of the history the live store keeps when the year "
                        "benchmark archives (--only year)")
    parser.add_argument("--year-without", action="append", default=[],
                        choices=[part.__name__ for part in YEAR_PARTS],
                        help="leave this part out of the year benchmark (repeatable); "
                        "e.g. join and rebuild of a store that never ran its nightly "
                        "job, which replay every event of the history")
    parser.add_argument("--year-dir", type=Path,
                        help="keep the year's stores and figures here; run again with the "
                        "same dir, the benchmark goes on where it stopped (--only year)")
    parser.add_argument("--stop-after", type=float, default=math.inf, metavar="MINUTES",
                        help="stop the year benchmark at the end of the day or part that "
                        "ends after this many minutes (with --year-dir)")
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the replication, ERPNext and UI load")
    args = parser.parse_args()
    parts = args.only or PARTS
    body = sample_sale()
    floors = measure(body)
    rows: list[Row] = []
    try:
        _parts(args, parts, body, floors, rows)
    finally:  # a part that fails still leaves the table of those before it
        print("\n" + render(
            f"Tillmesh counter benchmarks - {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}",
            floors, rows))


def _parts(args: argparse.Namespace, parts: Sequence[str], body: dict[str, Any],
           floors: Floors, rows: list[Row]) -> None:
    if "counter" in parts:
        bench_catalog(args.items, rows, args.runs)
        bench_api(rows, floors, args.sales, args.runs)
        bench_rebuild(rows, floors, args.events, args.runs, body)
    if "work" in parts:
        from tests.bench import work

        rows += [Row.of(r) for r in work.run(args.quick)]
    if "pricing" in parts:
        from tests.bench import pricing

        pricing.run(rows, args.runs, 200 if args.quick else 2000)
    if "load" in parts:
        from tests.bench import under_load

        under_load.run(rows, floors, 30 if args.quick else 300, args.runs)
    if "replication" in parts:
        from tests.bench.replication import run_all

        run_all(rows, floors, runs=args.runs, quick=args.quick)
    if "erpnext" in parts:
        from tests.bench import erpnext_forward, erpnext_in_flight, erpnext_pull

        for erpnext_part in (
                lambda: erpnext_pull.run(args.quick),
                lambda: erpnext_pull.run_while_selling(args.quick),
                lambda: erpnext_pull.run_while_selling(args.quick, every_s=0),
                lambda: erpnext_forward.run(args.quick),
                lambda: erpnext_in_flight.run(args.quick)):
            rows += [Row.of(r) for r in erpnext_part()]  # each in the table as it ends
    if "ui" in parts:
        from tests.bench import ui_scan

        rows += [Row.of(r) for r in ui_scan.run(args.quick)]
    if "year" in parts:
        from tests.bench import year

        done = year.run(args.days, keep_days=args.keep_days,
                        without=frozenset(args.year_without), home=args.year_dir,
                        stop_after_s=60 * args.stop_after)
        rows += [Row.of(r) for r in done or ()]  # None: stopped, to go on later


if __name__ == "__main__":
    main()
