"""Drives the real main window the way a cashier does (keys, touches), and waits with
qtbot.waitUntil (never sleeps): generous timeouts, because 2 cores are shared by several
test runs and each step goes through a real node process."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog

from tests.proc import NodeProcess
from tillmesh.node.api.client import Client
from tillmesh.ui.app import application, open_window
from tillmesh.ui.models.session import Phase
from tillmesh.ui.screens.dialogs import ApproverDialog
from tillmesh.ui.shell import MainWindow

WAIT_MS = 20_000  # ms for one step through the node; answers take ms, a loaded box more
CASHIER = ("cashier", "1111")
SUPERVISOR = ("supervisor", "2222")
ADMIN = ("admin", "1234")


class App:
    def __init__(self, qtbot: Any, window: MainWindow) -> None:
        self.qtbot = qtbot
        self.window = window
        self.ctx = window.ctx

    @classmethod
    def open(cls, qtbot: Any, endpoint: str) -> App:
        application()
        window = open_window(endpoint, windowed=True)
        qtbot.addWidget(window)
        qtbot.waitExposed(window)
        window.activateWindow()
        return cls(qtbot, window)

    def close(self) -> None:
        self.window.close()

    def wait(self, predicate: Any, timeout: int = WAIT_MS) -> None:
        self.qtbot.waitUntil(predicate, timeout=timeout)

    def idle(self) -> None:
        """Every call sent so far has been answered."""
        self.wait(lambda: not self.ctx.bridge.busy)

    @property
    def screen(self) -> str:
        return self.window.current

    def type_enter(self, widget: Any, text: str) -> None:
        self.qtbot.keyClicks(widget, text)
        self.qtbot.keyClick(widget, Qt.Key.Key_Return)

    def touch(self, widget: Any) -> None:
        """A finger on ``widget`` (a click in the middle)."""
        self.qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)

    def type_into(self, field: Any, text: str) -> None:
        """Focus a field and type into it (Enter not included)."""
        field.setFocus()
        self.qtbot.keyClicks(field, text)

    def login(self, user: str, pin: str) -> None:
        login = self.window.login
        self.wait(lambda: self.screen == "login")
        login.user_field.setText(user)
        self.type_enter(login.pin.field, pin)
        self.login_done(user)

    def login_done(self, user: str) -> None:
        """Wait until ``user`` is in and every first call was answered."""
        self.wait(lambda: self.ctx.state.phase is Phase.ACTIVE and self.ctx.user is not None
                  and self.ctx.user.user == user)
        self.idle()

    def key(self, key: Qt.Key) -> None:
        """An F-key, sent to the window as a keyboard would (shortcuts need it active)."""
        self.wait(lambda: QApplication.activeWindow() is self.window)
        self.qtbot.keyClick(self.window, key)

    def scan(self, code: str) -> None:
        """A barcode scanner: digits typed into whatever has the focus, then Enter."""
        lines = len(self.window.sell.model.view.lines)
        self.type_enter(self.window.sell.scan_field, code)
        self.wait(lambda: len(self.window.sell.model.view.lines) == lines + 1)

    def dialog(self, kind: type[QDialog]) -> Any:
        self.wait(lambda: isinstance(self.ctx.current_dialog, kind))
        return self.ctx.current_dialog

    def approve(self, user: str, pin: str) -> None:
        """A supervisor types their PIN into the approval dialog."""
        dialog = self.dialog(ApproverDialog)
        dialog.user.setText(user)
        self.type_enter(dialog.pin.field, pin)
        self.wait(lambda: self.ctx.current_dialog is None)


def client(node: NodeProcess, user: tuple[str, str] = ADMIN) -> Client:
    """A plain API client, logged in: to set a scene up or check what the node recorded."""
    api = node.client()
    api.login(*user)
    return api


def ensure_shift(node: NodeProcess, opening: str = "100.00") -> str:
    """An open shift on the counter (opened by the cashier if none is)."""
    with client(node, CASHIER) as api:
        current = api.shift_current()
        if current is None:
            current = api.shift_open({"Cash": opening})
        return str(current["shift"])


def close_open_shifts(node: NodeProcess) -> None:
    with client(node, SUPERVISOR) as api:
        for shift in api.shift_list("open"):
            api.shift_close(shift["shift"], {"Cash": "0", "Card": "0"})
