"""Store status: this counter (active, revoked, paused or cut off, and why; its release
and the releases the store allows), the other counters (live, refusing this one, lag,
release), ERPNext and the forwarder, pending and failed deliveries, the exceptions queue
(retry and resolve: supervisors), the printer, negative-stock flags and, for supervisors,
the returns to review (over-returns, returns the sale's counter did not confirm).
Refreshed every few seconds while shown, on the POLL lane. Times are the store's
(``Context.now``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from tillmesh.ui.bridge import Lane
from tillmesh.ui.const import STATUS_REFRESH_MS, STATUS_TWO_COLUMNS_PX
from tillmesh.ui.context import Context
from tillmesh.ui.models.money import dec, qty
from tillmesh.ui.models.returns import reviews
from tillmesh.ui.models.status import (
    counter_rows,
    erpnext_note,
    erpnext_rows,
    exception_rows,
    peer_rows,
    printer_rows,
    security_rows,
)
from tillmesh.ui.screens import dialogs
from tillmesh.ui.screens.widgets import (
    STRETCH,
    Columns,
    Pairs,
    button,
    card,
    fill,
    label,
    row,
    scrolling,
    table,
)

PEER_HEADERS = ("Counter", "Live", "State", "Lag", "Heard", "Clock", "Release")
EXCEPTION_HEADERS = ("Document", "ERPNext says", "Tries", "State")
STOCK_HEADERS = ("Item", "On hand", "Invoice")
REVIEW_HEADERS = ("Return", "Of sale", "Counter", "Why")
SECURITY_HEADERS = ("Event", "What", "Why refused")


MESSAGE_COLUMN = 1  # of the exceptions table: ERPNext's words
REVIEW_WHY = 3  # of the returns to review: the reason, in words
SECURITY_WHY = 2  # of what was refused: the reason, in words


class StatusScreen(QWidget):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.setObjectName("screen")
        self.ctx = ctx
        self.exception_ids: list[str] = []
        self._erpnext_status: dict[str, Any] = {}
        self._deliveries: dict[str, Any] = {}
        self._outstanding = 0  # answers still due from the last refresh
        self.counter = Pairs()
        self._counter_rows: list[tuple[str, str]] = []
        self.counter_note = label("", "subtitle", wrap=True)  # why, in the node's words
        self.peers = table(PEER_HEADERS)
        self.peers_note = label("", "muted")
        self.erpnext = Pairs()
        self.erpnext_note = label("", "subtitle", wrap=True)
        self.exceptions = table(EXCEPTION_HEADERS)
        self.exceptions.setWordWrap(True)  # ERPNext's message is what a supervisor acts on
        self.exceptions_note = label("", "muted", wrap=True)
        self.retry_button = button("Retry", self.retry)
        self.resolve_button = button("Resolve…", self.resolve)
        self.printer = Pairs()
        self.printer_note = label("", "muted")
        self.stock = table(STOCK_HEADERS)
        self.reviews = table(REVIEW_HEADERS)
        self.reviews.setWordWrap(True)
        self.reviews_note = label("", "muted", wrap=True)
        self.reviews_card = card(label("Returns to review", "subtitle"), self.reviews_note,
                                 self.reviews)
        self.security = table(SECURITY_HEADERS)
        self.security.setWordWrap(True)
        self.security_note = label("", "muted", wrap=True)
        self.security_card = card(label("Refused from other counters", "subtitle"),
                                  self.security_note, self.security)

        cards = Columns([
            (card(label("This counter", "subtitle"), self.counter_note, self.counter), False),
            (card(label("Counters", "subtitle"), self.peers_note, self.peers), False),
            (card(label("ERPNext", "subtitle"), self.erpnext_note, self.erpnext, STRETCH),
             False),
            (card(label("Exceptions queue", "subtitle"), self.exceptions_note, self.exceptions,
                  row(self.retry_button, self.resolve_button)), False),
            (card(label("Printer", "subtitle"), self.printer_note, self.printer,
                  label("Negative stock (sold below zero, flagged)", "subtitle"), self.stock),
             False),
            (self.reviews_card, True), (self.security_card, True)], STATUS_TWO_COLUMNS_PX)
        page = QVBoxLayout(scrolling(self))
        page.addWidget(cards)
        page.addStretch(1)
        self.timer = QTimer(self)
        self.timer.setInterval(STATUS_REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        ctx.counter_changed.connect(self._counter)

    def activate(self) -> None:
        supervises = self.ctx.user is not None and self.ctx.user.supervises
        self.retry_button.setVisible(supervises)
        self.resolve_button.setVisible(supervises)
        self.reviews_card.setVisible(supervises)
        self.security_card.setVisible(self._admin())
        self._counter(self.ctx.counter_state)
        self.refresh()
        self.timer.start()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        self.timer.stop()  # polling keeps a session alive; only while someone looks
        super().hideEvent(event)

    def refresh(self) -> None:
        if self._outstanding:
            return
        calls: list[tuple[str, Callable[[Any], None], QLabel | None]] = [
            ("peers", self._peers, None), ("erpnext_status", self._erpnext, self.erpnext_note),
            ("deliveries_pending", self._pending, None),
            ("exceptions_list", self._exceptions, self.exceptions_note),
            ("printer_status", self._printer, self.printer_note)]
        self.ctx.refresh_counter()  # reaches _counter through counter_changed
        if self.ctx.user is not None and self.ctx.user.supervises:
            calls.append(("returns_flagged", self._reviews, self.reviews_note))
        if self._admin():
            calls.append(("security_status", self._security, self.security_note))
        self._outstanding = len(calls)
        for method, on_ok, note in calls:
            self.ctx.bridge.call(method, None, on_ok=self._answered(on_ok),
                                 on_error=self._failed(note), lane=Lane.POLL)
        self._stock()

    def _answered(self, show: Any) -> Any:
        def done(result: Any) -> None:
            self._outstanding -= 1
            show(result)
        return done

    def _failed(self, note: Any) -> Any:
        def failed(exc: Any) -> bool:
            self._outstanding -= 1
            if exc.code == "unknown_method":
                if note is not None:
                    note.setText("Not available on this node")
                return True
            return False  # the sink shows it (or the banner, when the node is down)
        return failed

    def _counter(self, state: Any) -> None:
        self.counter_note.setText(str(state.get("reason") or ""))
        rows = counter_rows(state, self.ctx.now()) if state else []
        if rows != self._counter_rows:  # asked every few seconds: redraw only a change
            self._counter_rows = rows
            self.counter.set_rows(rows)

    def _peers(self, peers: Any) -> None:
        rows = peer_rows(peers)
        self.peers_note.setText("" if rows else "No other counter known yet")
        fill(self.peers, [(r.node, r.reach, r.state, r.lag, r.heard, r.skew, r.release)
                          for r in rows])

    def _erpnext(self, status: Any) -> None:
        self._erpnext_status = dict(status)
        self.erpnext_note.setText(erpnext_note(status))
        self._erpnext_rows()

    def _pending(self, deliveries: Any) -> None:
        self._deliveries = dict(deliveries)
        self._erpnext_rows()

    def _erpnext_rows(self) -> None:
        self.erpnext.set_rows(erpnext_rows(self._erpnext_status, self.ctx.now(),
                                           self._deliveries))

    def _exceptions(self, items: Any) -> None:
        rows = exception_rows(items)
        self.exception_ids = [r.id for r in rows]
        self.exceptions_note.setText("" if rows else "Nothing waiting: ERPNext took everything "
                                     "sent so far")
        fill(self.exceptions, [(r.document, r.message, r.tries, r.state) for r in rows],
             stretch=MESSAGE_COLUMN)
        self.exceptions.resizeRowsToContents()

    def _reviews(self, flagged: Any) -> None:
        rows = reviews(flagged)
        self.reviews_note.setText("" if rows else "No over-returns, and every return was"
                                  " confirmed by its sale's counter")
        fill(self.reviews, [(r.invoice, r.against, r.counter, r.why) for r in rows],
             stretch=REVIEW_WHY)
        self.reviews.resizeRowsToContents()

    def _admin(self) -> bool:
        return self.ctx.user is not None and self.ctx.user.role == "admin"

    def _security(self, status: Any) -> None:
        rows = security_rows(status)
        self.security_note.setText("" if rows else "Nothing refused: every event came signed "
                                   "by an enrolled counter, every change from an admin")
        fill(self.security, rows, stretch=SECURITY_WHY)
        self.security.resizeRowsToContents()

    def _printer(self, status: Any) -> None:
        self.printer_note.setText("")
        self.printer.set_rows(printer_rows(status, self.ctx.now()))
        self.ctx.printer_state(status)

    def _stock(self) -> None:
        flags = self.ctx.negative_stock
        fill(self.stock, [(code, qty(dec(level.get("on_hand"))), str(level.get("invoice") or ""))
                          for code, level in sorted(flags.items())], numeric=(1,))

    def _chosen_exception(self) -> str | None:
        rows = self.exceptions.selectionModel().selectedRows()
        if not rows:
            self.ctx.notify("Select an exception first", "warn")
            return None
        return self.exception_ids[rows[0].row()]

    def _done(self, text: str) -> Callable[[Any], None]:
        def done(_: Any) -> None:
            self.ctx.notify(text, "ok")
            self.refresh()
        return done

    def retry(self) -> None:
        chosen = self._chosen_exception()
        if chosen is not None:
            self.ctx.call("exception_retry", {"id": chosen},
                          self._done("Queued for another delivery"), approvable=True)

    def resolve(self) -> None:
        chosen = self._chosen_exception()
        if chosen is None:
            return
        dialog = dialogs.EntryDialog(self, "Resolve", "What was done about it (kept in the "
                                     "audit trail)", kind="text")
        dialog.chosen.connect(lambda note: self.ctx.call(
            "exception_resolve", {"id": chosen, "note": str(note)},
            self._done("Resolved"), approvable=True))
        dialogs.show(self.ctx, dialog)
