"""The forwarder: delivers the store's outbox to ERPNext, exactly once, from one counter.

Every counter runs one; only the elected one (``replication.election``: the lowest live
counter that reaches ERPNext, sticky) sends. Each cycle takes the next documents whose
prerequisites ERPNext already holds (``node.outbox.next_due``), posts each under the name
the counter gave it and records the result as an event:

- 200, or 409 / the name already there: ``forward.acked`` (a repeat after a time-out, a
  forwarder killed between ERPNext's commit and its ack, two forwarders at once: ERPNext
  answers 409 to every copy but the first, so it holds each document once);
- 417 and other refusals: ``forward.failed`` with ERPNext's message; documents that do
  not depend on it go on; a supervisor retries or resolves it (``exceptions_*``);
- network errors, 5xx, 429 (after the client's own retries): nothing is recorded, the
  counter says it does not reach ERPNext (another one takes over) and tries again later.

A POS Closing Entry is inserted as a draft and submitted with a PUT (NOTES.md); with 10+
invoices ERPNext consolidates it in the background (Queued), so it is acked only once
its status is Submitted, looked at again on later cycles; Failed becomes an exception
whose retry asks ERPNext to ``run_method=retry``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tillmesh.node.erpnext import _documents as documents
from tillmesh.node.erpnext._rest import ErpNextClient, plain_text
from tillmesh.node.erpnext._settings import ErpNextSettings
from tillmesh.node.erpnext.const import (
    CLOSING_RECHECK_S,
    FORWARD_BACKOFF_S,
    FORWARD_BATCH,
    FORWARD_IDLE_S,
    PROBE_EVERY_S,
    PULL_EVERY_S,
)
from tillmesh.node.errors import (
    ErpNextAuthError,
    ErpNextDuplicate,
    ErpNextError,
    ErpNextServerError,
    ErpNextUnreachable,
    TillmeshError,
)
from tillmesh.node.projections import deliveries, outbox
from tillmesh.node.projections.deliveries import Delivery
from tillmesh.node.projections.outbox import CLOSING, CUSTOMER, INVOICE, OPENING, Due
from tillmesh.node.store.event_codec import unpack_body
from tillmesh.node.store.raw import raw

if TYPE_CHECKING:
    from tillmesh.node.api._node import Node

log = logging.getLogger("tillmesh.forwarder")

SUBMITTED, QUEUED, FAILED = "Submitted", "Queued", "Failed"


class Refused(Exception):
    """ERPNext refused a document for a reason a person must look at."""

    def __init__(self, error: ErpNextError, stage: str) -> None:
        super().__init__(error.message)
        self.error, self.stage = error, stage


@dataclass(frozen=True)
class Outcome:
    acked: str | None = None  # ERPNext's name
    waiting: bool = False  # a consolidation still running: look again later


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
        self._recheck: dict[tuple[str, str], float] = {}  # closing -> monotonic time
        self._retried: set[str] = set()  # closings re-queued, their outcome not yet seen
        self.reachable: bool | None = None  # None until the first call
        self.last_delivery: str | None = None  # ISO time of the last ack by this counter
        self.last_error: str | None = None
        self._failures = 0

    # --- the loop --------------------------------------------------------------------

    async def run(self, elected: Callable[[], bool],
                  said_reachable: Callable[[bool], None]) -> None:
        """Forever: deliver while elected; otherwise check now and then that ERPNext is
        reachable, so this counter can stand in when the forwarder fails."""
        while True:
            try:
                if elected():
                    self._maybe_pull()
                    sent = await self.cycle()
                    self._reached(True, said_reachable)
                    await asyncio.sleep(0 if sent else FORWARD_IDLE_S)
                else:  # a standby: a cheap call now and then is enough to stand in
                    if time.monotonic() - self._probed_at >= PROBE_EVERY_S:
                        self._probed_at = time.monotonic()
                        await asyncio.to_thread(self._probe)
                        self._reached(True, said_reachable)
                    await asyncio.sleep(FORWARD_IDLE_S)  # looks at the election every second
            except (ErpNextUnreachable, ErpNextServerError, ErpNextAuthError) as exc:
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

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- one cycle -------------------------------------------------------------------

    async def cycle(self) -> int:
        """Deliver what is due now; how many documents were acked or refused."""
        with self.node.read() as s:
            due, states = outbox.due(s, FORWARD_BATCH)
            context = self.node.context(s)
        now = time.monotonic()
        due = [d for d in due if self._recheck.get((d.doctype, d.name), 0) <= now]
        # Resolved by a supervisor without reaching ERPNext: a closing cannot list them.
        settled_elsewhere = {name for (doctype, name), st in states.items()
                             if doctype == INVOICE and st.delivery is Delivery.RESOLVED}
        results: list[tuple[str, Due, dict[str, Any]]] = []
        try:
            for item in due:
                with self.node.read() as s:  # the store is read on the loop, never in a thread
                    doc = self._document(s, item, settled_elsewhere)
                    doc["company"], doc["modes"] = context.company, list(context.modes)
                    state = states.get((item.doctype, item.name))
                    doc["retrying"] = state is not None and state.failures > 0
                try:
                    outcome = await asyncio.to_thread(self._send, item, doc)
                except Refused as refused:
                    results.append((deliveries.FAILED, item, {
                        "status": refused.error.status, "exc_type": refused.error.exc_type,
                        "message": refused.error.message, "stage": refused.stage}))
                    continue
                key = (item.doctype, item.name)
                if outcome.waiting:
                    self._recheck[key] = time.monotonic() + CLOSING_RECHECK_S
                    continue
                self._recheck.pop(key, None)
                results.append((deliveries.ACKED, item, {"erpnext_name": outcome.acked}))
        finally:  # also when ERPNext went away mid-cycle: what it took is recorded
            self._record(results)
            await self.node.log.flush()  # durable, and announced to peers, before going on
        return len(results)

    def _record(self, results: list[tuple[str, Due, dict[str, Any]]]) -> None:
        """One transaction for a cycle's results: a forwarder killed before it commits
        only makes the next one post again and get 409, never a second document."""
        if not results:
            return
        at = datetime.now(UTC).isoformat()
        with self.node.write() as tx:
            for kind, item, fields in results:
                tx.append(kind, {"doctype": item.doctype, "name": item.name,
                                 "by": self.node.node_id, "at": at, **fields})
        if any(kind == deliveries.ACKED for kind, _, _ in results):
            self.last_delivery = at

    # --- documents -------------------------------------------------------------------

    def _site(self, company: str) -> documents.Site:
        return documents.Site(company=company, pos_profile=self.settings.pos_profile,
                              user=self._erp_user(), timezone=self.node.config.timezone)

    def _document(self, session: Any, item: Due, skip: set[str]) -> dict[str, Any]:
        """What to post for ``item``, read from the events behind it (pure mapping)."""
        body = _body(session, item.origin, item.seq)
        origin_event = f"{item.origin}:{item.seq}"
        if item.doctype == CUSTOMER:
            return {"kind": CUSTOMER, "doc": documents.customer(body, origin_event=origin_event)}
        if item.doctype == INVOICE:
            return {"kind": INVOICE, "body": body, "origin_event": origin_event}
        shift = _shift_events(session, item.shift or item.name, item, skip)
        return {"kind": item.doctype, "shift": shift, "origin_event": origin_event,
                "name": item.name}

    def _send(self, item: Due, document: dict[str, Any]) -> Outcome:
        """In a thread: post ``document``; ErpNextError for the network or a refusal."""
        client = self._erp()
        site = self._site(document["company"])
        kind = document["kind"]
        if kind == CUSTOMER:
            return self._insert(client, CUSTOMER, document["doc"])
        if kind == INVOICE:
            doc = documents.pos_invoice(document["body"], site=site,
                                        origin_event=document["origin_event"])
            return self._insert(client, INVOICE, doc)
        shift = document["shift"]
        if kind == OPENING:
            doc = documents.opening_entry(shift["opened"], counter=shift["counter"], site=site,
                                          origin_event=document["origin_event"],
                                          name=item.name, modes=document["modes"])
            return self._insert(client, OPENING, doc)
        doc = documents.closing_entry(shift["opened"], shift["closed"],
                                      [documents.transaction(b) for b in shift["invoices"]],
                                      site=site, origin_event=document["origin_event"],
                                      opening_name=item.name, name=item.name)
        return self._close(client, doc, retrying=document["retrying"])

    def _insert(self, client: ErpNextClient, doctype: str, doc: dict[str, Any]) -> Outcome:
        try:
            answer = client.insert(doctype, doc)
        except ErpNextDuplicate:  # delivered before (a retry, another forwarder)
            return Outcome(acked=str(doc["name"]))
        except (ErpNextUnreachable, ErpNextServerError, ErpNextAuthError):
            raise
        except ErpNextError as exc:
            # ERPNext validates before it looks at the name: a repeat can be refused (no
            # open opening entry any more, "cannot return more") although it is there.
            if client.exists(doctype, str(doc["name"])):
                return Outcome(acked=str(doc["name"]))
            raise Refused(exc, "insert") from exc
        return Outcome(acked=str(answer.get("name") or doc["name"]))

    def _close(self, client: ErpNextClient, doc: dict[str, Any], *, retrying: bool) -> Outcome:
        name = str(doc["name"])
        current = client.get_doc(CLOSING, name, missing_ok=True)
        if current is None:
            self._insert(client, CLOSING, doc)  # a draft (409: inserted a moment ago)
            current = client.get_doc(CLOSING, name) or {}
        try:
            if int(current.get("docstatus") or 0) == 0:
                current = client.update(CLOSING, name, {"docstatus": 1})
            elif current.get("status") == FAILED and retrying and name not in self._retried:
                client.run_doc_method(CLOSING, name, "retry")  # once per supervisor retry
                self._retried.add(name)
                current = client.get_doc(CLOSING, name) or {}
        except (ErpNextUnreachable, ErpNextServerError, ErpNextAuthError):
            raise
        except ErpNextError as exc:
            raise Refused(exc, "submit") from exc
        status = current.get("status")
        if status == SUBMITTED:
            self._retried.discard(name)
            return Outcome(acked=name)
        if status == FAILED:
            self._retried.discard(name)  # failed again: back to the supervisor
            error = ErpNextError(plain_text(str(current.get("error_message")
                                                or "consolidation failed")),
                                 status=None, exc_type="ConsolidationFailed")
            raise Refused(error, "consolidation")
        return Outcome(waiting=True)  # Queued: the background job runs

    # --- ERPNext session -------------------------------------------------------------

    def _erp(self) -> ErpNextClient:
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _erp_user(self) -> str:
        if self._user is None:
            self._user = str(self._erp().call_method("frappe.auth.get_logged_user"))
        return self._user

    def _probe(self) -> None:
        self._erp_user()
        self._user = None  # look again next time: the probe is the check


def consolidated_shifts(client: ErpNextClient, pos_profile: str) -> list[str]:
    """Shifts whose POS Closing Entry ERPNext has consolidated: their sales are in Bin.

    The pull reads this before and after Bin (``node.stock``), so the base it records
    names exactly the shifts it already includes. A late sales' entry pair (``-L-``)
    is not a shift of its own: its sales stay counted under their shift.
    """
    rows = client.get_list(CLOSING, fields=["name"], page_length=0, filters=[
        ["status", "=", SUBMITTED], ["pos_profile", "=", pos_profile]])
    return sorted(name for name in (str(r["name"]) for r in rows)
                  if outbox.shift_of(name) == name)


def _body(session: Any, origin: str, seq: int) -> dict[str, Any]:
    row = raw(session).one("SELECT body FROM events WHERE origin = ? AND seq = ?",
                           (origin, seq))
    if row is None:
        raise TillmeshError(f"event {origin}:{seq} is not held here")
    body: dict[str, Any] = unpack_body(row[0])
    return body


def _shift_events(session: Any, shift: str, item: Due, skip: set[str]) -> dict[str, Any]:
    """The bodies an opening or closing entry is made of: the shift's opening, its
    closing (or reconciliation) and the invoices it lists."""
    sql = raw(session)
    base = outbox.shift_of(shift)  # a reconciliation carries its shift's late sales
    opened = outbox.source(session, OPENING, base)
    counter = sql.one("SELECT counter FROM shifts WHERE shift = ?", (base,))
    out: dict[str, Any] = {"counter": counter[0] if counter else "",
                           "opened": _body(session, *opened) if opened else {}}
    if shift != base:  # a reconciliation: an entry pair of its own, with no float
        out["opened"] = {**out["opened"], "shift": shift, "opening": {}}
    if item.doctype == CLOSING:
        closed = _body(session, item.origin, item.seq)
        if shift != base:
            closed = {**closed, "closed_at": closed.get("at"), "closed_by": closed.get("by")}
        out["closed"] = closed
        out["invoices"] = []
        for invoice in closed.get("invoices", []):
            if str(invoice) in skip:
                continue
            carrier = outbox.source(session, INVOICE, str(invoice))
            if carrier is not None:
                out["invoices"].append(_body(session, *carrier))
    return out
