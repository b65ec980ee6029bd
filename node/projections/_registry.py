"""Projections: tables that are pure functions of the event set.

Each domain module registers a handler per event kind with ``@projector(kind)``. The
event log calls ``apply_all`` in the same transaction as the event's insert, and ``rebuild``
empties every projection table and replays the whole log.

Handlers must give the same tables whatever the order of events across origins (each
origin's own events always arrive in seq order): they accumulate, upsert or use
last-writer-wins, and never assume another origin's event came first.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from tillmesh.node.projections import deferred
from tillmesh.node.store.base import Base
from tillmesh.node.store.event_codec import Event, unpack_body
from tillmesh.node.store.raw import raw

Handler = Callable[[Session, Event, dict[str, Any]], None]

_HANDLERS: dict[str, list[Handler]] = defaultdict(list)
_FOR_KIND: dict[str, tuple[Handler, ...]] = {}  # ``_handlers_for``'s answers so far


def projector(*kinds: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` for events of these kinds (``audit.*`` matches any audit kind)."""

    def register(fn: Handler) -> Handler:
        for kind in kinds:
            _HANDLERS[kind].append(fn)
        _FOR_KIND.clear()
        return fn

    return register


def _handlers_for(kind: str) -> tuple[Handler, ...]:
    found = _FOR_KIND.get(kind)
    if found is None:  # once per kind: every event asks
        family = kind.split(".", 1)[0] + ".*"
        found = _FOR_KIND[kind] = (*_HANDLERS.get(kind, ()), *_HANDLERS.get(family, ()))
    return found


def apply_all(session: Session, events: Iterable[Event],
              known: Sequence[dict[str, Any] | None] = ()) -> int:
    """Apply ``events`` in order; how many. Rows that only add up are written many
    events at once (``deferred``), and all of them before this returns. ``known``: the
    first events' bodies as ``unpack_body`` gives them, where the one who made them has
    them (``event_codec.pack_known``; None: decode it). Handlers read a body, never
    change it: every handler of the event is given the same one, and so is its maker."""
    count = 0
    for event in events:
        handlers = _handlers_for(event.kind)
        if handlers:
            deferred.before(session, event.kind)
            body = (known[count] if count < len(known) else None) or unpack_body(event.body)
            for handler in handlers:
                handler(session, event, body)
        count += 1
    deferred.flush_all(session)
    return count


def projection_tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.info.get("projection")]


def reset(session: Session) -> None:
    """Drop and re-create every projection table, empty.

    Re-creating (not just emptying) is what lets a new release change a projection's
    columns: `tillmesh rebuild` after the upgrade brings every table to the new shape.
    """
    tables = projection_tables()
    connection = session.connection()
    sql = raw(session)
    (zeroing,) = sql.one("PRAGMA secure_delete")
    # SQLCipher zeroes every freed page (secure_delete on): for these tables, whose rows
    # the replay writes again from the events the store keeps, that hides nothing and
    # cost a rebuild of the bench's 200,000 events 0.4 s of its 11.
    sql.run("PRAGMA secure_delete = FAST")
    try:
        Base.metadata.drop_all(connection, tables=tables)
    finally:
        sql.run(f"PRAGMA secure_delete = {int(zeroing)}")
    Base.metadata.create_all(connection, tables=tables)


def shape() -> str:
    """A fingerprint of every projection table's name, columns and format (this release's).

    A store whose tables were built to another fingerprint is rebuilt from its events when
    this release opens it. Columns alone miss a change in what the rows hold (a key added to
    a packed column): such a table says so with ``info={**PROJECTION, "format": n}``, ``n``
    bumped by the release that changes it. A table never bumped adds nothing, so its part
    is what releases before formats wrote.
    """
    parts = sorted(f"{t.name}{_format(t)}({','.join(f'{c.name}:{c.type}' for c in t.columns)})"
                   for t in projection_tables())
    return hashlib.sha256(";".join(parts).encode()).hexdigest()


def _format(table: Table) -> str:
    version = table.info.get("format")
    return "" if version is None else f"@{version}"
