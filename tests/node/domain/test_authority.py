"""Who may change users and counters, judged alike on every replica: the fold of
``domain.authority`` over the changes, whatever order they arrived in."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tillmesh.node.domain.authority import (
    ENROLLED,
    REVOKED,
    SIGNING_KEY,
    USER_UPSERTED,
    Change,
    fold,
)
from tillmesh.node.domain.credentials import hash_secret

HASH = hash_secret("1234")  # one argon2id hash serves every user here (it is slow to make)


def user(hlc: int, origin: str, seq: int, name: str, role: str, by: str | None,
         signed: bool = True, disabled: bool = False) -> Change:
    return Change(hlc, origin, seq, USER_UPSERTED, {
        "user": name, "full_name": name.title(), "role": role, "secret_kind": "pin",
        "secret_hash": HASH, "disabled": disabled, "by": by}, signed)


def enrolled(hlc: int, origin: str, seq: int, node: str, by: str | None) -> Change:
    return Change(hlc, origin, seq, ENROLLED, {"node": node, "public_key": "k" * 40,
                                               "signing_key": node.encode() * 8, "by": by},
                  True)


def founding() -> list[Change]:
    """C01 starts the store with admin Ann, and enrols C02 (Ann's invite)."""
    return [enrolled(1, "C01", 1, "C01", "ann"), user(2, "C01", 2, "ann", "admin", None),
            enrolled(3, "C01", 3, "C02", "ann")]


def test_the_store_starts_with_its_first_counter_and_first_admin():
    store = fold(founding())
    assert set(store.members) == {"C01", "C02"} and store.members["C02"].enrolled_by == "C01"
    assert store.users["ann"].role == "admin" and store.refused == ()


def test_a_counter_cannot_make_a_user_admin_in_the_name_of_a_cashier():
    changes = [*founding(), user(4, "C01", 4, "bob", "cashier", "ann"),
               user(5, "C02", 1, "bob", "admin", "bob")]  # bob promotes himself
    store = fold(changes)
    assert store.users["bob"].role == "cashier"
    (refused,) = store.refused
    assert (refused.origin, refused.seq) == ("C02", 1)
    assert "'bob', who was not an enabled admin then" in refused.reason


def test_a_counter_nobody_enrolled_changes_nothing():
    store = fold([*founding(), user(4, "ZZ9", 1, "mallory", "admin", "ann")])
    assert "mallory" not in store.users
    assert store.refused[0].reason == "ZZ9 was not a counter of this store"


def test_a_revoked_counter_stands_up_to_its_last_named_event():
    revoke = Change(10, "C01", 4, REVOKED, {"node": "C02", "by": "ann", "last_seq": 1}, True)
    store = fold([*founding(), user(5, "C02", 1, "cat", "cashier", "ann"), revoke,
                  user(6, "C02", 2, "dan", "cashier", "ann")])  # stamped before, made after
    assert "cat" in store.users and "dan" not in store.users
    assert store.members["C02"].revoked
    assert store.refused[0].reason == "C02 was revoked"


def test_a_disabled_or_demoted_admin_can_no_longer_change_users():
    changes = [*founding(), user(4, "C01", 4, "eve", "admin", "ann"),
               user(5, "C01", 5, "eve", "admin", "ann", disabled=True),
               user(6, "C02", 1, "fay", "admin", "eve")]
    store = fold(changes)
    assert "fay" not in store.users


def test_changes_recorded_before_signatures_are_trusted_on_their_chain():
    store = fold([*founding(), user(4, "C02", 1, "gus", "admin", None, signed=False)])
    assert store.users["gus"].role == "admin" and store.refused == ()


def test_a_counter_announces_only_its_own_first_signing_key():
    legacy = Change(4, "C01", 4, ENROLLED, {"node": "C03", "public_key": "k" * 40, "by": "ann"},
                    True)
    own = Change(5, "C03", 1, SIGNING_KEY, {"node": "C03", "key": b"3" * 32}, True)
    again = Change(6, "C03", 2, SIGNING_KEY, {"node": "C03", "key": b"4" * 32}, True)
    other = Change(7, "C02", 1, SIGNING_KEY, {"node": "C01", "key": b"5" * 32}, True)
    store = fold([*founding(), legacy, own, again, other])
    assert store.members["C03"].signing_key == b"3" * 32
    assert store.members["C01"].signing_key == b"C01" * 8
    assert [r.seq for r in store.refused] == [2, 1]


NAMES = ("ann", "bob", "cat", "dan")
ROLES = ("cashier", "supervisor", "admin")


@st.composite
def histories(draw: st.DrawFn) -> list[Change]:
    """A store's changes: users made and changed on two counters by anyone (admin or not),
    some revocations, in stamp order as the counters made them."""
    changes = founding()
    seqs = {"C01": 3, "C02": 0}
    for hlc in range(4, 4 + draw(st.integers(0, 12))):
        origin = draw(st.sampled_from(("C01", "C02")))
        seqs[origin] += 1
        if draw(st.integers(0, 9)) == 0:
            changes.append(Change(hlc, origin, seqs[origin], REVOKED, {
                "node": draw(st.sampled_from(("C01", "C02"))), "by": "ann",
                "last_seq": draw(st.integers(0, 4))}, True))
            continue
        changes.append(user(hlc, origin, seqs[origin], draw(st.sampled_from(NAMES)),
                            draw(st.sampled_from(ROLES)), draw(st.sampled_from(NAMES)),
                            disabled=draw(st.booleans())))
    return changes


@settings(max_examples=200, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_every_replica_holds_the_same_users_and_counters_whatever_the_arrival_order(
        changes: list[Change], rnd: random.Random) -> None:
    arrived = list(changes)
    rnd.shuffle(arrived)
    assert fold(arrived) == fold(changes)
    half = len(arrived) // 2  # a replica that got half, then the rest
    assert fold(arrived[:half] + arrived[half:]) == fold(changes)


@settings(max_examples=200, deadline=None)
@given(histories())
def test_only_enabled_admins_of_the_moment_change_users(changes: list[Change]) -> None:
    store = fold(changes)
    refused = {(r.origin, r.seq) for r in store.refused}
    admins_then: dict[str, bool] = {}
    for change in sorted(changes, key=lambda c: (c.hlc, c.origin, c.seq)):
        if change.kind != USER_UPSERTED or (change.origin, change.seq) in refused:
            continue
        by = change.body["by"]
        assert by is None or admins_then.get(by), f"{change} applied by a non-admin"
        admins_then[change.body["user"]] = (change.body["role"] == "admin"
                                             and not change.body["disabled"])


def test_a_counter_is_enrolled_once_and_its_keys_stay():
    """Enrolling C02 again, even in an admin's name, would hand its name (and the power to
    write its events) to another key: refused, the first keys stay."""
    again = Change(4, "C01", 4, ENROLLED, {"node": "C02", "public_key": "m" * 40,
                                           "signing_key": b"m" * 32, "by": "ann"}, True)
    store = fold([*founding(), again])
    assert store.members["C02"].signing_key == b"C02" * 8
    assert store.members["C02"].public_key == "k" * 40
    (refused,) = store.refused
    assert (refused.origin, refused.seq, refused.reason) == (
        "C01", 4, "C02 is enrolled already (by C01)")
