"""``sale_submit`` at a busy till: the same cashier's sales idle, then while the other
counters sell at a peak rate and then flat out (their events replicated to this one) and
this counter forwards to ERPNext (the simulator on 127.0.0.1, in this process).

Three counters as real ``tillmesh run`` processes; C01 is set up with the simulator and
its cashier, in a process of its own (``cashier.apart``), sells carts of 5 scans, one
started every ``TILL_EVERY_S`` (ten sales a second: many times the fastest cashier, yet
with the moments between calls a till has, which its background work waits for),
``sale_submit`` timed; C02 and C03 sell 8-line sales through two lanes each while C01's
sales are timed: at ``PEAK_SALES_S`` in all (a busy supermarket sells about 8,000 a day,
0.2 a second, so this is a peak many times over), then without pause (a stress).

Where the processes run on this 2-core machine:

- the till on its own core: C01 and its cashier on one core; C02, C03, their sellers and
  the simulator on the other, as in a store, where they are other machines;
- shared: every process on both cores, at the peak: the other counters' work then takes
  turns with the till's on the same cores, which no store's till sees.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bench import cashier
from tests.bench.floors import Floors
from tests.bench.replication import CODES, _cluster, _seller
from tests.bench.table import Latency, Row
from tests.proc import Nodes, ok, tillmesh
from tillmesh.lab.demo_data import POS_PROFILE, WAREHOUSE, demo_master_docs
from tillmesh.lab.erpnext_simulator import Simulator
from tillmesh.node.api.client import Client
from tillmesh.node.erpnext import ErpNextClient, setup
from tillmesh.node.projections.outbox import INVOICE

LANES = 2  # per busy counter
PEAK_SALES_S = 10.0  # sales per second the other counters make together at the peak
LINES = 8  # lines of each of their sales
SCANS = 5  # of each of the till's sales
TILL_EVERY_S = 0.1  # a sale of the till started every ... seconds
# (phase, the others' sales per second: 0 none, None flat out, every process on both cores)
# The stress goes last: the forwarder does not keep up with it (the simulator answers from
# this process, beside the sellers), and the phase after it would measure the thousands of
# invoices it left owed being forwarded.
PHASES: tuple[tuple[str, float | None, bool], ...] = (
    ("idle", 0.0, False), ("peak", PEAK_SALES_S, False),
    ("peak, shared", PEAK_SALES_S, True), ("flat out", None, False))


def _their_sale(client: Client, i: int) -> None:
    client.call("sale_create", items=[{"code": CODES[(i + k) % len(CODES)]}
                                      for k in range(LINES)],
                payments=[{"mode_of_payment": "Cash", "amount": "500"}])


def _busy(till: str, others: list[Client], sales: int, seed: int, rate: float | None,
          cpus: frozenset[int]) -> tuple[list[float], int]:
    """The till's timed sales while ``others`` sell, ``rate`` sales/s in all (None: without
    pause); (samples, their sales)."""
    stop = threading.Event()
    counts = [0] * len(others)
    gap = len(others) / rate if rate else None  # None: without pause (idle: no lanes)

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
        return (cashier.apart(till, sales, seed, SCANS, cpus, every_s=TILL_EVERY_S).submits,
                sum(counts))
    finally:
        stop.set()
        for t in threads:
            t.join()


@dataclass
class Loaded:
    """One run's samples and what the other counters and the forwarder did meanwhile."""

    samples: dict[str, list[float]]  # by phase (PHASES)
    sold: dict[str, int]  # by the other counters, per phase
    forwarded: dict[str, int]  # invoices ERPNext received, per phase


def _forwarding(till: str, sim: Simulator, deadline_s: float = 60.0) -> None:
    """Once a first sale of the till reached ERPNext: its forwarder is at work."""
    cashier.sales(till, 1, 0, SCANS)
    deadline = time.monotonic() + deadline_s
    while not sim.docs(INVOICE):
        if time.monotonic() > deadline:
            raise AssertionError(f"the till forwarded nothing within {deadline_s:g} s")
        time.sleep(0.1)


def _cores() -> tuple[frozenset[int], frozenset[int]] | None:
    """(the till's core, the other one), or None on a machine of one core."""
    cpus = sorted(os.sched_getaffinity(0))
    return (frozenset(cpus[:1]), frozenset(cpus[1:])) if len(cpus) > 1 else None


def _stocked(sim: Simulator) -> None:
    """Stock in ERPNext for every sale the bench makes: the demo store's runs out within
    a phase, after which ERPNext refused most of them (out of stock) and the forwarder
    measured recorded refusals, and looked for each refused invoice before giving up."""
    codes = set(cashier.CODES)
    for doctype, doc in demo_master_docs():
        if doctype == "Item" and any(b["barcode"] in codes for b in doc.get("barcodes") or ()):
            sim.set_bin(doc["item_code"], WAREHOUSE, 1e6)


def _one_run(seed: int, sales: int) -> Loaded:
    everywhere = frozenset(os.sched_getaffinity(0))
    with Simulator(seed="demo") as sim, Nodes() as nodes:
        _stocked(sim)
        url = sim.start()
        with ErpNextClient(url, sim.api_key, sim.api_secret) as client:
            setup(client, POS_PROFILE, lambda check: None)

        def link(data_dir: Path) -> None:
            ok(tillmesh(data_dir, "erpnext", "setup", "--url", url, "--key", sim.api_key,
                        "--secret", sim.api_secret, "--insecure"))

        procs = _cluster(nodes, 3, prepare=link)
        till = procs[0].endpoint
        _forwarding(till, sim)
        others = [_seller(p) for p in procs[1:] for _ in range(LANES)]
        cores = _cores()
        samples, sold, forwarded = {}, {}, {}
        try:
            for phase, rate, shared in PHASES:
                mine, theirs = (everywhere, everywhere) if shared or not cores else cores
                for proc in procs:
                    cashier.pin(proc.pid, mine if proc is procs[0] else theirs)
                cashier.pin(os.getpid(), theirs)  # the simulator and the other sellers
                before = len(sim.docs(INVOICE))
                samples[phase], sold[phase] = _busy(till, others if rate != 0 else [], sales,
                                                    seed, rate, mine)
                forwarded[phase] = len(sim.docs(INVOICE)) - before
        finally:
            cashier.pin(os.getpid(), everywhere)
        return Loaded(samples, sold, forwarded)


def run(rows: list[Row], floors: Floors, sales: int, runs: int) -> None:
    results = [_one_run(seed, sales) for seed in range(runs)]
    where = "the till on its own core" if _cores() else "one core for all"
    for phase, rate, shared in PHASES:
        what = ("at an idle store" if rate == 0 else
                f"while 2 counters sell {rate:g} sales/s of {LINES} lines" if rate else
                "while 2 counters sell flat out, a stress")
        done = (f"{sum(r.sold[phase] for r in results):,} sales replicated in, "
                f"{sum(r.forwarded[phase] for r in results):,} invoices forwarded")
        rows.append(Latency([r.samples[phase] for r in results]).row(
            f"sale_submit via API, a sale every {TILL_EVERY_S:g} s, {what} (3 counters, "
            "ERPNext linked; "
            f"{'every process on both cores' if shared else where}; {done})",
            floors.commit_ms, "commit", "" if rate is None else "p99 < 5 ms"))
