"""Projection writes kept in the transaction's memory and written many events at once.

A rebuild, a checkpoint and a peer's batch apply thousands of events in one transaction;
rows that only add up (stock counters, the search index) cost one statement per event
if written as each event comes, and one per row of the whole run if gathered first. A
``Deferred`` holds such rows on the session and writes them:

- before the transaction commits (nothing is lost, nothing committed half-written);
- when ``apply_all`` is done with its events, so a read after it sees them;
- before an event of a kind not in ``kept_across``: its handlers may read the table
  (``None``: no handler reads it; the table's own readers flush it, as search does);
- when they reach ``limit`` rows (memory stays bounded however long the run).

A rollback drops them with the transaction's other writes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

Write = Callable[[Session, dict[Any, Any]], None]

_ALL: list[Deferred] = []


class Deferred:
    def __init__(self, name: str, write: Write, limit: int,
                 kept_across: Collection[str] | None) -> None:
        self._key = f"deferred.{name}"
        self._write = write
        self._limit = limit
        self.kept_across = kept_across
        _ALL.append(self)

    def rows(self, session: Session) -> dict[Any, Any]:
        """The rows held for ``session``: add to them, then ``check``."""
        rows: dict[Any, Any] = session.info.setdefault(self._key, {})
        return rows

    def check(self, session: Session) -> None:
        """Write the rows once there are ``limit`` of them."""
        if len(session.info.get(self._key) or ()) >= self._limit:
            self.flush(session)

    def flush(self, session: Session) -> None:
        rows = session.info.pop(self._key, None)
        if rows:
            self._write(session, rows)

    def drop(self, session: Session) -> None:
        session.info.pop(self._key, None)


def before(session: Session, kind: str) -> None:
    """Write what an event of ``kind``'s handlers may read."""
    for d in _ALL:
        if d.kept_across is not None and kind not in d.kept_across:
            d.flush(session)


def flush_all(session: Session) -> None:
    for d in _ALL:
        d.flush(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    flush_all(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    for d in _ALL:
        d.drop(session)
