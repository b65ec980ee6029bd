"""Offline login, lockout, idle lock, users and roles (in process)."""

from __future__ import annotations

import pytest

from tests.nodekit import FakeClock, Till, make_node
from tillmesh.node.errors import (
    LockedOut,
    LoginFailed,
    PermissionDenied,
    SessionExpired,
    ValidationError,
)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def node(tmp_path, clock):
    return make_node(tmp_path, clock=clock)


def test_wrong_pin_locks_out_after_five_tries_then_lifts(node, clock):
    for _ in range(4):
        with pytest.raises(LoginFailed, match="Wrong user or PIN"):
            node.call("login", {"user": "ann", "pin": "9999"})
    with pytest.raises(LockedOut) as locked:
        node.call("login", {"user": "ann", "pin": "9999"})
    assert "until" in locked.value.details
    with pytest.raises(LockedOut):  # even the right PIN, while locked
        node.call("login", {"user": "ann", "pin": "1111"})
    clock.advance(minutes=6)
    assert node.call("login", {"user": "ann", "pin": "1111"})["role"] == "cashier"
    failed = [a for a in Till(node, "sup")("audit_list") if a["kind"] == "audit.login_failed"]
    assert len(failed) == 5


def test_unknown_user_looks_like_a_wrong_pin(node):
    with pytest.raises(LoginFailed, match="Wrong user or PIN"):
        node.call("login", {"user": "mallory", "pin": "1111"})


def test_idle_lock_needs_the_same_users_pin(node, clock):
    ann = Till(node, "ann")
    clock.advance(minutes=11)
    with pytest.raises(SessionExpired, match="idle"):
        ann("whoami")
    with pytest.raises(LoginFailed):
        node.call("unlock", {"pin": "3333"}, ann.token)  # bob's PIN does not unlock ann
    assert node.call("unlock", {"pin": "1111"}, ann.token) == {"locked": False, "user": "ann"}
    assert ann("whoami")["user"] == "ann"


def test_no_token_or_a_made_up_token_is_refused(node):
    with pytest.raises(SessionExpired):
        node.call("whoami", {}, None)
    with pytest.raises(SessionExpired):
        node.call("whoami", {}, "forged-token")


def test_admin_manages_users_and_a_new_cashier_logs_in(node):
    admin = Till(node, "admin")
    admin("user_create", user="carl", full_name="Carl", role="cashier", pin="5678")
    assert node.call("login", {"user": "carl", "pin": "5678"})["role"] == "cashier"
    with pytest.raises(ValidationError, match="already exists"):
        admin("user_create", user="carl", full_name="Carl", role="cashier", pin="5678")
    with pytest.raises(ValidationError, match="role"):
        admin("user_create", user="dora", full_name="Dora", role="boss", pin="5678")
    with pytest.raises(ValidationError):
        admin("user_create", user="dora", full_name="Dora", role="cashier", pin="12")
    assert [u["user"] for u in admin("user_list")] == ["admin", "ann", "bob", "carl", "sup"]
    assert all("secret_hash" not in u for u in admin("user_list"))


def test_cashiers_cannot_manage_users(node):
    ann = Till(node, "ann")
    with pytest.raises(PermissionDenied):
        ann("user_create", user="eve", full_name="Eve", role="admin", pin="567890")
    with pytest.raises(PermissionDenied):
        ann("audit_list")


def test_pin_reset_and_disable_end_sessions(node):
    admin = Till(node, "admin")
    ann = Till(node, "ann")
    admin("user_reset_pin", user="ann", pin="4321")
    with pytest.raises(SessionExpired, match="PIN was changed"):
        ann("whoami")
    with pytest.raises(LoginFailed):
        node.call("login", {"user": "ann", "pin": "1111"})
    assert node.call("login", {"user": "ann", "pin": "4321"})["user"] == "ann"
    admin("user_update", user="ann", disabled=True)
    with pytest.raises(LoginFailed):
        node.call("login", {"user": "ann", "pin": "4321"})
    with pytest.raises(PermissionDenied, match="your own role"):
        admin("user_update", user="admin", role="cashier")
    changes = [a for a in admin("audit_list") if a["kind"] == "audit.user_changed"]
    assert {c["target"] for c in changes} == {"ann"}


def test_a_demoted_supervisor_is_told_to_log_in_again_and_then_is_a_cashier(node):
    admin, sup = Till(node, "admin"), Till(node, "sup")
    assert sup("audit_list")
    admin("user_update", user="sup", role="cashier")
    with pytest.raises(SessionExpired) as ended:
        sup("audit_list")
    assert ended.value.details["reason"] == "role_changed"
    assert ended.value.message == "Your role was changed to cashier: log in again"
    with pytest.raises(PermissionDenied):
        Till(node, "sup")("audit_list")


def test_an_idle_locked_session_of_a_disabled_user_does_not_unlock(node, clock):
    admin, sup = Till(node, "admin"), Till(node, "sup")
    admin("user_update", user="sup", disabled=True)
    clock.advance(minutes=11)
    with pytest.raises(SessionExpired, match="disabled"):
        node.call("unlock", {"pin": "2222"}, sup.token)


def test_a_real_store_asks_six_digits_of_supervisors_and_admins(node):
    admin = Till(node, "admin")
    with pytest.raises(ValidationError, match="A supervisor's PIN has 6 to 12 digits"):
        admin("user_create", user="sue", full_name="Sue", role="supervisor", pin="5678")
    admin("user_create", user="sue", full_name="Sue", role="supervisor", pin="567890")
    admin("user_create", user="cid", full_name="Cid", role="cashier", pin="5678")
    with pytest.raises(ValidationError, match="at least 6 digits: give a new PIN"):
        admin("user_update", user="cid", role="supervisor")  # 5678 is only a hash here
    admin("user_update", user="cid", role="supervisor", pin="246813")
    assert node.call("login", {"user": "cid", "pin": "246813"})["role"] == "supervisor"


def test_a_demo_store_keeps_four_digit_supervisor_pins(tmp_path):
    node = make_node(tmp_path, min_pin_digits_supervisor=4)
    Till(node, "admin")("user_create", user="sue", full_name="Sue", role="supervisor",
                        pin="5678")


def test_a_new_pin_set_by_an_admin_lifts_the_lockout(node):
    for _ in range(4):
        with pytest.raises(LoginFailed):
            node.call("login", {"user": "ann", "pin": "9999"})
    with pytest.raises(LockedOut):
        node.call("login", {"user": "ann", "pin": "9999"})
    Till(node, "admin")("user_reset_pin", user="ann", pin="4321")
    assert node.call("login", {"user": "ann", "pin": "4321"})["user"] == "ann"


def test_whoami_shows_the_role_limits(node):
    me = Till(node, "ann")("whoami")
    assert me["max_discount_percent"] == "10"
    assert "return" not in me["actions"] and "sell" in me["actions"]
