"""API methods of the ERPNext link: ``erpnext_pull`` and ``erpnext_status``.

On the running node a pull must not hold the event loop (replication and the tills run
on it) for the ~minute 100,000 items take: it runs in a worker thread, whose HTTP
requests wait there, and each store step (what is held, a transaction of events) is
handed to the loop, which owns the store, and made durable (group commit) before the
thread goes on. ``erpnext_pull`` answers at once; ``erpnext_status`` shows the progress.
Called without a running loop (tests, tools), the pull runs to its end in the call.

Both methods need no login, like ``peers``: the API socket is readable by the service
user only, and a pull only refreshes data from the configured ERPNext.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from tillmesh.node.erpnext import _settings, _state
from tillmesh.node.erpnext._const import STORE_STEP_TIMEOUT_S
from tillmesh.node.erpnext._forwarder import consolidated_shifts
from tillmesh.node.erpnext._pull import Direct, PullReport, StoreAccess, pull
from tillmesh.node.errors import StoreError, TillmeshError
from tillmesh.node.projections import deliveries, outbox
from tillmesh.node.store.event_log import EventLog

if TYPE_CHECKING:
    from tillmesh.node.api._service import Node

log = logging.getLogger(__name__)
T = TypeVar("T")


class PullState(enum.Enum):
    IDLE = "idle"  # none since the node started
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class OnLoop:
    """Store access from a worker thread: each step runs on the node's event loop."""

    def __init__(self, event_log: EventLog, loop: asyncio.AbstractEventLoop) -> None:
        self.log, self.loop = event_log, loop

    def __call__(self, work: Callable[[EventLog], T]) -> T:
        async def step() -> T:
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

    def __init__(self, node: Node) -> None:
        self.node = node
        self.state = PullState.IDLE
        self._lock = threading.Lock()
        self._view: dict[str, Any] = {"state": PullState.IDLE.value}

    def start(self) -> dict[str, Any]:
        with self._lock:
            if self.state is PullState.RUNNING:
                return dict(self._view)
            settings = _settings.load(self.node.config)  # ConfigError when not set up
            self.state = PullState.RUNNING
            self._view = {"state": self.state.value, "pos_profile": settings.pos_profile,
                          "started_at": _now(), "progress": None}
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: pull right here
            self._run(settings, Direct(self.node.log))
            return self.view()
        threading.Thread(target=self._run, args=(settings, OnLoop(self.node.log, loop)),
                         name="erpnext-pull", daemon=True).start()
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
                    consolidated=lambda: consolidated_shifts(client, settings.pos_profile))
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


def _now() -> str:
    return datetime.now(UTC).isoformat()


def register(node: Node) -> None:
    job = PullJob(node)

    def erpnext_pull() -> dict[str, Any]:
        """Pull master data and stock from ERPNext now (in the background); see erpnext_status."""
        return job.start()

    def erpnext_status() -> dict[str, Any]:
        """The ERPNext link: settings (no secret), the current or last pull, per-doctype state."""
        try:
            settings: dict[str, Any] | None = _settings.load(node.config).public()
        except TillmeshError as exc:
            settings = {"error": exc.message}
        with node.read() as session:
            scopes = [vars(s) for s in _state.states(session)]
            failed = len(deliveries.exceptions(session))
            pending = len(outbox.pending(session)) - failed
        forwarder = node.forwarder
        return {"settings": settings, "pull": job.view(), "scopes": scopes,
                "configured": forwarder is not None,
                "reachable": None if forwarder is None else forwarder.reachable,
                "forwarder": node.elected_forwarder(),
                "last_delivery": None if forwarder is None else forwarder.last_delivery,
                "last_error": None if forwarder is None else forwarder.last_error,
                "pending": pending, "failed": failed}

    node.expose("erpnext_pull", erpnext_pull, auth="none")
    node.expose("erpnext_status", erpnext_status, auth="none")
