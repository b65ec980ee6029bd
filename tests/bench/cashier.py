"""The cashier's sale through the local API: a new cart, scans, the payment of what is due.

Timed where a cashier waits: each scan, the payment (``sale_submit``), the whole sale. A
cashier can also sell from a process of its own (``apart``), on chosen CPUs: so that what
else the bench runs in its own process (the ERPNext simulator, the other counters'
sellers) shares no GIL with the till's timing, and, where asked, no core with the till,
as the other counters of a store are other machines.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import random
from dataclasses import dataclass, field
from time import perf_counter, sleep, time

from tillmesh.lab.demo_data import demo_master_docs
from tillmesh.node.api.client import Client

CODES = [doc["barcodes"][0]["barcode"] for doctype, doc in demo_master_docs()
         if doctype == "Item" and doc.get("barcodes") and not doc.get("disabled")
         and doc["stock_uom"] == "Nos"][:50]
TIMEOUT_S = 30.0


@dataclass
class Timed:
    """Seconds each scan, each payment and each whole sale took, as the cashier waited."""

    scans: list[float] = field(default_factory=list)
    submits: list[float] = field(default_factory=list)
    wholes: list[float] = field(default_factory=list)
    ended: list[float] = field(default_factory=list)  # time.time() as each sale was answered


def logged_in(endpoint: str) -> Client:
    """The demo cashier at the till ``endpoint``, with a shift open."""
    client = Client(endpoint, timeout=TIMEOUT_S)
    client.login("cashier", "1111")
    if client.call("shift_current") is None:
        client.call("shift_open", opening={"Cash": "0"})
    return client


def sale(client: Client, codes: list[str], timed: Timed | None = None) -> dict[str, object]:
    """One sale of ``codes`` scanned one by one, paid in cash; its answer."""
    timed = timed if timed is not None else Timed()
    start = perf_counter()
    cart = client.call("cart_new")["cart_id"]
    for code in codes:
        scanned = perf_counter()
        view = client.call("cart_scan", cart_id=cart, code=code)
        timed.scans.append(perf_counter() - scanned)
    paying = perf_counter()
    answer: dict[str, object] = client.call(
        "sale_submit", cart_id=cart,
        payments=[{"mode_of_payment": "Cash", "amount": view["due"]}])
    timed.submits.append(perf_counter() - paying)
    timed.wholes.append(perf_counter() - start)
    timed.ended.append(time())
    return answer


def sales(endpoint: str, count: int, seed: int, scans: int,
          seconds: float = math.inf, every_s: float = 0.0) -> Timed:
    """``count`` sales of ``scans`` scans each, in this process, one starting every
    ``every_s`` seconds at most (0: back to back); fewer if ``seconds`` run out first."""
    timed, rng = Timed(), random.Random(seed)
    until = perf_counter() + seconds
    with logged_in(endpoint) as client:
        for _ in range(count):
            started = perf_counter()
            if started >= until:
                break
            sale(client, rng.sample(CODES, scans), timed)
            sleep(max(0.0, started + every_s - perf_counter()))
    return timed


def _sales_on(endpoint: str, count: int, seed: int, scans: int,
              cpus: frozenset[int] | None, seconds: float, every_s: float) -> Timed:
    if cpus is not None:
        pin(os.getpid(), cpus)
    return sales(endpoint, count, seed, scans, seconds, every_s)


def apart(endpoint: str, count: int, seed: int, scans: int,
          cpus: frozenset[int] | None = None, seconds: float = math.inf,
          every_s: float = 0.0) -> Timed:
    """``sales`` in a process of its own (on ``cpus``, if given)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_sales_on, (endpoint, count, seed, scans, cpus, seconds, every_s))


def pin(pid: int, cpus: frozenset[int]) -> None:
    """Every thread of process ``pid`` on ``cpus`` (threads it starts later inherit it)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(task), cpus)
