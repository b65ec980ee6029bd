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
    Grant,
    LockoutPolicy,
    LockoutState,
    SecretKind,
    SessionBook,
    check_hash,
    check_not_locked,
    check_role_change,
    dummy_verify,
    hash_secret,
    is_locked,
    lockout_of,
    needs_rehash,
    new_credential,
    register_failure,
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


def test_supervisors_and_admins_need_longer_pins():
    assert validate_pin("1111", Role.CASHIER) == "1111"
    with pytest.raises(ValidationError, match="^A supervisor's PIN has 6 to 12 digits$"):
        validate_pin("2222", Role.SUPERVISOR)
    with pytest.raises(ValidationError, match="^An admin's PIN has 6 to 12 digits$"):
        new_credential(SecretKind.PIN, "12345", Role.ADMIN)
    assert validate_pin("123456", Role.SUPERVISOR) == "123456"
    assert validate_pin("2222", Role.SUPERVISOR, supervisor_min=4) == "2222"  # the demo's
    assert new_credential(SecretKind.PASSWORD, "correct horse", Role.ADMIN)  # 8+ characters


def test_a_pin_is_not_kept_into_a_role_that_needs_longer_ones():
    with pytest.raises(ValidationError, match="at least 6 digits: give a new PIN"):
        check_role_change(SecretKind.PIN, Role.CASHIER, Role.SUPERVISOR)
    check_role_change(SecretKind.PIN, Role.SUPERVISOR, Role.ADMIN)  # both need 6
    check_role_change(SecretKind.PIN, Role.ADMIN, Role.CASHIER)
    check_role_change(SecretKind.PASSWORD, Role.CASHIER, Role.ADMIN)
    check_role_change(SecretKind.PIN, Role.CASHIER, Role.SUPERVISOR, supervisor_min=4)


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


def test_lock_message_is_in_the_zone_of_the_clock():
    paris = timezone(timedelta(hours=1))
    state = fail(5, now=T0.astimezone(paris))
    with pytest.raises(LockedOut, match="until 10:05:00"):
        check_not_locked(state, T0)


def test_each_lock_in_a_row_lasts_twice_the_one_before_up_to_the_cap():
    policy = LockoutPolicy(max_failures=5, lockout=5 * MIN, max_lockout=30 * MIN)
    state, now, lasted = LockoutState(), T0, []
    for _ in range(5):
        state = fail(5, state, policy, now)
        assert state.locked_until is not None
        lasted.append(state.locked_until - now)
        now = state.locked_until
    assert lasted == [5 * MIN, 10 * MIN, 20 * MIN, 30 * MIN, 30 * MIN]


def test_a_day_without_failures_forgets_the_count_and_the_doubling():
    state = fail(5)
    state = fail(4, state, now=T0 + 10 * MIN)  # after the first lock: one try from the next
    assert state.failures == 4 and state.lockouts == 1
    state = fail(1, state, now=T0 + 10 * MIN + timedelta(hours=24))
    assert (state.failures, state.lockouts) == (1, 0)
    state = fail(4, state, now=T0 + timedelta(hours=25))
    assert state.locked_until == T0 + timedelta(hours=25) + 5 * MIN  # a first lock again


def test_the_fold_of_the_stores_failures_is_the_same_state():
    times = [T0 + k * MIN for k in (0, 1, 1, 2, 3, 3, 4, 30, 31, 32, 33, 34)]
    expected = LockoutState()
    for at in times:
        expected = register_failure(DEFAULT_POLICY, expected, at)
    assert lockout_of(DEFAULT_POLICY, times) == expected
    assert expected.lockouts == 2 and is_locked(expected, T0 + 40 * MIN)


def test_a_policy_must_be_able_to_lock_and_to_forget():
    for bad in ({"lockout": timedelta(0)}, {"max_lockout": MIN},
                {"max_lockout": timedelta(hours=24)}, {"max_failures": 0}):
        with pytest.raises(ValueError):
            LockoutPolicy(**bad)


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
        self.policy = LockoutPolicy(max_failures=3, lockout=timedelta(minutes=5),
                                    max_lockout=timedelta(minutes=20),
                                    forget_after=timedelta(hours=1))
        self.state = LockoutState()
        self.now = T0
        self.streak = 0  # model: failures in a row since the last success or lift
        self.locks = 0  # model: locks in a row, for the doubling
        self.last_failure: datetime | None = None
        self.lift_at: datetime | None = None

    def model_locked(self):
        return self.lift_at is not None and self.now < self.lift_at

    @rule(seconds=st.integers(min_value=0, max_value=1200))
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
            # the node records a clearing; the store's fold starts from nothing again
            self.state, self.streak, self.locks = LockoutState(), 0, 0
            self.last_failure = None
            return
        self.state = register_failure(self.policy, self.state, self.now)
        if self.last_failure and self.now - self.last_failure >= timedelta(hours=1):
            self.streak, self.locks = 0, 0
        self.streak += 1
        self.last_failure = self.now
        if self.streak == self.policy.max_failures:
            self.locks += 1
            self.lift_at = self.now + min(timedelta(minutes=5) * 2 ** (self.locks - 1),
                                          timedelta(minutes=20))

    @precondition(lambda self: self.model_locked())
    @rule()
    def login_while_locked_is_refused(self):
        with pytest.raises(LockedOut):
            check_not_locked(self.state, self.now)

    @invariant()
    def agrees_with_model(self):
        assert is_locked(self.state, self.now) == self.model_locked()
        assert self.state.lockouts == self.locks
        if self.model_locked():
            assert self.state.locked_until == self.lift_at
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


ANNA = Grant(Role.CASHIER, "anna's hash")
BERT = Grant(Role.SUPERVISOR, "bert's hash")


@pytest.fixture
def book():
    return SessionBook(idle_timeout=timedelta(minutes=5), max_age=timedelta(hours=12))


def test_open_and_get(book):
    session = book.open("anna", ANNA, T0)
    assert len(session.token) >= 43
    assert book.get(session.token, T0 + MIN) == session
    assert book.open("anna", ANNA, T0).token != session.token


def test_unknown_token_means_log_in_again(book):
    with pytest.raises(SessionExpired, match="^Session expired: log in again$"):
        book.get("nope", T0)


def test_idle_session_locks_and_the_same_user_unlocks_it(book):
    session = book.open("anna", ANNA, T0)
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
    session = book.open("anna", ANNA, T0)
    assert book.lock(session.token).locked
    with pytest.raises(SessionExpired, match="^Locked: enter your PIN$"):
        book.get(session.token, T0)
    book.unlock(session.token, "anna", T0)
    book.get(session.token, T0)


def test_max_age_ends_even_an_active_session(book):
    session = book.open("anna", ANNA, T0)
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


@pytest.mark.parametrize(("locked", "later", "active"), [
    (False, 4 * MIN, True),
    (False, 5 * MIN + timedelta(seconds=1), False),  # idle
    (True, MIN, False),
    (False, timedelta(hours=12, seconds=1), False),  # past max_age
])
def test_active_says_what_get_would_without_locking_or_ending_the_session(
        book, locked, later, active):
    session = book.open("anna", ANNA, T0)
    if locked:
        book.lock(session.token)
    assert book.active(session.token, T0 + later) is active
    assert not book.active("nope", T0)
    if active:
        assert book.get(session.token, T0 + later) == session
    else:  # the session's own next call still says why, as if nobody had looked
        with pytest.raises(SessionExpired) as err:
            book.get(session.token, T0 + later)
        assert err.value.details["reason"] == (
            "locked" if locked else "idle" if later < timedelta(hours=1) else "max_age")


def test_close(book):
    b = book.open("bert", BERT, T0)
    assert book.close(b.token) and not book.close(b.token)
    with pytest.raises(SessionExpired):
        book.get(b.token, T0)


@pytest.mark.parametrize(("now", "reason", "message"), [
    (None, "disabled", "Your user was disabled: this session has ended"),
    (Grant(Role.CASHIER, "bert's hash"), "role_changed",
     "Your role was changed to cashier: log in again"),
    (Grant(Role.ADMIN, "bert's hash"), "role_changed",
     "Your role was changed to admin: log in again"),
    (Grant(Role.SUPERVISOR, "a new hash"), "pin_changed",
     "Your PIN was changed: log in again with the new one"),
])
def test_a_session_ends_when_its_users_grant_changes(book, now, reason, message):
    b = book.open("bert", BERT, T0)
    assert book.recheck(b.token, BERT) == BERT
    book.lock(b.token)  # a locked session ends too: its PIN may be the old one
    with pytest.raises(SessionExpired) as ended:
        book.recheck(b.token, now)
    assert ended.value.message == message and ended.value.details == {"reason": reason}
    with pytest.raises(SessionExpired, match="log in again"):
        book.recheck(b.token, BERT)  # gone for good, even if the change is undone
    assert len(book) == 0


def test_open_purges_expired_sessions(book):
    book.open("anna", ANNA, T0)
    book.open("bert", BERT, T0 + timedelta(hours=13))
    assert len(book) == 1
