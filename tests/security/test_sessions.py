"""A session is worth only what its user is worth now. An admin on C01 lowers a
supervisor's role, disables them or resets their PIN while that supervisor is logged in
on C02: as soon as the change has replicated, the session on C02 ends, says why, and
can do nothing more, not even come back through the lock screen (real processes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.clusterkit import admin, converge, invite, join, logged_in
from tests.proc import NodeProcess, Nodes, network
from tests.security.test_forged_events import until
from tillmesh.node.api.client import Client
from tillmesh.node.errors import LoginFailed, PermissionDenied, SessionExpired

pytestmark = pytest.mark.slow

CHANGE_S = 10.0  # seconds for a change on C01 to end a session on C02 (~0.1 s: one push)
PIN = "2468"  # the supervisors' PIN (the demo store lets supervisors have 4 digits)
NEW_PIN = "1357"


class Store:
    def __init__(self, c1: NodeProcess, c2: NodeProcess, c1_shift: str) -> None:
        self.c1, self.c2, self.c1_shift = c1, c2, c1_shift

    def supervisor_on_c02(self, name: str) -> Client:
        """A new supervisor, made on C01, logged in on C02 and able to act as one there."""
        with admin(self.c1) as c:
            c.user_create(name, name.title(), "supervisor", pin=PIN)
        converge([self.c1, self.c2])
        client = self.c2.client()
        assert client.login(name, PIN)["role"] == "supervisor"
        assert client.audit_list(limit=1)  # a supervisor's power, while it lasts
        return client

    def change_on_c01(self, user: str, **change: Any) -> None:
        with admin(self.c1) as c:
            c.call("user_update", user=user, **change)


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with Nodes() as nodes:
        c1 = nodes.start(nodes.init(*network(), node="C01"))
        c2 = nodes.start(join(nodes, invite(c1), "C02"))
        with logged_in(c1, "cashier", "1111") as cashier:  # another counter's open shift
            shift = cashier.shift_open({"Cash": "100"})["shift"]
        with logged_in(c2, "cashier", "1111") as cashier:  # and cash in C02's drawer
            cashier.shift_open({"Cash": "100"})
        yield Store(c1, c2, str(shift))


def ended(client: Client) -> SessionExpired | None:
    """The SessionExpired a supervisor's call now gets, or None while it still works."""
    try:
        client.audit_list(limit=1)
    except SessionExpired as exc:
        return exc
    return None


CHANGES = {
    "demoted": ({"role": "cashier"}, "role_changed",
                "Your role was changed to cashier: log in again"),
    "disabled": ({"disabled": True}, "disabled",
                 "Your user was disabled: this session has ended"),
    "pin_reset": ({"pin": NEW_PIN}, "pin_changed",
                  "Your PIN was changed: log in again with the new one"),
}


@pytest.mark.parametrize("case", CHANGES)
def test_a_change_on_another_counter_ends_the_session_and_says_why(store: Store, case: str):
    (change, reason, message), name = CHANGES[case], f"sup_{case}"
    with store.supervisor_on_c02(name) as sup:
        store.change_on_c01(name, **change)
        why = until(lambda: ended(sup), CHANGE_S)
        assert (why.message, why.details["reason"]) == (message, reason)
        with pytest.raises(SessionExpired, match="^Session expired: log in again$"):
            sup.audit_list(limit=1)  # gone for good, not only refused once

        if case == "demoted":  # logged in again: a cashier, who closes no one's shift
            assert sup.login(name, PIN)["role"] == "cashier"
            with pytest.raises(PermissionDenied):
                sup.shift_close(store.c1_shift, {"Cash": "100", "Card": "0"})
            with pytest.raises(PermissionDenied):
                sup.cash_move("out", "50", "to the safe")
        elif case == "disabled":
            with pytest.raises(LoginFailed):
                sup.login(name, PIN)
        else:
            with pytest.raises(LoginFailed):
                sup.login(name, PIN)
            assert sup.login(name, NEW_PIN)["role"] == "supervisor"


def test_a_locked_session_does_not_come_back_with_its_old_role(store: Store):
    with store.supervisor_on_c02("sup_locked") as sup:
        sup.lock()  # the supervisor stepped away from C02
        store.change_on_c01("sup_locked", role="cashier")
        converge([store.c1, store.c2])
        with pytest.raises(SessionExpired) as refused:
            sup.unlock(PIN)
        assert refused.value.details["reason"] == "role_changed"
        with pytest.raises(SessionExpired, match="log in again"):
            sup.unlock(PIN)
