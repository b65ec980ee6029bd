"""The app in a real X server, driven with real input: xdotool types into whatever has
the X input focus (a scanner or keyboard), presses keys, and moves and clicks the pointer
(a finger on a touch screen). Qt sees device events through xcb, as at a till.

xdotool runs as a child process while the Qt event loop keeps turning (``Desk.xdotool``),
so the app handles each event as it arrives, not in a batch after the command."""

from __future__ import annotations

import subprocess
from typing import Any

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QWidget

from tests.ui.driver import WAIT_MS, App
from tests.xserver import Screen
from tillmesh.ui.app import application, open_window
from tillmesh.ui.screens.dialogs import ApproverDialog

SCANNER_KEY_MS = 4  # ms between a scanner's keystrokes (they type 100-300 characters/s)
TYPING_KEY_MS = 30  # ms between a person's keystrokes on a keyboard


class Desk(App):
    def __init__(self, qtbot: Any, window: Any, screen: Screen) -> None:
        super().__init__(qtbot, window)
        self.screen_setup = screen

    @classmethod
    def open_on(cls, qtbot: Any, endpoint: str, screen: Screen) -> Desk:
        application()
        window = open_window(endpoint, windowed=not screen.full_screen)
        qtbot.addWidget(window)
        qtbot.waitExposed(window)
        desk = cls(qtbot, window, screen)
        desk.focus(window)
        return desk

    # --- the X side -----------------------------------------------------------------------
    def xdotool(self, *args: str) -> None:
        proc = subprocess.Popen(["xdotool", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.wait(lambda: proc.poll() is not None)
        _, err = proc.communicate()
        assert proc.returncode == 0, f"xdotool {' '.join(args)}: {err}"

    def focus(self, window: QWidget) -> None:
        """Give ``window`` the X input focus the way the set-up does: the window manager
        activates it, or, with none, the X server focuses it directly."""
        wid = str(int(window.winId()))
        if self.screen_setup.wm:
            self.xdotool("windowactivate", "--sync", wid)
        else:
            self.xdotool("windowfocus", "--sync", wid)
        self.wait(lambda: QApplication.activeWindow() is window)

    def active(self) -> QWidget:
        """The window that has the keyboard now (the till, or the dialog on top of it)."""
        self.wait(lambda: QApplication.activeWindow() is not None)
        active = QApplication.activeWindow()
        assert active is not None
        return active

    # --- input ----------------------------------------------------------------------------
    def type(self, text: str, key_ms: int = TYPING_KEY_MS) -> None:
        self.xdotool("type", "--delay", str(key_ms), "--", text)

    def press(self, *keys: str) -> None:
        """Keys by X name: Return, Escape, F8, ctrl+a ..."""
        self.xdotool("key", "--delay", str(TYPING_KEY_MS), "--", *keys)

    def scanner(self, code: str) -> None:
        """A barcode scanner: digits at scanner speed, then Enter, into whatever has the
        focus, on whichever screen is showing."""
        self.type(code, SCANNER_KEY_MS)
        self.press("Return")

    def scan(self, code: str) -> None:
        """A scan on the sell screen, which adds a line."""
        lines = len(self.window.sell.model.view.lines)
        self.scanner(code)
        self.wait(lambda: len(self.window.sell.model.view.lines) == lines + 1)

    def touch(self, widget: QWidget) -> None:
        """A finger on the middle of ``widget``: the pointer moves there and clicks."""
        self.wait(lambda: widget.isVisible())
        middle = widget.mapToGlobal(widget.rect().center())
        self.touch_at(middle)

    def touch_at(self, point: QPoint) -> None:
        self.xdotool("mousemove", "--sync", str(point.x()), str(point.y()), "click", "1")

    def type_into(self, field: QWidget, text: str) -> None:
        """Touch a field, then type into it (Enter not included)."""
        self.touch(field)
        self.wait(lambda: field.hasFocus())
        self.type(text)

    # --- what App does with Qt events, done with real ones ---------------------------------
    def type_enter(self, widget: Any, text: str) -> None:
        if not widget.hasFocus():
            self.touch(widget)
            self.wait(lambda: widget.hasFocus())
        self.type(text)
        self.press("Return")

    def key(self, key: Any) -> None:
        name = key.name.removeprefix("Key_")
        self.wait(lambda: QApplication.activeWindow() is self.window, WAIT_MS)
        self.press(name)

    def login(self, user: str, pin: str) -> None:
        login = self.window.login
        self.wait(lambda: self.screen == "login")
        self.wait(lambda: login.user_field.hasFocus() or login.pin.field.hasFocus())
        if not login.user_field.hasFocus():
            self.touch(login.user_field)
        self.press("ctrl+a")
        self.type_enter(login.user_field, user)  # Enter moves on to the PIN
        self.wait(lambda: login.pin.field.hasFocus())
        self.type_enter(login.pin.field, pin)
        super().login_done(user)

    def approve(self, user: str, pin: str) -> None:
        """A supervisor types their PIN into the approval dialog, with real keys."""
        dialog = self.dialog(ApproverDialog)
        self.wait(lambda: QApplication.activeWindow() is dialog)
        if dialog.user.text() != user:
            self.type_into(dialog.user, user)
        self.type_enter(dialog.pin.field, pin)
        self.wait(lambda: self.ctx.current_dialog is None)
