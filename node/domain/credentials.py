"""PIN and password hashing, lockout after failed logins, and the node's session book.

Hashing is the only part that costs CPU; the rest is pure and takes ``now`` as an
argument, so tests drive it with a fake clock. Every datetime must be timezone-aware.

Login, as the node does it: look the user up (or :func:`dummy_verify` for an unknown
name, so both cost the same), fold the store's failed logins of that user into a
:class:`LockoutState` (:func:`lockout_of`), :func:`check_not_locked`,
:func:`verify_secret`, then record the failure (or, after failures, that they are
cleared) for every counter; on success :meth:`SessionBook.open` with the user's
:class:`Grant`. Every later call rechecks that grant (:meth:`SessionBook.recheck`)
against the users table, so a user disabled, given another role or a new PIN on any
counter loses their sessions everywhere. An idle-locked session is resumed with
:meth:`SessionBook.unlock` once the same user's PIN has been verified.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import Argon2Error, InvalidHashError, VerifyMismatchError

from tillmesh.node.domain.const import (
    ARGON2_HASH_LEN,
    ARGON2_MEMORY_COST,
    ARGON2_PARALLELISM,
    ARGON2_SALT_LEN,
    ARGON2_TIME_COST,
    IDLE_LOCK_MINUTES,
    LOCKOUT_FAILURES,
    LOCKOUT_FORGET_HOURS,
    LOCKOUT_MAX_MINUTES,
    LOCKOUT_MINUTES,
    MAX_HASH_CHARS,
    MAX_MEMORY_COST,
    MAX_PARALLELISM,
    MAX_TIME_COST,
    PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS,
    PIN_MAX_DIGITS,
    PIN_MIN_DIGITS,
    PIN_MIN_DIGITS_SUPERVISOR,
    SESSION_HOURS,
    TOKEN_BYTES,
)
from tillmesh.node.domain.roles import Role
from tillmesh.node.errors import (
    AuthError,
    LockedOut,
    PermissionDenied,
    SessionExpired,
    ValidationError,
)

_PIN = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit also accepts "٣" and "²"

_HASHER = PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_COST,
    parallelism=ARGON2_PARALLELISM,
    hash_len=ARGON2_HASH_LEN,
    salt_len=ARGON2_SALT_LEN,
    type=Type.ID,
)


class SecretKind(StrEnum):
    """A user logs in with exactly one of these."""

    PIN = "pin"
    PASSWORD = "password"


@dataclass(frozen=True)
class Credential:
    """What is stored and replicated for a user's login: never the secret itself."""

    kind: SecretKind
    secret_hash: str


def pin_digits(role: Role, supervisor_min: int = PIN_MIN_DIGITS_SUPERVISOR) -> int:
    """The fewest digits a PIN of ``role`` has: a cashier's 4, a supervisor's or an
    admin's ``supervisor_min`` (their PIN approves and administers, so it guards more)."""
    return PIN_MIN_DIGITS if Role(role) is Role.CASHIER else max(PIN_MIN_DIGITS, supervisor_min)


def _whose(role: Role) -> str:
    return {Role.CASHIER: "A", Role.SUPERVISOR: "A supervisor's", Role.ADMIN: "An admin's"}[role]


def validate_pin(pin: str, role: Role = Role.CASHIER,
                 supervisor_min: int = PIN_MIN_DIGITS_SUPERVISOR) -> str:
    """Return ``pin`` if it has :func:`pin_digits` to 12 digits for ``role``, else raise
    ValidationError."""
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        raise ValidationError("A PIN may contain digits only")
    digits = pin_digits(role, supervisor_min)
    if not digits <= len(pin) <= PIN_MAX_DIGITS:
        raise ValidationError(f"{_whose(Role(role))} PIN has {digits} to {PIN_MAX_DIGITS} digits")
    return pin


def check_role_change(kind: SecretKind, old: Role, new: Role,
                      supervisor_min: int = PIN_MIN_DIGITS_SUPERVISOR) -> None:
    """Refuse to keep a PIN into a role that needs longer PINs: only its hash is kept, so
    nobody knows how long it is. The same call must set a new PIN."""
    if SecretKind(kind) is SecretKind.PIN and (
            pin_digits(new, supervisor_min) > pin_digits(old, supervisor_min)):
        raise ValidationError(f"{_whose(Role(new))} PIN has at least "
                              f"{pin_digits(new, supervisor_min)} digits: give a new PIN "
                              "together with the new role")


def validate_password(password: str) -> str:
    """Return ``password`` if it is 8 to 128 characters, else raise ValidationError."""
    if not isinstance(password, str):
        raise ValidationError("A password must be text")
    if not PASSWORD_MIN_CHARS <= len(password) <= PASSWORD_MAX_CHARS:
        raise ValidationError(
            f"A password has {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"
        )
    return password


def new_credential(kind: SecretKind, secret: str, role: Role = Role.CASHIER,
                   supervisor_min: int = PIN_MIN_DIGITS_SUPERVISOR) -> Credential:
    """Validate ``secret`` as a PIN (long enough for ``role``) or a password and hash it."""
    kind = SecretKind(kind)
    if kind is SecretKind.PIN:
        validate_pin(secret, role, supervisor_min)
    else:
        validate_password(secret)
    return Credential(kind, hash_secret(secret))


def hash_secret(secret: str) -> str:
    """The argon2id hash of ``secret`` (NFC-normalised), with a fresh random salt."""
    try:
        return _HASHER.hash(_normalise(secret))
    except Argon2Error as exc:
        raise AuthError("The secret could not be hashed") from exc


def check_hash(secret_hash: str) -> str:
    """Return ``secret_hash`` if it is an argon2id hash with bounded cost parameters.

    Call it on every hash that arrives from a peer; :func:`verify_secret` calls it too.
    """
    if not isinstance(secret_hash, str) or len(secret_hash) > MAX_HASH_CHARS:
        raise ValidationError("The stored secret is not an argon2id hash")
    try:
        params = extract_parameters(secret_hash)
    except (InvalidHashError, ValueError) as exc:
        raise ValidationError("The stored secret is not an argon2id hash") from exc
    if params.type is not Type.ID or not (
        params.memory_cost <= MAX_MEMORY_COST
        and params.time_cost <= MAX_TIME_COST
        and params.parallelism <= MAX_PARALLELISM
    ):
        raise ValidationError("The stored secret hash has unsupported parameters")
    return secret_hash


def verify_secret(secret_hash: str, secret: str) -> bool:
    """True if ``secret`` matches; False if not. A malformed hash is a ValidationError."""
    check_hash(secret_hash)
    if not isinstance(secret, str):
        return False
    try:
        return _HASHER.verify(secret_hash, _normalise(secret))
    except VerifyMismatchError:
        return False
    except InvalidHashError as exc:
        raise ValidationError("The stored secret is not an argon2id hash") from exc
    except Argon2Error:
        return False  # VerificationError: the library could not confirm a match


def needs_rehash(secret_hash: str) -> bool:
    """True if the hash was made with other parameters than today's; rehash on login."""
    check_hash(secret_hash)
    try:
        return _HASHER.check_needs_rehash(secret_hash)
    except (Argon2Error, ValueError) as exc:
        raise ValidationError("The stored secret is not an argon2id hash") from exc


def dummy_verify(secret: str) -> bool:
    """Spend the time of a real verify and return False: use it for an unknown user."""
    verify_secret(_dummy_hash(), secret)
    return False


@cache
def _dummy_hash() -> str:
    return hash_secret(secrets.token_urlsafe(16))


def _normalise(secret: str) -> str:
    # The same password typed on two keyboards (é vs e + ´) must give the same hash.
    return unicodedata.normalize("NFC", secret)


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds % 60:
        return f"{seconds} seconds"
    return "1 minute" if seconds == 60 else f"{seconds // 60} minutes"


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return now


# --- lockout -------------------------------------------------------------------------


_MAX_DOUBLINGS = 32  # 2**32 times any lockout is beyond every cap: keeps timedelta finite


@dataclass(frozen=True)
class LockoutPolicy:
    """``max_failures`` in a row lock a user for ``lockout``; each further lock in a row
    lasts twice the one before, up to ``max_lockout``; ``forget_after`` without a failure,
    counting starts afresh."""

    max_failures: int = LOCKOUT_FAILURES
    lockout: timedelta = timedelta(minutes=LOCKOUT_MINUTES)
    max_lockout: timedelta = timedelta(minutes=LOCKOUT_MAX_MINUTES)
    forget_after: timedelta = timedelta(hours=LOCKOUT_FORGET_HOURS)

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        if not timedelta(0) < self.lockout <= self.max_lockout < self.forget_after:
            raise ValueError("need 0 < lockout <= max_lockout < forget_after")

    def lock_for(self, lockouts: int) -> timedelta:
        """How long the ``lockouts``-th lock in a row lasts (1: ``lockout``)."""
        return min(self.lockout * 2 ** min(lockouts - 1, _MAX_DOUBLINGS), self.max_lockout)


@dataclass(frozen=True)
class LockoutState:
    """Failed logins in a row, locks in a row (``lockouts``, for the doubling), when the
    current lock lifts and when the last failure was."""

    failures: int = 0
    locked_until: datetime | None = None
    lockouts: int = 0
    last_failure: datetime | None = None

    def __post_init__(self) -> None:
        if self.failures < 0 or self.lockouts < 0:
            raise ValueError("failures and lockouts cannot be negative")
        for moment in (self.locked_until, self.last_failure):
            if moment is not None:
                _aware(moment)


def is_locked(state: LockoutState, now: datetime) -> bool:
    _aware(now)
    return state.locked_until is not None and now < state.locked_until


def check_not_locked(state: LockoutState, now: datetime) -> None:
    """Raise LockedOut, with ``until`` in ISO format, while the lock holds.

    The message shows the time of day in the zone of ``locked_until``, that is of the
    ``now`` given to :func:`register_failure`: pass local time to show local time.
    """
    until = state.locked_until
    if is_locked(state, now) and until is not None:
        raise LockedOut(
            f"Too many failed logins: locked until {until:%H:%M:%S}", until=until.isoformat()
        )


def register_failure(policy: LockoutPolicy, state: LockoutState, now: datetime) -> LockoutState:
    """Count one failed login; lock when it is the ``max_failures``-th in a row, for
    ``policy.lock_for`` the number of locks in a row.

    A failure while locked changes nothing (the lock is not extended); after the lock
    has lifted, counting starts again from zero but the next lock is twice as long;
    after ``forget_after`` without a failure, everything is forgotten.
    """
    if is_locked(state, now):
        return state
    if state.last_failure is not None and now - state.last_failure >= policy.forget_after:
        state = LockoutState()
    failures = 1 if state.locked_until is not None else state.failures + 1
    if failures >= policy.max_failures:
        lockouts = state.lockouts + 1
        return LockoutState(failures, now + policy.lock_for(lockouts), lockouts, now)
    return LockoutState(failures, None, state.lockouts, now)


def lockout_of(policy: LockoutPolicy, failures: Iterable[datetime]) -> LockoutState:
    """The state after these failed logins, oldest first (those since the user's last
    successful login, from every counter of the store). A pure fold: every counter that
    holds the same failures comes to the same lock."""
    state = LockoutState()
    for at in failures:
        state = register_failure(policy, state, at)
    return state


# --- sessions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """What a session holds its powers by: its user's role and credential at login. A
    session lives only while its user's current grant is the same (never trusted for
    authorisation: the role is read again at every call)."""

    role: Role
    secret_hash: str = field(repr=False)


@dataclass(frozen=True)
class Session:
    token: str
    user_id: str
    grant: Grant
    opened_at: datetime
    last_seen: datetime
    locked: bool = False


class SessionBook:
    """The node's logged-in sessions, in memory. Not thread-safe: use it from one loop."""

    def __init__(
        self,
        idle_timeout: timedelta = timedelta(minutes=IDLE_LOCK_MINUTES),
        max_age: timedelta = timedelta(hours=SESSION_HOURS),
    ) -> None:
        if idle_timeout <= timedelta(0) or max_age <= timedelta(0):
            raise ValueError("idle_timeout and max_age must be positive")
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def open(self, user_id: str, grant: Grant, now: datetime) -> Session:
        """A new session for a user who has just logged in; old expired ones are purged."""
        self.purge(now)
        session = Session(secrets.token_urlsafe(TOKEN_BYTES), user_id, grant, now, now)
        self._sessions[session.token] = session
        return session

    def recheck(self, token: str, current: Grant | None) -> Grant:
        """``current`` (the session's user's grant now; None: disabled or unknown) while it
        is the one the session was opened with. Otherwise the session ends here, locked
        or not, with a SessionExpired whose ``reason`` (``disabled``, ``role_changed``,
        ``pin_changed``) and message say why."""
        session = self._sessions.get(token)
        if session is None:
            raise SessionExpired("Session expired: log in again", reason="unknown")
        if current is None:
            ended = SessionExpired("Your user was disabled: this session has ended",
                                   reason="disabled")
        elif current.role is not session.grant.role:
            ended = SessionExpired(f"Your role was changed to {current.role.value}: "
                                   "log in again", reason="role_changed")
        elif current.secret_hash != session.grant.secret_hash:
            ended = SessionExpired("Your PIN was changed: log in again with the new one",
                                   reason="pin_changed")
        else:
            return current
        del self._sessions[token]
        raise ended

    def get(self, token: str, now: datetime) -> Session:
        """The live, unlocked session; SessionExpired otherwise (``details["reason"]`` is
        ``unknown``, ``max_age``, ``locked`` or ``idle``). Idling locks the session."""
        session = self._alive(token, now)
        if session.locked:
            raise SessionExpired("Locked: enter your PIN", reason="locked", user_id=session.user_id)
        if self._idle(session, now):
            self._sessions[token] = replace(session, locked=True)
            raise SessionExpired(
                f"Locked after {_duration(self.idle_timeout)} idle: enter your PIN",
                reason="idle",
                user_id=session.user_id,
            )
        return session

    def active(self, token: str, now: datetime) -> bool:
        """Whether :meth:`get` would answer ``token``'s session at ``now`` (live, unlocked,
        not idle), without locking or ending it: for what only looks (the customer
        display), so the session's own next call still learns why it ended."""
        _aware(now)
        session = self._sessions.get(token)
        return (session is not None and not session.locked
                and not self._too_old(session, now) and not self._idle(session, now))

    def touch(self, token: str, now: datetime) -> Session:
        """Record activity on a live session (as :meth:`get`, then ``last_seen = now``)."""
        session = self.get(token, now)
        session = replace(session, last_seen=max(session.last_seen, now))
        self._sessions[token] = session
        return session

    def lock(self, token: str) -> Session:
        """Lock the session now (the cashier stepped away); only its user can unlock it."""
        session = self._sessions.get(token)
        if session is None:
            raise SessionExpired("Session expired: log in again", reason="unknown")
        session = replace(session, locked=True)
        self._sessions[token] = session
        return session

    def unlock(self, token: str, user_id: str, now: datetime) -> Session:
        """Resume a locked or idle session; the caller has verified ``user_id``'s PIN."""
        session = self._alive(token, now)
        if session.user_id != user_id:
            raise PermissionDenied(
                "Only the user who is logged in can unlock: the other user must log in",
                reason="other_user",
            )
        session = replace(session, locked=False, last_seen=max(session.last_seen, now))
        self._sessions[token] = session
        return session

    def close(self, token: str) -> bool:
        """Log out; False if there was no such session."""
        return self._sessions.pop(token, None) is not None

    def purge(self, now: datetime) -> int:
        """Drop sessions older than ``max_age``; how many."""
        _aware(now)
        tokens = [t for t, s in self._sessions.items() if self._too_old(s, now)]
        for token in tokens:
            del self._sessions[token]
        return len(tokens)

    def _alive(self, token: str, now: datetime) -> Session:
        _aware(now)
        session = self._sessions.get(token)
        if session is None:
            raise SessionExpired("Session expired: log in again", reason="unknown")
        if self._too_old(session, now):
            del self._sessions[token]
            raise SessionExpired("Session expired: log in again", reason="max_age")
        return session

    def _too_old(self, session: Session, now: datetime) -> bool:
        return now - session.opened_at > self.max_age

    def _idle(self, session: Session, now: datetime) -> bool:
        return now - session.last_seen > self.idle_timeout
