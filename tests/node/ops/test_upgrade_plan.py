"""The pure parts of staged upgrades: which releases may sell (the rule, and the admin's
change as every replica folds it), where a held counter stands, what an upgrade or a
rollback plans, how a failed step is undone, when a restarted node counts as healthy,
and the copy's settings. (The real thing, with real releases: test_upgrade.py.)"""

from __future__ import annotations

import random
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillmesh.node.domain.authority import ENROLLED, RELEASES, USER_UPSERTED, Change, fold
from tillmesh.node.domain.credentials import hash_secret
from tillmesh.node.domain.releases import Hold, allows, check_releases, refusal, stranding
from tillmesh.node.errors import ValidationError
from tillmesh.node.membership.standing import State, judge
from tillmesh.node.ops import upgrade
from tillmesh.node.ops.upgrade import (
    Check,
    Install,
    Layout,
    Machine,
    Migrate,
    Plan,
    ReadSettings,
    Restart,
    Situation,
    StepFailed,
    Switch,
    UpgradeFailed,
    UpgradeRefused,
    carry_out,
    copy_settings,
    health_problem,
    plan_rollback,
    plan_upgrade,
    release_of,
)

RELEASE_TEXT = st.from_regex(r"[0-9]{1,2}(\.[0-9]{1,2}){1,2}(rc[0-9])?", fullmatch=True)
WHEEL = Path("/tmp/w/tillmesh-0.2.0-py3-none-any.whl")


def hold(*releases: str) -> Hold:
    return Hold(releases, "ann", "C01", 1)


# --- the rule -------------------------------------------------------------------------------


@given(RELEASE_TEXT, st.lists(RELEASE_TEXT, max_size=5))
def test_a_release_sells_when_nothing_is_held_or_it_is_one_of_those_held(release, held):
    assert allows(None, release) and allows(hold(), release)
    assert allows(hold(*held), release) == (not held or release in held)
    assert (refusal(hold(*held), release) is None) == allows(hold(*held), release)


@given(st.lists(RELEASE_TEXT, max_size=8), st.randoms(use_true_random=False))
def test_the_order_and_repeats_of_the_list_change_nothing(held, rnd):
    shuffled = held * 2
    rnd.shuffle(shuffled)
    for release in {*held, "9.9.9"}:
        assert allows(hold(*check_releases(shuffled)), release) == allows(hold(*held), release)
    assert len(check_releases(shuffled)) == len(set(held))


@given(st.lists(RELEASE_TEXT, max_size=4), st.lists(st.none() | RELEASE_TEXT, max_size=4))
def test_a_hold_is_refused_only_when_it_stops_every_release_known_to_run(wanted, running):
    why = stranding(wanted, running)
    known = {r for r in running if r}
    assert (why is None) == (not wanted or not known or None in running
                             or bool(known & set(wanted)))
    if why is not None:
        assert "\n" not in why and "--force" in why and all(r in why for r in known)


def test_a_typo_in_the_release_is_refused_with_what_runs():
    assert stranding(["0.2"], ["0.2.0", "0.1.0", "0.2.0"]) == (
        "none of 0.2 runs on this counter or a connected one (they run 0.2.0 or 0.1.0): "
        "every counter would stop selling; check the spelling, or give --force")
    assert stranding(["0.2"], ["0.2.0", None]) is None  # one does not say what it runs


def test_the_refusal_says_what_runs_what_is_allowed_and_what_to_do():
    why = refusal(Hold(("0.1.0", "0.2.0"), "ann", "C02", 1), "0.3.0")
    assert why is not None
    for needle in ("runs release 0.3.0", "allows only 0.1.0 or 0.2.0", "set by ann on C02",
                   "tillmesh rollback", "tillmesh releases allow", "still replicates"):
        assert needle in why


@pytest.mark.parametrize("bad", ["0.2.0", [2], ["0.2 .0"], ["v1"], [""], ["1" * 65],
                                 [f"0.{i}" for i in range(17)]])
def test_only_a_short_list_of_releases_is_a_hold(bad):
    with pytest.raises(ValidationError):
        check_releases(bad)


# --- the admin's change, as every replica folds it --------------------------------------------

HASH = hash_secret("1234")


def _user(hlc: int, seq: int, name: str, role: str, by: str | None) -> Change:
    return Change(hlc, "C01", seq, USER_UPSERTED, {
        "user": name, "full_name": name, "role": role, "secret_kind": "pin",
        "secret_hash": HASH, "disabled": False, "by": by}, True)


def _allow(hlc: int, origin: str, seq: int, by: str, *releases: str) -> Change:
    return Change(hlc, origin, seq, RELEASES, {"releases": list(releases), "by": by,
                                               "counter": origin}, True)


def store() -> list[Change]:
    """C01 and C02, admin ann, cashier cid."""
    return [Change(1, "C01", 1, ENROLLED, {"node": "C01", "public_key": "k" * 40}, True),
            _user(2, 2, "ann", "admin", None), _user(3, 3, "cid", "cashier", "ann"),
            Change(4, "C01", 4, ENROLLED, {"node": "C02", "public_key": "j" * 40, "by": "ann"},
                   True)]


def test_the_latest_admin_change_stands_on_every_replica_whatever_the_arrival_order():
    changes = [*store(), _allow(10, "C02", 1, "ann", "0.1.0"),
               _allow(12, "C01", 5, "ann", "0.1.0", "0.2.0"),
               _allow(11, "C02", 2, "cid", "0.9.0")]  # a cashier's: refused everywhere
    for seed in range(5):
        random.Random(seed).shuffle(changes)
        folded = fold(changes)
        assert folded.releases == Hold(("0.1.0", "0.2.0"), "ann", "C01", 12)
        assert [(r.origin, r.seq) for r in folded.refused] == [("C02", 2)]
    assert fold(store()).releases is None


def test_a_malformed_hold_is_refused_not_applied():
    folded = fold([*store(), _allow(10, "C01", 5, "ann", "not a release")])
    assert folded.releases is None
    assert [r.reason for r in folded.refused] == [
        "malformed releases.allowed: 'not a release' is not a release such as 0.2.0"]


# --- where a held counter stands ------------------------------------------------------------

def test_a_counter_whose_release_is_not_allowed_does_not_sell_and_says_since_when():
    since = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    stands = judge(None, None, since, unallowed=("This counter runs release 0.3.0 …", since))
    assert stands.state is State.NOT_ALLOWED and not stands.selling
    assert stands.to_wire()["state"] == "release_not_allowed"
    assert stands.to_wire()["since"] == since
    assert judge(None, None, since).selling


# --- plans ----------------------------------------------------------------------------------

def now(**changes: object) -> Situation:
    base = dict(current="0.1.0", previous="0.0.9", hold=None, peers=True, test_print=False)
    return Situation(**{**base, **changes})  # type: ignore[arg-type]


def test_an_upgrade_installs_migrates_switches_restarts_and_checks_and_knows_the_way_back():
    plan = plan_upgrade("0.2.0", WHEEL, now(test_print=True))
    assert plan.steps == (Install("0.2.0", WHEEL), Migrate("0.2.0"), Switch("0.2.0", "0.1.0"),
                          Restart(), Check("0.2.0", peers=True, test_print=True))
    assert plan.undo == (Switch("0.1.0", "0.0.9"), Restart(),
                         Check("0.1.0", peers=True, test_print=False, back=True))
    assert plan_upgrade("0.2.0", WHEEL, now(hold=hold("0.1.0", "0.2.0"))).back_to == "0.1.0"


@pytest.mark.parametrize(("situation", "why"), [
    (now(hold=hold("0.1.0")), "allows only 0.1.0: an admin allows 0.2.0 first "
                              "(`tillmesh releases allow 0.1.0 0.2.0`)"),
    (now(current="0.2.0"), "release 0.2.0 runs already"),
    (now(current=None), "no release layout"),
])
def test_an_upgrade_is_refused_before_anything_is_done(situation, why):
    with pytest.raises(UpgradeRefused, match=why.replace("(", r"\(").replace(")", r"\)")):
        plan_upgrade("0.2.0", WHEEL, situation)


def test_a_rollback_swaps_current_and_previous_and_knows_the_way_back():
    plan = plan_rollback(now())
    assert plan.steps == (ReadSettings("0.0.9"), Migrate("0.0.9"), Switch("0.0.9", "0.1.0"),
                          Restart(), Check("0.0.9", True, False))
    assert plan.undo == (Switch("0.1.0", "0.0.9"), Restart(),
                         Check("0.1.0", peers=True, test_print=False, back=True))
    assert plan.back_to == "0.1.0"
    with pytest.raises(UpgradeRefused, match="no previous release"):
        plan_rollback(now(previous=None))


@pytest.mark.parametrize(("release", "names"), [
    ("0.2.0", ["tillmesh-0.2.0-py3-none-any.whl", "msgpack-1.1.0-cp311-x.whl"]),
    ("1.0.0rc1", ["tillmesh-1.0.0rc1-py3-none-any.whl"]),
])
def test_the_release_comes_from_the_wheel_name(release, names):
    assert release_of(names) == release


def test_a_wheelhouse_must_hold_one_release():
    with pytest.raises(UpgradeRefused, match="no tillmesh wheel"):
        release_of(["msgpack-1.1.0-cp311-x.whl"])
    with pytest.raises(UpgradeRefused, match=r"several releases there \(0.1.0, 0.2.0\)"):
        release_of(["tillmesh-0.2.0-py3-none-any.whl", "tillmesh-0.1.0-py3-none-any.whl"])


# --- carrying a plan out --------------------------------------------------------------------

def fake(fails: dict[object, str]):
    done: list[object] = []

    def run(step: object) -> str:
        done.append(step)
        if step in fails:
            raise StepFailed(fails.pop(step))
        return "done"
    return run, done


def test_a_failed_check_after_the_switch_goes_back_and_says_so_in_one_line():
    plan = plan_upgrade("0.2.0", WHEEL, now())
    run, done = fake({plan.steps[-1]: "the node does not answer after 5 s"})
    said: list[str] = []
    with pytest.raises(UpgradeFailed) as failed:
        carry_out(plan, run, said.append)
    assert failed.value.message == ("upgrade to 0.2.0 failed: the node does not answer after "
                                    "5 s; rolled back to 0.1.0, which runs again")
    assert done == [*plan.steps, *plan.undo]
    assert said[4] == "  check 0.2.0: the local API answers, a peer connects: FAILED"
    assert said[5:] == ["  switch current to 0.1.0 (previous: 0.0.9): done",
                        "  restart the node: done",
                        "  check 0.1.0 (going back): the local API answers, a peer connects: "
                        "done"]


def test_a_failure_before_the_switch_changes_nothing_live():
    plan = plan_upgrade("0.2.0", WHEEL, now())
    run, done = fake({Migrate("0.2.0"): "0.2.0 migrating a copy of the store failed: boom"})
    with pytest.raises(UpgradeFailed, match="boom; nothing was switched"):
        carry_out(plan, run, lambda line: None)
    assert done == [Install("0.2.0", WHEEL), Migrate("0.2.0")]


def test_when_going_back_fails_too_both_reasons_are_said():
    plan = plan_upgrade("0.2.0", WHEEL, now())
    run, _ = fake({plan.steps[-1]: "no answer", plan.undo[-1]: "no answer either"})
    with pytest.raises(UpgradeFailed, match="no answer; going back to 0.1.0 failed too: no "
                                            "answer either"):
        carry_out(plan, run, lambda line: None)


def test_a_rollback_to_a_release_that_cannot_read_the_settings_switches_nothing():
    plan: Plan = plan_rollback(now())
    run, done = fake({plan.steps[0]: "unknown setting(s) api_group"})
    with pytest.raises(UpgradeFailed, match="^rollback to 0.0.9 failed: unknown setting.s. "
                                            "api_group; nothing was switched$"):
        carry_out(plan, run, lambda line: None)
    assert not any(isinstance(step, Switch) for step in done)


def test_a_rollback_that_fails_its_check_goes_back_and_says_so():
    plan: Plan = plan_rollback(now())
    run, done = fake({plan.steps[-1]: "no answer"})
    with pytest.raises(UpgradeFailed, match="^rollback to 0.0.9 failed: no answer; rolled "
                                            "back to 0.1.0, which runs again$"):
        carry_out(plan, run, lambda line: None)
    assert done == [*plan.steps, *plan.undo]


def test_a_rollback_to_a_release_that_cannot_read_the_store_switches_nothing():
    plan: Plan = plan_rollback(now())
    run, done = fake({Migrate("0.0.9"): "0.0.9 migrating a copy of the store failed: boom"})
    with pytest.raises(UpgradeFailed, match="boom; nothing was switched$"):
        carry_out(plan, run, lambda line: None)
    assert done == [ReadSettings("0.0.9"), Migrate("0.0.9")]


@pytest.mark.parametrize(("source", "wanted"), [
    ("wheelhouse", "tillmesh[printer]==0.2.0"),
    ("tillmesh-0.2.0-py3-none-any.whl", "tillmesh-0.2.0-py3-none-any.whl[printer]"),
])
def test_a_failed_install_of_the_printer_extra_leaves_the_release_there_before_as_it_was(
        tmp_path, monkeypatch, source, wanted):
    layout = Layout(tmp_path)
    kept = layout.releases / "0.2.0"
    kept.mkdir(parents=True)
    (kept / "mark").write_text("0.2.0 as installed before")
    layout.point(layout.previous, "0.2.0")
    (tmp_path / "wheelhouse").mkdir()  # empty; the wheel is missing
    commands: list[list[str]] = []
    real = upgrade._run

    def recorded(command, what, timeout):
        commands.append([str(c) for c in command])
        return real(command, what, timeout)
    monkeypatch.setattr(upgrade, "_run", recorded)
    machine = Machine(None, layout, "true", 1.0, None)  # type: ignore[arg-type]
    with pytest.raises(StepFailed, match="^installing 0.2.0 failed: "):
        machine.run(Install("0.2.0", tmp_path / source))
    assert commands[-1][-1].endswith(wanted)  # as deploy/install.sh installs it
    assert (layout.previous / "mark").read_text() == "0.2.0 as installed before"
    assert sorted(p.name for p in layout.releases.iterdir()) == ["0.2.0"]


# --- health ---------------------------------------------------------------------------------

READY = {"node": "C02", "live": True, "state": "ready"}


@pytest.mark.parametrize(("state", "peers", "check", "problem"), [
    (None, [], Check("0.2.0", False, False), "the node does not answer"),
    ({"release": "0.1.0"}, [READY], Check("0.2.0", True, False),
     "the node that answers runs 0.1.0, not 0.2.0"),
    ({"release": "0.2.0"}, [{**READY, "live": False}], Check("0.2.0", True, False),
     "no other counter is connected (one was before)"),
    ({"release": "0.2.0"}, [{**READY, "state": "greeting"}], Check("0.2.0", True, False),
     "no other counter is connected (one was before)"),
    ({"release": "0.2.0"}, [READY], Check("0.2.0", True, False), None),
    ({"release": "0.2.0"}, [], Check("0.2.0", False, False), None),
    ({"node": "C01"}, [READY], Check("0.0.9", True, False), None),  # says no release
])
def test_a_restarted_node_is_healthy_when_it_answers_as_the_release_and_reconnects(
        state, peers, check, problem):
    assert health_problem(state, peers, check) == problem


# --- the copy's settings --------------------------------------------------------------------

def test_the_copy_keeps_every_setting_but_its_socket_file_and_keys():
    live = ('# a comment\nnode_id = "C01"\napi_socket = "/run/tillmesh/api.sock"\n'
            'api_group = "tillmesh-app"\n\n[printer]\nkind = "file"\nfile = "/dev/usb/lp0"\n')
    copy = tomllib.loads(copy_settings(live, {"api_socket": "/tmp/x/api/api.sock",
                                              "key_file": '/var/lib/"tm"/secrets/db.key'}))
    assert copy == {"api_socket": "/tmp/x/api/api.sock",
                    "key_file": '/var/lib/"tm"/secrets/db.key', "node_id": "C01",
                    "api_group": "tillmesh-app",
                    "printer": {"kind": "file", "file": "/dev/usb/lp0"}}
