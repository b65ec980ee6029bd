"""The simulator's throttle (issue 14): held to a measured ERPNext's pace, it takes
documents at the rate its costs say, however many clients send at once, and charges a
consolidated Sales Invoice by its rows and a queued consolidation by its invoices."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tillmesh.lab.erpnext_simulator import Costs, Simulator, Throttle


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_requests_at_once_are_served_one_after_another_at_the_rate() -> None:
    t = FakeTime()
    throttle = Throttle(Costs(), speed=2.0, clock=t.clock, sleep=t.sleep)
    for _ in range(3):  # three seconds of work arrive at once, paid at 2 per second
        throttle.take(1.0)
    assert t.slept == [0.5, 1.0, 1.5]
    t.now = 10.0  # idle long enough: no debt, and no credit beyond the burst (0)
    assert throttle.take(1.0) == 0.5


def test_a_burst_is_free_then_the_rate_holds() -> None:
    t = FakeTime()
    throttle = Throttle(Costs(), burst_s=2.0, clock=t.clock, sleep=t.sleep)
    assert [throttle.take(1.0) for _ in range(3)] == [0.0, 0.0, 1.0]


def test_costs_count_rows_and_merged_invoices() -> None:
    costs = Costs(per_document={"Sales Invoice": 0.5}, per_row={"Sales Invoice": 0.01},
                  per_merged_invoice=0.2)
    assert costs.of("Sales Invoice", {"items": [{}] * 300}) == 3.5
    assert costs.of("Customer", {}) == 0.0
    assert costs.merging(10) == 2.0


def test_the_simulator_takes_documents_at_the_throttled_rate() -> None:
    per = 0.04  # seconds a Customer costs: 25 per second
    n, clients = 40, 4
    throttle = Throttle(Costs(per_document={"Customer": per}))
    with Simulator(seed="demo", throttle=throttle) as sim:
        headers = {"Authorization": f"token {sim.api_key}:{sim.api_secret}"}
        with httpx.Client(base_url=sim.url, headers=headers) as client:
            client.get("/api/resource/Customer")  # connected, and reads are not throttled
            began = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                answers = list(pool.map(lambda i: client.post(
                    "/api/resource/Customer", json={"customer_name": f"Throttled {i}"}),
                    range(n)))
            took = time.perf_counter() - began
    assert {a.status_code for a in answers} == {200}
    assert abs(throttle.charged_s - n * per) < 1e-9
    # 1.6 s of work: never faster than the rate, and not much slower (the simulator's
    # own time is small next to 40 ms)
    assert n * per <= took + 0.01 and took < n * per * 1.5, took
