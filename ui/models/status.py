"""The store status screen's content, from ``counter_state``, ``peers``,
``erpnext_status``, ``exceptions_list`` and ``printer_status``, and the banner of where
this counter stands. Qt-free.

The ERPNext, exceptions and printer methods are newer than some nodes: a method the node
does not have (``UnknownMethod``) reads :data:`NOT_AVAILABLE`, never an error. Their
answers are read leniently (a missing field shows as "—"), so a node that adds fields does
not break the screen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tillmesh.ui.models.clock import DASH as DASH  # the screens take these two from here
from tillmesh.ui.models.clock import when as when

NOT_AVAILABLE = "not available on this node"


def _text(value: object) -> str:
    if value is None or value == "":
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or DASH
    return str(value)


# --- this counter ---------------------------------------------------------------------------

_STATES = {"active": "active", "revoked": "REVOKED", "paused": "replication paused",
           "cut_off": "CUT OFF", "refused": "REFUSED by the store",
           "catching_up": "RESTORED, catching up",
           "release_not_allowed": "NOT LIVE: release not allowed"}


def counter_banner(state: Mapping[str, Any]) -> tuple[str, str] | None:
    """The banner while this counter is revoked, refused, catching up after a restore,
    paused or cut off (``counter_state``): (text, level), or None when it is active.
    Short, as it shares the strip; the Store screen says why. Refused by every other
    counter is an error, like revoked: what it sells cannot reach the store."""
    kind = state.get("state")
    if kind == "revoked":
        by = state.get("revoked_by") or "an admin"
        return f"Revoked by {by}: this counter cannot sell — see Store", "error"
    if kind == "refused":
        return ("Every other counter refuses this one: it cannot sell — see Store",
                "error")
    if kind == "catching_up":
        return ("Restored from a backup: no selling until every other counter has linked "
                "— see Store", "error")
    if kind == "release_not_allowed":
        return (f"Release {_text(state.get('release'))} is not allowed in this store: this "
                "counter cannot sell — see Store", "error")
    if kind == "paused":
        return "Replication paused: sales stay on this counter — see Store", "warn"
    if kind == "cut_off" and state.get("refused_by"):
        return (f"Refused by {_text(state['refused_by'])}: sales stay on this counter — "
                "see Store", "error")
    if kind == "cut_off":
        return "Cut off from the other counters: selling goes on — see Store", "warn"
    return None


def counter_rows(state: Mapping[str, Any], now: datetime | None = None,
                 ) -> list[tuple[str, str]]:
    """(label, value) rows of ``counter_state`` for the Store screen: the state, why,
    since when (in the store's zone), who revoked it, its release and the releases the
    store allows (a node of an earlier release says neither: no rows)."""
    rows = [("Counter", _text(state.get("node"))),
            ("State", _STATES.get(str(state.get("state")), _text(state.get("state")))),
            ("Sells", _text(state.get("selling")))]
    if state.get("since"):
        rows.append(("Since", when(state.get("since"), now)))
    if state.get("revoked_by") or state.get("revoked_on"):
        rows.append(("Revoked by", f"{_text(state.get('revoked_by'))} on "
                     f"{_text(state.get('revoked_on'))}"))
    if state.get("refused_by"):
        rows.append(("Refused by", _text(state.get("refused_by"))))
    if "release" in state:
        rows.append(("Release", release_text(state)))
    if "allowed_releases" in state:
        rows.append(("Store allows", _text(state["allowed_releases"]) if
                     state["allowed_releases"] else "any release"))
    return rows


def release_text(said: Mapping[str, Any]) -> str:
    """A counter's release, protocol and store schema in a few characters ("0.2.0 ·
    protocol 5 · schema 1"); "—" for what it did not say (a release before protocol 5)."""
    parts = [_text(said.get("release"))]
    parts += [f"protocol {said['protocol']}"] if said.get("protocol") else []
    parts += [f"schema {said['schema']}"] if said.get("schema") else []
    return " · ".join(parts)


# --- the other counters --------------------------------------------------------------------

@dataclass(frozen=True)
class PeerRow:
    node: str
    live: bool
    state: str
    lag: str
    heard: str
    skew: str
    refused: bool = False  # it refuses this counter's key: nothing reaches it
    release: str = DASH  # release, protocol and schema as it said them (release_text)

    @property
    def reach(self) -> str:
        """The Live column: a counter that refuses this one is never shown as live."""
        return "REFUSES US" if self.refused else "live" if self.live else "NOT HEARD"


def peer_rows(peers: Sequence[Mapping[str, Any]]) -> list[PeerRow]:
    rows = []
    for p in peers:
        behind, ahead = int(p.get("behind") or 0), int(p.get("ahead") or 0)
        # Said from where each side stands: "12 behind" read as the peer being behind.
        lag = "; ".join([*([f"we lack {behind:,}"] if behind else []),
                         *([f"it lacks {ahead:,}"] if ahead else [])]) or "in sync"
        heard = p.get("heard_ms_ago")
        skew = p.get("skew_ms")
        rows.append(PeerRow(
            node=str(p.get("node", "?")),
            live=bool(p.get("live")) and not p.get("refused"),
            state=_text(p.get("state")),
            lag=lag,
            heard=DASH if heard is None else f"{int(heard) / 1000:.1f} s ago",
            skew=(DASH if skew is None else f"{int(skew):+d} ms"
                  + (" (clock skew!)" if p.get("skew_warning") else "")),
            refused=bool(p.get("refused")),
            release=release_text(p),
        ))
    return rows


def _section(status: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = status.get(key)
    return value if isinstance(value, Mapping) else {}


def erpnext_rows(status: Mapping[str, Any], now: datetime | None = None,
                 deliveries: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """(label, value) rows of ``erpnext_status``: the forwarder's view, and the link's
    settings and last master-data pull where the node reports them. Pending and failed
    deliveries come from ``deliveries_pending`` when ``erpnext_status`` lacks them."""
    if deliveries:
        counts = deliveries.get("pending")
        status = {"pending": sum(counts.values()) if isinstance(counts, Mapping) else counts,
                  "failed": deliveries.get("failed"), "late": deliveries.get("late"),
                  **status}
    forwarder = status.get("forwarder")
    if isinstance(forwarder, Mapping):
        forwarder = forwarder.get("node") or forwarder.get("name")
    settings = _section(status, "settings")
    pull = _section(status, "pull")
    configured = status.get("configured")
    if configured is None and settings:
        configured = bool(settings.get("url"))
    rows = [
        ("ERPNext configured", _text(configured)),
        ("ERPNext reachable", _text(status.get("reachable"))),
        ("Forwarder", _text(forwarder)),
        ("Last successful delivery", when(status.get("last_delivery"), now)),
        ("Pending deliveries", _text(status.get("pending"))),
        ("Failed deliveries", _text(status.get("failed"))),
    ]
    if status.get("late"):  # owed and counted as pending, but waiting for a supervisor
        rows.append(("Late sales to reconcile", _text(status["late"])))
    if settings.get("url"):
        rows.append(("ERPNext", _text(settings["url"])))
    if pull:
        rows.append(("Last master-data pull", f"{_text(pull.get('state'))} "
                     f"{when(pull.get('finished_at'), now) if pull.get('finished_at') else ''}"
                     .strip()))
    return rows


def erpnext_note(status: Mapping[str, Any]) -> str:
    """One line above the rows: why the link is not set up, or that deliveries need help."""
    error = _section(status, "settings").get("error")
    if error:
        return str(error)
    if status.get("reachable") is False or status.get("failed"):
        return "Deliveries need attention: see the exceptions queue"
    return ""


@dataclass(frozen=True)
class ExceptionRow:
    id: str  # what exception_retry / exception_resolve take ("DOCTYPE/NAME")
    document: str
    message: str
    tries: str
    state: str


def exception_rows(items: Sequence[Mapping[str, Any]]) -> list[ExceptionRow]:
    """``exceptions_list``: ERPNext's own words, with its HTTP status and error type."""
    rows = []
    for e in items:
        kind = " ".join(str(e[k]) for k in ("status", "exc_type") if e.get(k))
        message = _text(e.get("message"))
        rows.append(ExceptionRow(
            id=str(e.get("id", "")),
            document=" ".join(str(e[k]) for k in ("doctype", "name") if e.get(k)) or DASH,
            message=f"{message} ({kind})" if kind else message,
            tries=_text(e.get("failures")),
            state=" · ".join(str(e[k]) for k in ("state", "stage") if e.get(k)) or DASH,
        ))
    return rows


def printer_problem(status: Mapping[str, Any] | None) -> str | None:
    """A short banner text when receipts are not printing, else None.

    From ``printer_status`` (node.printing: ``kind``, ``state``, ``online``,
    ``last_error``, ``pending``, ``retry_in_s``). No printer configured (kind "none") is
    a choice, not a problem. A printer that is off never blocks a sale: its jobs wait in
    the node's queue and this banner says so.
    """
    if not isinstance(status, Mapping) or status.get("kind") == "none":
        return None
    state = str(status.get("state", "")).lower()
    failing = (state in ("waiting", "error", "offline", "closed") or status.get("online") is False
               or status.get("ok") is False)
    if not failing:
        return None
    detail = status.get("last_error") or status.get("message") or "not answering"
    pending = int(status.get("pending") or 0)
    waiting = f"; {pending} job{'s' if pending != 1 else ''} waiting" if pending else ""
    retry = status.get("retry_in_s")
    again = f", next try in {float(retry):.0f} s" if isinstance(retry, int | float) else ""
    return f"Printer: {detail}{waiting}{again}"


def printer_rows(status: Mapping[str, Any], now: datetime | None = None,
                 ) -> list[tuple[str, str]]:
    """The fields of ``printer_status`` a supervisor acts on (node.printing's QueueStatus)."""
    known = (("printer", "Printer"), ("state", "State"), ("online", "Online"),
             ("pending", "Jobs waiting"), ("last_printed_at", "Last printed"),
             ("last_error", "Last error"))
    return [(title, when(status.get(key), now) if key.endswith("_at") else _text(status.get(key)))
            for key, title in known if key in status]


def security_rows(status: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(event, what, why) of ``security_status``: forks first, then events refused from
    peers, then membership changes no counter applies."""
    events = [(str(r.get("event")), f"from {r.get('origin')}", str(r.get("why")))
              for r in status.get("refused_events") or ()]
    forks = [(f"{f.get('origin')}:{f.get('seq')}", "fork",
              f"{f.get('origin')}'s chain exists in two versions ({f.get('event')} is not "
              f"ours): its key is in two places; revoke {f.get('origin')}")
             for f in status.get("forks") or ()]
    changes = [(str(r.get("event")), str(r.get("kind")), str(r.get("why")))
               for r in status.get("refused_changes") or ()]
    return forks + events + changes
