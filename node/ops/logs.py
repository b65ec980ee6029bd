"""How the node's log lines look, and a repeating problem said once in a while.

On a terminal or in a file a line reads ``2026-05-02 10:00:00,123 WARNING
tillmesh.replication: text``. Under systemd, when standard error is the journal's
stream (``$JOURNAL_STREAM`` names it, systemd.exec(5)), every line starts with its
syslog priority instead, ``<4>tillmesh.replication: text``: journald takes the ``<N>``
prefix as the priority (sd-daemon(3)), so ``journalctl -p err -u tillmesh`` shows the
errors alone, and it stamps the time itself.

A problem that repeats (a full disk fails every replication drain, many a second) is
said once per interval with how often it came (:class:`Throttled`), and its line ends
in stable ``key=value`` fields, ``code=replication.store_failed count=12``: the text may
change between releases, the code does not, so monitoring can match on it
(``journalctl -u tillmesh | grep code=``).
"""

from __future__ import annotations

import logging
import math
import os
import sys
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(name)s: %(message)s"  # journald adds the time, the unit and the pid
FIELDS = ("code", "count")  # ``extra=`` keys a line may carry, in this order
# syslog(3) priorities of logging's levels (NOTICE, 5, has no logging level)
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4),
               (logging.INFO, 6))
DEBUG_PRIORITY = 7


def priority(levelno: int) -> int:
    """The syslog priority of a logging level: ERROR 3, WARNING 4, INFO 6, DEBUG 7."""
    return next((prio for level, prio in _PRIORITIES if levelno >= level), DEBUG_PRIORITY)


def fields(record: logging.LogRecord) -> str:
    """`` code=… count=…`` for the ``extra=`` fields a record carries, else ''."""
    return "".join(f" {name}={getattr(record, name)}" for name in FIELDS
                   if getattr(record, name, None) is not None)


class PlainFormatter(logging.Formatter):
    """A terminal's or a file's line, with the record's fields at the end."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return super().formatMessage(record) + fields(record)


class JournalFormatter(PlainFormatter):
    """Each line prefixed with ``<priority>``: a traceback's lines too, so journald keeps
    them at the record's priority rather than its default (info)."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def journal_stream(value: str | None, stream: os.stat_result) -> bool:
    """Whether ``$JOURNAL_STREAM`` (``device:inode``) is the file ``stream`` is: it is set
    for a service whose output goes to the journal, and inherited by what that service
    starts with its output elsewhere, so only a match counts."""
    device, sep, inode = (value or "").partition(":")
    if not (sep and device.isdigit() and inode.isdigit()):
        return False
    return (int(device), int(inode)) == (stream.st_dev, stream.st_ino)


def setup(level: int = logging.INFO) -> None:
    """The root logger writes to standard error, as the journal reads it or plainly."""
    try:
        journal = journal_stream(os.environ.get("JOURNAL_STREAM"), os.fstat(sys.stderr.fileno()))
    except (OSError, ValueError):  # no real stderr (a test's capture): plain lines
        journal = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter() if journal else PlainFormatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])


class Throttled:
    """A problem that repeats is said once per ``every_s``, with how often it came since it
    was last said. ``due`` is pure: time is given."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._said_at = -math.inf
        self._since = 0

    def due(self, now: float) -> int | None:
        """Count one more; the count to say if it is time to say it, else None."""
        self._since += 1
        if now - self._said_at < self.every_s:
            return None
        times, self._since, self._said_at = self._since, 0, now
        return times

    def say(self, logger: logging.Logger, level: int, code: str, now: float, msg: str,
            *args: Any, exc_info: bool = False) -> None:
        """Count one more and, when due, log ``msg % args`` with how often it came since
        it was last said, and ``code`` as a field (``exc_info``: with the traceback)."""
        times = self.due(now)
        if times is not None:
            logger.log(level, msg + " (%d time(s) since last said)", *args, times,
                       extra={"code": code, "count": times}, exc_info=exc_info)
