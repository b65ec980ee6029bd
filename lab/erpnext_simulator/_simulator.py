"""The simulator's public face: seed a site, serve it on 127.0.0.1, inspect and poke it."""

from __future__ import annotations

import enum
import queue
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType

from tillmesh.lab import demo_data
from tillmesh.lab.erpnext_simulator._api import Api
from tillmesh.lab.erpnext_simulator._clock import Clock, SiteClock, parse_datetime
from tillmesh.lab.erpnext_simulator._const import (
    HOST,
    JOB_DELAY_S,
    OPENING_STOCK_AT,
    STOP_JOIN_S,
)
from tillmesh.lab.erpnext_simulator._faults import Faults
from tillmesh.lab.erpnext_simulator._http import Server
from tillmesh.lab.erpnext_simulator._merging import closing_rows
from tillmesh.lab.erpnext_simulator._meta import V15, Release
from tillmesh.lab.erpnext_simulator._seeds import build
from tillmesh.lab.erpnext_simulator._site import Site
from tillmesh.lab.erpnext_simulator._stock import reconcile
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._throttle import Throttle

_IDLE_WAIT_S = 1.0  # seconds the job thread sleeps when nothing is queued (then rechecks)


class State(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int  # 0: the connection was dropped without an answer


class Simulator:
    """An ERPNext 15 site in memory, behaving as the recorded real one does for Tillmesh.

    ``seed``: "demo", "recorded" or "empty". ``job_delay``: seconds before a queued
    consolidation runs by itself (None: only :meth:`run_jobs` runs it). ``clock``: where
    site-local time comes from (a :class:`ManualClock` for replays).

    ``throttle``: make it as slow as a measured ERPNext (``_throttle``): documents created
    and queued consolidations wait for their share of its time.

    Where Frappe releases differ for Tillmesh: ``drop_resource_names`` makes a
    ``/api/resource`` insert ignore the client's ``name`` and child row names, as upstream
    Frappe 15 (after frappe/frappe#32327 was reverted) and Frappe 16 do, so a repeated POST
    books a second document; the default keeps them and answers a repeat with 409, as the
    recorded lab does. ``api_v2=False`` takes ``/api/v2`` away (404 there), as on a Frappe
    without it.
    """

    def __init__(self, seed: str = "demo", *, job_delay: float | None = JOB_DELAY_S,
                 clock: Clock | None = None, api_key: str | None = None,
                 api_secret: str | None = None, rng_seed: int | None = None,
                 drop_resource_names: bool = False, api_v2: bool = True,
                 throttle: Throttle | None = None, release: Release = V15) -> None:
        plan = build(seed)
        self.throttle = throttle
        self.api_key = api_key or secrets.token_hex(8)
        self.api_secret = api_secret or secrets.token_hex(8)
        self.user = plan.user
        self.faults = Faults()
        self.drop_resource_names = drop_resource_names
        self.api_v2 = api_v2
        self.state = State.CREATED
        self._lock = threading.RLock()
        self._site = Site(clock=clock or SiteClock(), user=plan.user,
                          rng=random.Random(rng_seed), release=release)
        self._log: list[LoggedRequest] = []
        self._log_lock = threading.Lock()
        # (client address, method, path) of each answer withheld after its commit, in
        # order: whoever faces the simulator from outside learns who is waiting on it.
        self.held: queue.Queue[tuple[str, str, str]] = queue.Queue()
        self._jobs = _Jobs(self._run_job, job_delay)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._load(plan.docs)
        if release.major >= 16:  # ERPNext 16's POS Settings say which invoices a POS makes
            self._load([("POS Settings", {"name": "POS Settings",
                                          "invoice_type": release.invoice_type})])
        if plan.stock:
            self._book_stock(plan.stock)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, port: int = 0, host: str = HOST) -> str:
        """Serve in a background thread; returns ``http://<host>:<port>`` (127.0.0.1, or
        an address of a test's network namespace)."""
        with self._lock:
            if self.state is State.RUNNING:
                return self.url
            if self.state is State.STOPPED:
                raise RuntimeError("a stopped simulator cannot be restarted")
            api = Api(self._site, self._lock, self.faults, api_key=self.api_key,
                      api_secret=self.api_secret, on_jobs=self._jobs.enqueue,
                      keep_resource_names=not self.drop_resource_names, api_v2=self.api_v2,
                      throttle=self.throttle)
            self._server = Server(api, self._record, port, host,
                                  on_hold=lambda *held: self.held.put(held))
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.05}, daemon=True,
                                            name="erpnext-sim-server")
            self._thread.start()
            self._jobs.start()
            self.state = State.RUNNING
            return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        """Stop serving and end every thread (bounded waits); safe to call twice."""
        with self._lock:
            if self.state is not State.RUNNING:
                self.state = State.STOPPED
                return
            self.state = State.STOPPED
            server, thread = self._server, self._thread
        self._jobs.stop()
        if server is not None:
            server.close()
        if thread is not None:
            thread.join(STOP_JOIN_S)

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- data --------------------------------------------------------------------------
    def add_items(self, n: int, *, qty: float = 0.0) -> None:
        """Add ``demo_data.bulk_items(n)`` (Items with barcodes, Item Prices), and ``qty``
        units of each in the demo warehouse when ``qty`` is set."""
        self._load(demo_data.bulk_items(n))
        if qty:
            self._book_stock((demo_data.bulk_item_code(i), demo_data.WAREHOUSE, qty)
                             for i in range(n))

    def docs(self, doctype: str) -> list[Doc]:
        """Copies of every stored document of ``doctype``, by ``modified``."""
        with self._lock:
            docs = sorted(self._site.store.all(doctype), key=lambda d: (d["modified"],
                                                                       d["name"]))
            return [self._site.answer(doctype, d) for d in docs]

    def get(self, doctype: str, name: str) -> Doc | None:
        with self._lock:
            doc = self._site.store.get(doctype, name)
            return self._site.answer(doctype, doc) if doc is not None else None

    def put_doc(self, doctype: str, doc: Doc) -> Doc:
        """Insert or replace a master document directly (no validation), modified now."""
        with self._lock:
            txn = self._site.begin()
            stored = self._site.prepare(txn, doctype, doc)
            txn.put(doctype, stored)
            txn.commit()
            return self._site.answer(doctype, stored)

    def delete_doc(self, doctype: str, name: str) -> None:
        """Delete as ERPNext does (its on_trash effects, a Deleted Document row), without
        the checks a REST delete makes."""
        with self._lock:
            txn = self._site.begin()
            self._site.delete(txn, doctype, name, force=True)
            txn.commit()

    def set_bin(self, item_code: str, warehouse: str, qty: float) -> None:
        """Set the stock of an item (a Stock Reconciliation booked now)."""
        with self._lock:
            txn = self._site.begin()
            reconcile(txn, item_code, warehouse, float(qty), txn.moment)
            txn.commit()

    def set_series(self, prefix: str, current: int) -> None:
        """Set a naming series' counter, as Document Naming Settings' "Update Series
        Counter" does: the next name drawn from ``prefix`` ends in ``current + 1``."""
        with self._lock:
            self._site.store.set_series(prefix, current)

    def run_jobs(self) -> int:
        """Run every queued background job now; returns how many ran."""
        return self._jobs.run_all()

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._log_lock:
            return list(self._log)

    # -- internals ---------------------------------------------------------------------
    def _record(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self._log.append(LoggedRequest(method, path, status))

    def _run_job(self, name: str) -> None:
        if self.throttle is not None:  # the merge takes ERPNext's time, as its worker's
            closing = self.get("POS Closing Entry", name) or {}
            self.throttle.merge(len(closing_rows(closing)))
        with self._lock:
            self._site.run_job(name)

    def _load(self, docs: Iterable[tuple[str, Doc]]) -> None:
        """Bulk load, one doctype at a time in order of first appearance (so that an Item
        Price finds its Item), straight into the store, keeping each ``modified``."""
        groups: dict[str, list[Doc]] = {}
        for doctype, doc in docs:
            groups.setdefault(doctype, []).append(doc)
        with self._lock:
            for doctype, bodies in groups.items():
                txn = self._site.begin()
                prepared = [self._site.prepare(txn, doctype, body, modified=body.get(
                    "modified")) for body in bodies]
                self._site.store.load(doctype, prepared)

    def _book_stock(self, stock: Iterable[tuple[str, str, float]]) -> None:
        with self._lock:
            txn = self._site.begin()
            for item_code, warehouse, qty in stock:
                reconcile(txn, item_code, warehouse, qty, parse_datetime(OPENING_STOCK_AT))
            txn.commit()


class _Jobs:
    """Queued consolidations, run by a timer thread after a delay or on demand."""

    def __init__(self, run: Callable[[str], None], delay_s: float | None) -> None:
        self._run = run
        self._delay_s = delay_s
        self._queue: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._delay_s is None:
            return
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="erpnext-sim-jobs")
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(STOP_JOIN_S)

    def enqueue(self, names: list[str]) -> None:
        due = time.monotonic() + (self._delay_s or 0.0)
        with self._cond:
            self._queue.extend((due, name) for name in names)
            self._cond.notify_all()

    def run_all(self) -> int:
        with self._cond:
            names = [name for _, name in self._queue]
            self._queue.clear()
        for name in names:
            self._run(name)
        return len(names)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                now = time.monotonic()
                due = [name for at, name in self._queue if at <= now]
                self._queue = [(at, n) for at, n in self._queue if at > now]
                if not due:
                    wait = min((at for at, _ in self._queue), default=now + _IDLE_WAIT_S)
                    self._cond.wait(max(0.0, min(wait - now, _IDLE_WAIT_S)))
                    continue
            for name in due:
                self._run(name)
