"""The counter's print service: the queue, the receipt style, and printing by itself.

The node owns the printer (DESIGN.md); the UI only calls the API methods
(``tillmesh.node.api.printing``), and none of them waits for the printer: they queue a
job and answer (``printer_status`` says how it went).

Automatic printing hangs on the event log's ``afterwards`` listeners, which run once
events are durable (with group commit, after the shared fsync, and once the requests that
waited for it have answered: a sale's answer does not wait for its receipt). For an event
that this counter recorded:

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

from tillmesh.node.domain.pos_context import Mode
from tillmesh.node.domain.sale import plain
from tillmesh.node.errors import PrinterError
from tillmesh.node.printing._helper import PrinterHelper
from tillmesh.node.printing._layout import Receipt, ReceiptStyle, sale_receipt, shift_receipt
from tillmesh.node.printing._queue import Device, PrintQueue, QueueStatus
from tillmesh.node.printing._spool import Spool
from tillmesh.node.printing.const import (
    ATTEMPT_TIMEOUTS,
    AUTO_PRINT_MAX_AGE_S,
    HELPER_START_S,
    SPOOL_DIR,
)
from tillmesh.node.projections import ledger
from tillmesh.node.store.event_codec import Event, unpack_body

if TYPE_CHECKING:
    from tillmesh.node.api import Node

log = logging.getLogger("tillmesh.printing")


class PrintService:
    """This counter's printer: the queue, the receipt style and the automatic hook."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.settings = settings = node.config.printer
        self.style = ReceiptStyle(width=settings.width, tz=node.config.tz,
                                  header=tuple(settings.header), footer=tuple(settings.footer),
                                  logo=bool(settings.logo), qr=settings.qr)
        self.queue: PrintQueue | None = None  # once the spool is open (open_spool)
        self.device: Device | None = None
        self.helper: PrinterHelper | None = None
        self.where = "none"
        self.attempt_timeout_s: float = settings.timeout_seconds * ATTEMPT_TIMEOUTS
        if settings.kind == "dummy":  # keeps its paper in this process, for tests to read
            # Imported here: python-escpos, PIL and qrcode take ~0.2 s to load, which a
            # counter without a printer (and every CLI command) need not pay.
            from tillmesh.node.printing._escpos import EscposDevice

            self.device = EscposDevice(settings, node.config.data_dir)
        elif settings.kind != "none":
            self.device = self.helper = PrinterHelper(settings, node.config.data_dir,
                                                      deadline_s=self.attempt_timeout_s)
            self.attempt_timeout_s += HELPER_START_S  # it stops a stuck job itself first
        if self.device is not None:
            self.where = self.device.describe()

    def start(self) -> None:
        """Print recorded events by themselves, once the spool is open."""
        if self.device is not None:
            self.node.log.afterwards.append(self.on_recorded)

    def open_spool(self, key: bytes) -> None:
        """Start the queue on its spool, sealed with ``key`` (``spool_key`` of the database
        key): whoever opened the store hands it over, so no key file is read here.
        Without it (a node built for ``join`` or by a tool) nothing prints."""
        if self.device is None or self.queue is not None:
            return
        spool = Spool(self.node.config.data_dir / SPOOL_DIR, key)
        self.queue = PrintQueue(self.device, spool, clock=self.node.clock,
                                attempt_timeout_s=self.attempt_timeout_s)
        self.queue.start()

    def close(self) -> None:
        if self.queue is not None:
            self.queue.close()
        if self.helper is not None:
            self.helper.close()

    def require(self) -> PrintQueue:
        if self.device is None:
            raise PrinterError("No printer is configured on this counter ([printer] kind)")
        if self.queue is None:  # not reachable in the daemon: it opens the spool at once
            raise PrinterError("The print queue is not open yet; try again")
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
        if self.settings.auto_print:  # laid out by the printer's thread: the cashier waits
            queue.submit_layout(body["invoice"],
                                lambda: sale_receipt(body, self.style, counter=event.origin))

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


def _is_cash(mode: str, kind: object) -> bool:
    return Mode(mode, str(kind), None).is_cash  # the profile's own rule of what cash is


_AUTOMATIC = {
    "sale.submitted": PrintService._sale,
    "sale.returned": PrintService._sale,
    "cash.moved": PrintService._cash_moved,
    "audit.drawer_opened": PrintService._drawer_opened,
    "shift.closed": PrintService._shift_closed,
}
