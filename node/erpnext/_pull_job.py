"""An ERPNext pull on a running counter: one at a time, in a worker thread, with progress.

On the running node a pull must not hold the event loop (replication and the tills run
on it) for the ~minute 100,000 items take: it runs in a worker thread, whose HTTP
requests wait there, and each store step (what is held, a transaction of events) is
handed to the loop, which owns the store, and made durable (group commit) before the
thread goes on. Called without a running loop (tests, tools), the pull runs to its end
in the call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import threading
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Any, TypeVar

from tillmesh.node.erpnext import _settings
from tillmesh.node.erpnext._booking import StockBooking
from tillmesh.node.erpnext._forwarder import consolidated_shifts, unclosed_sales
from tillmesh.node.erpnext._pull import Direct, PullReport, StoreAccess, Unclosed, pull
from tillmesh.node.erpnext._rest import ErpNextClient
from tillmesh.node.erpnext._site_release import capabilities
from tillmesh.node.erpnext.const import EVENTS_PER_STEP_ON_LOOP, STORE_STEP_TIMEOUT_S
from tillmesh.node.errors import StoreError, TillmeshError
from tillmesh.node.ops.config import Config
from tillmesh.node.store.event_log import EventLog

log = logging.getLogger(__name__)
T = TypeVar("T")


class PullState(enum.Enum):
    IDLE = "idle"  # none since the node started
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


async def at_once() -> None:
    """Background work waits for nothing (a counter whose API is not served)."""


class OnLoop:
    """Store access from a worker thread: each step runs on the node's event loop, small
    enough that a cashier's call waiting behind it is not kept long, and once the
    cashier's calls let it (``cashier_first``): a step taken in turn with each call of a
    sale made it wait for one step per call (a whole sale of 7 calls: 90-106 ms)."""

    events_per_step = EVENTS_PER_STEP_ON_LOOP

    def __init__(self, event_log: EventLog, loop: asyncio.AbstractEventLoop,
                 cashier_first: Callable[[], Awaitable[None]] = at_once) -> None:
        self.log, self.loop, self.cashier_first = event_log, loop, cashier_first

    def __call__(self, work: Callable[[EventLog], T]) -> T:
        async def step() -> T:
            await self.cashier_first()
            try:
                return work(self.log)
            finally:
                await self.log.flush()  # durable, and announced to peers, before going on

        coroutine = step()
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        except RuntimeError as exc:  # the loop is closed: the node is stopping
            coroutine.close()
            raise StoreError("the node is stopping; the pull stops too") from exc
        try:
            return future.result(timeout=STORE_STEP_TIMEOUT_S)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise StoreError(f"the node did not take the pull's data within"
                             f" {STORE_STEP_TIMEOUT_S:.0f} s") from exc


class PullJob:
    """The node's one pull at a time, and what the last one did."""

    def __init__(self, config: Config, event_log: EventLog,
                 cashier_first: Callable[[], Awaitable[None]] = at_once) -> None:
        self.config, self.log = config, event_log
        self.cashier_first = cashier_first  # what each step on the loop waits for
        self.state = PullState.IDLE
        self._lock = threading.Lock()
        self._view: dict[str, Any] = {"state": PullState.IDLE.value}
        self.booking = StockBooking()  # the forwarder books no sale while Bin is read

    def start(self) -> dict[str, Any]:
        with self._lock:
            if self.state is PullState.RUNNING:
                return dict(self._view)
            settings = _settings.load(self.config)  # ConfigError when not set up
            self.state = PullState.RUNNING
            self._view = {"state": self.state.value, "pos_profile": settings.pos_profile,
                          "started_at": _now(), "progress": None}
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: pull right here
            self._run(settings, Direct(self.log))
            return self.view()
        store = OnLoop(self.log, loop, self.cashier_first)
        threading.Thread(target=self._run, args=(settings, store), name="erpnext-pull",
                         daemon=True).start()
        return self.view()

    def view(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._view)

    def _progress(self, scope: str, read: int, emitted: int) -> None:
        with self._lock:
            self._view["progress"] = {"scope": scope, "read": read, "emitted": emitted}

    def _run(self, settings: _settings.ErpNextSettings, store: StoreAccess) -> None:
        outcome: dict[str, Any]
        try:
            with settings.client() as client:
                report: PullReport = pull(
                    client, store, settings.pos_profile, progress=self._progress,
                    consolidated=lambda: consolidated_shifts(
                        client, settings.pos_profile,
                        shift_invoices=settings.reads_shift_invoices),
                    unclosed=unclosed_of(client, settings), booking=self.booking)
            outcome = {"state": PullState.DONE.value, "report": report.as_dict()}
        except TillmeshError as exc:
            log.error("ERPNext pull failed: %s", exc.message)
            outcome = {"state": PullState.FAILED.value, "error": exc.to_wire()}
        except Exception as exc:  # a bug: report it, keep the node running
            log.exception("ERPNext pull crashed")
            outcome = {"state": PullState.FAILED.value,
                       "error": {"code": "internal", "message": f"pull crashed: {exc!r}"}}
        with self._lock:
            self.state = PullState(outcome["state"])
            self._view.update(outcome, finished_at=_now())


def unclosed_of(client: ErpNextClient, settings: _settings.ErpNextSettings) -> Unclosed:
    """What the pull asks for the sales whose stock ERPNext booked before a closing
    listed them: per sale to a site that books stock as each sale arrives (ERPNext 16
    in Sales Invoice mode), ``unclosed_sales``; else nothing (the site's release is read
    once, when Bin is)."""
    def unclosed() -> Collection[str]:
        if settings.per_shift:
            return ()
        if not asked:
            asked.append(capabilities(client.release()).stock_checked_at_submit)
        return unclosed_sales(client, settings.pos_profile) if asked[0] else ()
    asked: list[bool] = []
    return unclosed


def _now() -> str:
    return datetime.now(UTC).isoformat()
