"""How the node's log lines look, and a repeating problem said once in a while.

On a terminal or in a file a line reads ``2026-05-02 10:00:00,123 WARNING
tillmesh.replication: text``. Under systemd, when standard error is the journal's
stream (``$JOURNAL_STREAM`` names it, systemd.exec(5)), every line starts with its
syslog priority instead, ``<4>tillmesh.replication: text``: journald takes the ``<N>``
prefix as the priority (sd-daemon(3)), so ``journalctl -p err -u tillmesh`` shows the
errors alone, and it stamps the time itself.

When journald's native socket is there too, each record goes to it as a datagram of
fields (systemd.journal-fields(7)) instead: ``MESSAGE``, ``PRIORITY``, ``CODE_FILE`` /
``CODE_LINE`` / ``CODE_FUNC``, ``SYSLOG_IDENTIFIER=tillmesh`` and the record's own
``TILLMESH_LOGGER``, ``TILLMESH_CODE``, ``TILLMESH_COUNT``, so monitoring can select on
them (``journalctl -u tillmesh TILLMESH_CODE=replication.store_failed``). A datagram the
socket does not take falls back to the prefixed line on standard error.

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
import socket
import struct
import sys
from pathlib import Path
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


JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
IDENTIFIER = "tillmesh"
MAX_DATAGRAM = 200_000  # bytes; journald takes bigger ones only through a memfd


def journal_fields(record: logging.LogRecord, message: str) -> bytes:
    """``record`` in journald's native protocol: ``KEY=value`` lines, and a value with a
    newline (a traceback) as ``KEY``, its length (64-bit little-endian) and the bytes."""
    pairs = [("MESSAGE", message), ("PRIORITY", str(priority(record.levelno))),
             ("SYSLOG_IDENTIFIER", IDENTIFIER), ("TILLMESH_LOGGER", record.name),
             ("CODE_FILE", record.pathname), ("CODE_LINE", str(record.lineno)),
             ("CODE_FUNC", record.funcName or "")]
    pairs += [(f"TILLMESH_{name.upper()}", str(getattr(record, name))) for name in FIELDS
              if getattr(record, name, None) is not None]
    out = bytearray()
    for key, value in pairs:
        if not value:  # a record made by hand may lack its function's name
            continue
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalHandler(logging.Handler):
    """Records as field datagrams to journald's socket; the prefixed line on ``fallback``
    when the socket does not take one (gone, full, too big)."""

    def __init__(self, path: Path, fallback: logging.Handler) -> None:
        super().__init__()
        self.path = path
        self.fallback = fallback
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        # A stalled journald must never stall the node: a full queue is a fallback line.
        self.sock.setblocking(False)
        self.setFormatter(PlainFormatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        datagram = journal_fields(record, self.format(record))
        try:
            if len(datagram) > MAX_DATAGRAM:
                raise OSError("too big for one datagram")
            self.sock.sendto(datagram, str(self.path))
        except OSError:
            self.fallback.handle(record)

    def close(self) -> None:
        self.sock.close()
        super().close()


def setup(level: int = logging.INFO, journal_socket: Path = JOURNAL_SOCKET) -> None:
    """The root logger writes to journald (fields) or standard error (as the journal reads
    it, or plainly)."""
    try:
        journal = journal_stream(os.environ.get("JOURNAL_STREAM"), os.fstat(sys.stderr.fileno()))
    except (OSError, ValueError):  # no real stderr (a test's capture): plain lines
        journal = False
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(JournalFormatter() if journal else PlainFormatter(LOG_FORMAT))
    handler: logging.Handler = stream
    if journal and journal_socket.is_socket():
        handler = JournalHandler(journal_socket, stream)
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
