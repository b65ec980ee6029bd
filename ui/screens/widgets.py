"""Small widgets every screen uses: buttons, keypad, PIN pad, banners, key/value grids.

No I/O here: widgets emit signals and the screens decide what to call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QScroller,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tillmesh.ui.const import NOTICE_PX, TABLE_ROW_PX
from tillmesh.ui.models.session import scanned_into_pin


def button(text: str, on_click: Callable[[], None] | None = None, kind: str = "",
           name: str = "") -> QPushButton:
    """A touch-sized button; ``kind`` picks the style (primary, danger, nav)."""
    btn = QPushButton(text)
    btn.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # touching a button never steals the scan focus
    if kind:
        btn.setProperty("kind", kind)
    if name:
        btn.setObjectName(name)
    if on_click is not None:
        btn.clicked.connect(lambda _=False: on_click())
    return btn


def label(text: str = "", name: str = "", wrap: bool = False) -> QLabel:
    widget = QLabel(text)
    if name:
        widget.setObjectName(name)
    widget.setWordWrap(wrap)
    return widget


STRETCH = None  # in card(...): the empty space goes here


def card(*children: QWidget | None) -> QFrame:
    """A white panel holding ``children`` top to bottom (``STRETCH`` takes the free space)."""
    frame = QFrame()
    frame.setObjectName("card")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(14, 12, 14, 12)
    for child in children:
        if child is None:
            layout.addStretch(1)
        else:
            layout.addWidget(child)
    return frame


def clear_layout(layout: QLayout, keep: Iterable[QWidget] = ()) -> None:
    """Empty ``layout``, deleting its widgets except those in ``keep``."""
    kept = list(keep)
    while layout.count():
        item = layout.takeAt(0)
        widget = item.widget() if item is not None else None
        if widget is not None and widget not in kept:
            widget.deleteLater()


def row(*children: QWidget, stretch_last: bool = False) -> QWidget:
    widget = QWidget()
    layout = QHBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    for child in children:
        layout.addWidget(child)
    if stretch_last:
        layout.addStretch(1)
    return widget


class Banner(QLabel):
    """A full-width coloured message line; hidden when there is nothing to say."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("banner")
        self.setWordWrap(True)
        self.hide()

    def show_message(self, text: str, level: str) -> None:
        self.setText(text)
        self.setProperty("level", level)
        self.style().unpolish(self)  # re-read the [level=...] rule of the style sheet
        self.style().polish(self)
        self.show()

    def clear_message(self) -> None:
        self.setText("")
        self.hide()


def scrolling(owner: QWidget) -> QWidget:
    """A page for ``owner`` (a screen) that scrolls up and down when its content is taller
    than a small till's screen (status and back-office screens, never selling ones);
    lay the content out on the page returned."""
    page = QWidget()
    page.setObjectName("screen")
    area = QScrollArea()
    area.setObjectName("screen")
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidgetResizable(True)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(page)
    QScroller.grabGesture(area.viewport(), QScroller.ScrollerGestureType.TouchGesture)
    outer = QVBoxLayout(owner)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(area)
    return page


class Columns(QWidget):
    """Cards in two columns on a wide screen and one under another on a narrow one, so no
    table is squeezed until it hides columns. ``(card, wide)``: a wide card spans both."""

    def __init__(self, cards: Sequence[tuple[QWidget, bool]], two_from_px: int) -> None:
        super().__init__()
        self._cards = list(cards)
        self._two_from_px = two_from_px
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._columns = 0
        self._flow(2)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        self._flow(2 if event.size().width() >= self._two_from_px else 1)
        super().resizeEvent(event)

    def _flow(self, columns: int) -> None:
        if columns == self._columns:
            return
        self._columns = columns
        for widget, _ in self._cards:
            self._grid.removeWidget(widget)
        at, column = 0, 0
        for widget, wide in self._cards:
            if wide or columns == 1:
                at += column  # a half-filled row is done
                self._grid.addWidget(widget, at, 0, 1, columns)
                at, column = at + 1, 0
            else:
                self._grid.addWidget(widget, at, column)
                at, column = (at + 1, 0) if column + 1 == columns else (at, column + 1)
        for c in range(2):
            self._grid.setColumnStretch(c, 1 if c < columns else 0)


def notice_bar(*banners: Banner) -> QWidget:
    """The banners side by side in a strip of fixed height that is always there: a message
    coming or going never moves what is under the cashier's finger."""
    bar = QWidget()
    bar.setObjectName("noticeBar")
    bar.setFixedHeight(NOTICE_PX)
    strip = QHBoxLayout(bar)
    strip.setContentsMargins(0, 0, 0, 0)
    strip.setSpacing(0)
    for banner in banners:
        banner.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        strip.addWidget(banner)
    return bar


class Keypad(QWidget):
    """Digits for touch screens; types into ``target`` and emits ``enter``."""

    enter = Signal()

    def __init__(self, target: QLineEdit, decimal: bool = True) -> None:
        super().__init__()
        self.target = target
        grid = QGridLayout(self)
        grid.setSpacing(6)
        keys = ["7", "8", "9", "4", "5", "6", "1", "2", "3",
                "." if decimal else "C", "0", "⌫"]
        for i, key in enumerate(keys):
            btn = button(key, partial(self.press, key), name="key")
            btn.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            grid.addWidget(btn, i // 3, i % 3)
        ok = button("Enter", self.enter.emit, kind="primary", name="key")
        grid.addWidget(ok, 4, 0, 1, 3)

    def press(self, key: str) -> None:
        text = self.target.text()
        if key == "⌫":
            self.target.setText(text[:-1])
        elif key == "C":
            self.target.clear()
        else:
            self.target.setText(text + key)


class PinPad(QWidget):
    """A masked PIN field with its keypad; ``submitted(pin)`` on Enter (keys or keyboard),
    or ``scanned(code)`` when a barcode was fired into it (``scanned_into_pin``)."""

    submitted = Signal(str)
    scanned = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.field = QLineEdit()
        self.field.setEchoMode(QLineEdit.EchoMode.Password)
        self.field.setPlaceholderText("PIN")
        self.field.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.field.returnPressed.connect(self._submit)
        self.field.textEdited.connect(self._edited)  # keys only: the keypad sets the text
        self._first_key_at: float | None = None
        self.keypad = Keypad(self.field, decimal=False)
        self.keypad.enter.connect(self._submit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.field)
        layout.addWidget(self.keypad)

    def _edited(self, text: str) -> None:
        if not text:
            self._first_key_at = None
        elif self._first_key_at is None:
            self._first_key_at = time.monotonic()

    def _submit(self) -> None:
        pin = self.field.text()
        typed_in = None if self._first_key_at is None else time.monotonic() - self._first_key_at
        self.field.clear()
        self._first_key_at = None
        if not pin:
            return
        (self.scanned if scanned_into_pin(pin, typed_in) else self.submitted).emit(pin)


class Pairs(QWidget):
    """A two-column grid of (label, value) rows, replaced as a whole by :meth:`set_rows`."""

    def __init__(self) -> None:
        super().__init__()
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setVerticalSpacing(1)  # report lines read as one block, like a receipt
        self._grid.setColumnStretch(0, 1)

    def set_rows(self, rows: Sequence[tuple[str, str]]) -> None:
        clear_layout(self._grid)
        for i, (name, value) in enumerate(rows):
            self._grid.addWidget(label(name, "muted"), i, 0)
            shown = label(value, wrap=True)
            shown.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._grid.addWidget(shown, i, 1)

    def text(self) -> str:
        """Everything shown, for tests and screen readers."""
        parts = []
        for i in range(self._grid.count()):
            item = self._grid.itemAt(i)
            widget = item.widget() if item is not None else None
            if isinstance(widget, QLabel):
                parts.append(widget.text())
        return " ".join(parts)


def table(headers: Sequence[str], row_px: int = TABLE_ROW_PX) -> QTableWidget:
    """A read-only, row-selecting table with touch-height rows."""
    widget = QTableWidget(0, len(headers))
    widget.setHorizontalHeaderLabels(list(headers))
    widget.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    widget.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    widget.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
    widget.setAlternatingRowColors(True)
    widget.verticalHeader().setVisible(False)
    widget.verticalHeader().setDefaultSectionSize(row_px)
    _size_columns(widget, -1)
    return widget


def _size_columns(widget: QTableWidget, stretch: int) -> None:
    """Columns as wide as their heading and what they hold (never elided); column
    ``stretch`` takes the width the others leave."""
    header = widget.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch % widget.columnCount(), QHeaderView.ResizeMode.Stretch)


def fill(widget: QTableWidget, rows: Sequence[Sequence[str]],
         numeric: Sequence[int] = (), stretch: int = -1) -> None:
    """Replace a table's rows; columns in ``numeric`` are right-aligned; column
    ``stretch`` (the last by default) takes the width the others leave."""
    widget.setRowCount(len(rows))
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            item = QTableWidgetItem(value)
            if c in numeric:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            widget.setItem(r, c, item)
    _size_columns(widget, stretch)
