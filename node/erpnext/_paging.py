"""Keyset paging of an ERPNext list by (modified, name), and the pull watermark. Pure.

Offsets (``limit_start``) are unsafe on a list that changes while it is read: a row
saved meanwhile moves to the end and every row behind it shifts one place up, so one is
skipped. Paging by key is safe, but Frappe's filters are ANDed and cannot say
``(modified, name) > (m, n)``. So a scan alternates two simple queries:

    range:  modified > m                  order by modified asc, name asc
    ties:   modified = m and name > n     order by name asc

A full range page ends at a row (m, n); the rest of m's group of equal ``modified`` is
read with the ties query (page after page if the group is large), then the range goes on
after m. Every row is returned once, in order, whatever the page size and however many
rows share a ``modified``; a row saved during the scan moves to a later key and is read
again there. The cursor keeps the keys exactly as ERPNext sent them, so the comparison
is always ERPNext's own (its collation, its datetime parsing). Child rows, read whole
or per batch of parents rather than by ``modified``, are paged by name alone (``name >
n``, the primary key's order): their ``modified`` has no index to page on.

The watermark of a doctype is the highest ``modified`` a pull has seen. The next pull
starts ``OVERLAP_MINUTES`` before it (see ``const``) with the ties query at the start
key, so it reads everything from there on, equal keys included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tillmesh.node.errors import ErpNextError

MODIFIED_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # Frappe's datetime(6) text, site-local time


@dataclass(frozen=True)
class Cursor:
    """Where a scan stands: before everything (key None), in the group of ``key`` after
    ``name`` (name not None), or after every row of ``key`` (name None)."""

    key: str | None = None
    name: str | None = None
    done: bool = False


@dataclass(frozen=True)
class Query:
    filters: list[list[Any]]
    order_by: str


def start(key: str | None) -> Cursor:
    """A scan of every row whose key is ``key`` or later (all rows for None)."""
    return Cursor() if key is None else Cursor(key, "")


def query(cursor: Cursor, field: str) -> Query:
    """The list request that reads the page after ``cursor``, ordered by ``field`` then
    name (by name alone when ``field`` is "name": child rows, the primary key's order)."""
    if field == "name":
        return Query([["name", ">", cursor.name]] if cursor.name else [], "name asc")
    if cursor.name is not None:
        return Query([[field, "=", cursor.key], ["name", ">", cursor.name]], "name asc")
    if cursor.key is None:
        return Query([], f"{field} asc, name asc")
    return Query([[field, ">", cursor.key]], f"{field} asc, name asc")


def advance(cursor: Cursor, field: str, last: tuple[str, str] | None, count: int,
            page_length: int) -> Cursor:
    """The cursor after a page of ``count`` rows whose last row has (key, name) ``last``.

    Raises ErpNextError when the page cannot move the scan on (a full page without a
    key, or the same position again): that would loop for ever.
    """
    full = count >= page_length
    if field == "name":
        new = Cursor(None, _last(last)[1]) if full else Cursor(None, cursor.name, done=True)
    elif cursor.name is not None:  # in a group of equal keys
        if not full:
            return Cursor(cursor.key, None)  # the group is done: go on after its key
        new = Cursor(cursor.key, _last(last)[1])
    elif not full:
        return Cursor(cursor.key, cursor.name, done=True)
    else:
        key, name = _last(last)
        new = Cursor(key, name)
    if new == cursor:
        raise ErpNextError(f"ERPNext returned the same page again at {cursor}: its list"
                           " ignores the paging filters")
    return new


def _last(last: tuple[str, str] | None) -> tuple[str, str]:
    if last is None or not all(isinstance(v, str) and v for v in last):
        raise ErpNextError(f"a full page of ERPNext rows ends in a row without key and name:"
                           f" {last!r}")
    return last


def last_key(rows: Sequence[dict[str, Any]], field: str) -> tuple[str, str] | None:
    """The (key, name) of the last row of a page, as sent, for ``advance``."""
    if not rows:
        return None
    tail = rows[-1]
    key, name = tail.get(field), tail.get("name")
    return (key, name) if isinstance(key, str) and isinstance(name, str) else None


def normalise_modified(value: object) -> str:
    """``modified`` (or ``creation``) as ``YYYY-MM-DD HH:MM:SS.ffffff``, site-local.

    Frappe prints a time with 0 microseconds without its fraction; the same text shape
    for every value keeps text order equal to time order. Never compared with UTC.
    """
    if not isinstance(value, str):
        raise ErpNextError(f"modified {value!r} is not a date and time")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ErpNextError(f"modified {value!r} is not a date and time") from exc
    if parsed.tzinfo is not None:
        raise ErpNextError(f"modified {value!r} has a UTC offset; ERPNext sends local time")
    return parsed.strftime(MODIFIED_FORMAT)


def resume_key(watermark: str | None, overlap_minutes: int) -> str | None:
    """Where the next pull starts: ``overlap_minutes`` before the watermark (site time)."""
    if watermark is None:
        return None
    earlier = datetime.fromisoformat(watermark) - timedelta(minutes=overlap_minutes)
    return earlier.strftime(MODIFIED_FORMAT)
