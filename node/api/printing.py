"""API methods for the printer and the cash drawer, and the hook that prints by itself.

The node owns the printer (DESIGN.md); the UI only calls these methods, and none of them
waits for the printer: they queue a job and answer (``printer_status`` says how it went).

Automatic printing hangs on the event log's listeners, which run once events are durable
(``EventLog.listeners``; with group commit, after the shared fsync). For an event that
this counter recorded:

    sale.submitted, sale.returned   the receipt (``printer.auto_print``), and a drawer kick
                                    when any payment or refund was in a Cash-type mode
    cash.moved                      a drawer kick for a Cash-type mode (cash in / out)
    audit.drawer_opened             a drawer kick: ``drawer_open`` (supervisor, audited)
    shift.closed                    the Z report (``printer.auto_print``)

So selling and shifts know nothing of printing, a drawer never opens for an action that
was rolled back, and a peer's sale never prints here. An own event older than
``AUTO_PRINT_MAX_AGE_S`` is this counter's history coming back from peers (a restore) and
is not printed again.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tillmesh.node.api.checkout import sale_event  # the one reading of a recorded invoice
from tillmesh.node.domain.roles import Action
from tillmesh.node.domain.sale import plain
from tillmesh.node.errors import PrinterError
from tillmesh.node.printing._const import ATTEMPT_TIMEOUTS, AUTO_PRINT_MAX_AGE_S, SPOOL_DIR
from tillmesh.node.printing._layout import (
    Receipt,
    ReceiptStyle,
    sale_receipt,
    self_test_receipt,
    shift_receipt,
)
from tillmesh.node.printing._queue import PrintQueue, QueueStatus
from tillmesh.node.projections import ledger
from tillmesh.node.projections.audit import AuditRow
from tillmesh.node.projections.pos_profile import Mode
from tillmesh.node.store.event_codec import Event, unpack_body

if TYPE_CHECKING:
    from tillmesh.node.api._service import Caller, Node

log = logging.getLogger("tillmesh.printing")



class PrintService:
    """This counter's printer: the queue, the receipt style and the automatic hook."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.settings = settings = node.config.printer
        self.style = ReceiptStyle(width=settings.width, tz=node.config.tz,
                                  header=tuple(settings.header), footer=tuple(settings.footer),
                                  logo=bool(settings.logo), qr=settings.qr)
        self.queue: PrintQueue | None = None
        self.where = "none"
        if settings.kind != "none":
            # Imported here: python-escpos, PIL and qrcode take ~0.2 s to load, which a
            # counter without a printer (and every CLI command) need not pay.
            from tillmesh.node.printing._escpos import EscposDevice

            device = EscposDevice(settings, node.config.data_dir)
            self.where = device.describe()
            self.queue = PrintQueue(device, node.config.data_dir / SPOOL_DIR, clock=node.clock,
                                    attempt_timeout_s=settings.timeout_seconds * ATTEMPT_TIMEOUTS)

    def start(self) -> None:
        if self.queue is not None:
            self.node.log.listeners.append(self.on_recorded)
            self.queue.start()

    def close(self) -> None:
        if self.queue is not None:
            self.queue.close()

    def require(self) -> PrintQueue:
        if self.queue is None:
            raise PrinterError("No printer is configured on this counter ([printer] kind)")
        return self.queue

    def status(self) -> dict[str, Any]:
        status = self.queue.status() if self.queue is not None else QueueStatus()
        return {"kind": self.settings.kind, "printer": self.where,
                "auto_print": self.settings.auto_print, **plain(status),
                "pending": status.pending}

    def submit(self, receipt: Receipt) -> dict[str, Any]:
        job = self.require().submit_receipt(receipt)
        return {"job": job.id, "title": job.title}

    # --- printing by itself -------------------------------------------------------------

    def on_recorded(self, events: list[Event]) -> None:
        """EventLog listener: queue what recorded events print. Never raises: a printer
        problem must not turn a recorded sale into an error for the cashier."""
        for event in events:
            if event.origin != self.node.node_id or event.kind not in _AUTOMATIC:
                continue
            try:
                if (self.node.clock() - event.wall).total_seconds() <= AUTO_PRINT_MAX_AGE_S:
                    _AUTOMATIC[event.kind](self, event, unpack_body(event.body))
            except Exception:  # noqa: BLE001  (logged; the sale is recorded regardless)
                log.exception("could not queue printing for event %s", event.id)

    def _sale(self, event: Event, body: dict[str, Any]) -> None:
        queue = self.require()
        if any(_is_cash(p["mode_of_payment"], p.get("type")) and Decimal(p["amount"])
               for p in body["payments"]):
            queue.submit_kick(body["invoice"])
        if self.settings.auto_print:
            queue.submit_receipt(sale_receipt(body, self.style, counter=event.origin))

    def _cash_moved(self, event: Event, body: dict[str, Any]) -> None:
        mode = body["mode_of_payment"]
        with self.node.read() as s:
            known = self.node.context(s).modes.get(mode)
        if known is not None and known.is_cash:
            self.require().submit_kick(f"cash {body['direction']} {body['amount']}")

    def _drawer_opened(self, event: Event, body: dict[str, Any]) -> None:
        self.require().submit_kick(f"drawer opened by {body.get('user')}")

    def _shift_closed(self, event: Event, body: dict[str, Any]) -> None:
        if not self.settings.auto_print:
            return
        with self.node.read() as s:
            row = s.get(ledger.ShiftRow, body["shift"])
            if row is None:  # not reachable: the closing's own projection wrote the row
                return
            view = {"shift": row.shift, "counter": row.counter, "cashier": row.cashier,
                    "opened_at": row.opened_at, "closed_by": body["closed_by"],
                    "closed_at": body["closed_at"], "report": body["report"]}
        self.require().submit_receipt(shift_receipt(view, self.style,
                                                    printed_at=self.node.clock()))


def _printed_before(session: Session, sale: ledger.SaleRow) -> bool:
    """Has ``receipt_print`` printed this invoice before (on any counter)? Only prints
    recorded after the sale can be, so the scan is of those few audit rows."""
    details = session.scalars(select(AuditRow.detail).where(
        AuditRow.kind == "audit.receipt_printed", AuditRow.hlc > sale.hlc))
    return any(unpack_body(detail).get("invoice") == sale.invoice for detail in details)


def _is_cash(mode: str, kind: object) -> bool:
    return Mode(mode, str(kind), None).is_cash  # the profile's own rule of what cash is


_AUTOMATIC = {
    "sale.submitted": PrintService._sale,
    "sale.returned": PrintService._sale,
    "cash.moved": PrintService._cash_moved,
    "audit.drawer_opened": PrintService._drawer_opened,
    "shift.closed": PrintService._shift_closed,
}


def service_of(node: Node) -> PrintService:
    """The node's print service (tests, and the daemon to close it at shutdown)."""
    if node.printing is None:
        raise LookupError(f"node {node.node_id} has no print service")
    return node.printing


def register(node: Node) -> None:
    service = PrintService(node)
    node.printing = service
    service.start()

    def receipt_print(caller: Caller, invoice: str) -> dict[str, Any]:
        """Print the receipt of any sale or return held here; every print but the one
        original is marked COPY (audited)."""
        service.require()  # before anything is recorded
        with node.write() as tx:
            s = tx.session
            auth = node.authorize(s, caller, Action.REPRINT)
            row, body = sale_event(s, str(invoice))
            # The original comes from the counter that sold: by itself (auto_print), else
            # at the first request there. Any other print is a copy, so a second
            # "original" can never back a second refund.
            copy = (row.origin != node.node_id or service.settings.auto_print
                    or _printed_before(s, row))
            receipt = sale_receipt(body, service.style, counter=row.origin, copy=copy)
            node.audit(tx, "receipt_printed", auth, invoice=row.invoice, copy=copy,
                       counter=node.node_id)
        return {**service.submit(receipt), "copy": copy}

    def report_print(caller: Caller, shift_id: str | None = None) -> dict[str, Any]:
        """Print the X report of a shift, or its Z report once closed (this counter's
        open shift by default)."""
        service.require()
        view = node.call("shift_report", {"shift_id": shift_id} if shift_id else {},
                         caller.token)
        return service.submit(shift_receipt(view, service.style, printed_at=node.clock()))

    def printer_status(caller: Caller) -> dict[str, Any]:
        """The printer: kind, online, pending jobs and the last error (for the banner)."""
        return service.status()

    def printer_queue_retry(caller: Caller) -> dict[str, Any]:
        """Try the waiting jobs now (the printer is back); returns the status."""
        service.require().retry_now()
        return service.status()

    def printer_test(caller: Caller) -> dict[str, Any]:
        """Print a test page: width, styles, QR code and cutter."""
        service.require()
        return service.submit(self_test_receipt(service.style, counter=node.node_id,
                                                printer=service.where,
                                                printed_at=node.clock()))

    for fn in (receipt_print, report_print, printer_status, printer_queue_retry,
               printer_test):
        node.expose(fn.__name__, fn)
