"""Replication benchmarks on real `tillmesh run` processes on 127.0.0.1.

- latency: a sale's `sale_submit` answer on one counter until the other counters hold
  its event (watchers poll each counter's vector), 3 and 5 counters;
- throughput: every counter sells as fast as it can, with one and with four selling
  lanes (a lane waits for each answer), in one call per sale (self-checkout) and through
  the cashier's calls (a new cart, 5-10 scans, the payment); sales per second until every
  sale is durable on every counter;
- bootstrap: `tillmesh join` of a new counter into a store of 100,000 items and
  200,000 events;
- partition: two halves sell apart, then reconnect; time until they agree, and what a
  cashier selling on one of them meanwhile waited for each whole sale.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.bench import cashier
from tests.bench.floors import Floors
from tests.bench.table import Latency, Row, rate_row
from tests.proc import NodeProcess, Nodes, network, tillmesh
from tillmesh.lab.demo_data import bulk_items
from tillmesh.node.api.client import Client
from tillmesh.node.ops.config import load
from tillmesh.node.projections.master_data import upserted_body
from tillmesh.node.store import open_engine, read_key_file
from tillmesh.node.store.event_log import EventLog

CODES = cashier.CODES[:20]
SCANS = 5  # of each sale of the cashier who sells while the halves agree


def _admin(proc: NodeProcess) -> Client:
    client = proc.client(timeout=30)
    client.login("admin", "1234")
    return client


def _cluster(nodes: Nodes, count: int,
             prepare: Callable[[Path], None] | None = None) -> list[NodeProcess]:
    """``count`` counters; ``prepare`` sees the first one's data dir before it starts."""
    data_dir = nodes.init(*network(), node="C01")
    if prepare is not None:
        prepare(data_dir)
    first = nodes.start(data_dir)
    procs = [first]
    with _admin(first) as c:
        for i in range(2, count + 1):
            code = c.call("invite_create")["code"]
            data_dir = nodes.tmp() / "d"
            result = tillmesh(data_dir, "join", code, "--node", f"C0{i}", *network())
            assert result.returncode == 0, result.stderr
            procs.append(nodes.start(data_dir))
    return procs


def _seller(proc: NodeProcess) -> Client:
    return cashier.logged_in(proc.endpoint)


def _sale(client: Client, i: int) -> dict[str, object]:
    """One sale in one call (`sale_create`), as a self-checkout or a script sells."""
    return client.call("sale_create", items=[{"code": CODES[i % len(CODES)]}],
                       payments=[{"mode_of_payment": "Cash", "amount": "50"}])


def _cart_sale(client: Client, i: int) -> dict[str, object]:
    """A cashier's sale: a new cart, 5-10 scans, the payment of what is due."""
    rng = random.Random(i)
    return cashier.sale(client, rng.sample(CODES, rng.randint(5, 10)))


def _wait(clients: list[Client], origin: str, seq: int, timeout_s: float = 30) -> float:
    deadline = time.monotonic() + timeout_s
    pending = list(clients)
    while pending:
        pending = [c for c in pending if c.call("status")["vector"].get(origin, 0) < seq]
        if time.monotonic() > deadline:
            raise AssertionError(f"{origin}:{seq} not everywhere after {timeout_s} s")
    return time.perf_counter()


def _latency_run(counters: int, sales: int) -> list[float]:
    with Nodes() as nodes:
        procs = _cluster(nodes, counters)
        seller = _seller(procs[0])
        watchers = [_admin(p) for p in procs[1:]]
        samples = []
        for i in range(sales):
            sale = _sale(seller, i)
            committed = time.perf_counter()
            origin, seq = str(sale["event"]).split(":")
            samples.append(_wait(watchers, origin, int(seq)) - committed)
    return samples


def latency(rows: list[Row], floors: Floors, counters: int, sales: int, runs: int) -> None:
    measured = Latency([_latency_run(counters, sales) for _ in range(runs)])
    rows.append(measured.row(f"replication latency, {counters} counters (visible on all)",
                             floors.commit_ms, "commit", "p99 < 20 ms"))


def _throughput_run(counters: int, seconds: float, lanes: int,
                    sell: Callable[[Client, int], object]) -> tuple[int, float]:
    with Nodes() as nodes:
        procs = _cluster(nodes, counters)
        sellers = [_seller(p) for p in procs for _ in range(lanes)]
        counts = [0] * len(sellers)
        stop = time.monotonic() + seconds

        def run(k: int) -> None:
            while time.monotonic() < stop:
                sell(sellers[k], k * 1_000_000 + counts[k])
                counts[k] += 1

        start = time.perf_counter()
        threads = [threading.Thread(target=run, args=(k,)) for k in range(len(sellers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        admins = [_admin(p) for p in procs]
        target = admins[0].call("status")["vector"]
        for c in admins[1:]:
            for origin, seq in c.call("status")["vector"].items():
                target[origin] = max(target.get(origin, 0), seq)
        for origin, seq in target.items():
            _wait(admins, origin, seq, timeout_s=120)
        return sum(counts), time.perf_counter() - start


def throughput(rows: list[Row], counters: int, seconds: float, runs: int, lanes: int = 1,
               carts: bool = False) -> None:
    """``lanes`` sellers per counter, each waiting for its answer before the next sale
    (a till, or a self-checkout lane): with one, the figure is bounded by each sale's
    latency; with more, by what the counters can do."""
    sell, how = (_cart_sale, "cashier's calls, 5-10 lines") if carts else (
        _sale, "sale_create, 1 line")
    results = [_throughput_run(counters, seconds, lanes, sell) for _ in range(runs)]
    rows.append(rate_row(
        f"throughput, {counters} counters x {lanes} lane(s) selling at once ({how})",
        f"{sum(n for n, _ in results):,} sales", [n / s for n, s in results],
        "sales/s durable on all", ">= 500 sales/s" if carts else ""))


def bootstrap(rows: list[Row], items: int) -> None:
    with Nodes() as nodes:
        data_dir = nodes.init(*network(), node="C01")
        cfg = load(data_dir)
        log = EventLog(open_engine(cfg.db_path, read_key_file(cfg.key_path)), "C01")
        batch: list[tuple[str, dict[str, object]]] = []
        for doc in bulk_items(items):
            batch.append(doc)
            if len(batch) == 5000:
                with log.transaction() as tx:
                    for doctype, d in batch:
                        tx.append("master.upserted", upserted_body(doctype, d))
                batch.clear()
        with log.transaction() as tx:
            for doctype, d in batch:
                tx.append("master.upserted", upserted_body(doctype, d))
        total = sum(log.vector().values())
        log.engine.dispose()
        first = nodes.start(data_dir)
        with _admin(first) as c:
            code = c.call("invite_create")["code"]
        start = time.perf_counter()
        result = tillmesh(nodes.tmp() / "d", "join", code, "--node", "C02", *network(),
                          timeout=600)
        elapsed = time.perf_counter() - start
        assert result.returncode == 0, result.stderr
        rows.append(Row(f"bootstrap: join a store of {items:,} items", f"{total:,} events",
                        f"{elapsed:.1f} s, {total / elapsed:,.0f} events/s",
                        target="< 20 s"))


def partition(rows: list[Row], sales_per_side: int) -> None:
    with Nodes() as nodes:
        procs = _cluster(nodes, 2)
        admins = [_admin(p) for p in procs]
        for a in admins:
            a.call("replication_pause", paused=True)
        sellers = [_seller(p) for p in procs]

        def run(k: int) -> None:
            for i in range(sales_per_side):
                _sale(sellers[k], i)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        vectors = [a.call("status")["vector"] for a in admins]
        till, agreed, timed = cashier.logged_in(procs[0].endpoint), threading.Event(), \
            cashier.Timed()
        failed: list[BaseException] = []

        def sell() -> None:  # while C01 takes in C02's sales (one sale at least)
            rng = random.Random(7)
            try:
                while not (timed.wholes and agreed.is_set()):
                    cashier.sale(till, rng.sample(CODES, SCANS), timed)
            except BaseException as exc:  # said by the bench's thread, not lost in this one
                failed.append(exc)

        selling = threading.Thread(target=sell)
        start = time.perf_counter()
        for a in admins:
            a.call("replication_pause", paused=False)
        selling.start()
        for origin in ("C01", "C02"):
            seq = max(v.get(origin, 0) for v in vectors)
            _wait(admins, origin, seq, timeout_s=300)
        elapsed = time.perf_counter() - start
        agreed.set()
        selling.join()
        till.close()
        if failed:
            raise failed[0]
        rows.append(Row(f"partition heal, {sales_per_side:,} sales on each side",
                        f"{2 * sales_per_side:,} sales", f"{elapsed:.2f} s to converge"))
        waits = Latency([timed.wholes])
        rows.append(Row(f"whole sale (new + {SCANS} scans + submit) on one side while it"
                        " takes in the other's", f"{len(timed.wholes):,} sales",
                        f"{waits.figure()}, longest {max(timed.wholes) * 1000:.1f} ms"))


def run_all(rows: list[Row], floors: Floors, *, runs: int, quick: bool = False) -> None:
    scale = 10 if quick else 1
    latency(rows, floors, 3, 300 // scale, runs)
    latency(rows, floors, 5, 200 // scale, runs)
    throughput(rows, 3, 10.0 / scale, runs)
    throughput(rows, 3, 10.0 / scale, runs, lanes=4)
    throughput(rows, 3, 10.0 / scale, runs, lanes=4, carts=True)
    bootstrap(rows, 100_000 // scale)
    partition(rows, 10_000 // scale)
