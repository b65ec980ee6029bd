"""Who is at the till, and what an authentication error means for the screen. Qt-free.

The node keeps sessions in memory and enforces lockout and idle lock; the app only
follows: a ``SessionExpired`` with reason ``idle``/``locked`` shows the lock screen (the
same user's PIN unlocks it), any other reason (``unknown`` after a node restart,
``max_age``, or ``disabled``, ``role_changed``, ``pin_changed`` when an admin changed the
user on any counter) returns to login and says why.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tillmesh.ui.const import PIN_MAX_DIGITS, SCAN_KEY_S
from tillmesh.ui.models.cart import looks_scanned
from tillmesh.ui.models.clock import parse, time_of_day
from tillmesh.ui.models.money import dec


class Phase(enum.Enum):
    LOGGED_OUT = "logged_out"
    ACTIVE = "active"
    LOCKED = "locked"


class Link(enum.Enum):
    """The app's view of the node: not yet known, answering, or not answering."""

    UNKNOWN = "unknown"
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True)
class User:
    """The logged-in user and what their role may do (from ``whoami``)."""

    user: str
    full_name: str
    role: str
    actions: frozenset[str] = frozenset()
    max_discount_percent: Decimal = Decimal(0)

    @classmethod
    def from_api(cls, who: Mapping[str, Any]) -> User:
        return cls(
            user=str(who.get("user", "")),
            full_name=str(who.get("full_name") or who.get("user", "")),
            role=str(who.get("role", "")),
            actions=frozenset(str(a) for a in who.get("actions") or ()),
            max_discount_percent=dec(who.get("max_discount_percent")),
        )

    def can(self, action: str) -> bool:
        return action in self.actions

    @property
    def supervises(self) -> bool:
        """Supervisors and admins see every counter's shifts and the exceptions queue."""
        return self.role in ("supervisor", "admin")


class Outcome(enum.Enum):
    NONE = "none"  # not an authentication problem: show the message
    LOCK = "lock"  # show the lock screen; the same user's PIN unlocks
    RELOGIN = "relogin"  # the session is gone: back to login, saying why


RESTARTED = ("The node no longer knows this session (it restarted, and sessions live in its "
             "memory): please log in again")


def outcome(code: str, details: Mapping[str, Any]) -> Outcome:
    if code != "session_expired":
        return Outcome.NONE
    if details.get("reason") in ("idle", "locked"):
        return Outcome.LOCK
    return Outcome.RELOGIN


def relogin_message(details: Mapping[str, Any], message: str) -> str:
    if details.get("reason") == "unknown":
        return RESTARTED
    return message


def lockout_message(details: Mapping[str, Any], now: datetime, user: str) -> str:
    """``LockedOut``'s ``until`` as the cashier reads it: the time of day in the zone of
    ``now`` (the store's: ``Context.now``), and the minutes left. One time, one zone."""
    until = parse(details.get("until"))
    if until is None:
        return f"Too many wrong PINs: {user or 'this user'} is locked for a while"
    if until.tzinfo is None or now.tzinfo is None:  # the node sends offsets
        return f"Too many wrong PINs: locked until {time_of_day(until, UTC)}"
    left = max(0, int((until - now).total_seconds() + 59) // 60)
    return (f"Too many wrong PINs: {user or 'this user'} is locked until "
            f"{time_of_day(until, now.tzinfo)} (about {left} min)")


@dataclass(frozen=True)
class SessionState:
    """The login state machine; every transition returns a new state."""

    phase: Phase = Phase.LOGGED_OUT
    user: User | None = None
    reason: str = ""  # why we are logged out or locked, shown on that screen

    def logged_in(self, user: User) -> SessionState:
        return SessionState(Phase.ACTIVE, user, "")

    def locked(self, reason: str) -> SessionState:
        if self.user is None:  # nobody to unlock for: a plain login
            return SessionState(Phase.LOGGED_OUT, None, reason)
        return SessionState(Phase.LOCKED, self.user, reason)

    def unlocked(self) -> SessionState:
        return SessionState(Phase.ACTIVE, self.user, "")

    def lost(self, reason: str) -> SessionState:
        return SessionState(Phase.LOGGED_OUT, None, reason)

    def logged_out(self) -> SessionState:
        return SessionState(Phase.LOGGED_OUT, None, "")


def scanned_into_pin(text: str, typed_in_s: float | None) -> bool:
    """A barcode fired into the PIN field rather than a PIN (so it costs no failed login):
    a barcode's digits, and longer than any PIN or typed faster than a hand can
    (``typed_in_s``: first digit to Enter; None when tapped on the keypad)."""
    digits = text.strip()
    if not looks_scanned(digits):
        return False
    return len(digits) > PIN_MAX_DIGITS or (
        typed_in_s is not None and typed_in_s < SCAN_KEY_S * len(digits))


def scanned_into_pin_message(first: str) -> str:
    """What the PIN's screen says to a scan (``first``: what to do before scanning again)."""
    return f"That was a barcode, not a PIN: {first}, then scan the item again"
