"""Where this counter stands in the store, in words for the cashier and for IT.

    active    linked to the others (or the only counter of the store)
    revoked   an admin removed it for good: the store takes nothing it records any more,
              so it starts no cart and no sale (held carts can still be read)
    paused    an admin paused its replication (``replication_pause``): it sells on its
              own and shares its sales when replication is resumed
    cut off   other counters are known but none was heard for ``CUT_OFF_S``; when they
              answer but refuse its key (revoked without it hearing so, or not yet known
              there), the reason says that
    refused   every other counter has refused its key for ``refused_stop_s`` (config): it
              was revoked while it was away, or never let in; what it sells could never
              reach the store, so it stops selling as a revoked counter does (a refusal
              is an answer from the holder of the peer's key, never a silence)
    catching_up  restored from a backup: it records nothing until every other counter has
              linked to it and given back what it recorded after the backup
              (``store.backup_restored``); one every other counter refuses is refused
    release_not_allowed  the store's allowed releases (an admin's ``tillmesh releases
              allow``, ``domain.releases``) leave out the release it runs: it does not go
              live, so it sells nothing, and still replicates to hear when that changes

ERPNext being unreachable is not part of it: that is the forwarder's business and
``erpnext_status`` says so. A counter learns it was revoked when the revocation reaches
its log (a peer pushes it, or relays it before cutting it off); a counter that was away
then only sees the others refuse it, and says so.

``judge`` is pure. ``Link`` is what replication reports of the other counters
(``Replication.link``); ``check_selling`` is the guard of the selling methods.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tillmesh.node.domain.releases import Hold, allows, short_refusal
from tillmesh.node.errors import PermissionDenied
from tillmesh.node.membership.const import CUT_OFF_S
from tillmesh.node.membership.release import RELEASE
from tillmesh.node.ops.const import REFUSED_STOP_S
from tillmesh.node.projections.membership import Revocation, allowed_releases, revocation_of


class State(enum.Enum):
    ACTIVE = "active"
    REVOKED = "revoked"
    PAUSED = "paused"
    CUT_OFF = "cut_off"
    REFUSED = "refused"
    CATCHING_UP = "catching_up"
    NOT_ALLOWED = "release_not_allowed"


@dataclass(frozen=True)
class Link:
    """What replication knows of the other counters right now."""

    known: tuple[str, ...]  # the other counters (enrolled, not revoked) it would dial
    live: tuple[str, ...]  # those heard within the peer timeout
    refusing: tuple[str, ...]  # those that answer but refused this counter's key
    last_heard: datetime  # when another counter was last heard (or replication started)
    paused_at: datetime | None  # replication paused by an admin since then, or None
    refused_since: datetime | None = None  # since when every known counter refuses us


@dataclass(frozen=True)
class Standing:
    state: State
    reason: str  # why, and what it means for selling; "" when active and linked
    since: datetime | None  # when it came to this state, when known
    revocation: Revocation | None = None
    refused_by: tuple[str, ...] = ()

    @property
    def selling(self) -> bool:
        return self.state not in (State.REVOKED, State.REFUSED, State.CATCHING_UP,
                                  State.NOT_ALLOWED)

    def to_wire(self) -> dict[str, Any]:
        revoked = self.revocation
        return {"state": self.state.value, "reason": self.reason, "since": self.since,
                "selling": self.selling, "refused_by": list(self.refused_by),
                "revoked_by": revoked.by if revoked else None,
                "revoked_on": revoked.counter if revoked else None}


def revoked_reason(revocation: Revocation) -> str:
    by = revocation.by or "an admin"
    return (f"This counter was revoked by {by} (on {revocation.counter}): the store takes "
            "nothing it records any more, so it cannot sell. Held carts can still be "
            "read; sell at another counter.")


def judge(revocation: Revocation | None, link: Link | None, now: datetime,
          cut_off_after: timedelta = timedelta(seconds=CUT_OFF_S),
          stop_after: timedelta = timedelta(seconds=REFUSED_STOP_S),
          held: str | None = None,
          unallowed: tuple[str, datetime] | None = None) -> Standing:
    """Where a counter stands, from its revocation (if any), its replication's view
    (None: replication does not run here, as in a test or a tool) and why its log records
    nothing of its own (``held``: restored from a backup, not caught up yet); when the
    store's allowed releases leave out its own, why and since when (``unallowed``)."""
    if revocation is not None:
        return Standing(State.REVOKED, revoked_reason(revocation), revocation.at, revocation,
                        link.refusing if link else ())
    refusing = tuple(n for n in link.known if n in link.refusing) if link else ()
    # refused before held, as ``check_selling``: a revoked counter restored from a backup
    # made before it heard so would otherwise say "catching up" for ever
    if link and link.refused_since is not None and now - link.refused_since >= stop_after:
        return Standing(State.REFUSED, refused_reason(refusing), link.refused_since,
                        refused_by=refusing)
    if held is not None:
        return Standing(State.CATCHING_UP, held, None)
    if unallowed is not None:
        return Standing(State.NOT_ALLOWED, *unallowed, refused_by=link.refusing if link else ())
    if link is None:
        return Standing(State.ACTIVE, "", None)
    if link.paused_at is not None:
        return Standing(State.PAUSED, "An admin paused replication on this counter: it "
                        "sells on its own and shares its sales when replication is "
                        "resumed.", link.paused_at, refused_by=refusing)
    silent = now - link.last_heard
    refused = _refusal(refusing)
    if link.known and not link.live and refusing == link.known:  # an answer, not a silence
        return Standing(State.CUT_OFF, refused + " What it sells stays on it until IT lets "
                        "it in again.", link.last_heard, refused_by=refusing)
    if link.known and not link.live and silent >= cut_off_after:
        quiet = tuple(n for n in link.known if n not in refusing)
        why = (f"No other counter heard for {_duration(silent)} ({_names(quiet)}): this "
               "counter sells on its own and shares its sales when they are back. Returns "
               "of their sales need a supervisor.")
        return Standing(State.CUT_OFF, " ".join(filter(None, (why, refused))),
                        link.last_heard, refused_by=refusing)
    return Standing(State.ACTIVE, refused, None, refused_by=refusing)


def refused_reason(refusing: tuple[str, ...]) -> str:
    return (f"Every other counter ({_names(refusing)}) refuses this counter's key: it was "
            "most likely revoked while it was away. It stops selling, as its sales could "
            "never reach the store; IT: `tillmesh peers` on another counter.")


@dataclass(frozen=True)
class SellingFold:
    """What the membership fold says of this counter's selling: its revocation, and the
    releases the store allows (None: any)."""

    revocation: Revocation | None
    hold: Hold | None


def selling_fold(session: Session, node: str) -> SellingFold:
    return SellingFold(revocation_of(session, node), allowed_releases(session))


def check_selling(fold: SellingFold, refused_since: datetime | None, now: datetime,
                  stop_after: timedelta, held: str | None = None) -> None:
    """Refuse a new cart, sale, refund or drawer movement on a revoked, refused or
    catching-up counter, or one whose release the store does not allow (PermissionDenied,
    saying why; short: it shows in the message line, the reason on the Store screen)."""
    revocation = fold.revocation
    if revocation is not None:
        raise PermissionDenied(f"This counter was revoked by {revocation.by or 'an admin'} "
                               f"(on {revocation.counter}): it cannot sell any more",
                               counter_state=State.REVOKED.value)
    if refused_since is not None and now - refused_since >= stop_after:
        raise PermissionDenied("Every other counter refuses this counter's key (revoked "
                               "while away?): it cannot sell any more",
                               counter_state=State.REFUSED.value)
    if held is not None:
        raise PermissionDenied("This counter was restored from a backup and waits for "
                               "every other counter to link and give back its later sales: "
                               "it cannot sell yet",
                               counter_state=State.CATCHING_UP.value)
    hold = fold.hold
    if hold is not None and not allows(hold, RELEASE):
        raise PermissionDenied(short_refusal(hold, RELEASE),
                               counter_state=State.NOT_ALLOWED.value)


def _refusal(refusing: tuple[str, ...]) -> str:
    if not refusing:
        return ""
    return (f"{_names(refusing)} refuse{'s' if len(refusing) == 1 else ''} this counter's "
            "key: it was probably revoked, or is not known there yet.")


def _names(nodes: tuple[str, ...]) -> str:
    return ", ".join(nodes[:-1]) + (" and " if len(nodes) > 1 else "") + nodes[-1]


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds()) // 60
    if minutes < 1:
        return f"{int(span.total_seconds())} s"
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"
