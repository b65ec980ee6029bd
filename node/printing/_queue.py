"""The print queue: receipts and drawer kicks, off the request path, never lost.

``submit_receipt`` and ``submit_kick`` return at once: they put the job in memory, write a
receipt to the spool (``_spool``: one small sealed file per job in the data directory,
local, never replicated) and wake the worker. ``submit_layout`` (a sale's receipt) leaves
the laying out and the spooling to the worker too, so the thread that recorded the sale
(the event loop, while the cashier waits for the answer) does neither.

One worker thread prints, one job at a time: drawer kicks first (a customer is waiting for
change), then receipts, oldest first. Each try runs in the device thread (one, kept for
every try: starting a thread per try cost more than laying out the receipt), which the
worker waits for at most ``attempt_timeout_s``, so even a device file stuck in its driver
cannot hang the queue. A failed try leaves the job where it was and the next one comes
after a growing pause (1 s, 2 s, 4 s … 60 s); new work or ``retry_now`` (the cashier's
"printer is back" button) tries again at once.

What may be lost, and why that is safe: the sale itself is in the event log before a job
exists. A receipt submitted as its layout is spooled a moment after the sale was answered:
a hard stop within that moment loses its printout (``receipt_print`` prints it). A kick
that could not reach the printer within ``KICK_MAX_AGE_S`` is dropped (a drawer springing
open minutes later is worse than one opened with the key). A job in flight when the node
stops prints again after the restart (paper at least once). A spool file half written by a
power cut is set aside as ``.bad``; the receipt is reprinted with ``receipt_print``.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from tillmesh.node.errors import PrinterError
from tillmesh.node.printing._layout import Receipt, from_plain, to_plain
from tillmesh.node.printing._spool import Spool
from tillmesh.node.printing.const import (
    CLOSE_TIMEOUT_S,
    DROPS_KEPT,
    IDLE_WAIT_S,
    KICK_MAX_AGE_S,
    MAX_PENDING_JOBS,
    RETRY_FACTOR,
    RETRY_FIRST_S,
    RETRY_MAX_S,
)

log = logging.getLogger("tillmesh.printing")

Clock = Callable[[], datetime]


class Device(Protocol):
    """What the queue needs of a printer (EscposDevice, or a test's twin)."""

    def describe(self) -> str: ...

    def print(self, receipt: Receipt) -> None:
        """Print one receipt; PrinterError when the printer cannot take it."""

    def kick(self) -> None:
        """Open the cash drawer; PrinterError when the printer cannot take it."""


class JobKind(StrEnum):
    KICK = "kick"
    RECEIPT = "receipt"


class QueueState(StrEnum):
    OFF = "off"  # no printer configured (reported by the print service; a queue is never off)
    IDLE = "idle"  # nothing to print
    PRINTING = "printing"  # a job is at the printer
    WAITING = "waiting"  # the last try failed; the next comes after a pause
    CLOSED = "closed"  # stopped; the spool keeps what was pending


@dataclass
class Job:
    id: str  # sorts in submission order: the spool file's name
    kind: JobKind
    title: str
    created_at: datetime
    receipt: Receipt | None = None
    layout: Callable[[], Receipt] | None = None  # a receipt the worker lays out first
    attempts: int = 0
    last_error: str | None = None

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind.value, "title": self.title,
                "created_at": self.created_at, "attempts": self.attempts,
                "last_error": self.last_error}


@dataclass(frozen=True)
class QueueStatus:
    """What the UI shows in its printer banner; the defaults describe "no printer"."""

    state: QueueState = QueueState.OFF
    online: bool | None = None  # None: no try since the start
    jobs: tuple[dict[str, Any], ...] = ()  # pending, in the order they will print
    last_error: str | None = None  # cleared by the next job that prints
    last_error_at: datetime | None = None
    last_printed_at: datetime | None = None
    retry_in_s: float | None = None  # seconds to the next try while jobs wait
    dropped: tuple[dict[str, Any], ...] = ()  # jobs given up on, newest last, with why

    @property
    def pending(self) -> int:
        return len(self.jobs)


@dataclass(frozen=True)
class Backoff:
    first_s: float = RETRY_FIRST_S
    max_s: float = RETRY_MAX_S
    factor: float = RETRY_FACTOR

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failed tries in a row (failures >= 1)."""
        return min(self.max_s, self.first_s * self.factor ** (failures - 1))


class PrintQueue:
    def __init__(self, device: Device, spool: Spool, *, clock: Clock,
                 attempt_timeout_s: float, backoff: Backoff | None = None) -> None:
        self.device = device
        self.spool = spool
        self.clock = clock
        self.attempt_timeout_s = attempt_timeout_s
        self.backoff = backoff or Backoff()
        self._cond = threading.Condition()
        self._state = QueueState.IDLE
        self._ids = itertools.count(1)
        self._failures = 0  # failed tries in a row
        self._next_try = 0.0  # time.monotonic() of the next try
        self._online: bool | None = None  # None: not tried since the start
        self._last_error: tuple[str, datetime] | None = None
        self._last_printed_at: datetime | None = None
        self._dropped: deque[dict[str, Any]] = deque(maxlen=DROPS_KEPT)
        self._hung: threading.Event | None = None  # set once a try that timed out comes back
        self._tries: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._device_thread: threading.Thread | None = None
        self._jobs: list[Job] = spool.load(_spooled_job)
        self._worker = threading.Thread(target=self._run, name="tillmesh-printer",
                                        daemon=True)  # the spool outlives a hard stop

    def start(self) -> None:
        self._worker.start()

    # --- submitting, from any thread --------------------------------------------------

    def submit_receipt(self, receipt: Receipt) -> Job:
        job = Job(self._new_id(), JobKind.RECEIPT, receipt.title, self.clock(), receipt)
        with self._cond:
            self._spool_write(job)
            self._add_receipt(job)
        return job

    def submit_layout(self, title: str, layout: Callable[[], Receipt]) -> Job:
        """A receipt that the worker lays out (``layout()``) and spools before printing it."""
        job = Job(self._new_id(), JobKind.RECEIPT, title, self.clock(), layout=layout)
        with self._cond:
            self._add_receipt(job)
        return job

    def _add_receipt(self, job: Job) -> None:
        self._jobs.append(job)
        receipts = [j for j in self._jobs if j.kind is JobKind.RECEIPT]
        for old in receipts[:max(0, len(receipts) - MAX_PENDING_JOBS)]:
            self._drop(old, f"{old.title} was dropped: more than {MAX_PENDING_JOBS} "
                            "receipts were waiting (reprint it with receipt_print)")
        self._wake()

    def submit_kick(self, title: str) -> Job:
        job = Job(self._new_id(), JobKind.KICK, title, self.clock())
        with self._cond:
            kicks = sum(1 for j in self._jobs if j.kind is JobKind.KICK)
            self._jobs.insert(kicks, job)  # before every receipt: the customer waits
            self._wake()
        return job

    def retry_now(self) -> None:
        """Try the next job now (someone says the printer is back)."""
        with self._cond:
            self._wake()

    def status(self) -> QueueStatus:
        with self._cond:
            error, error_at = self._last_error or (None, None)
            retry = max(0.0, self._next_try - time.monotonic()) if self._jobs else None
            return QueueStatus(self._state, self._online, tuple(j.view() for j in self._jobs),
                               error, error_at, self._last_printed_at,
                               None if retry is None else round(retry, 1), tuple(self._dropped))

    def wait_idle(self, timeout_s: float) -> bool:
        """True once nothing is pending (within ``timeout_s``): for shutdown and tests."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs, timeout=timeout_s)

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Stop the worker (a job in flight may finish); the spool keeps the rest."""
        with self._cond:
            self._state = QueueState.CLOSED
            self._cond.notify_all()
        if self._worker.is_alive():
            self._worker.join(timeout_s)
        self._tries.put(None)  # the device thread ends after a try in flight
        for job in [j for j in self._jobs if j.layout is not None]:  # kept for the restart
            if (error := self._lay_out(job)) is not None:
                log.error("cannot print %s", job.title, exc_info=error)

    def _wake(self) -> None:
        self._next_try = 0.0  # new work is tried at once; failures still grow the pause
        self._cond.notify_all()

    def _new_id(self) -> str:
        micros = int(self.clock().timestamp() * 1_000_000)
        return f"{micros:017d}-{next(self._ids):06d}"

    # --- the worker ---------------------------------------------------------------------

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            if job.layout is not None:  # spooled first, while earlier jobs wait their turn
                if (error := self._lay_out(job)) is not None:
                    self._finish(job, error)
                continue
            self._finish(job, self._attempt(job))

    def _lay_out(self, job: Job) -> Exception | None:
        """Lay out and spool a job submitted as its layout; the error that stops it (a bug
        in the layout: ``_finish`` drops it and says so)."""
        layout = job.layout
        if layout is None:  # laid out meanwhile (a worker still busy at ``close``)
            return None
        try:
            receipt = layout()
        except Exception as exc:  # noqa: BLE001  (handed to _finish, which reports it)
            return exc
        with self._cond:
            job.receipt, job.layout = receipt, None
            if job in self._jobs:  # not dropped meanwhile (too many waiting)
                self._spool_write(job)
        return None

    def _next_job(self) -> Job | None:
        with self._cond:
            while self._state is not QueueState.CLOSED:
                self._drop_stale_kicks()
                unspooled = next((j for j in self._jobs if j.layout is not None), None)
                if unspooled is not None:  # whatever is due: a restart must find it
                    return unspooled
                wait = IDLE_WAIT_S
                if self._jobs:
                    wait = self._next_try - time.monotonic()
                    if self._hung is not None and not self._hung.is_set():
                        wait = max(wait, self.backoff.first_s)
                    elif wait <= 0:
                        self._state = QueueState.PRINTING
                        return self._jobs[0]
                self._cond.wait(timeout=min(wait, IDLE_WAIT_S))
            return None

    def _attempt(self, job: Job) -> BaseException | None:
        outcome: list[BaseException | None] = []
        done = threading.Event()

        def run() -> None:
            try:
                if job.receipt is None:
                    self.device.kick()
                else:
                    self.device.print(job.receipt)
            except Exception as exc:  # noqa: BLE001  (handed to the worker, which decides)
                outcome.append(exc)
            else:
                outcome.append(None)
            finally:
                done.set()

        self._hand_to_device(run)
        if not done.wait(self.attempt_timeout_s):
            self._hung = done  # no new try while it hangs: it holds the device
            return PrinterError(f"The printer ({self.device.describe()}) did not take "
                                f"{job.title} within {self.attempt_timeout_s:g} s")
        return outcome[0]

    def _hand_to_device(self, run: Callable[[], None]) -> None:
        if self._device_thread is None:
            self._device_thread = threading.Thread(target=self._serve_device, daemon=True,
                                                   name="tillmesh-print-device")
            self._device_thread.start()  # a daemon: a stuck driver never holds up an exit
        self._tries.put(run)

    def _serve_device(self) -> None:
        while (run := self._tries.get()) is not None:
            run()

    def _finish(self, job: Job, error: BaseException | None) -> None:
        now = self.clock()
        with self._cond:
            job.attempts += 1
            if error is None:
                self._remove(job)
                self._online, self._failures, self._last_error = True, 0, None
                self._last_printed_at = now
            elif isinstance(error, PrinterError):
                job.last_error = error.message
                self._online, self._failures = False, self._failures + 1
                self._last_error = (error.message, now)
                self._next_try = time.monotonic() + self.backoff.delay(self._failures)
                log.warning("printing %s failed (try %d): %s", job.title, job.attempts,
                            error.message)
            else:  # a bug drawing this very job: retrying cannot help, the rest must go on
                log.error("cannot print %s", job.title, exc_info=error)
                self._drop(job, f"{job.title} could not be printed (internal error: "
                                f"{error!r}); reprint it with receipt_print")
            if self._state is not QueueState.CLOSED:
                self._state = QueueState.WAITING if self._failures else QueueState.IDLE
            self._cond.notify_all()

    def _drop_stale_kicks(self) -> None:
        now = self.clock()
        for job in [j for j in self._jobs if j.kind is JobKind.KICK]:
            if (now - job.created_at).total_seconds() > KICK_MAX_AGE_S:
                self._drop(job, f"The drawer kick for {job.title} was dropped: the printer "
                                f"did not answer within {KICK_MAX_AGE_S:g} s")

    def _drop(self, job: Job, why: str) -> None:
        self._remove(job)
        self._dropped.append({"title": job.title, "kind": job.kind.value, "why": why,
                              "at": self.clock()})
        log.warning("%s", why)

    def _remove(self, job: Job) -> None:
        if job in self._jobs:  # the job at the printer may have been dropped meanwhile
            self._jobs.remove(job)
        if job.kind is JobKind.RECEIPT:
            self.spool.remove(job.id)

    # --- the spool ----------------------------------------------------------------------

    def _spool_write(self, job: Job) -> None:
        assert job.receipt is not None
        try:
            self.spool.write({"id": job.id, "title": job.title,
                              "created_at": job.created_at.isoformat(),
                              "receipt": to_plain(job.receipt)})
        except OSError as exc:  # printing goes on from memory; say so
            self._last_error = (f"Cannot keep {job.title} in the spool ({exc}); it is "
                                "pending in memory only", self.clock())
            log.warning("%s", self._last_error[0])


def _spooled_job(data: dict[str, Any]) -> Job:
    return Job(str(data["id"]), JobKind.RECEIPT, str(data["title"]),
               datetime.fromisoformat(data["created_at"]), from_plain(data["receipt"]))
