"""Admin: users and roles, what the logged-in role may do, printer and drawer settings
(read-only here), and invites for new counters (a short code to type, the full code as a
QR code)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from tillmesh.ui.context import Context
from tillmesh.ui.models.invite import invite_view, qr_modules
from tillmesh.ui.models.status import printer_rows
from tillmesh.ui.screens import dialogs
from tillmesh.ui.screens.widgets import (
    STRETCH,
    Pairs,
    button,
    card,
    fill,
    label,
    row,
    scrolling,
    table,
)

ROLES = ("cashier", "supervisor", "admin")  # node.roles.Role, lowest first
USER_HEADERS = ("User", "Name", "Role", "State")
PIN_RULE = ("PIN: 4-12 digits for a cashier; supervisors and admins need more (6 by "
            "default, the store's setting)")
SETTINGS_NOTE = ("Printer and drawer settings are read-only here: edit tillmesh.toml on this "
                 "counter and restart the node.")
QR_MODULE_PX = 4  # screen pixels per QR module: a ~300 px code a scanner reads off a screen


class AdminScreen(QWidget):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.setObjectName("screen")
        self.ctx = ctx
        self.users: list[dict[str, Any]] = []
        self.table = table(USER_HEADERS)
        self.new_user = QLineEdit()
        self.new_user.setPlaceholderText("user name")
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("full name")
        self.new_role = QComboBox()
        self.new_role.addItems(ROLES)
        self.new_pin = QLineEdit()
        self.new_pin.setPlaceholderText(PIN_RULE)
        self.new_pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.role = QComboBox()
        self.role.addItems(ROLES)
        self.permissions = Pairs()
        self.printer = Pairs()
        self.printer_note = label("", "muted", wrap=True)
        self.invite = label("", "big")  # the short code, for a person to type
        self.invite.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.invite_qr = label()  # the full code, for a scanner
        self.invite_note = label("", "muted", wrap=True)

        users = card(label("Users", "subtitle"), self.table,
                     row(label("Selected user:"), self.role, button("Set role", self.set_role)),
                     row(button("Disable / enable", self.toggle_disabled),
                         button("Reset PIN…", self.reset_pin)),
                     label("New user", "subtitle"), row(self.new_user, self.new_name),
                     row(self.new_role, self.new_pin,
                         button("Create", self.create_user, kind="primary")))
        rights = card(label("Your permissions", "subtitle"), self.permissions)
        devices = card(label("Printer and drawer", "subtitle"), self.printer_note, self.printer,
                       label(SETTINGS_NOTE, "muted", wrap=True), STRETCH)
        invite = card(label("Add a counter", "subtitle"),
                      label("A one-time code for `tillmesh join` on the new counter", "muted",
                            wrap=True),
                      button("Create invite code", self.create_invite, kind="primary"),
                      self.invite, self.invite_qr, self.invite_note)
        layout = QHBoxLayout(scrolling(self))
        for column, parts in ((3, (users, invite)), (2, (rights, devices))):
            stack = QVBoxLayout()
            for part in parts:
                stack.addWidget(part)
            layout.addLayout(stack, column)

    def activate(self) -> None:
        self.refresh()
        user = self.ctx.user
        if user is not None:
            self.permissions.set_rows([
                ("Role", user.role), ("Discount up to", f"{user.max_discount_percent} %"),
                ("May do", ", ".join(sorted(user.actions)).replace("_", " ")),
            ])
        self.ctx.optional("printer_status", None, self._printer, self._no_printer)

    def refresh(self) -> None:
        self.ctx.call("user_list", None, self._users)

    def _users(self, users: Any) -> None:
        self.users = [dict(u) for u in users]
        self.ctx.known_users = [u for u in self.users if not u.get("disabled")]
        fill(self.table, [(u["user"], str(u.get("full_name") or ""), str(u.get("role")),
                           "disabled" if u.get("disabled") else "active") for u in self.users])

    def _printer(self, status: Any) -> None:
        self.printer_note.setText("")
        self.printer.set_rows(printer_rows(status, self.ctx.now()))

    def _no_printer(self, text: str) -> None:
        self.printer_note.setText(f"Printer status is {text}")
        self.printer.set_rows([])

    def _selected(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            self.ctx.notify("Select a user first", "warn")
            return None
        return self.users[rows[0].row()]

    def _changed(self, what: str) -> Any:
        def done(_: Any) -> None:
            self.ctx.notify(what, "ok")
            self.refresh()
        return done

    def create_user(self) -> None:
        user, name = self.new_user.text().strip(), self.new_name.text().strip()
        if not user or not self.new_pin.text():
            self.ctx.notify("A new user needs a user name and a PIN", "warn")
            return
        self.ctx.call("user_create", {"user": user, "full_name": name or user,
                                      "role": self.new_role.currentText(),
                                      "pin": self.new_pin.text()},
                      self._changed(f"User {user} created"), approvable=True)
        self.new_pin.clear()

    def set_role(self) -> None:
        chosen = self._selected()
        if chosen is None:
            return
        user, role = str(chosen["user"]), self.role.currentText()
        done = self._changed(f"{user} is now {role}")
        if ROLES.index(role) <= ROLES.index(str(chosen.get("role"))):
            self.ctx.call("user_update", {"user": user, "role": role}, done, approvable=True)
            return
        # A higher role may need a longer PIN, and only the old PIN's hash is known here.
        dialog = dialogs.EntryDialog(self, f"{user} as {role}: a new PIN",
                                     f"{PIN_RULE}; {user} logs in again with it", kind="text")
        dialog.field.setEchoMode(QLineEdit.EchoMode.Password)
        dialog.chosen.connect(lambda pin: self.ctx.call(
            "user_update", {"user": user, "role": role, "pin": str(pin)}, done,
            approvable=True))
        dialogs.show(self.ctx, dialog)

    def toggle_disabled(self) -> None:
        chosen = self._selected()
        if chosen is not None:
            disabled = not chosen.get("disabled")
            self.ctx.call("user_update", {"user": chosen["user"], "disabled": disabled},
                          self._changed(f"{chosen['user']} is "
                                        f"{'disabled' if disabled else 'enabled'}"),
                          approvable=True)

    def reset_pin(self) -> None:
        chosen = self._selected()
        if chosen is None:
            return
        dialog = dialogs.EntryDialog(self, f"New PIN for {chosen['user']}",
                                     f"{PIN_RULE}; the user logs in again with it", kind="text")
        dialog.field.setEchoMode(QLineEdit.EchoMode.Password)
        dialog.chosen.connect(lambda pin: self.ctx.call(
            "user_reset_pin", {"user": chosen["user"], "pin": str(pin)},
            self._changed(f"New PIN set for {chosen['user']}")))
        dialogs.show(self.ctx, dialog)

    def create_invite(self) -> None:
        def shown(answer: Any) -> None:
            view = invite_view(answer, self.ctx.now())
            self.invite.setText(view.short)
            self.invite_qr.setPixmap(qr_pixmap(qr_modules(view.full), QR_MODULE_PX))
            self.invite_note.setText(view.note)
        self.ctx.call("invite_create", None, shown, approvable=True)


def qr_pixmap(modules: list[list[bool]], module_px: int) -> QPixmap:
    """A QR code's modules drawn black on white, ``module_px`` pixels each (unsmoothed:
    a scanner needs sharp edges)."""
    size = len(modules)
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    black = QColor("black").rgb()
    for y, line in enumerate(modules):
        for x, dark in enumerate(line):
            if dark:
                image.setPixel(x, y, black)
    return QPixmap.fromImage(image.scaled(size * module_px, size * module_px,
                                          mode=Qt.TransformationMode.FastTransformation))
