"""The one open POS Opening Entry that ERPNext 16 holds per POS Profile, kept by the
forwarder for the whole store when it delivers per sale (``outbox.by_session``).

ERPNext 16 takes a sale only while its POS Profile has exactly one Open opening entry,
started on the server's today ("POS Opening Entry - X is outdated…" otherwise), and holds
one per user: a store's counters cannot each have theirs under one profile and one API
user. So the forwarder opens one when a sale needs it (``TM-<local time>-<random>-
<profile>``, by its ERPNext user), and sales of every counter go under it; each shift's
closing closes it (``_forwarder``: a closing lists every invoice delivered since the
last one). One left from an earlier day is closed with an empty closing before today's
is opened. One found open in ERPNext (opened by another forwarder, or by this one before
a restart) is used if it is Tillmesh's user's; one of another user is refused with what
to do.

Tillmesh's shifts stay its own: the cash is counted per shift, and each shift's closing
carries that count (``documents.closing_entry``).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from tillmesh.node.erpnext import _delivery as delivery
from tillmesh.node.erpnext import _documents as documents
from tillmesh.node.erpnext._delivery import TRANSIENT, Refused
from tillmesh.node.erpnext._rest import ErpNextClient
from tillmesh.node.errors import ErpNextError
from tillmesh.node.projections.outbox import OPENING

PREFIX = "TM"
# ERPNext 16's refusals of a sale whose opening entry has gone: outdated at midnight, or
# closed by a closing whose consolidation ran in the background meanwhile.
_GONE = ("is outdated", "No open POS Opening Entry")


@dataclass(frozen=True)
class Opening:
    name: str
    day: date  # of its start, in the site's time zone


def gone(refused: Refused) -> bool:
    """Whether ERPNext refused a sale for its opening entry only (open another, retry)."""
    return any(words in refused.message for words in _GONE)


class Sessions:
    """The opening entry in use, shared by the forwarder's request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: Opening | None = None

    def current(self, client: ErpNextClient, site: documents.Site, modes: Iterable[str],
                clock: datetime) -> str:
        """The name of an Open opening entry of today for ``site``'s profile: the one in
        use, one found open in ERPNext, or a new one. ``clock``: the counter's time (the
        server's day is the site's; a counter a moment off at midnight is told so by
        ERPNext, ``gone``, and asks again)."""
        now = clock.astimezone(ZoneInfo(site.timezone))
        with self._lock:
            if self._open is None or self._open.day != now.date():
                self._open = self._find(client, site, now) or self._new(client, site, now,
                                                                       modes)
            return self._open.name

    def forget(self) -> None:
        """The opening in use was closed (or ERPNext says it is gone): look again."""
        with self._lock:
            self._open = None

    def _find(self, client: ErpNextClient, site: documents.Site, now: datetime
              ) -> Opening | None:
        found = None
        for row in client.get_list(OPENING, fields=["name", "user", "period_start_date"],
                                   filters=[["pos_profile", "=", site.pos_profile],
                                            ["status", "=", "Open"], ["docstatus", "=", 1]],
                                   order_by="period_start_date asc", page_length=0):
            name, user = str(row["name"]), str(row.get("user") or "")
            if user != site.user:
                raise Refused(
                    f"POS Profile {site.pos_profile} has an open POS Opening Entry {name} of"
                    f" {user or 'another user'}: ERPNext 16 holds one open per profile, and"
                    " Tillmesh keeps its own open for the store's sales. Close that one in"
                    " ERPNext (or give Tillmesh a POS Profile of its own), then retry",
                    stage="prerequisite", exc_type="ProfileOpenElsewhere")
            started = datetime.fromisoformat(str(row["period_start_date"])).date()
            if started == now.date():
                found = Opening(name, started)
            else:  # from an earlier day: ERPNext refuses every sale under it
                _close_empty(client, site, name, started, now)
        return found

    def _new(self, client: ErpNextClient, site: documents.Site, now: datetime,
             modes: Iterable[str]) -> Opening:
        # Never one a moment ago closed: a 409 on it would look like this one taken.
        name = f"{PREFIX}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}-{site.pos_profile}"[:140]
        opened = {"shift": name, "opened_at": now.isoformat(), "opening": {},
                  "pos_profile": site.pos_profile}
        doc = documents.opening_entry(opened, counter="", site=site,
                                      origin_event=f"opened by the forwarder as {name}",
                                      name=name, modes=modes)
        try:
            client.insert(OPENING, doc)
        except TRANSIENT:
            raise
        except ErpNextError as exc:
            # Another forwarder opened one a moment ago ("… is open"): use that one.
            if (found := self._find(client, site, now)) is not None:
                return found
            raise Refused.of(exc, "opening") from exc
        return Opening(name, now.date())


def _close_empty(client: ErpNextClient, site: documents.Site, opening: str, started: date,
                 now: datetime) -> None:
    """Close an opening entry of an earlier day with a closing that lists nothing: what
    was delivered under it waits for the next shift's closing, which lists it."""
    opened = {"shift": opening, "opened_at": datetime(
        started.year, started.month, started.day, tzinfo=now.tzinfo).isoformat(),
              "opening": {}, "pos_profile": site.pos_profile}
    closed = {"shift": opening, "closed_at": now.isoformat(), "counted": {}, "expected": {}}
    doc = documents.closing_entry(opened, closed, [], site=site,
                                  origin_event=f"closed by the forwarder as {opening}-END",
                                  opening_name=opening, name=f"{opening}-END")
    delivery.close(client, doc, retrying=True, retried=set(), caps=site.caps)

