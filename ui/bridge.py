"""The one place that calls the node: worker threads run ``tillmesh.node.api.client``
calls, results come back to the Qt thread through a signal. No call ever blocks the Qt event loop.

    Bridge.call(method, params, on_ok=..., on_error=..., lane=Lane.MAIN)
        -> a job on that lane's worker thread (its own blocking Client, one per thread,
           as ZeroMQ sockets are not thread-safe), with a finite timeout
        -> Done relayed to the Qt thread (a queued signal) -> on_ok(result) or on_error(exc)
        -> an error that on_error does not handle goes to ``Bridge.error``: the one sink.

Lanes, each a thread, so one kind of call never waits behind another:

* ``MAIN``: what the cashier does (login, cart, payment, shift); in order, one at a time,
  like the node itself (single-writer): a scan is never overtaken by the next scan.
* ``SEARCH``: search as you type; only the newest waiting query runs (latest-query-wins),
  older ones are dropped unanswered.
* ``POLL``: screens refreshing themselves (store status), in order; a screen sends its
  next refresh only when the last one has answered, so polls never pile up.
* ``PING``: the health ping (``methods``, no login needed) every second. Two failed pings
  in a row, or any call timing out, mark the node OFFLINE: the banner shows, and calls
  fail at once with NodeUnavailable instead of each waiting its timeout behind the other.
  The first answer after that marks it ONLINE again (``link_changed``).

A call that timed out is not retried (``tillmesh.node.api.client``: the node may have done it).
"""

from __future__ import annotations

import collections
import enum
import itertools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal

from tillmesh.node.api.client import Client
from tillmesh.node.errors import InternalError, NodeUnavailable, SessionExpired, TillmeshError
from tillmesh.ui.const import (
    CALL_TIMEOUT_S,
    LANE_JOIN_S,
    PING_FAILURES_OFFLINE,
    PING_INTERVAL_MS,
    PING_TIMEOUT_S,
    SEARCH_TIMEOUT_S,
)
from tillmesh.ui.models.session import Link

log = logging.getLogger(__name__)

OnOk = Callable[[Any], None]
OnError = Callable[[TillmeshError], bool]  # True: handled here, not for the sink


class Lane(enum.Enum):
    MAIN = "main"
    SEARCH = "search"
    POLL = "poll"
    PING = "ping"


_LATEST_WINS = {Lane.SEARCH}
_TIMEOUTS = {Lane.MAIN: CALL_TIMEOUT_S, Lane.SEARCH: SEARCH_TIMEOUT_S,
             Lane.POLL: CALL_TIMEOUT_S, Lane.PING: PING_TIMEOUT_S}


@dataclass(frozen=True)
class Job:
    id: int
    method: str
    params: dict[str, Any]
    token: str | None
    timeout: float


@dataclass(frozen=True)
class Done:
    job_id: int
    ok: bool
    value: Any = None
    error: TillmeshError | None = None
    superseded: bool = False  # a newer job on a latest-wins lane replaced it; not run


def offline_error(method: str) -> NodeUnavailable:
    return NodeUnavailable(f"The node is not answering; {method} was not sent")


class _Worker:
    """One lane: a daemon thread with its own Client and a queue of jobs. Qt-free."""

    def __init__(self, lane: Lane, endpoint: str, deliver: Callable[[Done], None],
                 offline: threading.Event) -> None:
        self.lane = lane
        self._endpoint = endpoint
        self._deliver = deliver
        self._offline = offline
        self._latest_wins = lane in _LATEST_WINS
        self._jobs: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=f"tillmesh-ui-{lane.value}",
                                        daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        with self._cond:
            self._jobs.append(job)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(LANE_JOIN_S)  # a call in flight ends by its timeout; daemon anyway

    def _next(self) -> tuple[Job | None, list[Job]]:
        with self._cond:
            while not self._jobs and not self._stopping:
                self._cond.wait()
            if self._stopping:
                return None, []
            if self._latest_wins:
                *dropped, job = self._jobs
                self._jobs.clear()
                return job, dropped
            return self._jobs.popleft(), []

    def _loop(self) -> None:
        client = Client(self._endpoint, timeout=CALL_TIMEOUT_S)
        try:
            while True:
                job, dropped = self._next()
                for old in dropped:
                    self._deliver(Done(old.id, False, superseded=True))
                if job is None:
                    return
                self._deliver(self._run(client, job))
        finally:
            client.close()

    def _run(self, client: Client, job: Job) -> Done:
        if self._offline.is_set() and self.lane is not Lane.PING:
            return Done(job.id, False, error=offline_error(job.method))
        client.token = job.token
        client.timeout = job.timeout
        try:
            return Done(job.id, True, value=client.call(job.method, **job.params))
        except TillmeshError as exc:
            return Done(job.id, False, error=exc)
        except Exception as exc:  # a bug here must reach the sink, not kill the lane
            log.exception("UI bridge call %s failed", job.method)
            return Done(job.id, False, error=InternalError(f"{job.method} failed in the app: "
                                                           f"{type(exc).__name__}: {exc}"))


class _Relay(QObject):
    done = Signal(object)


class Bridge(QObject):
    """Calls the node off the Qt thread; see the module docstring. Lives on the Qt thread."""

    link_changed = Signal(object)  # Link
    error = Signal(object)  # TillmeshError nobody handled: the app's one error sink

    def __init__(self, endpoint: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.endpoint = endpoint
        self.token: str | None = None
        self.link = Link.UNKNOWN
        self._ids = itertools.count(1)
        # job id -> its callbacks, its lane and the session token it was sent with
        self._pending: dict[int, tuple[OnOk | None, OnError | None, Lane, str | None]] = {}
        self._offline = threading.Event()
        self._relay = _Relay()
        self._relay.done.connect(self._on_done)
        self._workers = {lane: _Worker(lane, endpoint, self._relay.done.emit, self._offline)
                         for lane in Lane}
        self._ping_failures = 0
        self._ping_out = False
        self._ping_timer = QTimer(self)
        self._ping_timer.setInterval(PING_INTERVAL_MS)
        self._ping_timer.timeout.connect(self.ping)

    def start(self) -> None:
        """Start the health pings (the first one at once)."""
        self._ping_timer.start()
        self.ping()

    def close(self) -> None:
        self._ping_timer.stop()
        self._pending.clear()
        for worker in self._workers.values():
            worker.close()

    def call(self, method: str, params: Mapping[str, Any] | None = None, *,
             on_ok: OnOk | None = None, on_error: OnError | None = None,
             lane: Lane = Lane.MAIN, timeout: float | None = None) -> int:
        """Send ``method`` on ``lane``; the answer comes later, on the Qt thread."""
        job = Job(next(self._ids), method,
                  {k: v for k, v in (params or {}).items() if v is not None},
                  self.token, timeout or _TIMEOUTS[lane])
        self._pending[job.id] = (on_ok, on_error, lane, job.token)
        self._workers[lane].submit(job)
        return job.id

    @property
    def busy(self) -> bool:
        """Whether an answer to a call is still outstanding (health pings aside)."""
        return any(lane is not Lane.PING for _, _, lane, _ in self._pending.values())

    def ping(self) -> None:
        if self._ping_out:
            return  # one at a time: a slow node is not flooded with pings
        self._ping_out = True
        self.call("methods", on_ok=self._pinged, on_error=self._ping_failed, lane=Lane.PING)

    def _pinged(self, _: Any) -> None:
        self._ping_out = False
        self._ping_failures = 0

    def _ping_failed(self, exc: TillmeshError) -> bool:
        self._ping_out = False
        if isinstance(exc, NodeUnavailable):
            self._ping_failures += 1
            if self._ping_failures >= PING_FAILURES_OFFLINE:
                self._set_link(Link.OFFLINE)
        return True

    def _set_link(self, link: Link) -> None:
        if link is Link.OFFLINE:
            self._offline.set()
        else:
            self._offline.clear()
        if link is not self.link:
            self.link = link
            self.link_changed.emit(link)

    def _on_done(self, done: Done) -> None:
        callbacks = self._pending.pop(done.job_id, None)
        if done.superseded or callbacks is None:
            return
        on_ok, on_error, lane, token = callbacks
        if isinstance(done.error, SessionExpired) and token != self.token:
            return  # about a session already replaced (a login since): not this one's news
        if done.ok:
            self._set_link(Link.ONLINE)
            if on_ok is not None and _alive(on_ok):
                on_ok(done.value)
            return
        error = done.error or InternalError("no answer and no error")
        if isinstance(error, NodeUnavailable):
            if lane is not Lane.PING:  # waited its whole timeout, or failed fast offline
                self._set_link(Link.OFFLINE)
        elif not isinstance(error, NodeUnavailable):
            self._set_link(Link.ONLINE)  # the node answered, with an error
        if on_error is not None and (not _alive(on_error) or on_error(error)):
            return
        self.error.emit(error)


def _alive(callback: Callable[..., Any]) -> bool:
    """False for a method of a widget Qt has deleted meanwhile (a dialog closed while
    its search was out): its answer has nowhere to go."""
    owner = getattr(callback, "__self__", None)
    return not isinstance(owner, QObject) or shiboken6.isValid(owner)
