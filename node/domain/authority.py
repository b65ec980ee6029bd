"""Who may change who belongs to the store, judged the same way on every replica. Pure.

Users and counters are a fold over the store's changes to them (``user.upserted``,
``node.enrolled``, ``node.revoked``, ``node.signing_key``) taken in HLC order, so every
replica that holds the same events holds the same users and counters, whatever order
they arrived in. A signed change is applied only when, at its stamp, its counter was an
enrolled, unrevoked member and the user it names (``by``) was an enabled admin; otherwise
it is refused: kept in the log, never applied, listed for admins. Two changes start a
store: the first counter enrolling itself, and the first admin it creates.

The store's allowed releases (``releases.allowed``, ``domain.releases``) are judged the
same way, as they stop counters from selling: the latest one applied stands.

Unsigned changes were recorded before events were signed; they are trusted, as they
were then, on the strength of their hash chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tillmesh.node.domain.credentials import check_hash
from tillmesh.node.domain.releases import Hold, check_releases
from tillmesh.node.domain.roles import Role
from tillmesh.node.errors import ValidationError

USER_UPSERTED = "user.upserted"
ENROLLED = "node.enrolled"
REVOKED = "node.revoked"
SIGNING_KEY = "node.signing_key"  # a counter made before signatures announces its key
RELEASES = "releases.allowed"  # the releases that may sell in the store (domain.releases)
KINDS = (USER_UPSERTED, ENROLLED, REVOKED, SIGNING_KEY, RELEASES)
MANAGER = Role.ADMIN  # user management and the store's counters: admins, on every replica


@dataclass(frozen=True)
class Change:
    """One event of ``KINDS`` as the fold reads it."""

    hlc: int
    origin: str
    seq: int
    kind: str
    body: Mapping[str, Any]
    signed: bool


@dataclass(frozen=True)
class UserState:
    user: str
    full_name: str
    role: str
    secret_kind: str
    secret_hash: str
    disabled: bool
    hlc: int
    origin: str


@dataclass(frozen=True)
class MemberState:
    node: str
    public_key: str | None  # CurveZMQ, z85; None for an id revoked before it was enrolled
    signing_key: bytes | None  # Ed25519; None for a counter made before signatures
    enrolled_by: str | None
    endpoint: str | None
    hlc: int
    revoked: bool
    last_seq: int | None  # a revoked counter's last event the store accepts


@dataclass(frozen=True)
class Refused:
    origin: str
    seq: int
    kind: str
    hlc: int
    reason: str


@dataclass(frozen=True)
class Store:
    users: dict[str, UserState]
    members: dict[str, MemberState]
    refused: tuple[Refused, ...]
    releases: Hold | None = None  # the allowed releases; None: never set (any release)


def fold(changes: Iterable[Change]) -> Store:
    """Users, counters and refused changes, from the store's changes in any order.

    A revoked counter's changes after the last one its revocation names are refused
    whatever their stamp (a thief can stamp the past); since that can refuse a change a
    revocation rested on, the fold runs again until the revocations it finds stay put."""
    ordered = sorted(changes, key=lambda c: (c.hlc, c.origin, c.seq))
    cut: dict[str, int | None] = {}
    for _ in range(len(ordered) + 1):  # each round keeps or ends a revocation: bounded
        store = _fold(ordered, cut)
        found = {m.node: m.last_seq for m in store.members.values() if m.revoked}
        if found == cut:
            break
        cut = found
    return store


def _fold(ordered: list[Change], cut: Mapping[str, int | None]) -> Store:
    users: dict[str, UserState] = {}
    members: dict[str, MemberState] = {}
    refused: list[Refused] = []
    releases: Hold | None = None
    for change in ordered:
        reason = _problem(change, users, members)
        if reason is None and change.signed and change.origin in cut and (
                cut[change.origin] is None or change.seq > (cut[change.origin] or 0)):
            reason = f"{change.origin} was revoked"
        if reason is not None:
            refused.append(Refused(change.origin, change.seq, change.kind, change.hlc, reason))
        elif change.kind == RELEASES:
            by = change.body.get("by")
            releases = Hold(check_releases(change.body["releases"]),
                            None if by is None else str(by), change.origin, change.hlc)
        else:
            _apply(change, users, members)
    return Store(users, members, tuple(refused), releases)


def _problem(change: Change, users: Mapping[str, UserState],
             members: Mapping[str, MemberState]) -> str | None:
    body = change.body
    try:
        if change.kind == USER_UPSERTED:
            check_hash(str(body["secret_hash"]))  # a hostile hash must not reach login
            Role(str(body["role"]))
        if change.kind == RELEASES:
            check_releases(body["releases"])
    except (KeyError, ValueError, ValidationError) as exc:
        return f"malformed {change.kind}: {exc}"
    enrolled = members.get(str(body.get("node")))
    if change.kind == ENROLLED and enrolled is not None and enrolled.public_key is not None:
        # A counter's keys are for good: a second enrolment would hand its name, and the
        # power to write its events, to another key. A new machine joins under a new id.
        return f"{enrolled.node} is enrolled already (by {enrolled.enrolled_by})"
    if not change.signed:
        return None
    if change.kind == ENROLLED and body.get("node") == change.origin and not members:
        return None  # the store's first counter
    member = members.get(change.origin)
    if member is None or member.public_key is None:
        return f"{change.origin} was not a counter of this store"
    if member.revoked and (member.last_seq is None or change.seq > member.last_seq):
        return f"{change.origin} was revoked"
    if change.kind == SIGNING_KEY:
        if body.get("node") != change.origin or member.signing_key is not None:
            return f"{change.origin} may announce only its own first signing key"
        return None
    if change.kind == USER_UPSERTED and not users and member.enrolled_by == change.origin:
        return None  # the first admin, created with the store
    actor = users.get(str(body.get("by")))
    if actor is None or actor.disabled or actor.role != MANAGER.value:
        return (f"{change.kind} by {body.get('by')!r}, who was not an enabled "
                f"{MANAGER.value} then")
    return None


def _apply(change: Change, users: dict[str, UserState],
           members: dict[str, MemberState]) -> None:
    body = change.body
    if change.kind == USER_UPSERTED:
        users[str(body["user"])] = UserState(
            str(body["user"]), str(body["full_name"]), str(body["role"]),
            str(body["secret_kind"]), str(body["secret_hash"]),
            bool(body.get("disabled", False)), change.hlc, change.origin)
        return
    node = str(body["node"])
    held = members.get(node) or MemberState(node, None, None, None, None, 0, False, None)
    if change.kind == ENROLLED:
        key = body.get("signing_key")
        members[node] = replace(held, public_key=str(body["public_key"]),
                                signing_key=bytes(key) if key else None,
                                enrolled_by=change.origin, endpoint=body.get("endpoint"),
                                hlc=change.hlc)
    elif change.kind == REVOKED and not held.revoked:  # for good; the first one names the end
        last = body.get("last_seq")
        members[node] = replace(held, revoked=True,
                                last_seq=None if last is None else int(last))
    elif change.kind == SIGNING_KEY:
        members[node] = replace(held, signing_key=bytes(body["key"]))
