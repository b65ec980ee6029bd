"""A throttle that makes the simulator as slow as a measured ERPNext (issue 14).

A real ERPNext 15 on 2 cores takes a POS Invoice in ~0.1 s of its time whatever the
concurrency (it saturates from 2 requests in flight), a consolidated Sales Invoice in a
time that grows with its rows, and merges a closing's invoices in its background worker
on the same cores. :class:`Throttle` is a token bucket whose tokens are seconds of
ERPNext's work, refilled at ``speed`` per second (``speed`` > 1 runs a scaled-down day
faster than real time) up to ``burst``: each document created costs ``costs.of`` it,
a queued consolidation ``costs.merging`` its invoices, and a request waits until the
bucket has paid for it (a reservation: tokens go into debt, in arrival order). Nothing
else is slowed: reads are cheap on the real one too. The wait happens outside the
simulator's lock, so requests queue as they would at ERPNext's workers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Costs:
    """Seconds of ERPNext's work: per document created, by doctype, plus per item row;
    and per invoice a consolidation merges (its rows included in the figure)."""

    per_document: Mapping[str, float] = field(default_factory=dict)
    per_row: Mapping[str, float] = field(default_factory=dict)
    per_merged_invoice: float = 0.0

    def of(self, doctype: str, body: Mapping[str, Any]) -> float:
        rows = len(body.get("items") or []) if isinstance(body, Mapping) else 0
        return self.per_document.get(doctype, 0.0) + self.per_row.get(doctype, 0.0) * rows

    def merging(self, invoices: int) -> float:
        return self.per_merged_invoice * invoices


class Throttle:
    def __init__(self, costs: Costs, *, speed: float = 1.0, burst_s: float = 0.0,
                 clock: Any = time.monotonic, sleep: Any = time.sleep) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.costs = costs
        self.speed = speed
        self.burst_s = burst_s
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._tokens = burst_s
        self._at = clock()
        self.charged_s = 0.0  # seconds of ERPNext work paid for so far

    def take(self, seconds: float) -> float:
        """Wait until ``seconds`` of ERPNext's work are paid for; returns the wait."""
        if seconds <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst_s, self._tokens + (now - self._at) * self.speed)
            self._at = now
            self._tokens -= seconds
            self.charged_s += seconds
            wait = max(0.0, -self._tokens / self.speed)
        if wait:
            self._sleep(wait)
        return wait

    def document(self, doctype: str, body: Mapping[str, Any]) -> float:
        return self.take(self.costs.of(doctype, body))

    def merge(self, invoices: int) -> float:
        return self.take(self.costs.merging(invoices))
