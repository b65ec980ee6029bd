"""The customer display: the window the customer faces, large enough to read from 1.5 m.

It shows what :class:`~ui.models.customer_display.Shown` says (the cart's last lines and
total with, while the cashier types the tender, what is paid and the change; the paid
sale's change; or a welcome) and nothing else: no message, banner, prompt
or error of the cashier's reaches it. It follows the node, not the cashier's app: it polls
the node's read-only ``customer_display`` (no login) on the bridge's POLL lane, the next
poll only once the last one answered, sending back the version it has so an unchanged
cart costs the node next to nothing.

It never takes input: the window does not accept focus (the scanner and the keyboard stay
with the cashier's app, even when a window manager would focus a new window), input passes
through it (``WindowTransparentForInput``), and any key or touch that reaches it anyway is
dropped. Each change of what it shows is logged on one line (``summary``): what the
customer saw, and what the tests read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QRect, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from tillmesh.node.errors import NodeUnavailable, TillmeshError, UnknownMethod
from tillmesh.ui.bridge import Bridge, Lane
from tillmesh.ui.const import (
    DISPLAY_BACKGROUND,
    DISPLAY_CHANGE,
    DISPLAY_CHANGE_SHARE,
    DISPLAY_LINE_SHARE,
    DISPLAY_MARGIN_SHARE,
    DISPLAY_METHOD,
    DISPLAY_MIN_FONT_PX,
    DISPLAY_MUTED,
    DISPLAY_POLL_MS,
    DISPLAY_RETRY_MS,
    DISPLAY_ROW_FACTOR,
    DISPLAY_TEXT,
    DISPLAY_TITLE,
    DISPLAY_TOTAL_SHARE,
    THANKS_TEXT,
    WELCOME_TEXT,
)
from tillmesh.ui.models.customer_display import DisplayLine, Face, Shown, last_fitting
from tillmesh.ui.models.money import with_symbol
from tillmesh.ui.style import FONT_FAMILY

log = logging.getLogger(__name__)

_INPUT = {QEvent.Type.KeyPress, QEvent.Type.KeyRelease, QEvent.Type.MouseButtonPress,
          QEvent.Type.MouseButtonRelease, QEvent.Type.MouseButtonDblClick,
          QEvent.Type.TouchBegin, QEvent.Type.TouchUpdate, QEvent.Type.TouchEnd,
          QEvent.Type.Wheel, QEvent.Type.ContextMenu}


def _px(height: int, share: int) -> int:
    return max(DISPLAY_MIN_FONT_PX, height // share)


def _font(px: int, bold: bool = False) -> QFont:
    font = QFont(FONT_FAMILY)
    font.setPixelSize(px)
    font.setBold(bold)
    return font


class LinesView(QWidget):
    """The cart's newest lines, as many as fit, newest at the bottom and in bold: name
    (cut with "…" when long), quantity, amount. Painted, so a line is one row whatever
    its name."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: tuple[DisplayLine, ...] = ()
        self.hidden = 0
        self.font_px = DISPLAY_MIN_FONT_PX

    def show_lines(self, lines: tuple[DisplayLine, ...], hidden: int) -> None:
        self.lines, self.hidden = lines, hidden
        self.update()

    @property
    def row_px(self) -> int:
        return int(self.font_px * DISPLAY_ROW_FACTOR)

    def visible(self) -> tuple[int, tuple[DisplayLine, ...]]:
        """(lines above the shown ones, the shown lines) at the current height."""
        return last_fitting(self.lines, self.hidden, self.height() // self.row_px)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        above, shown = self.visible()
        painter = QPainter(self)
        width, row = self.width(), self.row_px
        regular, bold = _font(self.font_px), _font(self.font_px, bold=True)
        metrics = QFontMetrics(bold)
        gap = metrics.horizontalAdvance("  ")
        amount_w = max((metrics.horizontalAdvance(ln.price) for ln in shown), default=0)
        qty_w = max((metrics.horizontalAdvance(ln.quantity) for ln in shown), default=0)
        name_w = max(0, width - amount_w - qty_w - 2 * gap)
        top = 0
        align = Qt.AlignmentFlag.AlignVCenter
        if above:
            painter.setFont(regular)
            painter.setPen(QColor(DISPLAY_MUTED))
            painter.drawText(QRect(0, top, width, row), align | Qt.AlignmentFlag.AlignLeft,
                             f"+ {above} more above")
            top += row
        for i, line in enumerate(shown):
            newest = i == len(shown) - 1
            painter.setFont(bold if newest else regular)
            painter.setPen(QColor(DISPLAY_TEXT))
            name = QFontMetrics(painter.font()).elidedText(line.name, Qt.TextElideMode.ElideRight,
                                                           name_w)
            painter.drawText(QRect(0, top, name_w, row), align | Qt.AlignmentFlag.AlignLeft, name)
            painter.drawText(QRect(name_w + gap, top, qty_w, row),
                             align | Qt.AlignmentFlag.AlignRight, line.quantity)
            painter.drawText(QRect(width - amount_w, top, amount_w, row),
                             align | Qt.AlignmentFlag.AlignRight, line.price)
            top += row
        painter.end()


def _label(name: str, text: str = "", align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft,
           ) -> QLabel:
    widget = QLabel(text)
    widget.setObjectName(name)
    widget.setAlignment(align | Qt.AlignmentFlag.AlignVCenter)
    return widget


class CustomerDisplay(QWidget):
    """The customer display window; :meth:`start` begins following the node."""

    def __init__(self, bridge: Bridge) -> None:
        super().__init__(None, Qt.WindowType.Window | Qt.WindowType.WindowDoesNotAcceptFocus
                         | Qt.WindowType.WindowTransparentForInput)
        self.setWindowTitle(DISPLAY_TITLE)
        self.setObjectName("customerDisplay")
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)  # the sheet's background
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.bridge = bridge
        self.shown = Shown()
        self.clock: Callable[[], float] = time.monotonic  # s; the change's idle timeout
        self._out = False  # a poll is on its way: the next one waits for its answer
        self._missing_said = False
        self.following = False  # an answer has come: what shows is the node's
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.poll)

        right = Qt.AlignmentFlag.AlignRight
        centre = Qt.AlignmentFlag.AlignCenter
        self.welcome = _label("cdWelcome", WELCOME_TEXT, centre)
        self.lines = LinesView()
        self.total = _label("cdTotal", "", right)
        cart = QWidget()
        cart_layout = QVBoxLayout(cart)
        cart_layout.setContentsMargins(0, 0, 0, 0)
        cart_layout.addWidget(self.lines, 1)
        total_row = QHBoxLayout()
        total_row.addWidget(_label("cdLabel", "Total"))
        total_row.addStretch(1)
        total_row.addWidget(self.total)
        cart_layout.addLayout(total_row)
        self.tendered = QWidget()  # while the cashier types what the customer hands over
        tendered_row = QHBoxLayout(self.tendered)
        tendered_row.setContentsMargins(0, 0, 0, 0)
        self.tendered_paid = _label("cdFigure", "", right)
        self.tendered_change_label = _label("cdLabel", "Change")
        self.tendered_change = _label("cdTenderedChange", "", right)
        tendered_row.addWidget(_label("cdLabel", "Paid"))
        tendered_row.addWidget(self.tendered_paid)
        tendered_row.addStretch(1)
        tendered_row.addWidget(self.tendered_change_label)
        tendered_row.addWidget(self.tendered_change)
        self.tendered.setVisible(False)
        cart_layout.addWidget(self.tendered)

        self.thanks = _label("cdLabel", THANKS_TEXT, centre)
        sums = QWidget()  # centred, as wide as its figures: label and figure read as a pair
        self.sums = QGridLayout(sums)
        self.sums.setContentsMargins(0, 0, 0, 0)
        self.sum_rows: list[tuple[QLabel, QLabel]] = []
        sums_row = QHBoxLayout()
        sums_row.addStretch(1)
        sums_row.addWidget(sums)
        sums_row.addStretch(1)
        self.change_label = _label("cdLabel", "Change", centre)
        self.change = _label("cdChange", "", centre)
        paid = QWidget()
        paid_layout = QVBoxLayout(paid)
        paid_layout.setContentsMargins(0, 0, 0, 0)
        paid_layout.addStretch(1)
        paid_layout.addWidget(self.thanks)
        paid_layout.addLayout(sums_row)
        paid_layout.addWidget(self.change_label)
        paid_layout.addWidget(self.change)
        paid_layout.addStretch(1)

        self.pages = QStackedWidget()
        self.faces = {Face.WELCOME: self.welcome, Face.CART: cart, Face.PAID: paid}
        for page in self.faces.values():
            self.pages.addWidget(page)
        self.outer = QVBoxLayout(self)
        self.outer.addWidget(self.pages)
        self._size(self.height())

    # --- following the node -----------------------------------------------------------------

    def start(self) -> None:
        """Start the health pings and the first poll."""
        self.bridge.start()
        self.poll()

    def poll(self) -> None:
        if self._out:
            return
        self._out = True
        self.bridge.call(DISPLAY_METHOD, {"since": self.shown.version}, on_ok=self._answered,
                         on_error=self._failed, lane=Lane.POLL)

    def _answered(self, answer: Any) -> None:
        self._out = False
        try:
            self.show_state(self.shown.follow(answer, self.clock()))
        finally:  # a bug showing one answer must not stop the display for good
            self._timer.start(DISPLAY_POLL_MS)

    def _failed(self, exc: TillmeshError) -> bool:
        """Nothing of it reaches the customer: what is shown stays, polls go on."""
        self._out = False
        try:
            aged = self.shown.aged(self.clock())
            if aged is not self.shown:  # the change gives way to the welcome, even offline
                self.show_state(aged)
        finally:
            self._timer.start(DISPLAY_RETRY_MS)
        if isinstance(exc, UnknownMethod):
            if not self._missing_said:
                log.warning("customer display poll: the node has no %s (an older "
                            "release); showing %r until it has", DISPLAY_METHOD, WELCOME_TEXT)
                self._missing_said = True
        elif not isinstance(exc, NodeUnavailable):
            log.warning("customer display poll: %s answered %s: %s", DISPLAY_METHOD,
                        exc.code, exc.message)
        return True

    def show_state(self, shown: Shown) -> None:
        before, self.shown = self.shown, shown
        if not self.following:  # the first answer: say what shows, even if unchanged
            self.following = True
            log.info("customer display: %s", shown.summary())
        elif shown.summary() != before.summary():
            log.info("customer display: %s", shown.summary())
        if shown == before:
            return
        if shown.face is Face.CART:
            self.lines.show_lines(shown.lines, shown.hidden)
            self.total.setText(with_symbol(shown.total))
            self._show_tendered()
        elif shown.face is Face.PAID and shown.paid is not None:
            self._show_paid()
        self.pages.setCurrentWidget(self.faces[shown.face])

    def _show_tendered(self) -> None:
        tendered = self.shown.tendered
        self.tendered.setVisible(tendered is not None)
        if tendered is None:
            return
        self.tendered_paid.setText(with_symbol(tendered.paid))
        self.tendered_change.setText(with_symbol(tendered.change))
        self.tendered_change_label.setVisible(tendered.change > 0)
        self.tendered_change.setVisible(tendered.change > 0)

    def _show_paid(self) -> None:
        paid = self.shown.paid
        assert paid is not None
        rows = [("Total", paid.total)]
        if len(paid.payments) == 1:
            rows.append(("Paid", paid.paid))
        else:  # a split payment: each mode, as on the receipt
            rows += list(paid.payments)
        while len(self.sum_rows) < len(rows):  # rows are kept and reused, never rebuilt
            pair = (_label("cdLabel"), _label("cdFigure", "", Qt.AlignmentFlag.AlignRight))
            self.sums.addWidget(pair[0], len(self.sum_rows), 0)
            self.sums.addWidget(pair[1], len(self.sum_rows), 1)
            self.sum_rows.append(pair)
        for i, (name, figure) in enumerate(self.sum_rows):
            name.setVisible(i < len(rows))
            figure.setVisible(i < len(rows))
            if i < len(rows):
                name.setText(rows[i][0])
                figure.setText(with_symbol(rows[i][1]))
        has_change = paid.change > 0
        self.change_label.setVisible(has_change)
        self.change.setVisible(has_change)
        self.change.setText(with_symbol(paid.change))

    # --- the window -------------------------------------------------------------------------

    def _size(self, height: int) -> None:
        """Fonts and margins follow the window's height (ui.const: read from 1.5 m)."""
        line = _px(height, DISPLAY_LINE_SHARE)
        total = _px(height, DISPLAY_TOTAL_SHARE)
        change = _px(height, DISPLAY_CHANGE_SHARE)
        margin = height // DISPLAY_MARGIN_SHARE
        self.outer.setContentsMargins(margin, margin, margin, margin)
        self.sums.setHorizontalSpacing(2 * line)
        self.lines.font_px = line
        self.setStyleSheet(
            f"QWidget#customerDisplay {{ background: {DISPLAY_BACKGROUND}; }}"
            f" QLabel {{ color: {DISPLAY_TEXT}; font-size: {line}px; }}"
            f" QLabel#cdLabel {{ color: {DISPLAY_MUTED}; font-size: {line}px; }}"
            f" QLabel#cdFigure {{ font-size: {line}px; font-weight: bold; }}"
            f" QLabel#cdTenderedChange {{ color: {DISPLAY_CHANGE}; font-size: {line}px;"
            f" font-weight: bold; }}"
            f" QLabel#cdTotal, QLabel#cdWelcome {{ font-size: {total}px; font-weight: bold; }}"
            f" QLabel#cdChange {{ color: {DISPLAY_CHANGE}; font-size: {change}px;"
            f" font-weight: bold; }}")
        self.lines.update()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        self._size(event.size().height())
        super().resizeEvent(event)

    def event(self, event: QEvent) -> bool:
        if event.type() in _INPUT:
            event.accept()  # a customer's touch or a stray key does nothing here
            return True
        return super().event(event)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        self._timer.stop()
        self.bridge.close()
        super().closeEvent(event)
