"""What every screen shares: calls to the node, the session, the one error sink, messages.

Screens never talk to the node themselves: they ask :meth:`Context.call`, which goes through
the :class:`~ui.bridge.Bridge` (off the Qt thread) and calls back on the Qt thread.

* ``approvable=True``: when the node answers PermissionDenied and names roles that could
  approve, ``approval_needed`` asks for a supervisor's user and PIN, and the very same call
  is sent again with ``approver: {"user", "pin"}`` (a wrong PIN asks again). A screen
  asks the same way for a risk the node named (``Approval.risk``: a return its sale's
  counter could not confirm), with ``accept_risk``.
* Where this counter stands (``counter_state``: revoked, paused, cut off) is asked every
  COUNTER_STATE_MS beside the health ping (PING lane), without the session (a poll must
  not keep an idle till awake), and reaches the banner through ``counter_changed``; the
  answer also names the store's time zone, which :meth:`Context.now` uses for every time
  the app shows.
* Errors a caller does not handle reach :meth:`Context.sink`, the app's one error sink:
  SessionExpired locks the screen or returns to login (:mod:`ui.models.session`),
  NodeUnavailable is left to the connection banner, UnknownMethod reads "not available
  on this node", everything else becomes a red message line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from tillmesh.node.errors import (
    LockedOut,
    LoginFailed,
    NodeUnavailable,
    PermissionDenied,
    TillmeshError,
    UnknownMethod,
)
from tillmesh.ui.bridge import Bridge, Lane, OnError, OnOk
from tillmesh.ui.const import COUNTER_STATE_MS, PRINTER_CHECK_MS
from tillmesh.ui.models.clock import local_zone, store_zone
from tillmesh.ui.models.payment import Mode, modes_from
from tillmesh.ui.models.session import (
    Link,
    Outcome,
    Phase,
    SessionState,
    User,
    outcome,
    relogin_message,
)
from tillmesh.ui.models.status import NOT_AVAILABLE, printer_problem


@dataclass(frozen=True)
class Approval:
    """A call the node refused for the role; re-sent with an approver's PIN."""

    method: str
    params: dict[str, Any]
    reason: str
    on_ok: OnOk | None
    on_error: OnError | None
    roles: tuple[str, ...] = field(default=())
    risk: bool = False  # ``reason`` is a risk the approver accepts, not a missing permission


class Context(QObject):
    session_changed = Signal(object)  # SessionState
    message = Signal(str, str)  # text, level: "error" | "warn" | "info" | "ok"
    navigate = Signal(str)  # a screen name (ui.shell.SCREENS)
    action = Signal(str)  # an F-key action asked for by a button (ui.const.FKEYS)
    approval_needed = Signal(object)  # Approval
    risk_confirmation = Signal(object)  # Approval (risk=True) the user may accept themselves
    shift_changed = Signal(object)  # this counter's open shift (a map) or None
    printer_changed = Signal(object)  # a banner text, or None when the printer is fine
    counter_changed = Signal(object)  # counter_state: where this counter stands (a map)
    users_changed = Signal(object)  # the users offered on the login screen (a list)
    message_withdrawn = Signal(str)  # a message that no longer holds (clear it if shown)

    def __init__(self, bridge: Bridge) -> None:
        super().__init__()
        self.bridge = bridge
        self.state = SessionState()
        self.node_status: dict[str, Any] = {}
        self.shift: dict[str, Any] | None = None
        self.known_users: list[dict[str, Any]] = []  # for the login screen's user buttons
        self.counter_state: dict[str, Any] = {}  # the node's counter_state answer
        self.store_tz: tzinfo = local_zone()  # until the node names the store's zone
        self._state_out = False  # a counter_state poll is on its way
        self._state_timer = QTimer(self)
        self._state_timer.setInterval(COUNTER_STATE_MS)
        self._state_timer.timeout.connect(self.refresh_counter)
        self._state_timer.start()
        self.negative_stock: dict[str, dict[str, Any]] = {}  # item -> level, from sale answers
        self.current_dialog: QObject | None = None  # the open dialog (tests drive it)
        self._printer_timer = QTimer(self)
        self._printer_timer.setSingleShot(True)
        self._printer_timer.setInterval(PRINTER_CHECK_MS)
        self._printer_timer.timeout.connect(self._check_printer)
        bridge.error.connect(self.sink)

    # --- calls ------------------------------------------------------------------------------

    def call(self, method: str, params: Mapping[str, Any] | None = None,
             on_ok: OnOk | None = None, *, approvable: bool = False,
             on_error: OnError | None = None, lane: Lane = Lane.MAIN) -> int:
        handler = on_error
        if approvable:
            handler = self._approval_handler(method, dict(params or {}), on_ok, on_error)
        return self.bridge.call(method, params, on_ok=on_ok, on_error=handler, lane=lane)

    def _approval_handler(self, method: str, params: dict[str, Any], on_ok: OnOk | None,
                          on_error: OnError | None) -> OnError:
        def handle(exc: TillmeshError) -> bool:
            roles = tuple(exc.details.get("approver_roles") or ())
            if isinstance(exc, PermissionDenied) and roles:
                self.approval_needed.emit(Approval(method, params, exc.message, on_ok,
                                                   on_error, roles))
                return True
            return on_error(exc) if on_error is not None else False
        return handle

    def accept_risk(self, method: str, params: Mapping[str, Any], risk: str,
                    permission: str, on_ok: OnOk | None, on_error: OnError | None) -> None:
        """The node named a risk that ``permission`` may accept (``params`` already say it
        is accepted): a user who holds it confirms, anyone else gets a supervisor's PIN."""
        request = Approval(method, dict(params), risk, on_ok, on_error, ("supervisor",),
                           risk=True)
        if self.user is not None and self.user.can(permission):
            self.risk_confirmation.emit(request)
        else:
            self.approval_needed.emit(request)

    def approve(self, request: Approval, user: str, pin: str) -> None:
        """Send the refused call again with the approver's PIN for this one action."""
        def again(exc: TillmeshError) -> bool:
            if isinstance(exc, PermissionDenied | LoginFailed | LockedOut):
                self.approval_needed.emit(replace(request, reason=exc.message))
                return True
            return request.on_error(exc) if request.on_error is not None else False

        params = {**request.params, "approver": {"user": user, "pin": pin}}
        self.bridge.call(request.method, params, on_ok=request.on_ok, on_error=again)

    def optional(self, method: str, params: Mapping[str, Any] | None,
                 on_ok: Callable[[Any], None], on_missing: Callable[[str], None],
                 lane: Lane = Lane.MAIN) -> None:
        """Call a method that older nodes lack: ``on_missing(NOT_AVAILABLE)`` if so."""
        def missing(exc: TillmeshError) -> bool:
            if isinstance(exc, UnknownMethod):
                on_missing(NOT_AVAILABLE)
                return True
            return False
        self.bridge.call(method, params, on_ok=on_ok, on_error=missing, lane=lane)

    # --- the one error sink -----------------------------------------------------------------

    def sink(self, exc: TillmeshError) -> None:
        if isinstance(exc, NodeUnavailable):
            return  # the connection banner already says so, once
        kind = outcome(exc.code, exc.details)
        if kind is Outcome.LOCK:
            self._set_state(self.state.locked(exc.message))
        elif kind is Outcome.RELOGIN:
            self.bridge.token = None
            self._set_state(self.state.lost(relogin_message(exc.details, exc.message)))
        elif isinstance(exc, UnknownMethod):
            self.notify(f"That is {NOT_AVAILABLE}", "warn")
        else:
            self.notify(exc.message, "error")

    def notify(self, text: str, level: str = "info") -> None:
        self.message.emit(text, level)

    def withdraw(self, text: str) -> None:
        """``text`` no longer holds (a good scan after a refused one): its message line
        goes, if it still shows; any other message stays."""
        self.message_withdrawn.emit(text)

    # --- the session ------------------------------------------------------------------------

    def _set_state(self, state: SessionState) -> None:
        self.state = state
        self.session_changed.emit(state)

    @property
    def user(self) -> User | None:
        return self.state.user

    def login(self, user: str, pin: str, on_error: OnError) -> None:
        def known(who: Any) -> None:
            self._set_state(self.state.logged_in(User.from_api(who)))
            self.refresh_node()

        def logged_in(result: Any) -> None:
            self.bridge.token = str(result["token"])
            self.call("whoami", None, known)
            self.refresh_users()

        self.bridge.call("login", {"user": user, "pin": pin}, on_ok=logged_in,
                         on_error=on_error)

    def refresh_users(self) -> None:
        """Ask for the users the login screen offers (no login needed)."""
        self.optional("login_users", None, self._users, lambda _: None, lane=Lane.POLL)

    def _users(self, users: Any) -> None:
        self.known_users = [dict(u) for u in users if not u.get("disabled")]
        self.users_changed.emit(self.known_users)

    def unlock(self, pin: str, on_error: OnError) -> None:
        self.call("unlock", {"pin": pin}, lambda _: self._set_state(self.state.unlocked()),
                  on_error=on_error)

    def lock(self) -> None:
        if self.state.user is not None:
            self.call("lock", None, on_error=lambda _: True)  # locked here whatever it says
            self._set_state(self.state.locked("Locked: enter your PIN to go on"))

    def logout(self) -> None:
        if self.bridge.token is not None:
            self.call("logout", None, on_error=lambda _: True)
        self.bridge.token = None
        self._set_state(self.state.logged_out())

    def verify_session(self) -> None:
        """After the node came back: is our session still there? (The sink says if not.)"""
        if self.bridge.token is not None:
            self.call("whoami", None)

    # --- node facts every screen needs ------------------------------------------------------

    def now(self) -> datetime:
        """Now in the store's time zone: what every time shown is converted to."""
        return datetime.now(self.store_tz)

    def refresh_counter(self) -> None:
        """Ask where this counter stands (one poll at a time; not while the node is
        down: the connection banner says that)."""
        if self._state_out or self.bridge.link is Link.OFFLINE:
            return
        self._state_out = True

        def done(_: Any) -> bool:
            self._state_out = False
            return True  # an older node, or down: nothing to show, nothing to say

        def got(state: Any) -> None:
            self._state_out = False
            self.set_counter_state(state)
            # A supervisor closed (or opened) this counter's shift from elsewhere: the
            # shift panel and the header follow within a poll, not at the next payment.
            held = (self.shift or {}).get("shift")
            if "open_shift" in state and state["open_shift"] != held \
                    and self.state.phase is Phase.ACTIVE:
                self.call("shift_current", None, self.set_shift)

        # With the health ping: as cheap and login-free, it must neither keep a test's
        # or a screen's "busy" up nor, slow once, mark the node down on its own.
        self.bridge.call("counter_state", None, on_ok=got, on_error=done, lane=Lane.PING)

    def close(self) -> None:
        """The window closes: no more polls, then the bridge's threads stop."""
        self._state_timer.stop()
        self._printer_timer.stop()
        self.bridge.close()

    def set_counter_state(self, state: Any) -> None:
        self.counter_state = dict(state)
        self.store_tz = store_zone(self.counter_state.get("timezone"), self.store_tz)
        self.counter_changed.emit(self.counter_state)

    def refresh_node(self) -> None:
        """The node's status (counter, modes) and this counter's open shift."""
        def got(status: Any) -> None:
            self.node_status = dict(status)
            self.store_tz = store_zone(self.node_status.get("timezone"), self.store_tz)
        self.call("status", None, got)
        self.call("shift_current", None, self.set_shift)
        self._check_printer()

    def set_shift(self, shift: Any) -> None:
        self.shift = dict(shift) if shift else None
        self.shift_changed.emit(self.shift)

    @property
    def modes(self) -> tuple[Mode, ...]:
        opening = (self.shift or {}).get("opening") or {}
        return modes_from(self.node_status, opening)

    @property
    def counter(self) -> str:
        return str(self.node_status.get("node") or "")

    def printer_state(self, status: Any) -> None:
        """Show (or clear) the printer banner; keep watching while jobs wait."""
        problem = printer_problem(status)
        self.printer_changed.emit(problem)
        waiting = isinstance(status, Mapping) and int(status.get("pending") or 0) > 0
        if (problem or waiting) and self.state.phase is Phase.ACTIVE:
            self._printer_timer.start()

    def watch_printer(self) -> None:
        """Ask how printing went, soon after something that prints (a sale, a return, a
        drawer kick, a Z report). The node prints by itself, off the sale's path, so the
        answer to the sale cannot say; only activity starts these checks, so an idle till
        still idle-locks on the node."""
        if self.state.phase is Phase.ACTIVE:
            self._printer_timer.start()

    def _check_printer(self) -> None:
        if self.state.phase is not Phase.ACTIVE:
            return  # locked or logged out: the next session asks again
        self.optional("printer_status", None, self.printer_state, lambda _: None,
                      lane=Lane.POLL)

    def sale_recorded(self, sale: Mapping[str, Any]) -> None:
        """Remember the sale's negative-stock flags; check the printer soon."""
        for level in sale.get("negative_stock") or ():
            code = str(level.get("item_code") or level.get("item") or "?")
            self.negative_stock[code] = {**level, "invoice": sale.get("invoice"),
                                         "seen_at": self.now().isoformat()}
        self.watch_printer()
