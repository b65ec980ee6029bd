"""Touch-friendly dialogs: an amount/quantity/text entry, a list to pick from, the
supervisor's approval (of an action, or of a risk the node named), the question before an
irreversible action, and the F-key help.

Dialogs open with ``QDialog.open()`` (never ``exec()``: a nested event loop would let the
cashier's next scan run inside it) and report through signals. :func:`show` records the
open dialog in ``Context.current_dialog`` so tests can drive it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tillmesh.ui.const import APPROVAL_PX, DIALOG_MARGIN_PX, DIALOG_PX, FKEYS
from tillmesh.ui.context import Approval, Context
from tillmesh.ui.models.money import parse_amount, parse_qty
from tillmesh.ui.models.session import scanned_into_pin_message
from tillmesh.ui.screens.widgets import Keypad, PinPad, button, label, row


def show(ctx: Context, dialog: QDialog) -> None:
    """Open ``dialog`` window-modal without blocking, and remember it until it closes."""
    ctx.current_dialog = dialog

    def closed(_: int) -> None:
        if ctx.current_dialog is dialog:
            ctx.current_dialog = None
        owner = dialog.parentWidget()
        if owner is not None:  # back to the till window, so its F-keys work at once
            owner.window().activateWindow()
        dialog.deleteLater()

    dialog.finished.connect(closed)
    _fit_text(dialog)
    dialog.open()


def _fit_text(dialog: QDialog) -> None:
    """Tall enough for its wrapped text at its width: Qt sizes a window by its size hint,
    which leaves a long reason cut off at the bottom."""
    dialog.adjustSize()
    layout = dialog.layout()
    if layout is not None and layout.hasHeightForWidth():
        height = layout.totalHeightForWidth(dialog.width())
        dialog.setMinimumHeight(height)
        dialog.resize(dialog.width(), max(height, dialog.height()))


class Dialog(QDialog):
    """Title, a body and OK / Cancel; subclasses fill ``body`` and override :meth:`done_ok`."""

    def __init__(self, parent: QWidget | None, title: str, ok_text: str = "OK") -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.room = self.screen().availableGeometry().width() - DIALOG_MARGIN_PX
        self.setMinimumWidth(min(DIALOG_PX, self.room))  # a reason in a few lines, not ten
        self.body = QVBoxLayout(self)
        self.body.addWidget(label(title, "title"))
        self.error = label("", "subtitle", wrap=True)
        self.ok = button(ok_text, self.done_ok, kind="primary")
        self._cancel = button("Cancel", self.reject)

    def finish_layout(self) -> None:
        self.body.addWidget(self.error)
        self.body.addWidget(row(self._cancel, self.ok))

    def done_ok(self) -> None:
        self.accept()


class EntryDialog(Dialog):
    """One value typed or keyed in: ``kind`` is "amount" (money), "qty" or "text"."""

    chosen = Signal(object)  # Decimal for amount and qty, str for text

    def __init__(self, parent: QWidget | None, title: str, prompt: str, kind: str = "amount",
                 initial: str = "") -> None:
        super().__init__(parent, title)
        self.kind = kind
        self.field = QLineEdit(initial)
        self.field.selectAll()
        self.field.returnPressed.connect(self.done_ok)
        self.body.addWidget(label(prompt, "muted", wrap=True))
        self.body.addWidget(self.field)
        if kind != "text":
            keypad = Keypad(self.field)
            keypad.enter.connect(self.done_ok)
            self.body.addWidget(keypad)
        self.finish_layout()

    def done_ok(self) -> None:
        text = self.field.text()
        value: Decimal | str | None
        if self.kind == "amount":
            value = parse_amount(text)
        elif self.kind == "qty":
            value = parse_qty(text)
        else:
            value = text.strip()
        if value is None:
            self.error.setText(f"{text!r} is not a valid {self.kind}")
            return
        self.chosen.emit(value)
        self.accept()


class ChoiceDialog(Dialog):
    """Pick one of ``choices`` ((text, value) pairs) with a touch or Enter."""

    chosen = Signal(object)

    def __init__(self, parent: QWidget | None, title: str,
                 choices: Sequence[tuple[str, Any]], empty: str = "Nothing to choose") -> None:
        super().__init__(parent, title, ok_text="Choose")
        self.values = [value for _, value in choices]
        self.list = QListWidget()
        for text, _ in choices:
            self.list.addItem(QListWidgetItem(text))
        if choices:
            self.list.setCurrentRow(0)
        else:
            self.error.setText(empty)
            self.ok.setEnabled(False)
        self.list.itemActivated.connect(lambda _: self.done_ok())
        self.body.addWidget(self.list)
        self.finish_layout()

    def done_ok(self) -> None:
        index = self.list.currentRow()
        if 0 <= index < len(self.values):
            self.chosen.emit(self.values[index])
            self.accept()


class ApproverDialog(Dialog):
    """A supervisor approves one refused action with their user and PIN."""

    approved = Signal(str, str)  # user, pin

    def __init__(self, parent: QWidget | None, request: Approval, suggested: str) -> None:
        super().__init__(parent, "Supervisor: accept the risk?" if request.risk
                         else "Supervisor approval")
        roles = " or ".join(request.roles) or "supervisor"
        words = QVBoxLayout()  # beside the PIN pad: together they fit a 768-pixel screen
        words.addWidget(label(request.reason, "subtitle", wrap=True))
        words.addWidget(label(f"A {roles} enters their user and PIN for this action "
                              "only; it is written to the audit trail.", "muted", wrap=True))
        if request.risk:
            words.addWidget(label(RISK_NOTE, "muted", wrap=True))
        self.user = QLineEdit(suggested)
        self.user.setPlaceholderText("Supervisor user")
        words.addWidget(self.user)
        words.addStretch(1)
        self.pin = PinPad()
        self.pin.submitted.connect(self._approve)
        self.pin.scanned.connect(lambda _: self.error.setText(SCANNED_AT_APPROVAL))
        side_by_side = QHBoxLayout()
        side_by_side.addLayout(words, 3)
        side_by_side.addWidget(self.pin, 2)
        self.body.addLayout(side_by_side)
        self.setMinimumWidth(min(APPROVAL_PX, self.room))
        self.ok.hide()  # the PIN pad's Enter approves
        self.finish_layout()
        (self.pin.field if suggested else self.user).setFocus()

    def _approve(self, pin: str) -> None:
        user = self.user.text().strip()
        if not user:
            self.error.setText("Enter the supervisor's user name")
            return
        self.approved.emit(user, pin)
        self.accept()


SCANNED_AT_APPROVAL = scanned_into_pin_message("the supervisor approves first")
RISK_NOTE = ("Going ahead accepts this risk: the action is recorded flagged, and "
             "supervisors on every counter see it.")


class RiskDialog(Dialog):
    """A user who may accept a risk the node named confirms it for one action."""

    def __init__(self, parent: QWidget | None, request: Approval) -> None:
        super().__init__(parent, "Accept the risk?", ok_text="Go ahead anyway")
        self.body.addWidget(label(request.reason, "subtitle", wrap=True))
        self.body.addWidget(label(RISK_NOTE, "muted", wrap=True))
        self.finish_layout()


class ConfirmDialog(Dialog):
    """An irreversible action asked first, naming what it does. Keeping things as they
    are is the default: Enter and Escape keep; going ahead takes a touch, or Tab to the
    button and Enter. A scan that lands here answers nothing: it is refused in words in
    the question (the line under it is kept free for that, so nothing moves)."""

    def __init__(self, parent: QWidget | None, title: str, consequence: str, ok_text: str,
                 keep_text: str = "Cancel") -> None:
        super().__init__(parent, title, ok_text)
        self.consequence = label(consequence, "subtitle", wrap=True)
        self.body.addWidget(self.consequence)
        self.keep = self._cancel
        self.keep.setText(keep_text)
        self.ok.setProperty("kind", "danger")
        for choice in (self.keep, self.ok):  # a till without a touch screen tabs to them
            choice.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            choice.setAutoDefault(True)
        self.keep.setDefault(True)
        self.finish_layout()
        self.error.setMinimumHeight(self.error.fontMetrics().lineSpacing() * 2)
        self.keep.setFocus()
        self._typed = ""  # characters typed since the last Enter: a scanner's code
        for choice in (self.keep, self.ok):
            choice.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() != QEvent.Type.KeyPress or not isinstance(event, QKeyEvent):
            return False
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self._typed:
            self.error.setText(f"Scan {self._typed} not added: answer the question first, "
                               "then scan it again.")
            self._typed = ""
            return True  # a scan's Enter is not an answer
        if event.text().isprintable() and event.text().strip():
            self._typed += event.text()
            return True
        return False


class HelpDialog(Dialog):
    def __init__(self, parent: QWidget | None) -> None:
        super().__init__(parent, "Keys")
        for key, _, text in FKEYS:
            self.body.addWidget(label(f"{key:>4}   {text}"))
        self.body.addWidget(label("Del   remove the selected line", ""))
        self.body.addWidget(label("Ctrl+Del   void the whole sale (asks first)", ""))
        self.body.addWidget(label("Esc   back / close", ""))
        self.body.addWidget(label("Scanning a barcode always adds it to the cart; scanning "
                                  "(or typing) a coupon's code takes the coupon.", "muted"))
        self._cancel.hide()
        self.finish_layout()


def approver_suggestion(ctx: Context) -> str:
    """The first supervisor this till knows, to save typing; empty if none is known."""
    for user in ctx.known_users:
        if user.get("role") == "supervisor":
            return str(user.get("user"))
    return ""


def confirm_risk(ctx: Context, parent: QWidget, request: Approval) -> None:
    """Connected to ``Context.risk_confirmation``: on yes, send the call that accepts it."""
    dialog = RiskDialog(parent, request)
    dialog.accepted.connect(lambda: ctx.call(request.method, request.params, request.on_ok,
                                             approvable=True, on_error=request.on_error))
    dialog.rejected.connect(lambda: ctx.notify(f"Not done: {request.reason}", "warn"))
    show(ctx, dialog)


def ask_approval(ctx: Context, parent: QWidget, request: Approval) -> None:
    """Connected to ``Context.approval_needed``: show the dialog, re-send on approval."""
    dialog = ApproverDialog(parent, request, approver_suggestion(ctx))
    dialog.approved.connect(lambda user, pin: ctx.approve(request, user, pin))
    dialog.rejected.connect(lambda: ctx.notify(f"Not done: {request.reason}", "warn"))
    show(ctx, dialog)
