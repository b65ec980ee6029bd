from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher, Type
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tillmesh.node.domain.const import ARGON2_MEMORY_COST
from tillmesh.node.domain.credentials import (
    Credential,
    LockoutPolicy,
    LockoutState,
    SecretKind,
    SessionBook,
    check_hash,
    check_not_locked,
    dummy_verify,
    hash_secret,
    is_locked,
    needs_rehash,
    new_credential,
    register_failure,
    register_success,
    validate_password,
    validate_pin,
    verify_secret,
)
from tillmesh.node.domain.roles import Role
from tillmesh.node.errors import LockedOut, PermissionDenied, SessionExpired, ValidationError

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


# --- hashing (each verify costs ~20 ms: keep these few) ----------------------------------


@pytest.fixture(scope="module")
def pin_hash():
    return hash_secret("4821")


def test_right_pin_verifies_and_wrong_pin_does_not(pin_hash):
    assert pin_hash.startswith(f"$argon2id$v=19$m={ARGON2_MEMORY_COST},t=2,p=1$")
    assert verify_secret(pin_hash, "4821")
    assert not verify_secret(pin_hash, "4822")
    assert not needs_rehash(pin_hash)


def test_same_pin_hashes_differently_each_time(pin_hash):
    assert hash_secret("4821") != pin_hash


def test_password_is_normalised_before_hashing():
    composed, decomposed = "caf\u00e9-latte", "cafe\u0301-latte"
    assert verify_secret(hash_secret(composed), decomposed)


def test_hash_with_old_parameters_still_verifies_and_asks_for_rehash():
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    old_hash = old.hash("4821")
    assert verify_secret(old_hash, "4821")
    assert needs_rehash(old_hash)


def test_unknown_user_costs_a_verify_and_fails():
    assert dummy_verify("4821") is False


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "4821",
        "$argon2id$v=19$garbage",
        "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=19456,t=1000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$" + "x" * 300,
    ],
)
def test_malformed_or_hostile_hash_is_a_validation_error_not_a_library_error(bad):
    with pytest.raises(ValidationError):
        check_hash(bad)
    with pytest.raises(ValidationError):
        verify_secret(bad, "4821")
    with pytest.raises(ValidationError):
        needs_rehash(bad)


def test_new_credential_validates_then_hashes():
    with pytest.raises(ValidationError):
        new_credential(SecretKind.PIN, "12")
    cred = new_credential(SecretKind.PIN, "123456")
    assert isinstance(cred, Credential) and cred.kind is SecretKind.PIN


# --- PIN and password rules ----------------------------------------------------------------


@pytest.mark.parametrize("pin", ["0000", "1234", "123456789012"])
def test_good_pins(pin):
    assert validate_pin(pin) == pin


@pytest.mark.parametrize(
    ("pin", "message"),
    [
        ("123", "4 to 12 digits"),
        ("1234567890123", "4 to 12 digits"),
        ("12a4", "digits only"),
        ("12 34", "digits only"),
        ("١٢٣٤", "digits only"),
        ("", "digits only"),
        (1234, "digits only"),
    ],
)
def test_bad_pins(pin, message):
    with pytest.raises(ValidationError, match=message):
        validate_pin(pin)


def test_password_length_bounds():
    assert validate_password("x" * 8) == "x" * 8
    assert validate_password("x" * 128)
    for bad in ["x" * 7, "x" * 129]:
        with pytest.raises(ValidationError, match="8 to 128 characters"):
            validate_password(bad)


# --- lockout -----------------------------------------------------------------------------


DEFAULT_POLICY = LockoutPolicy()


def fail(times, state=None, policy=DEFAULT_POLICY, now=T0):
    state = state or LockoutState()
    for _ in range(times):
        check_not_locked(state, now)
        state = register_failure(policy, state, now)
    return state


def test_four_failures_do_not_lock_the_fifth_does():
    state = fail(4)
    check_not_locked(state, T0)
    state = fail(1, state)
    with pytest.raises(LockedOut) as err:
        check_not_locked(state, T0)
    assert err.value.message == "Too many failed logins: locked until 09:05:00"
    assert err.value.details == {"until": "2025-03-01T09:05:00+00:00"}


def test_lock_lifts_after_the_configured_time_and_counting_restarts():
    policy = LockoutPolicy(max_failures=3, lockout=timedelta(minutes=10))
    state = fail(3, policy=policy)
    with pytest.raises(LockedOut):
        check_not_locked(state, T0 + 10 * MIN - timedelta(seconds=1))
    later = T0 + 10 * MIN
    check_not_locked(state, later)
    state = fail(2, state, policy, later)
    assert state.failures == 2 and not is_locked(state, later)


def test_failure_while_locked_does_not_extend_the_lock():
    state = fail(5)
    assert register_failure(LockoutPolicy(), state, T0 + MIN) == state


def test_success_resets_the_count():
    state = register_success(fail(4))
    assert state == LockoutState()
    check_not_locked(fail(4, state), T0)


def test_lock_message_is_in_the_zone_of_the_clock():
    paris = timezone(timedelta(hours=1))
    state = fail(5, now=T0.astimezone(paris))
    with pytest.raises(LockedOut, match="until 10:05:00"):
        check_not_locked(state, T0)


def test_naive_datetimes_are_rejected():
    naive = datetime(2025, 3, 1, 9, 0)
    with pytest.raises(ValueError):
        register_failure(LockoutPolicy(), LockoutState(), naive)
    with pytest.raises(ValueError):
        check_not_locked(LockoutState(), naive)
    with pytest.raises(ValueError):
        SessionBook().get("token", naive)


class LockoutMachine(RuleBasedStateMachine):
    """Drive the pure lockout against a model that remembers every attempt."""

    def __init__(self):
        super().__init__()
        self.policy = LockoutPolicy(max_failures=3, lockout=timedelta(minutes=5))
        self.state = LockoutState()
        self.now = T0
        self.streak = 0  # model: failures in a row since the last success or lift
        self.lift_at: datetime | None = None

    def model_locked(self):
        return self.lift_at is not None and self.now < self.lift_at

    @rule(seconds=st.integers(min_value=0, max_value=400))
    def wait(self, seconds):
        self.now += timedelta(seconds=seconds)
        if self.lift_at is not None and self.now >= self.lift_at:
            self.lift_at, self.streak = None, 0

    @rule(right=st.booleans())
    def attempt(self, right):
        try:
            check_not_locked(self.state, self.now)
        except LockedOut:
            assert self.model_locked()
            self.state = register_failure(self.policy, self.state, self.now)
            return
        assert not self.model_locked()
        if right:
            self.state, self.streak = register_success(self.state), 0
            return
        self.state = register_failure(self.policy, self.state, self.now)
        self.streak += 1
        if self.streak == self.policy.max_failures:
            self.lift_at = self.now + self.policy.lockout

    @precondition(lambda self: self.model_locked())
    @rule()
    def login_while_locked_is_refused(self):
        with pytest.raises(LockedOut):
            check_not_locked(self.state, self.now)

    @invariant()
    def agrees_with_model(self):
        assert is_locked(self.state, self.now) == self.model_locked()
        if self.state.locked_until is None:
            assert self.state.failures == self.streak


TestLockoutMachine = LockoutMachine.TestCase


@given(st.lists(st.integers(min_value=0, max_value=600), max_size=30))
def test_never_more_than_max_failures_between_locks(gaps):
    policy, state, now = LockoutPolicy(), LockoutState(), T0
    for gap in gaps:
        now += timedelta(seconds=gap)
        if not is_locked(state, now):
            state = register_failure(policy, state, now)
        assert state.failures <= policy.max_failures


# --- sessions ----------------------------------------------------------------------------


@pytest.fixture
def book():
    return SessionBook(idle_timeout=timedelta(minutes=5), max_age=timedelta(hours=12))


def test_open_and_get(book):
    session = book.open("anna", Role.CASHIER, T0)
    assert len(session.token) >= 43
    assert book.get(session.token, T0 + MIN) == session
    assert book.open("anna", Role.CASHIER, T0).token != session.token


def test_unknown_token_means_log_in_again(book):
    with pytest.raises(SessionExpired, match="^Session expired: log in again$"):
        book.get("nope", T0)


def test_idle_session_locks_and_the_same_user_unlocks_it(book):
    session = book.open("anna", Role.CASHIER, T0)
    book.touch(session.token, T0 + 4 * MIN)
    assert book.get(session.token, T0 + 9 * MIN).last_seen == T0 + 4 * MIN
    with pytest.raises(SessionExpired) as err:
        book.get(session.token, T0 + 9 * MIN + timedelta(seconds=1))
    assert err.value.message == "Locked after 5 minutes idle: enter your PIN"
    assert err.value.details == {"reason": "idle", "user_id": "anna"}
    with pytest.raises(SessionExpired, match="enter your PIN"):
        book.touch(session.token, T0 + 10 * MIN)  # still locked: touching does not help
    with pytest.raises(PermissionDenied):
        book.unlock(session.token, "bert", T0 + 11 * MIN)
    resumed = book.unlock(session.token, "anna", T0 + 11 * MIN)
    assert not resumed.locked and resumed.last_seen == T0 + 11 * MIN
    assert book.get(session.token, T0 + 12 * MIN) == resumed


def test_explicit_lock(book):
    session = book.open("anna", Role.CASHIER, T0)
    assert book.lock(session.token).locked
    with pytest.raises(SessionExpired, match="^Locked: enter your PIN$"):
        book.get(session.token, T0)
    book.unlock(session.token, "anna", T0)
    book.get(session.token, T0)


def test_max_age_ends_even_an_active_session(book):
    session = book.open("anna", Role.CASHIER, T0)
    now = T0
    while now < T0 + timedelta(hours=12):
        now += 4 * MIN
        book.touch(session.token, min(now, T0 + timedelta(hours=12)))
    with pytest.raises(SessionExpired) as err:
        book.get(session.token, T0 + timedelta(hours=12, seconds=1))
    assert err.value.details["reason"] == "max_age"
    with pytest.raises(SessionExpired):
        book.unlock(session.token, "anna", T0 + timedelta(hours=13))
    assert len(book) == 0


def test_close_and_close_user(book):
    a1 = book.open("anna", Role.CASHIER, T0)
    a2 = book.open("anna", Role.CASHIER, T0)
    b = book.open("bert", Role.SUPERVISOR, T0)
    assert book.close(b.token) and not book.close(b.token)
    assert book.close_user("anna") == 2
    for token in (a1.token, a2.token, b.token):
        with pytest.raises(SessionExpired):
            book.get(token, T0)


def test_open_purges_expired_sessions(book):
    book.open("anna", Role.CASHIER, T0)
    book.open("bert", Role.CASHIER, T0 + timedelta(hours=13))
    assert len(book) == 1
