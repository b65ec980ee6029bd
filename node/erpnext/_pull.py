"""The master-data pull: ERPNext's lists in, ``master.*`` and ``stock.base`` events out.

The imperative shell around ``_mapping`` (what to keep, what to emit) and ``_paging``
(how to read a changing list): it asks ERPNext, asks the store what it holds, and
appends events in transactions of ``EVENTS_PER_TRANSACTION``. Events replicate like any
others, so counters without internet get the data from their peers.

    POS Profile (named in the settings) -> its company, price list, warehouse, currency
    Currency, Global Defaults           -> read whole (rounding of the totals engine)
    the release (get_versions, POS      -> "ERPNext Release", when it changed (the totals
      Settings, System Settings)           engine copies that release)
    each Spec of _mapping.SPECS         -> incremental by ``modified`` from the watermark
    Deleted Document                    -> ``master.deleted`` for documents held here
    Bin of the profile's warehouse      -> ``stock.base`` for changed quantities

Failures: a malformed row is logged and skipped; a doctype ERPNext refuses (403 on
Deleted Document for a restricted API user) is logged and the others go on; ERPNext
unreachable or failing (``ErpNextUnreachable``, ``ErpNextServerError``: an answer over
the client's cap, a request or the whole pull past its deadline, ``_limits``) ends the
pull once what was already read is written: the next pull resumes from the watermarks.

Store access goes through ``StoreAccess``, always from the pull's one writer thread:
``Direct`` runs each step there (the CLI, with the node stopped); the daemon's pull job hands
each step on to its event loop, which owns the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, Protocol, TypeVar

from tillmesh.node.erpnext import _state as state
from tillmesh.node.erpnext import const
from tillmesh.node.erpnext._booking import StockBooking
from tillmesh.node.erpnext._mapping import (
    BATCH_QTY_METHOD,
    BIN_FIELDS,
    CHILD_BOOKKEEPING,
    DELETED_FIELDS,
    PULLED_DOCTYPES,
    SPECS,
    Doc,
    Spec,
    attach,
    deletion,
    is_newer,
    parse_parent,
    project,
    single,
    stock_bodies,
    stock_changes,
    tracked_stock,
    upserts,
)
from tillmesh.node.erpnext._paging import (
    MODIFIED_FORMAT,
    Cursor,
    advance,
    last_key,
    query,
    resume_key,
    start,
)
from tillmesh.node.erpnext._rest import ErpNextClient
from tillmesh.node.erpnext._text import printable
from tillmesh.node.errors import (
    ErpNextAuthError,
    ErpNextError,
    ErpNextNotFound,
    ErpNextServerError,
    ErpNextUnreachable,
    ErpNextValidation,
    ValidationError,
)
from tillmesh.node.projections import ledger
from tillmesh.node.projections.master_data import DELETED, UPSERTED
from tillmesh.node.projections.pos_profile import RELEASE
from tillmesh.node.projections.stock import BASE
from tillmesh.node.store.event_log import EventLog, collector_paused

log = logging.getLogger(__name__)

T = TypeVar("T")
Progress = Callable[[str, int, int], None]  # (scope, rows read, events recorded)
Consolidated = Callable[[], Collection[str]]  # shifts whose closing ERPNext consolidated
# Sales and returns whose stock ERPNext booked, though no closing it holds lists them yet
Unclosed = Callable[[], Collection[str]]


class StoreAccess(Protocol):
    events_per_step: int  # events a step records in one transaction

    def __call__(self, work: Callable[[EventLog], T]) -> T: ...


class Direct:
    """Store access right where it is asked for (the node is not running)."""

    events_per_step = const.EVENTS_PER_TRANSACTION  # nobody waits: big transactions

    def __init__(self, log: EventLog) -> None:
        self.log = log

    def __call__(self, work: Callable[[EventLog], T]) -> T:
        return work(self.log)


def no_consolidated_shifts() -> Collection[str]:
    """Until the forwarder reads POS Closing Entries: Bin includes no Tillmesh shift."""
    return ()


def none_unclosed() -> Collection[str]:
    """Where ERPNext books a sale's stock only when a closing consolidates it."""
    return ()


@dataclass
class PullReport:
    scopes: list[state.ScopeState] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def emitted(self) -> int:
        return sum(s.emitted for s in self.scopes)

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 3), "emitted": self.emitted,
                "errors": self.errors[:const.MAX_REPORTED_ERRORS], "error_count": len(self.errors),
                "scopes": [vars(s) for s in self.scopes]}


@dataclass
class _Tally:
    """One scope of a pull; ``emitted`` and ``errors`` grow as its events are written."""

    scope: str
    watermark: str | None
    seen: int
    errors: int
    pulled_at: str
    emitted: int = 0

    def state(self) -> state.ScopeState:
        return state.ScopeState(self.scope, self.watermark, self.pulled_at, self.seen,
                                self.emitted, self.errors)


def _snapshot(doctypes: tuple[str, ...],
              warehouse: str) -> Callable[[EventLog], state.Snapshot]:
    def work(event_log: EventLog) -> state.Snapshot:
        with event_log.transaction() as tx:  # creates the state table on the first pull
            state.ensure_table(tx.session)
            return state.snapshot(tx.session, doctypes, warehouse)
    return work


def _booked_unclosed(invoices: Collection[str], warehouse: str
                     ) -> Callable[[EventLog], dict[str, Decimal]]:
    def work(event_log: EventLog) -> dict[str, Decimal]:
        with event_log.transaction() as tx:
            return ledger.booked_unclosed(tx.session, invoices, warehouse)
    return work


def _added(rows: list[dict[str, Any]], booked: dict[str, Decimal]) -> list[dict[str, Any]]:
    """Bin's rows with ``booked`` added to each key's quantity (a row ``stock_changes``
    finds malformed is left as it is, to be reported)."""
    left = dict(booked)
    out = []
    for row in rows:
        add = left.pop(row["item_code"], None) if isinstance(row.get("item_code"), str) \
            else None
        try:
            out.append({**row, "actual_qty": Decimal(str(row["actual_qty"])) + add}
                       if add else row)
        except (InvalidOperation, KeyError):
            out.append(row)
    return out + [{"item_code": key, "actual_qty": qty} for key, qty in left.items()]


class Puller:
    """One pull of the master data of one POS Profile.

    ERPNext is read in this thread; every store step runs, in order, on one writer
    thread (which hands it to ``store``), so the events of one doctype are written while
    the next one is read. The store is read once, at the start (``state.Snapshot``).
    """

    known: state.Snapshot  # what the store holds, read at the start of ``run``
    _writer: ThreadPoolExecutor  # the one thread that touches the store, during ``run``

    def __init__(self, client: ErpNextClient, store: StoreAccess, profile: str, *,
                 consolidated: Consolidated = no_consolidated_shifts,
                 unclosed: Unclosed = none_unclosed,
                 booking: StockBooking | None = None,
                 progress: Progress | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.client, self.store, self.profile_name = client, store, profile
        self.consolidated, self.unclosed = consolidated, unclosed
        self.booking = booking or StockBooking()  # the forwarder's, on a running counter
        self.progress: Progress = progress or (lambda scope, read, emitted: None)
        self.clock = clock
        self.report = PullReport()
        self._tallies: list[_Tally] = []
        self._pending: list[Future[None]] = []

    def run(self) -> PullReport:
        started = time.perf_counter()
        with ThreadPoolExecutor(1, thread_name_prefix="erpnext-store") as writer:
            try:
                self._run(writer)
            finally:  # what was read is written, even when ERPNext went away meanwhile
                self._drain()
                self.report.scopes = [t.state() for t in self._tallies]
                self.report.seconds = time.perf_counter() - started
        return self.report

    def _run(self, writer: ThreadPoolExecutor) -> None:
        self._writer = writer
        profile = single("POS Profile", self.client.get_doc("POS Profile",
                                                            self.profile_name) or {})
        warehouse = str(profile.get("warehouse") or "")
        self.known = writer.submit(
            self.store, _snapshot(PULLED_DOCTYPES, warehouse)).result()
        self._scope("POS Profile", partial(self._singles, "POS Profile", [profile]))
        currency = profile.get("currency")
        if isinstance(currency, str) and currency:
            self._scope("Currency", partial(self._whole, "Currency", currency))
        self._scope("Global Defaults", partial(self._whole, "Global Defaults",
                                               "Global Defaults"))
        self._scope(RELEASE, self._release)
        for spec in SPECS:
            self._scope(spec.scope(profile), partial(self._list, spec, profile))
        self._scope("Deleted Document", self._deletions)
        self._scope(f"Bin@{warehouse}", partial(self._bins, warehouse))

    # --- one scope ------------------------------------------------------------------------

    def _scope(self, scope: str, work: Callable[[], None]) -> None:
        """Pull one scope; a refusal of this scope is reported and the pull goes on."""
        try:
            work()
        except (ErpNextUnreachable, ErpNextServerError):
            raise
        except ErpNextError as exc:
            self._error(f"{scope}: not pulled: {exc.message}")

    def _error(self, message: str) -> None:
        message = printable(message)  # it quotes ERPNext's rows and words
        log.error("ERPNext pull: %s", message)
        self.report.errors.append(message)

    def _emit(self, scope: str, watermark: str | None, seen: int, errors: int,
              events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Queue the events, then the scope's new watermark, for the writer."""
        tally = _Tally(scope, watermark, seen, errors, self.clock().isoformat())
        self._tallies.append(tally)
        self.progress(scope, seen, 0)
        step = self.store.events_per_step
        for i in range(0, len(events), step):
            chunk = events[i:i + step]
            self._write(partial(self._append, chunk=chunk, tally=tally))
        self._write(partial(self._record, tally=tally))

    def _write(self, work: Callable[[EventLog], None]) -> None:
        self._pending.append(self._writer.submit(self.store, work))

    def _drain(self) -> None:
        """Wait for every queued write; raise the first failure after the rest are done."""
        failure: BaseException | None = None
        for future in self._pending:
            try:
                future.result()
            except BaseException as exc:  # noqa: B036  (re-raised below, after the others)
                failure = failure or exc
        self._pending.clear()
        if failure is not None:
            raise failure

    def _append(self, event_log: EventLog, chunk: Sequence[tuple[str, dict[str, Any]]],
                tally: _Tally) -> None:
        with event_log.transaction() as tx:
            for (kind, body), made in zip(chunk, tx.append_many(chunk), strict=True):
                if isinstance(made, ValidationError):  # e.g. over the event size bound
                    tally.errors += 1
                    self._error(f"{body.get('doctype', kind)} {body.get('name', '')}:"
                                f" not recorded: {made.message}")
                else:
                    tally.emitted += 1
        self.progress(tally.scope, tally.seen, tally.emitted)

    def _record(self, event_log: EventLog, tally: _Tally) -> None:
        with event_log.transaction() as tx:
            state.record(tx.session, tally.state())

    def _parent_batches(self, doctype: str, fields: Sequence[str], filters: list[list[Any]],
                        names: list[str], parent: str) -> list[list[str]]:
        """``names`` cut so that each ``parent in (…)`` list request, with the paging filter
        it gains, keeps its request line under what ERPNext's web server accepts."""
        budget = const.MAX_REQUEST_LINE_BYTES - const.PAGING_FILTER_RESERVE_BYTES

        def fits(batch: list[str]) -> bool:
            return self.client.list_request_line(
                doctype, fields, [*filters, ["parent", "in", batch]], "name",
                const.CHILD_PAGE_LENGTH, parent) <= budget

        batches: list[list[str]] = []
        for name in names:
            if batches and fits([*batches[-1], name]):
                batches[-1].append(name)
            elif fits([name]):
                batches.append([name])
            else:  # not with ERPNext names (<= 140 characters): the budget holds ~10 of them
                raise ErpNextError(f"{parent} {name!r} is too long a name to list by")
        return batches

    def _scan(self, doctype: str, fields: Sequence[str], filters: list[list[Any]],
              key: str, cursor: Cursor, parent: str | None = None) -> Iterator[list[Doc]]:
        """Every row from ``cursor`` on, page by page (see ``_paging``)."""
        length = const.CHILD_PAGE_LENGTH if parent else const.PAGE_LENGTH
        while not cursor.done:
            q = query(cursor, key)
            rows = self.client.get_list(doctype, fields, [*filters, *q.filters], q.order_by,
                                        page_length=length, parent=parent)
            yield rows
            cursor = advance(cursor, key, last_key(rows, key), len(rows), length)

    # --- documents ------------------------------------------------------------------------

    def _upserts(self, doctype: str, docs: Iterable[Doc]) -> list[tuple[str, dict[str, Any]]]:
        """The events of ``docs`` (already known newer than held), noted as held now."""
        held = self.known.held.setdefault(doctype, {})
        bodies = upserts(doctype, docs)
        held.update((b["name"], (b["modified"], False)) for b in bodies)
        return [(UPSERTED, b) for b in bodies]

    def _singles(self, doctype: str, docs: list[Doc]) -> None:
        held = self.known.held.get(doctype, {})
        fresh = [d for d in docs if is_newer(d["modified"], held.get(d["name"]))]
        self._emit(doctype, max(d["modified"] for d in docs), len(docs), 0,
                   self._upserts(doctype, fresh))

    def _whole(self, doctype: str, name: str) -> None:
        """A settings document; if ERPNext has none, the defaults Tillmesh assumes hold
        (ERPNext's own: rounding on, cents), so that is a warning, not an error."""
        doc = self.client.get_doc(doctype, name, missing_ok=True)
        if doc is None:
            log.warning("ERPNext pull: %s %s not found; its defaults apply", doctype, name)
            self._emit(doctype, None, 0, 0, [])
        else:
            self._singles(doctype, [single(doctype, doc)])

    def _release(self) -> None:
        """The site's release and number format (``pos_profile.RELEASE``), recorded when
        they changed: the counters price as that release does. The number format is
        System Settings'; where the API user may not read it, the currency's holds."""
        release = self.client.release()
        try:
            number_format = self.client.call_method("frappe.client.get_single_value", {
                "doctype": "System Settings", "field": "number_format"})
        except (ErpNextAuthError, ErpNextNotFound, ErpNextValidation):
            number_format = None
        record = {"erpnext": ".".join(map(str, release.erpnext)),
                  "frappe": ".".join(map(str, release.frappe)),
                  "invoice_type": release.invoice_type,
                  "number_format": str(number_format) if number_format else None}
        held = self.known.release or {}
        fresh = [] if all(held.get(k) == v for k, v in record.items()) else [
            {"name": RELEASE, "modified": self.clock().strftime(MODIFIED_FORMAT), **record}]
        self._emit(RELEASE, None, 1, 0, self._upserts(RELEASE, fresh))

    def _list(self, spec: Spec, profile: Doc) -> None:
        scope = spec.scope(profile)
        watermark = self.known.watermarks.get(scope)
        cursor = start(resume_key(watermark, const.OVERLAP_MINUTES))
        docs: dict[str, Doc] = {}
        seen = errors = 0
        fields = ("name", "modified", *spec.fields)
        for rows in self._scan(spec.doctype, fields, spec.filters(profile), "modified",
                               cursor):
            seen += len(rows)
            for row in rows:
                try:
                    doc = parse_parent(spec, row)
                except ErpNextError as exc:
                    errors += 1
                    self._error(exc.message)
                    continue
                docs[doc["name"]] = doc  # read twice (saved during the scan): later wins
                watermark = max(watermark or "", doc["modified"])
            self.progress(scope, seen, 0)
        held = self.known.held.get(spec.doctype, {})
        changed = {n: d for n, d in docs.items() if is_newer(d["modified"], held.get(n))}
        if spec.children and changed:
            errors += self._children(spec, changed)
        self._emit(scope, watermark, seen, errors, self._upserts(spec.doctype,
                                                                 changed.values()))

    def _children(self, spec: Spec, changed: dict[str, Doc]) -> int:
        """Fill the child tables of ``changed``; re-read stale parents whole.

        Returns the number of parents dropped as malformed."""
        stale: set[str] = set()
        for child in spec.children:
            fields = (*CHILD_BOOKKEEPING, *child.fields)
            kind = [["parenttype", "=", spec.doctype], ["parentfield", "=", child.field]]
            if len(changed) > const.CHILD_SCAN_THRESHOLD:
                batches: list[list[Any]] = [[]]  # the whole child table, in pages
            else:
                batches = [[["parent", "in", names]] for names in self._parent_batches(
                    child.doctype, fields, kind, sorted(changed), spec.doctype)]
            for batch in batches:
                for rows in self._scan(child.doctype, fields, [*kind, *batch], "name",
                                       start(None), parent=spec.doctype):
                    stale |= attach(changed, child, rows)
        dropped = 0
        for name in sorted(stale):
            full = self.client.get_doc(spec.doctype, name, missing_ok=True)
            try:
                if full is None:  # deleted meanwhile: Deleted Document will say so
                    raise ErpNextError(f"{spec.doctype} {name} vanished during the pull")
                changed[name] = project(spec, full)
            except ErpNextError as exc:
                changed.pop(name)
                dropped += 1
                self._error(exc.message)
        return dropped

    def _deletions(self) -> None:
        scope = "Deleted Document"
        watermark = self.known.watermarks.get(scope)
        rows: list[Doc] = []
        for page in self._scan(scope, DELETED_FIELDS,
                               [["deleted_doctype", "in", list(PULLED_DOCTYPES)]], "creation",
                               start(resume_key(watermark, const.OVERLAP_MINUTES))):
            rows += page
        events, errors = [], 0
        for row in rows:
            doctype = row.get("deleted_doctype")
            held = self.known.held.get(doctype, {}) if isinstance(doctype, str) else {}
            try:
                when, body = deletion(row, held)
            except ErpNextError as exc:
                errors += 1
                self._error(f"Deleted Document {row.get('name')}: {exc.message}")
                continue
            watermark = max(watermark or "", when)
            if body is not None:
                held[body["name"]] = (when, True)
                events.append((DELETED, body))
        self._emit(scope, watermark, len(rows), errors, events)

    # --- stock ----------------------------------------------------------------------------

    def _bins(self, warehouse: str) -> None:
        """Bin between two readings of the consolidated shifts, and of the invoices whose
        stock ERPNext booked before a closing listed them (see ``node.stock``): what
        those took, as the counters count it, is added back, since their slots are not
        in the reading's watermark (``ledger.booked_unclosed``)."""
        if not warehouse:
            raise ErpNextError(f"POS Profile {self.profile_name} names no warehouse")
        with self.booking.reading():  # this counter's forwarder books no sale meanwhile
            for _ in range(const.BIN_READ_ATTEMPTS):
                before = frozenset(self.consolidated()), frozenset(self.unclosed())
                rows = [r for page in self._scan("Bin", BIN_FIELDS,
                                                 [["warehouse", "=", warehouse]], "modified",
                                                 start(None)) for r in page]
                rows += self._tracked(warehouse)
                shifts, unclosed = frozenset(self.consolidated()), frozenset(self.unclosed())
                if (shifts, unclosed) == before:
                    break
            else:
                raise ErpNextError("POS Closing Entries kept consolidating, or invoices kept"
                                   " being booked, while Bin was read")
        if unclosed:
            rows = _added(rows, self._writer.submit(
                self.store, _booked_unclosed(unclosed, warehouse)).result())
        changes, problems = stock_changes(rows, self.known.stock, shifts)
        for problem in problems:
            self._error(problem)
        read_at = self.clock().isoformat()
        # No watermark: Bin is read whole each time (a quantity can change without
        # ERPNext touching anything this pull would see).
        self._emit(f"Bin@{warehouse}", None, len(rows), len(problems),
                   [(BASE, b) for b in stock_bodies(warehouse, changes, shifts, read_at)])

    def _tracked(self, warehouse: str) -> list[dict[str, Any]]:
        """The warehouse's batches and serial numbers as Bin-shaped rows, read only in a
        store that holds some (``tracked_stock``)."""
        held = self.known.held
        batches = self.client.call_method(BATCH_QTY_METHOD, {
            "warehouse": warehouse, "for_stock_levels": 1}) if held.get("Batch") else []
        serials = [str(r["name"]) for page in self._scan(
            "Serial No", ("name", "modified"), [["warehouse", "=", warehouse]], "modified",
            start(None)) for r in page] if held.get("Serial No") else []
        if not isinstance(batches, list):
            raise ErpNextError(f"{BATCH_QTY_METHOD} answered {type(batches).__name__}, not a"
                               " list of batches")
        return tracked_stock(batches, serials, self.known.stock)


def pull(client: ErpNextClient, store: StoreAccess, profile: str, *,
         consolidated: Consolidated = no_consolidated_shifts,
         unclosed: Unclosed = none_unclosed, booking: StockBooking | None = None,
         progress: Progress | None = None) -> PullReport:
    """Pull the master data and stock of POS Profile ``profile`` into the store, within
    the client's ``pull_deadline_s``; Bin is read while no sale is being booked through
    ``booking`` (this counter's forwarder's). What it reads is held until written, with
    Python's cycle collector paused (``collector_paused``), as for a replay."""
    with client.within(client.limits.pull_deadline_s, "the pull"), collector_paused():
        return Puller(client, store, profile, consolidated=consolidated, unclosed=unclosed,
                      booking=booking, progress=progress).run()
