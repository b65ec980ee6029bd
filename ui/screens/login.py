"""Login (user name + PIN pad, with buttons for the users this till has seen) and the
idle-lock screen (only the same user's PIN, through ``unlock``).

``user_list`` needs a session, so before anyone logged in there is no list to show: the
user types a name; once someone has logged in, the users the node listed become buttons.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from tillmesh.node.errors import LockedOut, LoginFailed, PermissionDenied, TillmeshError
from tillmesh.ui.const import USER_BUTTON_COLUMNS
from tillmesh.ui.context import Context
from tillmesh.ui.models.session import lockout_message
from tillmesh.ui.screens.widgets import STRETCH, PinPad, button, card, clear_layout, label


def _login_error(exc: TillmeshError, user: str) -> str | None:
    """The text for a refused login or unlock, or None if it is not a login problem."""
    if isinstance(exc, LockedOut):
        return lockout_message(exc.details, datetime.now().astimezone(), user)
    if isinstance(exc, LoginFailed):
        return "Wrong user or PIN: try again"
    if isinstance(exc, PermissionDenied):
        return exc.message
    return None


class LoginScreen(QWidget):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.setObjectName("screen")
        self.ctx = ctx
        self.pin = PinPad()
        self.pin.submitted.connect(self._login)
        self.user_field = QLineEdit()
        self.user_field.setPlaceholderText("User name")
        self.user_field.returnPressed.connect(self.pin.field.setFocus)
        self.message = label("", "subtitle", wrap=True)
        self.users_box = QWidget()
        self.users_grid = QGridLayout(self.users_box)
        self.users_grid.setContentsMargins(0, 0, 0, 0)

        left = card(label("Tillmesh", "title"), label("Log in to this till", "muted"),
                    label("User", "subtitle"), self.user_field, self.users_box, self.message,
                    STRETCH)
        right = card(label("PIN", "subtitle"), self.pin)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(80, 40, 80, 40)
        layout.setSpacing(24)
        layout.addWidget(left, 3)
        layout.addWidget(right, 2)

    def activate(self) -> None:
        self.message.setText(self.ctx.state.reason)
        self._fill_users()
        (self.pin.field if self.user_field.text() else self.user_field).setFocus()

    def _fill_users(self) -> None:
        clear_layout(self.users_grid)
        for i, user in enumerate(self.ctx.known_users):
            name = str(user.get("user"))
            btn = button(f"{user.get('full_name') or name}\n{user.get('role', '')}",
                         partial(self.pick, name))
            self.users_grid.addWidget(btn, i // USER_BUTTON_COLUMNS, i % USER_BUTTON_COLUMNS)

    def pick(self, user: str) -> None:
        self.user_field.setText(user)
        self.pin.field.setFocus()

    def _login(self, pin: str) -> None:
        user = self.user_field.text().strip()
        if not user:
            self.message.setText("Type your user name first, or touch your name")
            self.user_field.setFocus()
            return
        self.message.setText("Logging in…")

        def refused(exc: TillmeshError) -> bool:
            text = _login_error(exc, user)
            self.message.setText(text or exc.message)
            return True

        self.ctx.login(user, pin, refused)


class LockScreen(QWidget):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.setObjectName("screen")
        self.ctx = ctx
        self.who = label("", "title")
        self.message = label("", "subtitle", wrap=True)
        self.pin = PinPad()
        self.pin.submitted.connect(self._unlock)
        other = button("Log in as someone else", ctx.logout)
        box = card(self.who, self.message, self.pin, other)
        box.setMaximumWidth(460)
        layout = QVBoxLayout(self)
        layout.addWidget(box, alignment=Qt.AlignmentFlag.AlignCenter)

    def activate(self) -> None:
        user = self.ctx.user
        self.who.setText(f"Locked — {user.full_name if user else ''}")
        self.message.setText(self.ctx.state.reason or "Enter your PIN to go on")
        self.pin.field.setFocus()

    def _unlock(self, pin: str) -> None:
        user = self.ctx.user.user if self.ctx.user else ""

        def refused(exc: TillmeshError) -> bool:
            text = _login_error(exc, user)
            if text is None:
                return False  # e.g. the session is gone: the sink returns to login
            self.message.setText(text)
            return True

        self.ctx.unlock(pin, refused)
