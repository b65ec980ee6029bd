"""Fault injection: what the network and a struggling ERPNext do to a client.

Every attribute and method is thread-safe; tests flip them while requests are in flight.
The counted faults (``fail_next``, ``rate_limit_next``, ``timeout_after_commit_next``) hit
only requests whose ``"METHOD /path"`` contains ``only_paths`` when that is set, and are
consumed one per request, rate limits first, then failures, then hangs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tillmesh.lab.erpnext_simulator._const import HANG_S, RETRY_AFTER_S
from tillmesh.lab.erpnext_simulator._errors import FrappeError, ServerError, TooManyRequests


@dataclass(frozen=True)
class Decision:
    """What the faults do to one request."""

    drop: bool = False  # close the connection at once, answer nothing
    delay_s: float = 0.0  # answer late
    refuse: FrappeError | None = None  # answer this error, commit nothing
    hang_s: float | None = None  # commit, withhold the answer this long, then drop


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down = False
        self._slow_ms = 0
        self._only_paths: str | None = None
        self._failures: list[int] = []  # HTTP status of each pending failure
        self._rate_limits: list[int] = []  # Retry-After seconds of each pending 429
        self._hangs: list[float] = []  # seconds of each pending withheld answer

    @property
    def down(self) -> bool:
        with self._lock:
            return self._down

    @down.setter
    def down(self, value: bool) -> None:
        with self._lock:
            self._down = value

    @property
    def slow_ms(self) -> int:
        with self._lock:
            return self._slow_ms

    @slow_ms.setter
    def slow_ms(self, value: int) -> None:
        with self._lock:
            self._slow_ms = max(0, int(value))

    @property
    def only_paths(self) -> str | None:
        with self._lock:
            return self._only_paths

    @only_paths.setter
    def only_paths(self, value: str | None) -> None:
        with self._lock:
            self._only_paths = value

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next ``n`` requests get ``status`` (5xx) with a Frappe-shaped error."""
        with self._lock:
            self._failures.extend([status] * n)

    def rate_limit_next(self, n: int = 1, retry_after: int = RETRY_AFTER_S) -> None:
        """The next ``n`` requests get 429 with ``Retry-After: retry_after``."""
        with self._lock:
            self._rate_limits.extend([retry_after] * n)

    def timeout_after_commit_next(self, n: int = 1, hang_s: float = HANG_S) -> None:
        """The next ``n`` requests are committed, then their answer is withheld for
        ``hang_s`` seconds and the connection dropped: ERPNext holds the document, the
        client saw a timeout."""
        with self._lock:
            self._hangs.extend([hang_s] * n)

    def clear(self) -> None:
        """Back to a healthy server."""
        with self._lock:
            self._down, self._slow_ms, self._only_paths = False, 0, None
            self._failures.clear()
            self._rate_limits.clear()
            self._hangs.clear()

    def decide(self, method: str, path: str) -> Decision:
        with self._lock:
            if self._down:
                return Decision(drop=True)
            delay = self._slow_ms / 1000
            if self._only_paths is not None and self._only_paths not in f"{method} {path}":
                return Decision(delay_s=delay)
            if self._rate_limits:
                return Decision(delay_s=delay, refuse=TooManyRequests(self._rate_limits.pop(0)))
            if self._failures:
                return Decision(delay_s=delay, refuse=ServerError(self._failures.pop(0)))
            if self._hangs:
                return Decision(delay_s=delay, hang_s=self._hangs.pop(0))
            return Decision(delay_s=delay)
