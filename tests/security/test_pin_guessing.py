"""Guessing a PIN is as slow on a store of many counters as on one: every wrong PIN
replicates, so guesses spread over the counters count together and lock the user on
all of them, each lock in a row twice as long as the one before. Supervisors and admins
of a real store have PINs of 6 digits or more, and no PIN is ever on a command line
(where `ps` shows it to every user of the machine)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.clusterkit import admin, converge, invite, join
from tests.nodekit import FakeClock, Till, dump, make_node, sync
from tests.proc import (
    ADMIN_PIN,
    NodeProcess,
    Nodes,
    network,
    ok,
    one_clear_line,
    tillmesh,
)
from tillmesh.node.api import Node
from tillmesh.node.errors import LockedOut, LoginFailed, ValidationError
from tillmesh.node.ops.config import CONFIG_NAME, load
from tillmesh.node.projections import logins

pytestmark = pytest.mark.slow

PIN = "2468"  # sam's (a supervisor of the demo store, which allows 4 digits)
WRONG = "9999"


@pytest.fixture(scope="module")
def store() -> Iterator[tuple[NodeProcess, NodeProcess]]:
    with Nodes() as nodes:
        c1 = nodes.start(nodes.init(*network(), node="C01"))
        c2 = nodes.start(join(nodes, invite(c1), "C02"))
        with admin(c1) as c:
            c.user_create("sam", "Sam", "supervisor", pin=PIN)
        converge([c1, c2])
        yield c1, c2


def login(node: NodeProcess, pin: str) -> None:
    with node.client() as c:
        c.login("sam", pin)


def locked_until(node: NodeProcess) -> datetime:
    """When sam's lock lifts, as ``node`` says when even the right PIN is refused."""
    with pytest.raises(LockedOut) as locked:
        login(node, PIN)
    return datetime.fromisoformat(locked.value.details["until"])


def test_guesses_spread_over_two_counters_lock_the_user_on_both(store):
    c1, c2 = store
    for _ in range(3):
        with pytest.raises(LoginFailed):
            login(c1, WRONG)
    converge([c1, c2])  # C02 has heard of the three
    with pytest.raises(LoginFailed):
        login(c2, WRONG)
    with pytest.raises(LockedOut):
        login(c2, WRONG)  # the fifth of the store, the second on this keypad
    converge([c1, c2])
    until_c1, until_c2 = locked_until(c1), locked_until(c2)
    assert abs(until_c1 - until_c2) < timedelta(seconds=1)  # one lock, the same everywhere
    with admin(c1) as c:  # every guess is in the audit trail, wherever it was typed
        failed = [a for a in c.audit_list(limit=50) if a["kind"] == "audit.login_failed"]
    assert sorted(a["event"].split(":")[0] for a in failed) == ["C01"] * 3 + ["C02"] * 2


def test_each_lock_in_a_row_is_twice_as_long_on_every_counter(tmp_path: Path):
    clock = FakeClock()
    c1, c2 = (make_node(tmp_path / n, n, clock=clock) for n in ("C01", "C02"))

    def guess(node: Node) -> None:
        with pytest.raises((LoginFailed, LockedOut)):
            node.call("login", {"user": "sup", "pin": WRONG})
        sync(node.log, c2.log if node is c1 else c1.log)  # replication, in process

    def five_guesses_lock_for() -> int:
        """Minutes the lock lasts that five wrong PINs, typed in turn on C01 and C02, bring
        about; the same lock on both counters."""
        start = clock.now
        for node in (c1, c2, c1, c2, c1):
            guess(node)
        untils = set()
        for node in (c1, c2):
            with pytest.raises(LockedOut) as locked:
                node.call("login", {"user": "sup", "pin": "2222"})
            untils.add(datetime.fromisoformat(locked.value.details["until"]))
        (until,) = untils
        clock.now = until
        return round((until - start).total_seconds() / 60)

    assert [five_guesses_lock_for() for _ in range(3)] == [5, 10, 20]
    assert Till(c2, "sup")("whoami")["role"] == "supervisor"  # the right PIN, once it lifts
    sync(c2.log, c1.log)
    assert five_guesses_lock_for() == 5  # the right PIN started the doubling afresh


def test_every_counter_counts_the_same_whatever_order_the_guesses_arrive_in(tmp_path: Path):
    """C01 and C02 cut apart: two wrong PINs on C01, then two on C02 and the right one
    there, then two more on C01. Merged in stamp order only C01's last two count (six
    would lock), on a counter that hears C01 first and on one that hears C02 first."""
    clock = FakeClock()
    c1, c2 = (make_node(tmp_path / n, n, clock=clock) for n in ("C01", "C02"))
    for node, pin in ((c1, WRONG), (c1, WRONG), (c2, WRONG), (c2, WRONG), (c2, "2222"),
                      (c1, WRONG), (c1, WRONG)):
        clock.advance(seconds=1)
        with contextlib.suppress(LoginFailed):
            node.call("login", {"user": "sup", "pin": pin})
    heard = []
    for name, first, then in (("C03", c1, c2), ("C04", c2, c1)):
        node = make_node(tmp_path / name, name, clock=clock, seeded=False)
        sync(first.log, node.log)
        sync(then.log, node.log)
        with node.log.reading() as s:
            heard.append((dump(node.log)["login_attempts"],
                          logins.failures(s, "sup", UTC)))
    assert heard[0] == heard[1]
    assert heard[0][1] == [clock.now.replace(microsecond=0) - timedelta(seconds=k)
                           for k in (1, 0)]


def test_a_real_store_gives_supervisors_and_admins_six_digit_pins(nodes: Nodes, store):
    node = nodes.start(nodes.init(demo=False))  # `tillmesh init` read ADMIN_PIN from stdin
    with node.client() as c:
        c.login("admin", ADMIN_PIN)
        with pytest.raises(ValidationError, match="A supervisor's PIN has 6 to 12 digits"):
            c.user_create("sue", "Sue", "supervisor", pin="2222")
        c.user_create("cid", "Cid", "cashier", pin="1111")  # cashiers keep 4 digits
        with pytest.raises(ValidationError, match="give a new PIN together with the new role"):
            c.user_update("cid", role="admin")
        c.user_create("sue", "Sue", "supervisor", pin="222233")
    demo = store[0].data_dir  # the demo store says why its supervisors have 4 digits
    assert load(demo).min_pin_digits_supervisor == 4
    assert "# A demo store only" in (demo / CONFIG_NAME).read_text()


@pytest.mark.parametrize("command", [
    ["init", "--node", "C05"],
    ["invite", "--user", "admin"],
    ["revoke", "C09", "--user", "admin"],
    ["exceptions", "--user", "supervisor"],
])
def test_the_cli_refuses_a_pin_on_its_command_line(nodes: Nodes, command: list[str]):
    data_dir = nodes.tmp() / "d"
    one_clear_line(tillmesh(data_dir, *command, "--pin", "246810"),
                   "--pin is refused", "visible to every user", "standard input")
    assert not data_dir.exists()


def test_init_and_invite_take_the_pin_on_standard_input(nodes: Nodes):
    node = nodes.start(nodes.init(*network(), demo=False))
    code = ok(tillmesh(node.data_dir, "invite", "--user", "admin", stdin=f"{ADMIN_PIN}\n"))
    assert "TM1-" in code
    assert "(Europe/Berlin)" in code  # when it expires, in the store's time (issue 12)
    one_clear_line(tillmesh(node.data_dir, "invite", "--user", "admin", stdin="135799\n"),
                   "Wrong user or PIN")
    one_clear_line(tillmesh(node.data_dir, "invite", "--user", "admin"), "No PIN given")
