"""Shifts: open this counter's shift with a counted float, the X report, and closing a
shift with a count per mode (expected vs counted, the difference, then the node's Z report).

A supervisor sees every counter's open shifts (``shift_list``) and can close any of them;
a cashier sees their own. Closing someone else's shift without the role asks for a
supervisor PIN (``approvable``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QListView,
    QListWidget,
    QScrollArea,
    QScroller,
    QStackedWidget,
    QTableWidget,
    QWidget,
)

from tillmesh.ui.bridge import Lane
from tillmesh.ui.const import (
    COMPACT_ROW_PX,
    REPORT_PRINT_METHOD,
    SCROLL_GAP_PX,
    STATUS_REFRESH_MS,
)
from tillmesh.ui.context import Context
from tillmesh.ui.models.count import (
    NOT_COUNTED,
    Tally,
    amounts,
    compare,
    comparison,
    differences,
    opening_param,
    tally,
)
from tillmesh.ui.models.shift import report_rows, shift_label
from tillmesh.ui.screens import dialogs
from tillmesh.ui.screens.count import CountForm
from tillmesh.ui.screens.widgets import STRETCH, Pairs, button, card, fill, label, table

COMPARE_HEADERS = ("Mode", "Expected", "Counted", "Difference")


NO_SALE_REASON = "no sale (opened from the app)"  # what the audit trail shows


def _scrolled(widget: QWidget) -> QScrollArea:
    """``widget`` in an area that scrolls up and down (by finger too) when it is taller
    than the room: an X report with several VAT rates and modes on a 768-pixel screen."""
    area = QScrollArea()
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidgetResizable(True)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(widget)
    widget.setAutoFillBackground(False)  # on the card's white, as the rest of the card
    widget.setContentsMargins(0, 0, SCROLL_GAP_PX, 0)  # amounts clear of the scroll bar
    area.viewport().setAutoFillBackground(False)
    QScroller.grabGesture(area.viewport(), QScroller.ScrollerGestureType.TouchGesture)
    return area


def _fit_rows(table: QTableWidget) -> None:
    """The table as tall as its heading and rows, no taller: the report above it gets
    the rest of the height."""
    rows = sum(table.rowHeight(r) for r in range(table.rowCount()))
    table.setFixedHeight(table.horizontalHeader().sizeHint().height() + rows
                         + 2 * table.frameWidth())


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
        self.list.setWordWrap(True)  # a shift's line wraps in a narrow column, never cut
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.itemClicked.connect(self._chosen)
        self.list.itemActivated.connect(self._chosen)  # Enter on the keyboard
        left = card(label("Shifts", "title"), self.here, self.open_here,
                    button("Cash in / out  F9", lambda: ctx.action.emit("cash")),
                    button("Open drawer (no sale)", self.open_drawer),
                    label("Open shifts", "subtitle"), self.list)

        self.opening = CountForm()
        self.opening.submitted.connect(self.open_shift)  # Enter in a field: open it
        open_page = card(label("Open the shift", "title"),
                         label("Count the float you put into the drawer", "muted"),
                         self.opening, button("Open shift", self.open_shift, kind="primary"),
                         STRETCH)

        self.heading = label("", "subtitle", wrap=True)
        self.report = Pairs()
        self.report_area = _scrolled(self.report)  # a long report scrolls, never cut
        self.counting = CountForm(blank=NOT_COUNTED)  # blank is not 0 at closing
        self.counting.changed.connect(self._compare)
        self.counting.submitted.connect(self.close_shift)
        self.count_note = label("", "subtitle", wrap=True)  # the modes still to count
        self.comparison = table(COMPARE_HEADERS, row_px=COMPACT_ROW_PX)
        self.close_button = button("Close shift", self.close_shift, kind="primary")
        self.print_button = button("Print report", self.print_report)
        self.report_title = label("X report", "subtitle")
        close_page = QWidget()
        close_layout = QHBoxLayout(close_page)
        close_layout.setContentsMargins(0, 0, 0, 0)
        # the report and the comparison need the width; the count is a field per mode
        close_layout.addWidget(card(self.heading, self.report_title, self.report_area,
                                    self.comparison), 3)
        close_layout.addWidget(card(label("Count the drawer", "subtitle"), self.counting,
                                    self.count_note, STRETCH, self.close_button,
                                    self.print_button), 1)

        self.pages = QStackedWidget()
        self.pages.addWidget(open_page)
        self.pages.addWidget(close_page)
        layout = QHBoxLayout(self)
        layout.addWidget(left, 1)
        layout.addWidget(self.pages, 4)
        self.timer = QTimer(self)
        self.timer.setInterval(STATUS_REFRESH_MS)
        self.timer.timeout.connect(self._refresh_list)
        ctx.shift_changed.connect(self._show_here)  # also after a close: never a stale "Open"

    def activate(self) -> None:
        self.refresh()
        self.timer.start()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        self.timer.stop()  # polling keeps a session alive; only while someone looks
        super().hideEvent(event)

    def _refresh_list(self) -> None:
        """Other counters' shifts open and close while a supervisor looks, and the shift
        shown takes sales and cash moves (F9 here) while it is counted: keep up."""
        if self.ctx.user is not None and self.ctx.user.supervises:
            self.ctx.call("shift_list", {"status": "open"}, self._listed, lane=Lane.POLL)
        if self.selected is not None and self.close_button.isEnabled():
            self.ctx.call("shift_report", {"shift_id": self.selected["shift"]}, self._live,
                          lane=Lane.POLL)

    def _live(self, answer: Any) -> None:
        """A polled X report, shown if it is still of the shift shown and not closed."""
        if (self.selected is not None and answer.get("shift") == self.selected["shift"]
                and self.close_button.isEnabled()):
            self._report(answer)

    def refresh(self) -> None:
        self.ctx.call("shift_current", None, self._current)

    def _current(self, shift: Any) -> None:
        self.ctx.set_shift(shift)
        user = self.ctx.user
        if user is not None and user.supervises:
            self.ctx.call("shift_list", {"status": "open"}, self._listed)
        else:
            self._listed([shift] if shift else [])
        if self.selected is not None and self.close_button.isEnabled():
            # back on the screen: what the shift expects now, the count typed so far kept
            self.ctx.call("shift_report", {"shift_id": self.selected["shift"]},
                          self._to_count)
        elif shift:  # nothing chosen yet, or a Z report already read: this counter's
            self.select(shift)
        else:
            self.show_open()

    def _show_here(self, shift: Any) -> None:
        """This counter's shift, as ``Context.set_shift`` last had it."""
        counter = self.ctx.counter or "this counter"
        self.here.setText(f"Open on {counter}: {shift['shift']}" if shift
                          else f"No shift is open on {counter}")
        self.open_here.setVisible(not shift)

    def _listed(self, shifts: Any) -> None:
        self.shifts = [dict(s) for s in shifts]
        self.list.clear()
        for shift in self.shifts:
            self.list.addItem(shift_label(shift, self.ctx.now()))

    def show_open(self) -> None:
        self.selected = None
        self.opening.set_modes(self.ctx.modes)
        self.pages.setCurrentIndex(0)
        self.opening.focus_first()  # a till without a touch screen types the float here

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

    def _chosen(self, _: Any) -> None:
        self.select(self.shifts[self.list.currentRow()])

    def select(self, shift: dict[str, Any]) -> None:
        self.selected = shift
        self.pages.setCurrentIndex(1)
        self.heading.setText(shift_label(shift, self.ctx.now()))
        self.report_title.setText("X report")
        self.close_button.setEnabled(True)
        self.counting.clear()
        self.ctx.call("shift_report", {"shift_id": shift["shift"]}, self._to_count)

    def _to_count(self, answer: Any) -> None:
        self._report(answer)
        self.counting.focus_first()  # the count is typed next, mode after mode (Tab)

    def _report(self, answer: Any) -> None:
        report = answer.get("report") or {}
        self.expected = dict(report.get("expected") or {})
        self.counting.set_modes(self.ctx.modes)
        self.report.set_rows(report_rows(report))
        self._compare()
        _fit_rows(self.comparison)

    def _compare(self) -> None:
        count = tally(self.counting.texts())
        fill(self.comparison, comparison(amounts(self.expected), count), numeric=(1, 2, 3))
        self.count_note.setText(count.refusal() or "")

    def close_shift(self) -> None:
        """Every mode counted (a blank is not 0), then the differences confirmed, then the
        node makes the Z report: there is no way back from it."""
        if self.selected is None or not self.close_button.isEnabled():
            return
        count = tally(self.counting.texts())
        refusal = count.refusal()
        if refusal is not None:
            self.ctx.notify(refusal, "warn")
            self.counting.fields[(count.uncounted + count.invalid)[0]].setFocus()
            return
        shift = str(self.selected["shift"])

        def ask(answer: Any) -> None:
            self._report(answer)  # what is expected now (a counter may still be selling)
            found = differences(compare(amounts(self.expected), count.counted))
            said = "\n".join(found) if found else "Every mode matches what the shift expected."
            dialog = dialogs.ConfirmDialog(
                self, f"Close shift {shift}?",
                f"{said}\nThe Z report is final: the count cannot be changed after it.",
                ok_text="Close shift  (Z report)", keep_text="Count again")
            dialog.accepted.connect(lambda: self._send_close(shift, count))
            dialogs.show(self.ctx, dialog)

        self.ctx.call("shift_report", {"shift_id": shift}, ask)

    def _send_close(self, shift: str, count: Tally) -> None:
        self.ctx.call("shift_close", {"shift_id": shift, "counted": count.param()},
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

    def print_report(self) -> None:
        if self.selected is None:
            return
        shift = str(self.selected["shift"])

        def printed(_: Any) -> None:
            self.ctx.notify(f"Report of {shift} sent to the printer", "info")
            self.ctx.watch_printer()

        self.ctx.optional(REPORT_PRINT_METHOD, {"shift_id": shift}, printed,
                          lambda text: self.ctx.notify(f"Printing is {text}", "warn"))
