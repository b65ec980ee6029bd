"""``sale_submit`` at a busy till: the same cashier's sales idle, then while the other
counters sell at a peak rate and then flat out (their events replicated to this one) and
this counter forwards to ERPNext (the simulator on 127.0.0.1, in this process: its work
shares the 2 cores, which a store's remote ERPNext would not).

Three counters as real ``tillmesh run`` processes; C01 is set up with the simulator and
its cashier sells carts of 5 scans, ``sale_submit`` timed; C02 and C03 sell 8-line sales
through two lanes each while C01's sales are timed: at ``PEAK_SALES_S`` in all (a busy
supermarket sells about 8,000 a day, 0.2 a second, so this is a peak many times over),
then without pause (a stress: the 2 cores are then the limit, not the store's traffic).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bench.floors import Floors
from tests.bench.replication import CODES, _cluster, _seller
from tests.bench.table import Latency, Row
from tests.proc import Nodes, ok, tillmesh
from tillmesh.lab.demo_data import POS_PROFILE
from tillmesh.lab.erpnext_simulator import Simulator
from tillmesh.node.api.client import Client
from tillmesh.node.erpnext import ErpNextClient, setup
from tillmesh.node.projections.outbox import INVOICE

LANES = 2  # per busy counter
PEAK_SALES_S = 10.0  # sales per second the other counters make together at the peak
LINES = 8  # lines of each of their sales


def _timed_sales(client: Client, sales: int, rng: random.Random) -> list[float]:
    samples = []
    for _ in range(sales):
        cart = client.call("cart_new")["cart_id"]
        for code in rng.sample(CODES, 5):
            view = client.call("cart_scan", cart_id=cart, code=code)
        start = time.perf_counter()
        client.call("sale_submit", cart_id=cart,
                    payments=[{"mode_of_payment": "Cash", "amount": view["due"]}])
        samples.append(time.perf_counter() - start)
    return samples


def _their_sale(client: Client, i: int) -> None:
    client.call("sale_create", items=[{"code": CODES[(i + k) % len(CODES)]}
                                      for k in range(LINES)],
                payments=[{"mode_of_payment": "Cash", "amount": "500"}])


def _busy(till: Client, others: list[Client], sales: int, rng: random.Random,
          rate: float | None) -> tuple[list[float], int]:
    """The till's timed sales while ``others`` sell, ``rate`` sales/s in all (None: without
    pause); (samples, their sales)."""
    stop = threading.Event()
    counts = [0] * len(others)
    gap = None if rate is None else len(others) / rate

    def sell(k: int) -> None:
        due = time.monotonic()
        while not stop.is_set():
            _their_sale(others[k], counts[k])
            counts[k] += 1
            if gap is not None:
                due += gap
                stop.wait(max(0.0, due - time.monotonic()))  # the pace of a lane

    threads = [threading.Thread(target=sell, args=(k,)) for k in range(len(others))]
    for t in threads:
        t.start()
    try:
        return _timed_sales(till, sales, rng), sum(counts)
    finally:
        stop.set()
        for t in threads:
            t.join()


@dataclass
class Loaded:
    """One run's samples and what the other counters and the forwarder did meanwhile."""

    idle: list[float]
    peak: list[float]
    flat_out: list[float]
    sold: dict[str, int]  # by the other counters, at the peak and flat out
    forwarded: dict[str, int]  # invoices ERPNext received meanwhile


def _one_run(seed: int, sales: int) -> Loaded:
    with Simulator(seed="demo") as sim, Nodes() as nodes:
        url = sim.start()
        with ErpNextClient(url, sim.api_key, sim.api_secret) as client:
            setup(client, POS_PROFILE, lambda check: None)

        def link(data_dir: Path) -> None:
            ok(tillmesh(data_dir, "erpnext", "setup", "--url", url, "--key", sim.api_key,
                        "--secret", sim.api_secret, "--insecure"))

        procs = _cluster(nodes, 3, prepare=link)
        till, rng = _seller(procs[0]), random.Random(seed)
        others = [_seller(p) for p in procs[1:] for _ in range(LANES)]
        idle = _timed_sales(till, sales, rng)
        samples, sold, forwarded = {}, {}, {}
        for name, rate in (("peak", PEAK_SALES_S), ("flat out", None)):
            before = len(sim.docs(INVOICE))
            samples[name], sold[name] = _busy(till, others, sales, rng, rate)
            forwarded[name] = len(sim.docs(INVOICE)) - before
        return Loaded(idle, samples["peak"], samples["flat out"], sold, forwarded)


def run(rows: list[Row], floors: Floors, sales: int, runs: int) -> None:
    results = [_one_run(seed, sales) for seed in range(runs)]

    def total(name: str) -> str:
        return (f"{sum(r.sold[name] for r in results):,} sales replicated in, "
                f"{sum(r.forwarded[name] for r in results):,} invoices forwarded")

    rows.append(Latency([r.idle for r in results]).row(
        "sale_submit via API at an idle store (3 counters, ERPNext linked)",
        floors.commit_ms, "commit", "p99 < 5 ms"))
    rows.append(Latency([r.peak for r in results]).row(
        f"  same, 2 counters selling {PEAK_SALES_S:g} sales/s of {LINES} lines "
        f"({total('peak')})", floors.commit_ms, "commit", "p99 < 5 ms"))
    rows.append(Latency([r.flat_out for r in results]).row(
        f"  same, 2 counters selling flat out, a stress ({total('flat out')})",
        floors.commit_ms, "commit", ""))
