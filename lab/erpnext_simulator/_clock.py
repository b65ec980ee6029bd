"""Site-local time: the clock the simulator reads, and Frappe's ways of writing dates.

ERPNext stores and answers naive datetimes in the site's time zone (Europe/Berlin here),
with microseconds: ``2026-11-26 16:11:37.530580``. A ``Time`` column read back from
MariaDB passes through a ``timedelta``, so a stored ``09:00:00`` comes back as
``9:00:00``; that is reproduced by :func:`stored_time`.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from tillmesh.lab.erpnext_simulator._const import SITE_TIMEZONE

_SITE_TZ = ZoneInfo(SITE_TIMEZONE)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current site-local time, naive."""
        ...


class SiteClock:
    """The real time in the site's time zone."""

    def now(self) -> datetime:
        return datetime.now(_SITE_TZ).replace(tzinfo=None)


class ManualClock:
    """A clock that only moves when told to (replays and time-sensitive tests)."""

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._now = start

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


def fmt_datetime(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")


def getdate(value: object) -> date:
    """Frappe's getdate: a stored date (or a datetime's text) as a date."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def fmt_date(when: datetime | date) -> str:
    return when.strftime("%Y-%m-%d")


def fmt_time(when: datetime | time) -> str:
    return when.strftime("%H:%M:%S.%f")


def parse_datetime(text: str) -> datetime:
    """``YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]`` as Frappe accepts it."""
    text = text.strip()
    if len(text) <= 10:
        return datetime.strptime(text, "%Y-%m-%d")
    day, _, clock = text.partition(" ")
    return datetime.combine(date.fromisoformat(day), parse_time(clock))


def parse_time(text: str) -> time:
    """``H:MM[:SS[.ffffff]]`` (MariaDB hands back single-digit hours)."""
    head, _, fraction = text.strip().partition(".")
    parts = [int(p) for p in head.split(":")] + [0, 0]
    micro = int((fraction + "000000")[:6]) if fraction else 0
    return time(parts[0], parts[1], parts[2], micro)


def stored_time(text: str) -> str:
    """A Time value as MariaDB returns it: ``09:00:00`` -> ``9:00:00``."""
    t = parse_time(text)
    return str(timedelta(hours=t.hour, minutes=t.minute, seconds=t.second,
                         microseconds=t.microsecond))


def posting_moment(posting_date: str, posting_time: str) -> datetime:
    """The moment a document is booked at, for ordering stock and closing windows."""
    return datetime.combine(date.fromisoformat(posting_date), parse_time(posting_time))
