"""The node's log lines (issue 13, point 4): under systemd each line carries its syslog
priority for journald (``<3>`` an error), a repeating problem is said once per interval
with its count and a stable ``code=`` that monitoring matches on; elsewhere the plain
timestamped lines as before."""

from __future__ import annotations

import logging
import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tillmesh.node.ops import logs
from tillmesh.node.ops.logs import JournalFormatter, PlainFormatter, Throttled


def record(level: int, msg: str, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("tillmesh.replication", level, __file__, 1, msg, (), None)
    made.__dict__.update(extra)
    return made


@given(st.integers(0, 60))
def test_every_level_has_the_syslog_priority_journald_reads(level):
    expected = (2 if level >= logging.CRITICAL else 3 if level >= logging.ERROR
                else 4 if level >= logging.WARNING else 6 if level >= logging.INFO else 7)
    assert logs.priority(level) == expected


def test_a_journal_line_has_its_priority_and_fields_and_no_time_of_its_own():
    line = JournalFormatter().format(record(logging.ERROR, "recording failed: disk full",
                                            code="replication.store_failed", count=12))
    assert line == ("<3>tillmesh.replication: recording failed: disk full "
                    "code=replication.store_failed count=12")
    assert JournalFormatter().format(record(logging.INFO, "ready")) == \
        "<6>tillmesh.replication: ready"


def test_each_line_of_a_traceback_keeps_the_records_priority():
    try:
        raise ValueError("bad")
    except ValueError:
        failed = record(logging.ERROR, "tick failed")
        failed.exc_info = sys.exc_info()
    lines = JournalFormatter().format(failed).splitlines()
    assert len(lines) > 2 and all(line.startswith("<3>") for line in lines)
    assert lines[-1] == "<3>ValueError: bad"


def test_a_plain_line_keeps_its_time_and_level_and_gains_the_fields():
    line = PlainFormatter(logs.LOG_FORMAT).format(record(logging.WARNING, "x", code="a.b"))
    assert line.endswith(" WARNING tillmesh.replication: x code=a.b")


def test_only_the_stream_journal_stream_names_is_the_journal(tmp_path):
    stream = os.stat(tmp_path)
    assert logs.journal_stream(f"{stream.st_dev}:{stream.st_ino}", stream)
    assert not logs.journal_stream(f"{stream.st_dev}:{stream.st_ino + 1}", stream)
    assert not logs.journal_stream(None, stream)
    assert not logs.journal_stream("8:x", stream)


def test_a_repeating_error_is_said_once_per_interval_with_its_count(caplog):
    throttled, log = Throttled(60.0), logging.getLogger("tillmesh.test")
    with caplog.at_level(logging.ERROR, logger="tillmesh.test"):
        for second in (0.0, 1.0, 2.0, 30.0, 61.0):
            throttled.say(log, logging.ERROR, "replication.store_failed", second,
                          "recording failed: %s", "disk full")
    said = [(r.getMessage(), r.code, r.count) for r in caplog.records]  # type: ignore[attr-defined]
    assert said == [
        ("recording failed: disk full (1 time(s) since last said)", "replication.store_failed", 1),
        ("recording failed: disk full (4 time(s) since last said)", "replication.store_failed", 4)]


def test_under_systemd_the_node_writes_journal_lines():
    """A process whose stderr is the stream $JOURNAL_STREAM names, as systemd starts the
    unit, logs with priority prefixes (elsewhere plainly: the formatter tests above)."""
    assert under_systemd(Path("/nonexistent/journal/socket")) == \
        "<3>tillmesh.x: boom code=x.failed\n"


def under_systemd(journal_socket: Path) -> str:
    """What a process started as systemd starts the unit (stderr the stream
    $JOURNAL_STREAM names) writes to stderr when it logs an error, with a traceback."""
    program = ("import logging; from pathlib import Path; from tillmesh.node.ops import logs; "
               f"logs.setup(journal_socket=Path({str(journal_socket)!r})); "
               "logging.getLogger('tillmesh.x').error('boom', extra={'code': 'x.failed'})")
    read, write = os.pipe()
    stream = os.fstat(write)
    try:
        subprocess.run([sys.executable, "-c", program], stderr=write, check=True, timeout=60,
                       env={**os.environ, "JOURNAL_STREAM": f"{stream.st_dev}:{stream.st_ino}"})
        os.close(write)
        write = -1
        with os.fdopen(read, "rb") as out:
            read = -1
            return out.read().decode()
    finally:
        for fd in (read, write):
            if fd >= 0:
                os.close(fd)


def parse_fields(datagram: bytes) -> dict[str, str]:
    """journald's native protocol, read back: KEY=value lines, or KEY, length, bytes."""
    found, rest = {}, datagram
    while rest:
        line, _, after = rest.partition(b"\n")
        if b"=" in line:
            key, _, value = line.partition(b"=")
            found[key.decode()], rest = value.decode(), after
        else:
            size = struct.unpack("<Q", after[:8])[0]
            found[line.decode()], rest = after[8:8 + size].decode(), after[8 + size + 1:]
    return found


def test_with_journalds_socket_each_record_is_a_datagram_of_fields(tmp_path):
    path = tmp_path / "journal.socket"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as journal:
        journal.bind(str(path))
        journal.settimeout(30)
        assert under_systemd(path) == ""  # nothing on stderr: it went to the journal
        got = parse_fields(journal.recv(65536))
    assert got["MESSAGE"] == "boom code=x.failed" and got["PRIORITY"] == "3"
    assert got["SYSLOG_IDENTIFIER"] == "tillmesh" and got["TILLMESH_LOGGER"] == "tillmesh.x"
    assert got["TILLMESH_CODE"] == "x.failed" and "TILLMESH_COUNT" not in got


def test_a_traceback_travels_whole_in_one_field():
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        made = logging.LogRecord("tillmesh.x", logging.ERROR, __file__, 7, "failed", (),
                                 sys.exc_info())
    handler = logs.JournalHandler(Path("/nonexistent"), logging.NullHandler())
    try:
        got = parse_fields(logs.journal_fields(made, handler.format(made)))
    finally:
        handler.close()
    assert got["MESSAGE"].startswith("failed\nTraceback") and "line two" in got["MESSAGE"]
    assert got["CODE_LINE"] == "7"


def test_when_the_journal_does_not_take_a_record_the_line_goes_to_stderr(tmp_path):
    path = tmp_path / "journal.socket"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as gone:
        gone.bind(str(path))  # the socket file stays; nobody reads it any more
    assert under_systemd(path) == "<3>tillmesh.x: boom code=x.failed\n"


def test_a_journal_that_reads_nothing_never_blocks_the_node(tmp_path):
    path = tmp_path / "journal.socket"
    lines: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record)

    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as stalled:
        stalled.bind(str(path))  # bound, never read: its queue fills up
        handler = logs.JournalHandler(path, Keep())

        def log_many() -> None:
            for n in range(2000):
                handler.emit(record(logging.WARNING, f"line {n}"))

        node = threading.Thread(target=log_many, daemon=True)
        node.start()
        node.join(30)
        blocked = node.is_alive()  # a blocking socket waits here until the reader goes
    handler.close()
    assert not blocked
    assert lines and lines[-1].getMessage() == "line 1999"  # the rest fell back to stderr
