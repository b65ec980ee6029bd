"""The encrypted SQLite engine: SQLCipher through SQLAlchemy, WAL, synchronous=FULL.

The database key is 32 random bytes kept hex-encoded in a file created with mode 0600,
which ``tillmesh seal`` may seal to the machine or a passphrase (``sealing``).
A wrong key and a file that is not a database look the same to SQLCipher ("file is not
a database"); both surface as WrongKeyError with the path, never as a library error.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import sqlcipher3
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from tillmesh.node.errors import DiskFull, StoreError, WrongKeyError
from tillmesh.node.store.const import (
    BUSY_TIMEOUT_MS,
    CACHE_KIB,
    FULL_BELOW_BYTES,
    KEY_BYTES,
    SQLITE_FULL,
    STATEMENT_CACHE,
)
from tillmesh.node.store.sealing import read_secret


def create_key_file(path: Path) -> bytes:
    """Create a new random key file readable only by its owner; refuse to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise StoreError(f"key file {path} already exists; not overwriting it") from exc
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    return key


def read_key_file(path: Path) -> bytes:
    """The database key of ``path``, plain or sealed (``sealing``)."""
    try:
        key = bytes.fromhex(read_secret(path, "database key file").decode(errors="replace"))
    except ValueError as exc:
        raise WrongKeyError(f"key file {path} does not hold a hex key") from exc
    if len(key) != KEY_BYTES:
        raise WrongKeyError(f"key file {path} holds {len(key)} bytes, expected {KEY_BYTES}")
    return key


def _as_is(value: Any) -> Any:
    return value


# The driver binds a str, int or float at once, but any other value only after looking
# for a way to adapt it (its adapters, then ``__adapt__`` and ``__conform__``, each a
# failed attribute lookup): ~1 µs a parameter, for bytes and None as much as for anything.
# Registered, each is found by one lookup. A rebuild of the bench's 200,000 events binds
# 650,000 of them.
sqlcipher3.register_adapter(bytes, bytes)  # a bytes given to bytes() is itself, no copy
sqlcipher3.register_adapter(type(None), _as_is)
sqlcipher3.register_adapter(bool, int)  # as SQLite stores it anyway


def _quiet(conn: Any) -> None:
    # SQLCipher logs a wrong key to stderr on its own; we say it once, clearly.
    with contextlib.suppress(sqlcipher3.DatabaseError):
        conn.execute("PRAGMA cipher_log_level = NONE")


class _Connection(sqlcipher3.Connection):
    """The driver's connection, whose ``rollback()`` leaves other cursors be.

    The driver's own marks every cursor of the connection as reset, so a long read still
    being fetched (chains checked a batch at a time, a snapshot sent in chunks) failed
    with "Cursor needed to be reset" when any other read on the connection ended, which
    SQLAlchemy does with ``rollback()``. SQLite itself lets such reads go on."""

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")


def disk_full(path: Path, what: str) -> DiskFull | None:
    """``what`` failed because the disk holding ``path`` is full, said so; None when it
    has room. SQLite says a full disk in several ways when it opens a store (a WAL left
    by a crash, its memory-mapped index): "disk I/O error" among them."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return None
    if free >= FULL_BELOW_BYTES:
        return None
    return DiskFull(f"{what}: the disk holding {path.parent} is full ({free} bytes free): "
                    "free space or call IT; nothing recorded is lost")


def _connect(path: Path, key: bytes) -> Any:
    conn = sqlcipher3.connect(str(path), check_same_thread=False, isolation_level=None,
                              cached_statements=STATEMENT_CACHE, factory=_Connection)
    _quiet(conn)
    try:
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Reading the schema is the first access that needs the key: it fails right here
        # on a wrong key or a corrupted header.
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if not tables:
            # A new store keeps the pages archived events free for giving back to the
            # disk (``ops.archiving``); set before anything is written (a store made
            # before keeps its pages, which later events fill). Only then: on a store
            # with a WAL it writes, and a counter restarted on a full disk could not open.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute("PRAGMA synchronous = FULL")
        # Every page read from disk is decrypted: a bigger cache keeps the hot catalog and
        # projection pages decrypted in memory (negative = KiB).
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlcipher3.DatabaseError as exc:
        conn.close()
        full = disk_full(path, f"cannot open {path}")
        if full is not None or getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL:
            raise full or DiskFull(f"cannot open {path}: the disk is full") from exc
        raise WrongKeyError(
            f"cannot open {path}: wrong database key or not a Tillmesh database ({exc})"
        ) from exc
    return conn


def archive_path(path: Path) -> Path:
    """Where the store at ``path`` keeps the events that left it (``archive``)."""
    return path.with_name(f"{path.stem}-archive{path.suffix}")


def connect_store(path: Path, key: bytes, archive: Path | None = None) -> Any:
    """A DB-API connection to the store with its archive attached (``open_engine``'s)."""
    from tillmesh.node.store.archive import attach  # the archive's schema lives there

    conn = _connect(path, key)
    try:
        attach(conn, archive or archive_path(path), key)
    except BaseException:
        conn.close()
        raise
    return conn


@dataclass(frozen=True)
class StoreFiles:
    """What an engine was opened on: the store, its key, the archive attached to it."""

    path: Path
    key: bytes
    archive: Path


_FILES: weakref.WeakKeyDictionary[Engine, StoreFiles] = weakref.WeakKeyDictionary()


@overload
def store_files(engine: Engine) -> StoreFiles: ...
@overload
def store_files(engine: Engine, *, missing_ok: bool) -> StoreFiles | None: ...
def store_files(engine: Engine, *, missing_ok: bool = False) -> StoreFiles | None:
    """What ``engine`` was opened on; None with ``missing_ok`` for an engine not made by
    ``open_engine`` (a test's in-memory one)."""
    return _FILES.get(engine) if missing_ok else _FILES[engine]


def open_engine(path: Path, key: bytes, archive: Path | None = None) -> Engine:
    """One shared connection: the node is the only writer, so no pool is needed. The
    archive (``archive_path(path)`` unless given: a checkpoint reads the store's) is
    attached to it as schema ``archive``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    archive = archive or archive_path(path)
    # Opened here to fail fast, before SQLAlchemy wraps errors, and kept as the engine's
    # connection: closing it would checkpoint the WAL, which on a full disk fails half-way
    # and left the store unopenable ("disk I/O error") until there was room.
    opened = [connect_store(path, key, archive)]
    engine = create_engine(
        "sqlite://",
        module=sqlcipher3.dbapi2,  # so SQLAlchemy maps sqlcipher's exceptions
        creator=lambda: opened.pop() if opened else connect_store(path, key, archive),
        poolclass=StaticPool,
    )
    _FILES[engine] = StoreFiles(path, key, archive)

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # A session's transaction, when it reads or writes through the ORM: BEGIN straight
        # on the driver skips SQLAlchemy's execution events (~15 µs each). Inside a
        # transaction the event log began on the driver (``EventLog.transaction``,
        # ``reading``) it joins that one; a deferred BEGIN takes no lock, so it has
        # nothing to fail on.
        driver = conn.connection.driver_connection
        if not driver.in_transaction:
            driver.execute("BEGIN")

    return engine
