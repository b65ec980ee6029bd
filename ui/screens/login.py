"""Login (user name + PIN pad, with a button for each user who may log in here) and the
idle-lock screen (only the same user's PIN, through ``unlock``).

The buttons come from ``login_users``, which needs no session, so they are there before
anyone ever logged in on this till (``user_list`` needs one: the buttons used to appear
only after a first login). The first USER_BUTTONS_MAX are offered; others type their name.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from tillmesh.node.errors import LockedOut, LoginFailed, PermissionDenied, TillmeshError
from tillmesh.ui.const import USER_BUTTON_COLUMNS, USER_BUTTONS_MAX
from tillmesh.ui.context import Context
from tillmesh.ui.models.session import lockout_message, scanned_into_pin_message
from tillmesh.ui.screens.widgets import STRETCH, PinPad, button, card, clear_layout, label

# A scan into the PIN field is not a wrong PIN: it is refused here, and costs no attempt.
SCANNED_AT_LOGIN = scanned_into_pin_message("log in first")
SCANNED_AT_LOCK = scanned_into_pin_message("unlock first")


def _login_error(ctx: Context, exc: TillmeshError, user: str) -> str | None:
    """The text for a refused login or unlock, or None if it is not a login problem."""
    if isinstance(exc, LockedOut):
        return lockout_message(exc.details, ctx.now(), user)
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
        self.pin.scanned.connect(lambda _: self.message.setText(SCANNED_AT_LOGIN))
        self.users_box = QWidget()
        self.users_grid = QGridLayout(self.users_box)
        self.users_grid.setContentsMargins(0, 0, 0, 0)
        self._offered: list[Any] = []  # the users the buttons show

        left = card(label("Tillmesh", "title"), label("Log in to this till", "muted"),
                    label("User", "subtitle"), self.user_field, self.users_box, self.message,
                    STRETCH)
        right = card(label("PIN", "subtitle"), self.pin)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(80, 40, 80, 40)
        layout.setSpacing(24)
        layout.addWidget(left, 3)
        layout.addWidget(right, 2)
        ctx.users_changed.connect(self._fill_users)

    def activate(self) -> None:
        self.message.setText(self.ctx.state.reason)
        self._fill_users(self.ctx.known_users)
        self.ctx.refresh_users()  # someone may have been added or disabled meanwhile
        (self.pin.field if self.user_field.text() else self.user_field).setFocus()

    def _fill_users(self, users: Any) -> None:
        offered = list(users)[:USER_BUTTONS_MAX]
        if offered == self._offered:
            return  # the same buttons: a finger on one is not pulled out from under it
        self._offered = offered
        clear_layout(self.users_grid)
        for i, user in enumerate(offered):
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
            text = _login_error(self.ctx, exc, user)
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
        self.pin.scanned.connect(lambda _: self.message.setText(SCANNED_AT_LOCK))
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
            text = _login_error(self.ctx, exc, user)
            if text is None:
                return False  # e.g. the session is gone: the sink returns to login
            self.message.setText(text)
            return True

        self.ctx.unlock(pin, refused)
