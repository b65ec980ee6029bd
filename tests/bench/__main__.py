"""Counter benchmarks: ``./dev.sh bench`` (or ``python -m tests.bench [--items N]``).

Prints one table: item look-up by barcode and by text over N items (default 100,000),
a sale through the local API of a real ``tillmesh run`` process including the durable
commit, and the rebuild of 200,000 events. Timings are medians and p99 of wall time on
this machine (printed in the header); ERPNext 15's own figures on the same kind of
machine are in ../shared/erpnext/NOTES.md (19 ms per barcode, 125 ms per invoice).

``--only year [--days N] [--keep-days N]`` is a store's history of N days (default a
year) and what the counter costs at its end, before and after archiving all but its last
days (tests/bench/year.py): an hour and more, so never by default.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.bench.year import KEEP_DAYS, restamp
from tests.proc import Nodes
from tillmesh.lab.demo_data import bulk_items, demo_master_docs
from tillmesh.node.domain.barcode import rules_from_config
from tillmesh.node.projections import catalog
from tillmesh.node.projections.master_data import upserted_body
from tillmesh.node.store import create_key_file, open_engine
from tillmesh.node.store.event_log import EventLog

BATCH = 5000  # events per transaction while loading
PARTS = ("counter", "replication", "erpnext", "ui")  # the default table
LONG = ("year",)  # only when named with --only


def _tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="tmb", dir="/tmp"))


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


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


def bench_catalog(n_items: int, rows: list[tuple[str, str, str, str]]) -> EventLog:
    tmp = _tmp()
    log = EventLog(open_engine(tmp / "db", create_key_file(tmp / "key")), "C01")
    start = time.perf_counter()
    events = _load(log, list(demo_master_docs()) + list(bulk_items(n_items)))
    rows.append(("load items as events", f"{events:,} events",
                 f"{time.perf_counter() - start:.1f} s total", ""))
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
        med, p99 = _stats(samples)
        rows.append((f"{label}, {n_items:,} items", f"{len(samples)} look-ups",
                     f"median {med:.3f} ms", f"p99 {p99:.3f} ms"))
    return log


def bench_api(rows: list[tuple[str, str, str, str]], sales: int) -> None:
    nodes = Nodes()
    try:
        data = nodes.init()
        proc = nodes.start(data)
        codes = [doc["barcodes"][0]["barcode"] for doctype, doc in demo_master_docs()
                 if doctype == "Item" and doc.get("barcodes") and not doc.get("disabled")
                 and doc["stock_uom"] == "Nos"][:50]
        with proc.client() as c:
            c.login("cashier", "1111")
            c.shift_open({"Cash": "100.00"})
            scan_t, submit_t, whole_t = [], [], []
            rng = random.Random(2)
            for _ in range(sales):
                t0 = time.perf_counter()
                cart = c.cart_new()["cart_id"]
                for code in rng.sample(codes, 3):
                    t1 = time.perf_counter()
                    view = c.cart_scan(cart, code)
                    scan_t.append(time.perf_counter() - t1)
                t2 = time.perf_counter()
                c.sale_submit(cart, [{"mode_of_payment": "Cash", "amount": view["due"]}])
                submit_t.append(time.perf_counter() - t2)
                whole_t.append(time.perf_counter() - t0)
        for label, samples in (("cart_scan via API (re-priced cart)", scan_t),
                               ("sale_submit via API, durable", submit_t),
                               ("whole sale: new + 3 scans + submit", whole_t)):
            med, p99 = _stats(samples)
            rows.append((label, f"{len(samples)} calls", f"median {med:.3f} ms",
                         f"p99 {p99:.3f} ms"))
    finally:
        nodes.close()


def bench_rebuild(rows: list[tuple[str, str, str, str]], n_events: int) -> None:
    """Half master data, half sales: 200,000 events in all by default."""
    tmp = _tmp()
    log = EventLog(open_engine(tmp / "db", create_key_file(tmp / "key")), "C01")
    n_items = n_events // 4
    loaded = _load(log, bulk_items(n_items))  # an Item and an Item Price each
    from tests.nodekit import Till, make_node

    # One real sale, priced by the node, then replayed with new numbers: sale events as big
    # as real ones without paying the API for each.
    demo = make_node(_tmp())
    till = Till(demo, "ann")
    till("shift_open", opening={"Cash": "0"})
    sale = till.sell("4000000000044", "4000000000082")
    body = till("invoice_get", invoice=sale["invoice"])
    for key in ("is_return", "late", "origin", "event", "unconfirmed", "over_returns"):
        body.pop(key)
    for item in body["items"]:
        item.pop("returned_qty")
    posted_at = datetime.fromisoformat(body["posted_at"])
    remaining = n_events - loaded
    with log.transaction() as tx:
        tx.append("shift.opened", {"shift": body["shift"], "pos_profile": "Test POS",
                                   "cashier": "ann", "opened_at": body["posted_at"],
                                   "opening": {"Cash": "0"}})
    done = 1
    while done < remaining:
        with log.transaction() as tx:
            for _ in range(min(BATCH, remaining - done)):
                tx.append("sale.submitted", restamp(
                    body, invoice=f"C01-2026-{done:06d}", shift=body["shift"],
                    cashier=body["cashier"], posted_at=posted_at))
                done += 1
    total = sum(log.vector().values())
    start = time.perf_counter()
    replayed = log.rebuild()
    seconds = time.perf_counter() - start
    assert replayed == total
    rows.append((f"rebuild {total:,} events ({loaded:,} master, {done:,} sales/shift)",
                 "1 run", f"{seconds:.1f} s", f"{total / seconds:,.0f} events/s"))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--sales", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--only", choices=PARTS + LONG, action="append",
                        help="run only these parts of the table (repeatable)")
    parser.add_argument("--days", type=int, default=365,
                        help="days of the store's history (--only year)")
    parser.add_argument("--keep-days", type=int, default=KEEP_DAYS,
                        help="days of the history the live store keeps when the year "
                        "benchmark archives (--only year)")
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the replication, ERPNext and UI load")
    args = parser.parse_args()
    parts = args.only or PARTS
    rows: list[tuple[str, str, str, str]] = []
    if "counter" in parts:
        bench_catalog(args.items, rows)
        bench_api(rows, args.sales)
        bench_rebuild(rows, args.events)
    if "replication" in parts:
        from tests.bench.replication import run_all

        run_all(rows, _stats, quick=args.quick)
    if "erpnext" in parts:
        from tests.bench import erpnext_forward, erpnext_in_flight, erpnext_pull

        rows += [(what, "", figure, target) for what, figure, target in
                 erpnext_pull.run(args.quick) + erpnext_forward.run(args.quick)
                 + erpnext_in_flight.run(args.quick)]
    if "ui" in parts:
        from tests.bench import ui_scan

        rows += [(what, "", figure, target) for what, figure, target in
                 ui_scan.run(args.quick)]
    if "year" in parts:
        from tests.bench import year

        rows += year.run(args.days, keep_days=args.keep_days)
    print(f"\nTillmesh counter benchmarks - {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}")
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
