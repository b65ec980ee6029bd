"""The forwarder: delivers the store's outbox to ERPNext, exactly once, from one counter.

Every counter runs one; only the elected one (``replication.election``: the lowest live
counter that reaches ERPNext, sticky) sends. A counter restored from a backup that has
not caught up yet (``store.backup_restored``) stands down: it says it does not reach
ERPNext, so it is not elected. Each cycle takes the next documents whose
prerequisites ERPNext already holds (``node.outbox.next_due``), forms each from the events
behind it (``_documents``, pure), sends it (``_delivery``) and records the result as an
event:

- delivered (200, 409, or found in ERPNext under its name): ``forward.acked``;
- refused by ERPNext, stored under a name of ERPNext's own, naming something a supervisor
  settled elsewhere, impossible to form from its records, or failed on a bug here:
  ``forward.failed`` with the reason (ERPNext's words where it gave them). Only what
  depends on it waits; a supervisor retries or resolves it (``exceptions_*``);
- network errors, 5xx, 429 (after the client's own retries), 401/403: nothing is
  recorded, the counter says it does not reach ERPNext (another one takes over) and
  tries again later.

A store that delivers per shift (``erpnext.toml`` ``delivery = "per-shift"``) sends a
closed shift as its consolidated Sales Invoices (``_per_shift``) in place of its closing
(``outbox.by_shift``); once all are in, one transaction acks the closing, the opening and
every sale they carry, each sale with the name of its invoice. A refusal holds the shift
whole, as ``forward.failed`` of its closing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from tillmesh.node.domain.pos_context import PosContext
from tillmesh.node.erpnext import _delivery as delivery
from tillmesh.node.erpnext import _documents as documents
from tillmesh.node.erpnext import _per_shift as whole_shift
from tillmesh.node.erpnext._delivery import SUBMITTED, TRANSIENT, Outcome, Refused
from tillmesh.node.erpnext._rest import Doc, ErpNextClient
from tillmesh.node.erpnext._sessions import Sessions, gone
from tillmesh.node.erpnext._settings import ErpNextSettings
from tillmesh.node.erpnext._setup import SHIFT_FIELD
from tillmesh.node.erpnext._site_release import Capabilities, Release, capabilities
from tillmesh.node.erpnext.const import (
    CLOSING_RECHECK_S,
    FORWARD_BACKOFF_S,
    FORWARD_BATCH,
    FORWARD_CYCLE_S,
    FORWARD_IDLE_S,
    FORWARD_IN_FLIGHT,
    PROBE_EVERY_S,
    PULL_EVERY_S,
    RECORD_SLICE,
    RELEASE_RECHECK_S,
)
from tillmesh.node.errors import ErpNextError, TillmeshError, ValidationError
from tillmesh.node.projections import awaiting_closing, deliveries, ledger, outbox, refunds
from tillmesh.node.projections.coupon_uses import unlinked_note
from tillmesh.node.projections.deliveries import Delivery, State
from tillmesh.node.projections.ledger import shift_of
from tillmesh.node.projections.outbox import CLOSING, CUSTOMER, INVOICE, OPENING, Due, Key
from tillmesh.node.store.event_codec import unpack_body
from tillmesh.node.store.raw import raw
from tillmesh.node.store.reader import Reader

if TYPE_CHECKING:
    from tillmesh.node.api._node import Node

log = logging.getLogger("tillmesh.forwarder")
T = TypeVar("T")


class Forwarder:
    def __init__(self, node: Node, settings: ErpNextSettings,
                 client: Callable[[], ErpNextClient] | None = None,
                 pull: Callable[[], object] | None = None) -> None:
        self.node = node
        self.settings = settings
        self._pull = pull  # starts a master-data pull (in the background)
        self._pulled_at = -PULL_EVERY_S  # monotonic time of the last pull started here
        self._probed_at = -PROBE_EVERY_S  # and of the last check that ERPNext answers
        self._new_client = client or settings.client
        self._client: ErpNextClient | None = None
        self._user: str | None = None
        self.release: Release | None = None  # what the site said it runs, and when
        self._release_at = -RELEASE_RECHECK_S
        self._recheck: dict[tuple[str, str], float] = {}  # closing -> monotonic time
        self._retried: set[str] = set()  # closings re-queued, their outcome not yet seen
        self._sessions = Sessions()  # ERPNext 16's one open opening entry (per sale)
        self.reachable: bool | None = None  # None until the first call
        self.last_delivery: str | None = None  # ISO time of the last ack by this counter
        self.last_error: str | None = None
        self._failures = 0
        # Two sales naming one coupon, sent side by side, both save its count in ERPNext
        # and one is refused (recorded: coupon-cases.json "concurrent"): one at a time.
        self._coupons: dict[str, threading.Lock] = {}
        # Its requests to ERPNext run in threads of its own, not the loop's shared ones
        # (6 on 2 cores), which the local API's big requests need at once (made again
        # after ``close``, as the client is).
        self._requests: ThreadPoolExecutor | None = None
        # What is due, and what each document is formed from, are read on a connection
        # of its own, off the loop (``_plan``, ``_deliver``).
        self._reader = Reader(node.log.engine, "tillmesh-forwarder-reads")

    # --- the loop --------------------------------------------------------------------

    async def run(self, elected: Callable[[], bool],
                  said_reachable: Callable[[bool], None]) -> None:
        """Forever: deliver while elected; otherwise check now and then that ERPNext is
        reachable, so this counter can stand in when the forwarder fails."""
        while True:
            try:
                if self.node.log.held is not None:
                    await self._stand_down(said_reachable)
                elif elected():
                    self._maybe_pull()
                    sent = await self.cycle(elected)
                    self._reached(True, said_reachable)
                    await asyncio.sleep(0 if sent else FORWARD_IDLE_S)
                else:  # a standby: a cheap call now and then is enough to stand in
                    if time.monotonic() - self._probed_at >= PROBE_EVERY_S:
                        self._probed_at = time.monotonic()
                        await self._off_loop(self._probe)
                        self._reached(True, said_reachable)
                    await asyncio.sleep(FORWARD_IDLE_S)  # looks at the election every second
            except TRANSIENT as exc:
                self.last_error = exc.message
                self._reached(False, said_reachable)
                delay = FORWARD_BACKOFF_S[min(self._failures, len(FORWARD_BACKOFF_S) - 1)]
                self._failures += 1
                log.warning("ERPNext unreachable (%s): next try in %.0f s", exc.message, delay)
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not stop forwarding for good
                log.exception("forwarder cycle failed")
                await asyncio.sleep(FORWARD_IDLE_S)

    async def _stand_down(self, said: Callable[[bool], None]) -> None:
        """Restored from a backup and not caught up, this counter records nothing, an ack
        neither, and the acks lost with the backup make documents look due again: it
        neither forwards nor stands for the role (the election takes only counters that
        say they reach ERPNext) until it records again, then checks ERPNext anew."""
        if self.reachable is not None:
            self.reachable = None
            said(False)
        await asyncio.sleep(FORWARD_IDLE_S)

    def _maybe_pull(self) -> None:
        """The forwarder also keeps every counter's master data and stock fresh."""
        if self._pull is not None and time.monotonic() - self._pulled_at >= PULL_EVERY_S:
            self._pulled_at = time.monotonic()
            try:
                self._pull()
            except TillmeshError as exc:
                log.warning("master-data pull did not start: %s", exc.message)

    def _reached(self, ok: bool, said: Callable[[bool], None]) -> None:
        if ok:
            self._failures = 0
        if ok != self.reachable:
            self.reachable = ok
            said(ok)

    async def _off_loop(self, call: Callable[[], T]) -> T:
        """``call()``, a request to ERPNext, in one of the forwarder's threads."""
        if self._requests is None:
            self._requests = ThreadPoolExecutor(FORWARD_IN_FLIGHT,
                                                thread_name_prefix="tillmesh-erpnext")
        return await asyncio.get_running_loop().run_in_executor(self._requests, call)

    def close(self) -> None:
        self._reader.close()
        if self._requests is not None:
            self._requests.shutdown(wait=False)
            self._requests = None
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- one cycle -------------------------------------------------------------------

    async def cycle(self, go_on: Callable[[], bool] = lambda: False) -> int:
        """Deliver what is due now; how many documents were acked or refused.

        What is due at once needs nothing that is not already in ERPNext (``next_due``),
        so up to FORWARD_IN_FLIGHT of them are sent at the same time, and ERPNext's order
        (an opening before its invoices, a sale before its return, the invoices before
        their closing) holds because a document is planned only once what it needs is
        acked. While ``go_on()`` (still elected) and for at most FORWARD_CYCLE_S, the
        cycle records what finished and plans again as the last requests run, so ERPNext
        keeps FORWARD_IN_FLIGHT requests to work on. Once ERPNext is found away, nothing
        more is started."""
        began, counted = time.monotonic(), 0
        results: list[tuple[str, Key, dict[str, Any]]] = []
        running: dict[asyncio.Task[list[tuple[str, Key, dict[str, Any]]] | None], Due] = {}
        seen: set[Key] = set()  # planned in this cycle: never twice
        away: BaseException | None = None
        try:
            queue, states, context = await self._plan(seen)
            if queue:
                planned = self._by_session()
                caps = await self._off_loop(self._capabilities)
                if self._by_session() != planned:  # the site's release was not known yet
                    seen.clear()
                    queue, states, context = await self._plan(seen)
            while queue or running:
                while queue and len(running) < FORWARD_IN_FLIGHT and away is None:
                    if self._alone(queue[0]) and running:
                        break  # a closing lists what the requests running deliver: after them
                    item = queue.pop(0)
                    if self._alone(item):  # ... recorded first, and nothing sent beside it
                        counted += await self._commit(results)
                        results = []
                    running[asyncio.create_task(self._deliver(
                        item, states, context.company, list(context.modes), caps))] = item
                    if self._alone(item):
                        break
                if not running:
                    break
                finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    item = running.pop(task)
                    try:
                        result = task.result()
                    except TRANSIENT as exc:
                        away = away or exc
                        continue
                    results.extend(result or ())
                if not queue and away is None and time.monotonic() - began < FORWARD_CYCLE_S:
                    counted += await self._commit(results)  # what go_on and the plan read
                    results = []
                    if go_on():
                        queue, states, context = await self._plan(seen)
        finally:  # also when ERPNext went away mid-cycle: what it took is recorded
            for task in running:  # only a cancelled cycle leaves requests running
                task.cancel()
            counted += await self._commit(results)
        if away is not None:
            raise away
        return counted

    def _by_session(self) -> bool:
        """Whether sales go under the one opening entry the forwarder keeps open for the
        store (``_sessions``): per sale, to a site that holds one per POS Profile."""
        return (self.release is not None and not self.settings.per_shift
                and capabilities(self.release).one_open_shift)

    def _alone(self, item: Due) -> bool:
        """A closing that lists every invoice delivered under the open opening entry
        (``by_session``) is formed once those sent before it are recorded, and nothing is
        sent beside it, so none is left out of it unlisted."""
        return item.doctype == CLOSING and self._by_session()

    async def _plan(self, seen: set[Key]
                    ) -> tuple[list[Due], Mapping[Key, State], PosContext]:
        """What is due and not yet planned in this cycle (nor a consolidation that is
        looked at again later); adds it to ``seen``."""
        # Off the loop: when the first documents owed wait (an opening entry refused, a
        # store delivering per shift before its closings), the plan reads every one. It
        # starts in a lull all the same: a short one is then over before the next call,
        # instead of taking turns with it for the interpreter.
        await self.node.cashier_first()
        now = time.monotonic()
        # read only as far as the batch: what the cycle planned, sent and recorded is no
        # longer owed, and what it planned still owed is skipped, not read past each time
        skip = seen | {key for key, at in self._recheck.items() if at > now}
        due, states = await self._reader.read(partial(
            outbox.due, limit=FORWARD_BATCH, per_shift=self.settings.per_shift,
            sessions=self._by_session(), skip=skip))
        await self.node.cashier_first()
        with self.node.read() as s:
            context = self.node.context(s)
        seen.update((d.doctype, d.name) for d in due)
        if due:
            self._erp()  # one session for the requests' threads (made here, not in a race)
        return due, states, context

    async def _commit(self, results: list[tuple[str, Key, dict[str, Any]]]) -> int:
        for start in range(0, len(results), RECORD_SLICE):
            await self.node.cashier_first()
            self._record(results[start:start + RECORD_SLICE])
        await self.node.log.flush()  # durable, and announced to peers, before going on
        return len(results)

    async def _consolidating(self, closing: str) -> bool:
        """Whether ERPNext still consolidates ``closing``; on an answer not expected, no
        (the whole look that follows says what it is)."""
        try:
            return await self._off_loop(partial(delivery.consolidating, self._erp(), closing))
        except TRANSIENT:
            raise
        except ErpNextError:
            return False

    async def _deliver(self, item: Due, states: Mapping[Key, State], company: str,
                       modes: list[str], caps: Capabilities
                       ) -> list[tuple[str, Key, dict[str, Any]]] | None:
        """One document: the kind, key and body of the events to record for it (a shift
        delivered per shift acks its opening and sales along with its closing), or None
        while ERPNext consolidates it. Whatever goes wrong with it but ERPNext being away
        is its own ``forward.failed``: the rest of the cycle goes on."""
        key = (item.doctype, item.name)
        state = states.get(key)
        if item.doctype == CLOSING and not item.per_shift and key in self._recheck \
                and await self._consolidating(item.name):
            # Looked at again while ERPNext consolidates it (minutes for a big shift):
            # its status alone, not every sale of the shift read, the closing formed
            # and ERPNext's copy of it with every invoice fetched, each time.
            self._recheck[key] = time.monotonic() + CLOSING_RECHECK_S
            return None
        try:
            try:  # off the loop too (a closing reads every sale of its shift), in a lull
                await self.node.cashier_first()
                source = await self._reader.read(partial(
                    _source, item=item, states=states, per_shift=self.settings.per_shift,
                    sessions=self._by_session()))
            except Exception as exc:
                raise _unformable(item, exc) from exc
            outcome = await self._off_loop(partial(
                self._send, item, source, company, modes, caps,
                retrying=state is not None and state.failures > 0,
                resolved=_settled_elsewhere(item, states)))
        except Refused as refused:
            return [(deliveries.FAILED, key, refused.report())]
        except TRANSIENT:
            raise
        except ErpNextError as exc:  # an answer the steps did not expect: ERPNext's words
            return [(deliveries.FAILED, key, Refused.of(exc, "send").report())]
        except Exception as exc:  # a bug here must hold back this document only
            log.exception("forwarding %s %s failed", item.doctype, item.name)
            return [(deliveries.FAILED, key, Refused(
                f"Tillmesh failed on it ({type(exc).__name__}: {exc}); see the counter's"
                " log, and retry once fixed", stage="internal",
                exc_type=type(exc).__name__).report())]
        if outcome.waiting:
            self._recheck[key] = time.monotonic() + CLOSING_RECHECK_S
            return None
        self._recheck.pop(key, None)
        carried = {"carried": [b["invoice"] for b in source["carried"]]} \
            if source.get("carried") else {}
        session: dict[str, Any] = {}
        along = [(shift_key, {"erpnext_name": name, "per_shift": True})
                 for shift_key, name in outcome.along]
        if self._by_session() and item.doctype == INVOICE:
            session = {"entry": item.shift}  # the closing that is its own
        elif self._by_session() and item.doctype == CLOSING:
            # What ERPNext's copy lists besides the shift's own (``awaiting_closing``);
            # the shift's opening entry was never sent: it went under the store's one.
            own = {str(i) for i in source["closed"].get("invoices", [])}
            carried = {"carried": [i for i in outcome.listed if i not in own]}
            along = [((OPENING, item.name), {"erpnext_name": outcome.opening})]
        event = {"event": outcome.origin_event} if outcome.origin_event else {}
        shift = {"documents": list(outcome.documents), "per_shift": True} \
            if item.per_shift else {}
        coupon = {"coupon_unlinked": True, "note": unlinked_note(
            str(source["body"].get("coupon_code")), outcome.coupon_refused)} \
            if outcome.coupon_refused else {}
        return [(deliveries.ACKED, key, {"erpnext_name": outcome.acked, **carried, **event,
                                         **shift, **coupon, **session}),
                *((deliveries.ACKED, key_, fields) for key_, fields in along)]

    def _record(self, results: list[tuple[str, Key, dict[str, Any]]]) -> None:
        """One transaction for a slice of a cycle's results (``RECORD_SLICE``, so the loop
        is never held long): a forwarder killed before it commits only makes the next one
        find in ERPNext what this one sent (409, or a look-up by name and origin event),
        never book a second copy."""
        if not results:
            return
        at = datetime.now(UTC).isoformat()
        with self.node.write() as tx:
            for kind, (doctype, name), fields in results:
                tx.append(kind, {"doctype": doctype, "name": name,
                                 "by": self.node.node_id, "at": at, **fields})
        if any(kind == deliveries.ACKED for kind, _, _ in results):
            self.last_delivery = at

    # --- documents -------------------------------------------------------------------

    def _send(self, item: Due, source: dict[str, Any], company: str, modes: list[str],
              caps: Capabilities, *, retrying: bool, resolved: list[Key]) -> Outcome:
        """In a thread: form ``item`` from its records, check what it names, send it."""
        client = self._erp()
        site = documents.Site(company=company, pos_profile=self.settings.pos_profile,
                              user=self._erp_user(), timezone=self.node.config.timezone,
                              caps=caps)
        if item.per_shift:
            try:
                shift_docs = _form_shift(item, source, site)
            except Exception as exc:
                raise _unformable(item, exc) from exc
            delivery.check_settled_elsewhere(client, item.doctype, resolved)
            return delivery.insert_shift(client, shift_docs, opening=(OPENING, item.name),
                                         look_first=retrying)
        by_session = self._by_session()
        if by_session and item.doctype == OPENING:
            # Never sent (the store's one opening stands for it), and its closing was
            # settled outside Tillmesh: nothing more is owed for it.
            return Outcome()
        opening = None
        if by_session and item.doctype == CLOSING:
            # It closes the store's one open opening entry, whichever it is now; looked
            # at again (consolidating, or sent before a restart), the one it named then.
            held = client.get_doc(CLOSING, item.name, missing_ok=True)
            opening = str(held["pos_opening_entry"]) if held else \
                self._sessions.current(client, site, modes, self.node.clock())
        try:
            doc = _form(item, source, site, modes, opening=opening)
        except Exception as exc:
            raise _unformable(item, exc) from exc
        delivery.check_settled_elsewhere(client, item.doctype, resolved, caps)
        if item.doctype == CLOSING:
            outcome = delivery.close(client, doc, retrying=retrying, retried=self._retried,
                                     caps=caps)
            if by_session:
                self._sessions.forget()  # closed, or closing: the next sale looks again
            return replace(outcome, opening=opening)
        if item.doctype == INVOICE:
            coupon = doc.get("coupon_code")
            # setdefault, not a defaultdict: one lock per coupon even when two threads ask
            lock = self._coupons.setdefault(str(coupon), threading.Lock()) if coupon \
                else contextlib.nullcontext()
            # where ERPNext books its stock now, not while this counter's pull reads Bin
            booking = self.node.pull_job.booking.booking() if caps.stock_checked_at_submit \
                else contextlib.nullcontext()
            with lock, booking:
                if not by_session:
                    return delivery.insert_sale(client, doc, look_first=retrying,
                                                doctype=caps.sale_doctype)
                self._sessions.current(client, site, modes, self.node.clock())
                try:
                    return delivery.insert_sale(client, doc, look_first=retrying,
                                                doctype=caps.sale_doctype)
                except Refused as refused:
                    if not gone(refused):
                        raise
                    self._sessions.forget()  # midnight, or closed meanwhile: another one
                    self._sessions.current(client, site, modes, self.node.clock())
                    try:
                        return delivery.insert_sale(client, doc, look_first=True,
                                                    doctype=caps.sale_doctype)
                    except Refused as again:
                        if gone(again):  # the site's midnight is not the counter's yet
                            return Outcome(waiting=True)
                        raise
        return delivery.insert(client, item.doctype, doc, look_first=retrying)

    # --- ERPNext session -------------------------------------------------------------

    def _erp(self) -> ErpNextClient:
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _capabilities(self) -> Capabilities:
        """In a thread: what the site's release takes, asked again every
        RELEASE_RECHECK_S (IT may upgrade ERPNext, or switch its POS invoice mode, while
        the store trades)."""
        if self.release is None or time.monotonic() - self._release_at >= RELEASE_RECHECK_S:
            release = self._erp().release()
            if release != self.release:
                log.info("ERPNext says it is %s", release)
            self.release, self._release_at = release, time.monotonic()
        return capabilities(self.release)

    def _erp_user(self) -> str:
        if self._user is None:
            self._user = str(self._erp().call_method("frappe.auth.get_logged_user"))
        return self._user

    def _probe(self) -> None:
        self._erp_user()
        self._user = None  # look again next time: the probe is the check


def consolidated_shifts(client: ErpNextClient, pos_profile: str, *,
                        shift_invoices: bool = False) -> list[str]:
    """Shifts, and late sales' entry pairs, whose POS Closing Entry ERPNext has
    consolidated: their sales are in Bin; with ``shift_invoices`` also those delivered
    per shift, whose last Sales Invoice (the one naming the shift) ERPNext holds.

    The pull reads this before and after Bin (``node.stock``), so the base it records
    names exactly the entries it already includes; the stock slots carry the same names
    (``ledger``: a late sale counts under its entry pair, not its shift).
    """
    rows = client.get_list(CLOSING, fields=["name"], page_length=0, filters=[
        ["status", "=", SUBMITTED], ["pos_profile", "=", pos_profile]])
    names = {str(r["name"]) for r in rows}
    if shift_invoices:
        names |= {str(r[SHIFT_FIELD]) for r in client.get_list(
            whole_shift.SALES_INVOICE, fields=[SHIFT_FIELD], page_length=0, filters=[
                [SHIFT_FIELD, "is", "set"], ["docstatus", "=", 1],
                ["pos_profile", "=", pos_profile]])}
    return sorted(names)


def unclosed_sales(client: ErpNextClient, pos_profile: str) -> list[str]:
    """The sales and returns a POS made as Sales Invoices under ``pos_profile`` that no
    submitted closing lists yet: ERPNext 16 in Sales Invoice mode books their stock as
    each arrives, so Bin holds them though no consolidated entry names them (the pull
    adds back what they took, ``ledger.booked_unclosed``)."""
    return sorted(str(r["name"]) for r in client.get_list(
        whole_shift.SALES_INVOICE, fields=["name"], page_length=0, filters=[
            ["pos_profile", "=", pos_profile], ["docstatus", "=", 1],
            ["is_created_using_pos", "=", 1], ["pos_closing_entry", "is", "not set"]]))


def _unformable(item: Due, exc: Exception) -> Refused:
    """Records ``item`` cannot be formed from (missing, or not as the mapping reads
    them): a person must look, and only what depends on it waits."""
    message = exc.message if isinstance(exc, TillmeshError) else f"{exc!r}"
    return Refused(f"cannot form the {item.doctype} from its records: {message}",
                   stage="form", exc_type=type(exc).__name__)


def _settled_elsewhere(item: Due, states: Mapping[Key, State]) -> list[Key]:
    """What ``item`` names that a supervisor resolved without it reaching ERPNext (a
    closing leaves its resolved sales out instead of naming them, and only waits for
    the closings it is ordered after)."""
    return [key for key in item.after
            if (state := states.get(key)) is not None and state.delivery is Delivery.RESOLVED
            and not (item.doctype == CLOSING and key[0] in (INVOICE, CLOSING))]


def _original(session: Any, body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The sale a return of an earlier release is restated from (its rows did not carry
    their net rates yet), live or archived; None for a sale, or when none is needed."""
    against = body.get("return_against")
    if not against or all("sold_net_rate" in row for row in body["items"]):
        return None
    sold = raw(session).one("SELECT origin, seq FROM every_sale WHERE invoice = ?",
                            (str(against),))
    return None if sold is None else _body(session, str(sold[0]), int(sold[1]))


def _source(session: Any, item: Due, states: Mapping[Key, State], *,
            per_shift: bool = False, sessions: bool = False) -> dict[str, Any]:
    """The records ``item`` is formed from, read from the store (forming is pure);
    ``per_shift``: the store's delivery (``item.per_shift`` when its shift goes so);
    ``sessions``: a closing lists every invoice delivered since the last one."""
    body = _body(session, item.origin, item.seq)
    if item.doctype == CUSTOMER:
        return {"body": body}
    if item.doctype == INVOICE:  # a return is restated from the sale it returns
        over = refunds.over_returns(session, [item.name]) if body.get("is_return") else []
        return {"body": body, "original": _original(session, body),
                "over_returned": "; ".join(o.reason for o in over)}
    resolved = {name for (doctype, name), state in states.items()
                if doctype == INVOICE and state.delivery is Delivery.RESOLVED}
    if item.per_shift:  # its sales are not in ``states``: ask for those of the closing
        listed = [(INVOICE, str(i)) for i in body.get("invoices", [])]
        resolved |= {name for (_, name), state in deliveries.states(session, listed).items()
                     if state.delivery is Delivery.RESOLVED}
    records = _shift_records(session, item, body, resolved, per_shift=per_shift,
                             sessions=sessions)
    if item.per_shift:
        returns = [b["invoice"] for b in records["listed"] if b.get("is_return")]
        records["over_returned"] = "; ".join(
            o.reason for o in refunds.over_returns(session, returns))
    return records


def _form(item: Due, source: dict[str, Any], site: documents.Site, modes: list[str], *,
          opening: str | None = None) -> Doc:
    """The document to send for ``item`` (pure: ``_documents`` does the mapping); a
    closing closes ``opening`` (the store's one, ``by_session``), or its shift's own."""
    origin_event = f"{item.origin}:{item.seq}"
    if item.doctype == CUSTOMER:
        return documents.customer(source["body"], origin_event=origin_event)
    if item.doctype == INVOICE:
        if source["over_returned"]:  # two counters refunded it: ERPNext would refuse one
            raise ValidationError(f"{item.name} returns more than was sold (another counter"
                                  f" refunded it while cut off): {source['over_returned']}")
        return documents.pos_invoice(source["body"], site=site, origin_event=origin_event,
                                     original=source["original"])
    if item.doctype == OPENING:
        return documents.opening_entry(source["opened"], counter=source["counter"], site=site,
                                       origin_event=origin_event, name=item.name, modes=modes)
    return documents.closing_entry(
        source["opened"], source["closed"], [documents.transaction(b) for b in source["listed"]],
        site=site, origin_event=origin_event, opening_name=opening or item.name, name=item.name,
        left_out=source["left_out"], carried=source["carried"])


def _form_shift(item: Due, source: dict[str, Any], site: documents.Site
                ) -> list[whole_shift.ShiftDocument]:
    """A shift's consolidated Sales Invoices (pure: ``_per_shift`` does the mapping)."""
    if source["over_returned"]:  # two counters refunded one sale: a person must look
        raise ValidationError(f"{item.name} holds a return of more than was sold (another"
                              f" counter refunded it while cut off): {source['over_returned']}"
                              "; resolve that return, then retry")
    closed, listed = source["closed"], source["listed"]
    return whole_shift.shift_documents(
        listed, entry=item.name, end=documents.shift_end(closed, listed, site), site=site,
        origin_event=f"{item.origin}:{item.seq}", cashier=source["opened"].get("cashier"),
        note=documents.counted_note(source["opened"], closed, source["left_out"]))


def _body(session: Any, origin: str, seq: int) -> dict[str, Any]:
    row = raw(session).one("SELECT body FROM every_event WHERE origin = ? AND seq = ?",
                           (origin, seq))
    if row is None:
        raise TillmeshError(f"event {origin}:{seq} is not held here")
    body: dict[str, Any] = unpack_body(row[0])
    return body


def _shift_records(session: Any, item: Due, body: dict[str, Any],
                   resolved: set[str], *, per_shift: bool = False,
                   sessions: bool = False) -> dict[str, Any]:
    """What an opening or closing entry is made of: the shift's opening, and for a
    closing its ``shift.closed`` (or ``shift.late_reconciled``: ``body``), the sales it
    lists and those it leaves out (``resolved``: settled outside Tillmesh).

    A reconciliation's pair of entries carries the shift's late sales under a name of its
    own (``ledger.reconciliation_name``), so both of its records take that name."""
    entry, base = item.name, shift_of(item.name)
    opened = outbox.source(session, OPENING, base)
    counter = raw(session).one("SELECT counter FROM shifts WHERE shift = ?", (base,))
    out: dict[str, Any] = {"counter": counter[0] if counter else "",
                           "opened": _body(session, *opened) if opened else {}}
    if entry != base:  # no float: the drawer was counted at the shift's own closing
        out["opened"] = {**out["opened"], "shift": entry, "opening": {}}
    if item.doctype != CLOSING:
        return out
    if entry != base:
        body = {**body, "shift": entry, "closed_at": body.get("at"), "closed_by": body.get("by")}
    sales = [(invoice, outbox.source(session, INVOICE, invoice))
             for invoice in map(str, body.get("invoices", []))]
    elsewhere = resolved | {i for i, by in ledger.carried(session, [i for i, _ in sales])
                            .items() if by != entry}
    if entry != base:  # a sale the shift's closing in ERPNext covers after all, or that
        #                another supervisor reconciled first, is consolidated elsewhere
        this = f"{item.origin}:{item.seq}"
        elsewhere |= {i for i, _ in sales if not ledger.is_late(session, i)
                      or ledger.reconciled_by(session, i) != this}
    return {**out, "closed": body,
            "listed": [_body(session, *c) for i, c in sales if c and i not in elsewhere],
            "left_out": [_body(session, *c) for i, c in sales if c and i in elsewhere],
            "carried": [] if item.per_shift else [
                _body(session, *c) for sale in (
                    _awaiting_others(session, entry) if sessions
                    else _to_carry(session, entry, per_shift))
                if (c := outbox.source(session, INVOICE, sale))]}


def _awaiting_others(session: Any, entry: str) -> list[str]:
    """The other shifts' invoices delivered under the store's one opening entry that no
    closing has listed yet: ``entry``'s closing lists them (``by_session``)."""
    return [invoice for invoice, own in awaiting_closing.awaiting(session) if own != entry]


def _to_carry(session: Any, closing: str, per_shift: bool) -> list[str]:
    """Sales of other shifts that ``closing`` consolidates along with their returns in
    it (``outbox.consolidation_order``), but for those whose own closing or another
    carrying one is in ERPNext by now, or that a supervisor settled outside Tillmesh."""
    carries = outbox.closing_order(session, per_shift=per_shift).carries
    sales = sorted(sale for sale in carries.get(closing, ())
                   if not _settled(deliveries.get(session, INVOICE, sale), Delivery.RESOLVED))
    taken = ledger.carried(session, sales)
    return [sale for sale in sales if sale not in taken]


def _settled(state: State | None, *how: Delivery) -> bool:
    """Delivered or settled by a supervisor (or only ``how``)."""
    return state is not None and state.delivery in (how or (Delivery.ACKED, Delivery.RESOLVED))
