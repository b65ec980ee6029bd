"""Times as the store reads them: every time the app shows (screens, reports, the lockout
message) is in the store's time zone, the one the node is configured with, whatever the
till's own zone is. Qt-free.

The node says its zone (``counter_state``/``status``: ``timezone``); until it has, and
for a zone this machine does not know, the till's own zone stands in.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DASH = "—"


def local_zone() -> tzinfo:
    """The till's own zone (what stands in until the node names the store's)."""
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None  # astimezone() always gives an aware time
    return zone


def store_zone(name: object, fallback: tzinfo) -> tzinfo:
    """The zone the node names (an IANA name such as ``Europe/Berlin``), or ``fallback``
    when it names none or one this machine lacks."""
    if not isinstance(name, str) or not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return fallback


def parse(value: object) -> datetime | None:
    """An ISO time from the node, or None if it is not one."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def when(value: object, now: datetime | None = None) -> str:
    """An ISO time as HH:MM:SS (today) or YYYY-MM-DD HH:MM, in the zone of ``now`` (the
    store's: ``Context.now``); anything else as it is."""
    stamp = parse(value)
    if stamp is None:
        return DASH if value is None or value == "" else str(value)
    if stamp.tzinfo is not None and now is not None and now.tzinfo is not None:
        stamp = stamp.astimezone(now.tzinfo)
        if stamp.date() == now.date():
            return f"{stamp:%H:%M:%S}"
    return f"{stamp:%Y-%m-%d %H:%M}"


def time_of_day(value: object, zone: tzinfo) -> str:
    """An ISO time as HH:MM:SS in ``zone``; "" if it is not one."""
    stamp = parse(value)
    if stamp is None:
        return ""
    return f"{stamp.astimezone(zone) if stamp.tzinfo else stamp:%H:%M:%S}"
