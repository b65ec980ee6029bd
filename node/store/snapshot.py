"""A new counter's first state in one file: the snapshot of the ZeroMQ guide's Clone pattern.

Pulling a store's 200,000 events one by one makes the new counter apply every projection
again (about 70 µs an event). Instead, the inviting counter copies its event log and
projection tables into a file encrypted with a one-time key (one read transaction, so
the file is one consistent state); the new counter checks every
origin's hash chain, copies the events and the projection tables in one transaction, and
anti-entropy brings whatever happened since. Projections are pure functions of the event
set, so copied tables should equal what replaying the copied events builds: the install
records their digests and the running node verifies them in the background
(``snapshot_check``). A counter whose tables have another shape or format
(``projections.shape``: another release) refuses the file and pulls events instead.

A store that has a checkpoint sends it instead of its projection tables: the new counter
checks it (signed by a counter the store enrolled, its tables' digests as sealed) and
builds its tables from it and the events after it (``EventLog.rebuild``), as a rebuild
would; the file then holds the projection tables once, not twice, and nothing is left to
check in the background.

Local tables (carts, invites, login counters, meta) never leave the inviting counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlcipher3
from sqlalchemy import Table

from tillmesh.node.errors import StoreError, ValidationError
from tillmesh.node.projections import projection_tables, shape
from tillmesh.node.store import EventRow, checkpoint, snapshot_check
from tillmesh.node.store._engine import _connect
from tillmesh.node.store.archive import KEPT_SQL, live_chains
from tillmesh.node.store.base import EventFloor
from tillmesh.node.store.const import KEY_BYTES, TICKET_BYTES, TICKET_S
from tillmesh.node.store.tables import columns, copy_rows, create_like

log = logging.getLogger("tillmesh.snapshot")

_ALIAS = "snapshot"
_SHAPE = "projection_shape"  # in the file: the exporter's ``projections.shape()``


@dataclass
class Ticket:
    """What the inviting counter keeps for one new counter's snapshot."""

    node: str
    key: bytes
    path: Path
    expires: float  # time.monotonic() seconds
    size: int = -1  # bytes of the exported file; -1 until it is written
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one export at a time


def new_ticket(node: str, folder: Path) -> tuple[str, Ticket]:
    name = secrets.token_hex(TICKET_BYTES)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return name, Ticket(node, secrets.token_bytes(KEY_BYTES), folder / f"{name}.db",
                        time.monotonic() + TICKET_S)


def _copied_tables(with_projections: bool = True) -> list[Table]:
    return [EventRow.__table__, EventFloor.__table__,  # type: ignore[list-item]
            *(projection_tables() if with_projections else [])]


@dataclass(frozen=True)
class Installed:
    """What ``install`` copied: the events, and whether the projection tables came too
    (False: the snapshot carried a checkpoint instead, to build them from)."""

    events: int
    tables: bool


@contextlib.contextmanager
def _attached(db_path: Path, key: bytes, other: Path, other_key: bytes) -> Iterator[Any]:
    conn = _connect(db_path, key)
    try:
        conn.execute(f"ATTACH DATABASE '{_quote(other)}' AS {_ALIAS} KEY \"x'{other_key.hex()}'\"")
        yield conn
    except sqlcipher3.Error as exc:
        raise StoreError(f"snapshot: {exc}") from exc
    finally:
        with contextlib.suppress(sqlcipher3.Error):
            conn.execute(f"DETACH DATABASE {_ALIAS}")
        conn.close()


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


# Starting from the checkpoint, the new counter gets the events after it (and, before it,
# the store's membership and each origin's event there, its chains' start), and the
# checkpoint's vector as its floor; not the events the checkpoint holds.
_AFTER_CHECKPOINT = (
    f"main.events e WHERE NOT EXISTS (SELECT 1 FROM {checkpoint.ALIAS}.event_floor f"
    f" WHERE f.origin = e.origin AND e.seq < f.seq) OR e.kind IN ({KEPT_SQL})")


def _source(from_checkpoint: bool, table: str) -> str:
    if not from_checkpoint:
        return f"main.{table}"
    return {"events": _AFTER_CHECKPOINT,
            "event_floor": f"{checkpoint.ALIAS}.event_floor"}.get(table, f"main.{table}")


def export(db_path: Path, key: bytes, ticket: Ticket, *, from_checkpoint: bool = False) -> int:
    """Write the store's events and projections to ``ticket.path``; its size in bytes.
    With a checkpoint, it goes instead of the projection tables; ``from_checkpoint``: with
    only the events after it (``config.join_from_checkpoint``), else every live event.

    Blocking (seconds for a big store): run it in a thread. Its own connection reads one
    snapshot of the database (WAL), so the node goes on selling meanwhile.
    """
    ticket.path.unlink(missing_ok=True)
    carried = checkpoint.checkpoint_path(db_path)
    with _attached(db_path, key, ticket.path, ticket.key) as conn, (
            checkpoint.attached_to(conn, carried, key) if carried.exists()
            else contextlib.nullcontext()):  # a checkpoint goes along
        conn.execute("BEGIN")  # one read snapshot for every table
        try:
            if carried.exists():
                checkpoint.export_into(conn, _ALIAS)
            for table in _copied_tables(with_projections=not carried.exists()):
                create_like(conn, table.name, f"{_ALIAS}.{table.name}")
                copy_rows(conn, table.name,
                          _source(from_checkpoint and carried.exists(), table.name),
                          f"{_ALIAS}.{table.name}")
            # Equal columns may hold rows of another format: the installer compares this.
            conn.execute(f"CREATE TABLE {_ALIAS}.{_SHAPE} (shape TEXT NOT NULL)")
            conn.execute(f"INSERT INTO {_ALIAS}.{_SHAPE} VALUES (?)", (shape(),))
        finally:
            conn.execute("COMMIT")
    ticket.path.chmod(0o600)
    ticket.size = ticket.path.stat().st_size
    return ticket.size


def install(db_path: Path, key: bytes, snapshot: Path, snapshot_key: bytes) -> Installed:
    """Copy a snapshot's events and projections (or the checkpoint it carries instead)
    into this (empty) store.

    Copied tables' digests are kept for the check against the events (``snapshot_check``).
    With a checkpoint, this store's tables stay empty: build them (``EventLog.rebuild``)
    once its members are known from the events (``trust.check_snapshot``). Refused
    (ValidationError, nothing written) when this store already holds events, when a table
    has another shape or the tables another format (or the file does not say theirs: an
    older exporter), or when an origin's events do not chain.
    """
    with _attached(db_path, key, snapshot, snapshot_key) as conn:
        if conn.execute("SELECT 1 FROM main.events LIMIT 1").fetchone():
            raise ValidationError("this counter already holds events: no snapshot needed")
        seal = checkpoint.carried(conn, _ALIAS)
        copied = _copied_tables(with_projections=seal is None)
        for table in copied:
            if columns(conn, "main", table.name) != columns(conn, _ALIAS, table.name):
                raise ValidationError(f"the snapshot's {table.name} has another shape "
                                      "(another release): pulling events instead")
        if _shape_of(conn) != shape():
            raise ValidationError("the snapshot's tables have another format (another "
                                  "release): pulling events instead")
        count = _check_chains(conn)
        floor = {str(o): (int(s), bytes(h)) for o, s, h in conn.execute(
            f"SELECT origin, seq, hash FROM {_ALIAS}.event_floor")}
        if (floor and seal is None) or (seal is not None and not _stands(conn, seal)):
            raise ValidationError("the snapshot's events start after an archived part, and "
                                  "the checkpoint it carries does not stand on them: pulling "
                                  "events instead")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in _copied_tables():
                conn.execute(f"DELETE FROM main.{table.name}")
            for table in copied:
                copy_rows(conn, table.name, f"{_ALIAS}.{table.name}", f"main.{table.name}")
            if seal is None:
                snapshot_check.record(conn)  # the running node checks the tables
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    if seal is not None:
        checkpoint.install_from(snapshot, snapshot_key, db_path, key, seal)
    return Installed(count, tables=seal is None)


def _stands(conn: Any, seal: checkpoint.Seal) -> bool:
    """Whether the snapshot holds each origin's event where the checkpoint stands, as it
    sealed it (the checkpoint is then what those events and all before them built)."""
    for origin, seq in seal.vector.items():
        row = conn.execute(f"SELECT hash FROM {_ALIAS}.events WHERE origin = ? AND seq = ?",
                           (origin, seq)).fetchone()
        if row is None or bytes(row[0]).hex() != seal.heads[origin]:
            return False
    return True


def _shape_of(conn: Any) -> str | None:
    """The exporter's projection fingerprint; None from a release that wrote none."""
    if not conn.execute(f"SELECT 1 FROM {_ALIAS}.sqlite_master WHERE name = ?",
                        (_SHAPE,)).fetchone():
        return None
    row = conn.execute(f"SELECT shape FROM {_ALIAS}.{_SHAPE}").fetchone()
    return None if row is None else str(row[0])


def _check_chains(conn: Any) -> int:
    """Every origin's events follow from its floor (1 when none was archived) and each
    names its predecessor's hash."""
    chains = live_chains(conn, _ALIAS)
    if chains.broken is not None:
        raise ValidationError(f"the snapshot's events do not chain at {chains.broken}: "
                              "pulling events instead")
    return chains.checked
