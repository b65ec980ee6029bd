"""How long events stay in a counter's live store, and how far the archive may move. Pure.

The store keeps, live, at least the current fiscal year and the ones before it that the
policy names (``keep_fiscal_years``, 2 by default: this year and the last, which an
auditor or a late return still asks about). Older events move to the archive only once
ERPNext holds their documents: per origin, the floor (the last archived seq) stops before
the first event still owed to ERPNext or whose sale is not consolidated yet, and never
goes back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_KEEP_YEARS = 2  # the current fiscal year and the previous one
DEFAULT_FISCAL_START = "01-01"  # MM-DD in the store's zone: ERPNext's Fiscal Year start
DEFAULT_ARCHIVE_AT = "03:30"  # HH:MM in the store's zone: the node archives then, daily
_NO_LEAP = 2023  # a fiscal year cannot start on a day that most years lack


def fiscal_start(text: str) -> tuple[int, int]:
    """(month, day) of "MM-DD"; ValueError saying what is wrong."""
    try:
        month, day = (int(part) for part in text.split("-"))
        datetime(_NO_LEAP, month, day)
    except ValueError:
        raise ValueError(f"fiscal_year_start {text!r} is not a day of the year as MM-DD "
                         "(e.g. 04-01), and not 02-29") from None
    return month, day


def cutoff(now: datetime, tz: ZoneInfo, start: tuple[int, int], keep_years: int) -> datetime:
    """The first moment kept live: the start (in the store's zone) of the oldest of the
    ``keep_years`` fiscal years up to the one ``now`` falls in."""
    if keep_years < 1:
        raise ValueError("keep_fiscal_years must be at least 1 (the current fiscal year)")
    local = now.astimezone(tz)
    month, day = start
    year = local.year if (local.month, local.day) >= (month, day) else local.year - 1
    return datetime(year - (keep_years - 1), month, day, tzinfo=tz)


def next_floor(floor: Mapping[str, int], older: Mapping[str, int],
               owed: Mapping[str, int]) -> dict[str, int]:
    """Per origin whose floor moves, its new floor: up to its last event older than the
    cutoff (``older``), before its first event still owed or unconsolidated (``owed``),
    and past where it is."""
    moved = {}
    for origin, last_old in older.items():
        upto = last_old if origin not in owed else min(last_old, owed[origin] - 1)
        if upto > floor.get(origin, 0):
            moved[origin] = upto
    return moved


def archive_time(text: str) -> time:
    """The time of day of "HH:MM"; ValueError saying what is wrong."""
    hours, _, minutes = text.partition(":")
    if len(hours) == len(minutes) == 2 and f"{hours}{minutes}".isdigit() and (
            int(hours) < 24 and int(minutes) < 60):
        return time(int(hours), int(minutes))
    raise ValueError(f"archive_at {text!r} is not a time of day as HH:MM (e.g. 03:30)")


def next_run(now: datetime, tz: ZoneInfo, at: time) -> datetime:
    """The next moment after ``now`` whose wall time in the store's zone is ``at`` (on a
    day the clocks skip it, the moment they jump)."""
    local = now.astimezone(tz)
    day = local.date()
    while True:
        wanted = datetime.combine(day, at, tzinfo=tz)
        moment = wanted.astimezone(tz)  # normalises a skipped wall time forwards
        if moment > local:
            return moment
        day += timedelta(days=1)
