"""The main window: header with navigation, banners, the screens, the F-key bar.

It wires the pieces and owns what is app-wide: which screen shows for the session's phase
(login, lock, selling), the banners (this counter revoked, paused or cut off, for as long
as it is; node unreachable / back; the printer), messages from the one error sink, F-key
shortcuts and the idle lock.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QButtonGroup,
    QDialog,
    QHBoxLayout,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from tillmesh.ui.bridge import Bridge
from tillmesh.ui.const import FKEYS, IDLE_LOCK_S, MESSAGE_MS
from tillmesh.ui.context import Context
from tillmesh.ui.models.session import Link, Phase, SessionState
from tillmesh.ui.models.status import counter_banner
from tillmesh.ui.screens import dialogs
from tillmesh.ui.screens.admin import AdminScreen
from tillmesh.ui.screens.login import LockScreen, LoginScreen
from tillmesh.ui.screens.payment import PaymentScreen
from tillmesh.ui.screens.returns import ReturnsScreen
from tillmesh.ui.screens.sell import SellScreen
from tillmesh.ui.screens.sell_dialogs import CashDialog, send_cash_move
from tillmesh.ui.screens.shifts import ShiftScreen
from tillmesh.ui.screens.status import StatusScreen
from tillmesh.ui.screens.widgets import Banner, button, label, notice_bar

OFFLINE_TEXT = ("The node is not answering: reconnecting… Nothing can be sold or changed "
                "until it is back.")
NAV = (("sell", "Sell"), ("returns", "Returns  F8"), ("shifts", "Shifts  F12"),
       ("status", "Store"), ("admin", "Admin"))
_INPUT_EVENTS = {QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin}


class MainWindow(QMainWindow):
    def __init__(self, bridge: Bridge) -> None:
        super().__init__()
        self.setWindowTitle("Tillmesh")
        self.ctx = Context(bridge)
        ctx = self.ctx
        self.login = LoginScreen(ctx)
        self.lock_screen = LockScreen(ctx)
        self.sell = SellScreen(ctx)
        self.payment = PaymentScreen(ctx)
        self.returns = ReturnsScreen(ctx)
        self.shifts = ShiftScreen(ctx)
        self.status = StatusScreen(ctx)
        self.admin = AdminScreen(ctx)
        self.screens: dict[str, QWidget] = {
            "login": self.login, "lock": self.lock_screen, "sell": self.sell,
            "payment": self.payment, "returns": self.returns, "shifts": self.shifts,
            "status": self.status, "admin": self.admin}
        self.stack = QStackedWidget()
        for screen in self.screens.values():
            self.stack.addWidget(screen)

        self.counter_banner = Banner()  # revoked, paused, cut off: stays while it lasts
        self.link_banner = Banner()
        self.printer_banner = Banner()
        self.message = Banner()
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(self.message.clear_message)
        self.header = self._header()
        # wraps onto a second line on a narrow till rather than widening the window
        self.legend = legend = label("   ".join(f"{key} {text}" for key, _, text in FKEYS),
                                     "fkeys", wrap=True)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(notice_bar(self.counter_banner, self.link_banner, self.printer_banner,
                                    self.message))
        layout.addWidget(self.stack, 1)
        layout.addWidget(legend)
        self.setCentralWidget(central)

        for key, action, _ in FKEYS:
            QShortcut(QKeySequence(key), self, partial(self.run_action, action))
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.back)
        self.idle = QTimer(self)
        self.idle.setSingleShot(True)
        self.idle.setInterval(IDLE_LOCK_S * 1000)
        self.idle.timeout.connect(self._idle)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

        bridge.link_changed.connect(self._link)
        ctx.session_changed.connect(self._session)
        ctx.message.connect(self.show_message)
        ctx.message_withdrawn.connect(self._withdraw)
        ctx.counter_changed.connect(self._counter)
        ctx.navigate.connect(self.show_screen)
        ctx.action.connect(self.run_action)
        ctx.approval_needed.connect(lambda request: dialogs.ask_approval(ctx, self, request))
        ctx.risk_confirmation.connect(lambda request: dialogs.confirm_risk(ctx, self, request))
        ctx.shift_changed.connect(lambda _: self._header_text())
        ctx.printer_changed.connect(self._printer)
        self.sell.pay.connect(self._pay)
        self.payment.next_customer.connect(self._sale_done)
        self.payment.back.connect(lambda: self.show_screen("sell"))
        self.payment.scanned.connect(self._scanned_while_paying)
        self._session(ctx.state)

    # --- layout pieces ----------------------------------------------------------------------

    def _header(self) -> QWidget:
        bar = QWidget()
        bar.setObjectName("headerBar")
        row = QHBoxLayout(bar)
        row.setContentsMargins(12, 6, 12, 6)
        self.who = label("", "header", wrap=True)
        row.addWidget(self.who, 1)
        self.nav = QButtonGroup(self)
        self.nav_buttons = {}
        for name, text in NAV:
            btn = button(text, partial(self.show_screen, name), kind="nav")
            btn.setCheckable(True)
            self.nav.addButton(btn)
            self.nav_buttons[name] = btn
            row.addWidget(btn)
        row.addWidget(button("Lock  F11", self.ctx.lock, kind="nav"))
        row.addWidget(button("Log out", self.ctx.logout, kind="nav"))
        return bar

    def _header_text(self) -> None:
        user = self.ctx.user
        shift = self.ctx.shift
        parts = [self.ctx.counter or "Tillmesh"]
        if user is not None:
            parts.append(f"{user.full_name} ({user.role})")
        parts.append(str(shift["shift"]) if shift else "no open shift")
        self.who.setText("  ·  ".join(parts))

    # --- what is shown ----------------------------------------------------------------------

    def show_screen(self, name: str) -> None:
        phase = self.ctx.state.phase
        if phase is Phase.LOGGED_OUT and name != "login":
            name = "login"
        elif phase is Phase.LOCKED and name != "lock":
            name = "lock"
        screen = self.screens[name]
        self.stack.setCurrentWidget(screen)
        self.header.setVisible(phase is Phase.ACTIVE)
        if name in self.nav_buttons:
            self.nav_buttons[name].setChecked(True)
        activate = getattr(screen, "activate", None)
        if activate is not None:
            activate()

    @property
    def current(self) -> str:
        widget = self.stack.currentWidget()
        return next(name for name, screen in self.screens.items() if screen is widget)

    def _session(self, state: SessionState) -> None:
        self._header_text()
        dialog = self.ctx.current_dialog
        if state.phase is not Phase.ACTIVE and isinstance(dialog, QDialog):
            dialog.reject()  # an approval or a count for a session that is gone
        user = state.user
        self.nav_buttons["admin"].setVisible(user is not None and user.supervises)
        if state.phase is Phase.ACTIVE:
            self.idle.start()
            back_to = self.current if self.current not in ("login", "lock") else "sell"
            self.show_screen(back_to)
        else:
            self.show_screen("login" if state.phase is Phase.LOGGED_OUT else "lock")

    def show_message(self, text: str, level: str) -> None:
        self.message.show_message(text, level)
        self._message_timer.start(MESSAGE_MS)

    def _withdraw(self, text: str) -> None:
        if self.message.isVisible() and self.message.text() == text:
            self._message_timer.stop()
            self.message.clear_message()

    def _counter(self, state: Any) -> None:
        shown = counter_banner(state)
        if shown is None:
            self.counter_banner.clear_message()
        elif (self.counter_banner.text(), self.counter_banner.property("level")) != shown:
            self.counter_banner.show_message(*shown)

    def _link(self, link: Link) -> None:
        if link is Link.OFFLINE:
            self.link_banner.show_message(OFFLINE_TEXT, "error")
        else:
            self.link_banner.clear_message()
            if link is Link.ONLINE:
                self.ctx.refresh_counter()  # where this counter stands, and the users
                self.ctx.refresh_users()    # the login screen offers, at once
                self.ctx.verify_session()  # after a node restart the session is gone
                if self.ctx.state.phase is Phase.ACTIVE:
                    self.ctx.refresh_node()

    def _printer(self, problem: Any) -> None:
        if problem:
            self.printer_banner.show_message(f"{problem} — selling goes on", "warn")
        else:
            self.printer_banner.clear_message()

    # --- actions ----------------------------------------------------------------------------

    def run_action(self, action: str) -> None:
        """An F-key (or the button of one): the current screen first, then app-wide."""
        if self.ctx.state.phase is not Phase.ACTIVE:
            return
        screen = self.screens[self.current]
        handle = getattr(screen, "handle", None)
        if handle is not None and handle(action):
            return
        if action in ("search", "qty", "discount", "customer", "hold", "resume", "pay"):
            self.show_screen("sell")
            self.sell.handle(action)
        elif action == "returns":
            self.show_screen("returns")
        elif action == "shift":
            self.show_screen("shifts")
        elif action == "lock":
            self.ctx.lock()
        elif action == "cash":
            self.cash_move()
        elif action == "help":
            dialogs.show(self.ctx, dialogs.HelpDialog(self))

    def back(self) -> None:
        if self.current == "sell":
            self.sell.close_search()
        elif self.ctx.state.phase is Phase.ACTIVE and (self.current != "payment"
                                                       or self.payment.sale is None):
            self.show_screen("sell")

    def cash_move(self) -> None:
        dialog = CashDialog(self)
        dialog.chosen.connect(lambda way, amount, reason: send_cash_move(
            self.ctx, self, way, amount, reason, self._cash_moved))
        dialogs.show(self.ctx, dialog)

    def _cash_moved(self, answer: Any) -> None:
        self.ctx.notify(f"Cash {answer['direction']}: {answer['amount']}", "ok")
        self.ctx.watch_printer()  # the drawer kick

    def _pay(self, view: Any) -> None:
        self.payment.start(view)
        self.show_screen("payment")

    def _sale_done(self, first_scan: str) -> None:
        self.sell.new_sale()
        self.show_screen("sell")
        if first_scan:  # scanned on the change screen: the next customer's first item
            self.sell.scan(first_scan)

    def _scanned_while_paying(self, code: str) -> None:
        self.show_screen("sell")
        self.sell.scan(code)
        self.ctx.notify(f"Scanned {code} while paying: added to this sale, pay again (F10)",
                        "warn")

    def _idle(self) -> None:
        if self.ctx.state.phase is Phase.ACTIVE:
            self.ctx.lock()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        # the main window's layout does not ask a wrapped label for its height: say it here
        self.legend.setFixedHeight(self.legend.heightForWidth(event.size().width()))
        super().resizeEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() in _INPUT_EVENTS and self.ctx.state.phase is Phase.ACTIVE:
            self.idle.start()  # any touch or key restarts the idle countdown
        return False

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        self.ctx.close()
        super().closeEvent(event)
