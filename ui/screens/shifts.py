"""Shifts: open this counter's shift with a counted float, the X report, and closing a
shift with a count per mode (expected vs counted, the difference, then the node's Z report).

A supervisor sees every counter's open shifts (``shift_list``) and can close any of them;
a cashier sees their own. Closing someone else's shift without the role asks for a
supervisor PIN (``approvable``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QStackedWidget, QWidget

from tillmesh.ui.bridge import Lane
from tillmesh.ui.const import COMPACT_ROW_PX, REPORT_PRINT_METHOD, STATUS_REFRESH_MS
from tillmesh.ui.context import Context
from tillmesh.ui.models.count import amounts, compare, opening_param
from tillmesh.ui.models.money import money
from tillmesh.ui.models.shift import report_rows, shift_label
from tillmesh.ui.screens.count import CountForm
from tillmesh.ui.screens.widgets import STRETCH, Pairs, button, card, fill, label, table

COMPARE_HEADERS = ("Mode", "Expected", "Counted", "Difference")


def _now() -> datetime:
    return datetime.now().astimezone()


NO_SALE_REASON = "no sale (opened from the app)"  # what the audit trail shows


class ShiftScreen(QWidget):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.setObjectName("screen")
        self.ctx = ctx
        self.shifts: list[dict[str, Any]] = []
        self.selected: dict[str, Any] | None = None
        self.expected: dict[str, Any] = {}

        self.here = label("", "subtitle", wrap=True)
        self.open_here = button("Open a shift on this counter", self.show_open, kind="primary")
        self.list = QListWidget()
        self.list.itemClicked.connect(lambda _: self.select(self.shifts[self.list.currentRow()]))
        left = card(label("Shifts", "title"), self.here, self.open_here,
                    button("Cash in / out  F9", lambda: ctx.action.emit("cash")),
                    button("Open the drawer (no sale)", self.open_drawer),
                    label("Open shifts", "subtitle"), self.list)

        self.opening = CountForm()
        open_page = card(label("Open the shift", "title"),
                         label("Count the float you put into the drawer", "muted"),
                         self.opening, button("Open shift", self.open_shift, kind="primary"),
                         STRETCH)

        self.heading = label("", "subtitle", wrap=True)
        self.report = Pairs()
        self.counting = CountForm()
        self.counting.changed.connect(self._compare)
        self.comparison = table(COMPARE_HEADERS, row_px=COMPACT_ROW_PX)
        self.close_button = button("Close shift", self.close_shift, kind="primary")
        self.print_button = button("Print report", self.print_report)
        self.report_title = label("X report", "subtitle")
        close_page = QWidget()
        close_layout = QHBoxLayout(close_page)
        close_layout.setContentsMargins(0, 0, 0, 0)
        close_layout.addWidget(card(self.heading, self.report_title, self.report,
                                    self.comparison), 3)
        close_layout.addWidget(card(label("Count the drawer", "subtitle"), self.counting,
                                    STRETCH, self.close_button, self.print_button), 2)

        self.pages = QStackedWidget()
        self.pages.addWidget(open_page)
        self.pages.addWidget(close_page)
        layout = QHBoxLayout(self)
        layout.addWidget(left, 1)
        layout.addWidget(self.pages, 4)
        self.timer = QTimer(self)
        self.timer.setInterval(STATUS_REFRESH_MS)
        self.timer.timeout.connect(self._refresh_list)

    def activate(self) -> None:
        self.refresh()
        self.timer.start()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        self.timer.stop()  # polling keeps a session alive; only while someone looks
        super().hideEvent(event)

    def _refresh_list(self) -> None:
        """Other counters' shifts open and close while a supervisor looks: keep up."""
        if self.ctx.user is not None and self.ctx.user.supervises:
            self.ctx.call("shift_list", {"status": "open"}, self._listed, lane=Lane.POLL)

    def refresh(self) -> None:
        self.ctx.call("shift_current", None, self._current)

    def _current(self, shift: Any) -> None:
        self.ctx.set_shift(shift)
        user = self.ctx.user
        counter = self.ctx.counter or "this counter"
        self.here.setText(f"Open on {counter}: {shift['shift']}" if shift
                          else f"No shift is open on {counter}")
        self.open_here.setVisible(not shift)
        if user is not None and user.supervises:
            self.ctx.call("shift_list", {"status": "open"}, self._listed)
        else:
            self._listed([shift] if shift else [])
        if shift and self.selected is None:
            self.select(shift)
        elif not shift and self.selected is None:
            self.show_open()

    def _listed(self, shifts: Any) -> None:
        self.shifts = [dict(s) for s in shifts]
        self.list.clear()
        for shift in self.shifts:
            self.list.addItem(shift_label(shift, _now()))

    def show_open(self) -> None:
        self.selected = None
        self.opening.set_modes(self.ctx.modes)
        self.pages.setCurrentIndex(0)

    def open_drawer(self) -> None:
        """A supervisor's no-sale open (audited by the node); a cashier is asked for one."""
        self.ctx.call("drawer_open", {"reason": NO_SALE_REASON},
                      lambda _: self.ctx.notify("Drawer opened (no sale, audited)"),
                      approvable=True)

    def open_shift(self) -> None:
        values = self.opening.amounts()
        if values is None:
            self.ctx.notify("The float must be amounts of money", "warn")
            return
        cash = next((m.name for m in self.ctx.modes if m.is_cash), "Cash")

        def opened(shift: Any) -> None:
            self.ctx.set_shift(shift)
            self.ctx.notify(f"Shift {shift['shift']} is open", "ok")
            self.opening.clear()
            self.selected = None
            self.refresh()

        self.ctx.call("shift_open", {"opening": opening_param(values, cash)}, opened)

    def select(self, shift: dict[str, Any]) -> None:
        self.selected = shift
        self.pages.setCurrentIndex(1)
        self.heading.setText(shift_label(shift, _now()))
        self.report_title.setText("X report")
        self.close_button.setEnabled(True)
        self.counting.clear()
        self.ctx.call("shift_report", {"shift_id": shift["shift"]}, self._report)

    def _report(self, answer: Any) -> None:
        report = answer.get("report") or {}
        self.expected = dict(report.get("expected") or {})
        self.counting.set_modes(self.ctx.modes)
        self.report.set_rows(report_rows(report))
        self._compare()

    def _compare(self) -> None:
        counted = self.counting.amounts() or {}
        rows = compare(amounts(self.expected), counted)
        fill(self.comparison, [(r.mode, money(r.expected), money(r.counted),
                                ("+" if r.difference > 0 else "") + money(r.difference))
                               for r in rows], numeric=(1, 2, 3))

    def close_shift(self) -> None:
        if self.selected is None:
            return
        counted = self.counting.amounts()
        if counted is None:
            self.ctx.notify("The counted amounts must be amounts of money", "warn")
            return
        cash = next((m.name for m in self.ctx.modes if m.is_cash), "Cash")
        self.ctx.call("shift_close", {"shift_id": self.selected["shift"],
                                      "counted": opening_param(counted, cash)},
                      self._closed, approvable=True)

    def _closed(self, answer: Any) -> None:
        self.report_title.setText("Z report")
        self.report.set_rows(report_rows(answer.get("report") or {}))
        self.close_button.setEnabled(False)
        self.ctx.notify(f"Shift {answer['shift']} is closed", "ok")
        self.ctx.watch_printer()  # the node prints the Z report by itself
        if self.ctx.shift and self.ctx.shift.get("shift") == answer["shift"]:
            self.ctx.set_shift(None)
        self.ctx.call("shift_current", None, self._after_close)

    def _after_close(self, shift: Any) -> None:
        self.ctx.set_shift(shift)
        if self.ctx.user is not None and self.ctx.user.supervises:
            self.ctx.call("shift_list", {"status": "open"}, self._listed)
        else:
            self._listed([shift] if shift else [])
        self.open_here.setVisible(not shift)

    def print_report(self) -> None:
        if self.selected is None:
            return
        shift = str(self.selected["shift"])

        def printed(_: Any) -> None:
            self.ctx.notify(f"Report of {shift} sent to the printer", "info")
            self.ctx.watch_printer()

        self.ctx.optional(REPORT_PRINT_METHOD, {"shift_id": shift}, printed,
                          lambda text: self.ctx.notify(f"Printing is {text}", "warn"))
