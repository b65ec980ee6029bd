"""Does a window fit its screen? Every visible widget lies inside the window and the
window inside the screen; every text is shown whole: no label or button cut off, no table
cell elided ("16.7…"), no table that hides columns behind a scroll bar."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QRect, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QApplication,
    QLabel,
    QTableWidget,
    QWidget,
)

CELL_PADDING_PX = 8  # a cell's text needs the style's margins around it, at least this


def describe(widget: QWidget) -> str:
    text = widget.text() if isinstance(widget, QLabel | QAbstractButton) else ""
    name = widget.objectName()
    return f"{type(widget).__name__}{'#' + name if name else ''}" + (
        f" {text!r}" if text else "")


def _scrolled(widget: QWidget, top: QWidget) -> bool:
    """Inside a scroll area's viewport (a table's cell widget): scrolling is the design."""
    parent = widget.parentWidget()
    while parent is not None and parent is not top:
        if isinstance(parent, QAbstractScrollArea) and parent.viewport().isAncestorOf(widget):
            return True
        parent = parent.parentWidget()
    return False


def _label_cut(label: QLabel) -> str | None:
    text = label.text()
    if not text or label.textFormat() == Qt.TextFormat.RichText:
        return None
    if label.wordWrap():
        needed = label.heightForWidth(label.width())
        if needed > label.height():
            return f"needs {needed} px of height, has {label.height()}"
        return None
    needed = label.minimumSizeHint()  # the whole text, with the style's margins
    if needed.width() > label.width() or needed.height() > label.height():
        return (f"needs {needed.width()}x{needed.height()} px, has "
                f"{label.width()}x{label.height()}")
    return None


def _button_cut(button: QAbstractButton) -> str | None:
    if not button.text():
        return None
    hint = button.sizeHint()
    if hint.width() > button.width():
        return f"needs {hint.width()} px of width, has {button.width()}"
    return None


def _table_cut(table: QTableWidget) -> list[str]:
    found = []
    if table.horizontalScrollBar().isVisible():
        found.append("columns hidden behind a horizontal scroll bar")
    metrics = table.fontMetrics()
    for column in range(table.columnCount()):
        if table.isColumnHidden(column):
            continue
        width = table.columnWidth(column)
        for row in range(table.rowCount()):
            item = table.item(row, column)
            if item is None or not item.text() or table.wordWrap() and "\n" not in item.text():
                continue  # a wrapped cell grows in height (rows are sized to contents)
            needed = metrics.horizontalAdvance(item.text()) + CELL_PADDING_PX
            if needed > width:
                found.append(f"cell {row},{column} {item.text()!r} needs {needed} px, "
                             f"column has {width}")
    header = table.horizontalHeader()
    for column in range(table.columnCount()):
        title = table.horizontalHeaderItem(column)
        if title is None or table.isColumnHidden(column):
            continue
        needed = header.fontMetrics().horizontalAdvance(title.text()) + CELL_PADDING_PX
        if needed > table.columnWidth(column):
            found.append(f"header {title.text()!r} needs {needed} px, column has "
                         f"{table.columnWidth(column)}")
    return found


def misfits(top: QWidget) -> list[str]:
    """What does not fit in ``top`` (a window or a dialog), in words; empty if all fits."""
    found = []
    screen = top.screen().geometry()
    frame = top.frameGeometry()
    if not screen.contains(frame):
        found.append(f"window {frame} is not inside the screen {screen}")
    bounds = top.rect()
    for widget in top.findChildren(QWidget):
        if not widget.isVisibleTo(top) or not widget.isVisible() or widget.isWindow():
            continue
        rect = QRect(widget.mapTo(top, QPoint(0, 0)), widget.size())
        if not _scrolled(widget, top) and not bounds.contains(rect):
            found.append(f"{describe(widget)} at {rect.getRect()} lies outside "
                         f"{bounds.getRect()}")
        cut = None
        if isinstance(widget, QLabel):
            cut = _label_cut(widget)
        elif isinstance(widget, QAbstractButton):
            cut = _button_cut(widget)
        elif isinstance(widget, QAbstractScrollArea) and \
                widget.horizontalScrollBar().isVisible() and not isinstance(widget, QTableWidget):
            cut = "wider than the window: it scrolls sideways"
        if isinstance(widget, QTableWidget):
            found.extend(f"{describe(widget)}: {problem}" for problem in _table_cut(widget))
        if cut:
            found.append(f"{describe(widget)} is cut: {cut}")
    return found


LAYOUT_PASSES = 5  # a wrapped label's new height can ask its parents to lay out again


def assert_fits(top: QWidget) -> None:
    """``top`` as the cashier sees it: what has arrived is laid out first (a label given
    text by an answer is resized only when Qt handles the layout requests it posted)."""
    for _ in range(LAYOUT_PASSES):
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        QApplication.processEvents()
    found = misfits(top)
    assert not found, f"{len(found)} misfits in {describe(top)}:\n" + "\n".join(found)
