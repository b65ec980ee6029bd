"""``sale_submit`` at a busy till: the same cashier's sales idle, then while the other
counters sell flat out (their events replicated to this one) and this counter forwards
to ERPNext (the simulator on 127.0.0.1, in this process: its work shares the 2 cores,
which a store's remote ERPNext would not).

Three counters as real ``tillmesh run`` processes; C01 is set up with the simulator and
its cashier sells carts of 5 scans, ``sale_submit`` timed; C02 and C03 sell one-line
sales through two lanes each without pause while C01's sales are timed.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from tests.bench.floors import Floors
from tests.bench.replication import CODES, _cluster, _sale, _seller
from tests.bench.table import Latency, Row
from tests.proc import Nodes, ok, tillmesh
from tillmesh.lab.demo_data import POS_PROFILE
from tillmesh.lab.erpnext_simulator import Simulator
from tillmesh.node.api.client import Client
from tillmesh.node.erpnext import ErpNextClient, setup
from tillmesh.node.projections.outbox import INVOICE

LANES = 2  # per busy counter


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


def _busy(till: Client, others: list[Client], sales: int,
          rng: random.Random) -> tuple[list[float], int]:
    """The till's timed sales while ``others`` sell without pause; (samples, their sales)."""
    stop = threading.Event()
    counts = [0] * len(others)

    def sell(k: int) -> None:
        while not stop.is_set():
            _sale(others[k], counts[k])
            counts[k] += 1

    threads = [threading.Thread(target=sell, args=(k,)) for k in range(len(others))]
    for t in threads:
        t.start()
    try:
        return _timed_sales(till, sales, rng), sum(counts)
    finally:
        stop.set()
        for t in threads:
            t.join()


def _one_run(seed: int, sales: int) -> tuple[list[float], list[float], int, int]:
    """(idle samples, busy samples, invoices forwarded meanwhile, sales replicated in)."""
    with Simulator(seed="demo") as sim, Nodes() as nodes:
        url = sim.start()
        with ErpNextClient(url, sim.api_key, sim.api_secret) as client:
            setup(client, POS_PROFILE, lambda check: None)

        def link(data_dir: Path) -> None:
            ok(tillmesh(data_dir, "erpnext", "setup", "--url", url, "--key", sim.api_key,
                        "--secret", sim.api_secret, "--insecure"))

        procs = _cluster(nodes, 3, prepare=link)
        till, rng = _seller(procs[0]), random.Random(seed)
        idle = _timed_sales(till, sales, rng)
        before = len(sim.docs(INVOICE))
        busy, received = _busy(till, [_seller(p) for p in procs[1:] for _ in range(LANES)],
                               sales, rng)
        return idle, busy, len(sim.docs(INVOICE)) - before, received


def run(rows: list[Row], floors: Floors, sales: int, runs: int) -> None:
    results = [_one_run(seed, sales) for seed in range(runs)]
    received, forwarded = sum(r[3] for r in results), sum(r[2] for r in results)
    rows.append(Latency([r[0] for r in results]).row(
        "sale_submit via API at an idle store (3 counters, ERPNext linked)",
        floors.commit_ms, "commit", "p99 < 5 ms"))
    rows.append(Latency([r[1] for r in results]).row(
        f"  same, while 2 counters sell flat out ({received:,} sales replicated in) and "
        f"{forwarded:,} invoices are forwarded", floors.commit_ms, "commit", "p99 < 5 ms"))
