"""SQLite's WAL checkpoints, moved off the connection that writes (``WalCheckpoints``).

In WAL mode the commit that finds the WAL past ``wal_autocheckpoint`` pages (1,000 by
default) copies it into the database file and fsyncs that file, inside the commit: on a
running counter that commit is on the event loop, and every request behind it waits. A
commit that did so took 5-16 ms at a till selling (one in ~25 sales of 5 scans) and
50-80 ms during an ERPNext pull (one in ~10 of its steps).

Here a thread with a connection of its own copies the WAL in whenever something was
written since it last did (SQLite's PASSIVE checkpoint: it neither waits for nor blocks
the writer or a reader, and copies what no reader still needs). The writer's own
checkpoint stays, much later (``WAL_BACKSTOP_PAGES``), should this thread fall behind or
fail. Nothing about durability changes: a commit is durable in the WAL; a checkpoint
only moves pages that already are. (Not the signed checkpoint of ``checkpoint``: that is
the projection tables at the archive's floor.)
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import sqlcipher3
from sqlalchemy import Engine

from tillmesh.node.errors import StoreError
from tillmesh.node.store._engine import _connect, store_files
from tillmesh.node.store.const import (
    SQLITE_AUTOCHECKPOINT_PAGES,
    WAL_BACKSTOP_PAGES,
    WAL_CHECKPOINT_CACHE_KIB,
    WAL_LOOK_EVERY_S,
)

log = logging.getLogger(__name__)


class WalCheckpoints:
    """Copies the store's WAL into its database file from a thread of its own, from
    ``start`` to ``close``."""

    def __init__(self, engine: Engine, every_s: float = WAL_LOOK_EVERY_S) -> None:
        files = store_files(engine)
        self._engine, self._path, self._key = engine, files.path, files.key
        self._wal = Path(f"{files.path}-wal")
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.copied = 0  # checkpoints that copied pages
        self.failure: str | None = None  # why the last one failed (logged once), until one works

    def start(self) -> None:
        """The writer checkpoints only past the backstop from now on; the thread starts."""
        self._writer_checkpoints_past(WAL_BACKSTOP_PAGES)
        self._thread = threading.Thread(target=self._run, name="tillmesh-wal", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread (after the checkpoint it may be running); the writer's own
        checkpoint is back at SQLite's default."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._writer_checkpoints_past(SQLITE_AUTOCHECKPOINT_PAGES)

    def _writer_checkpoints_past(self, pages: int) -> None:
        fairy = self._engine.raw_connection()
        try:
            driver: Any = fairy.driver_connection
            driver.execute(f"PRAGMA wal_autocheckpoint = {pages}")
        finally:
            fairy.close()

    def _run(self) -> None:
        try:
            conn = _connect(self._path, self._key)
        except (StoreError, sqlcipher3.DatabaseError, OSError) as exc:  # a full disk…
            self._failed(exc)
            return
        try:
            # A checkpoint copies pages as they are (encrypted): no cache is needed.
            conn.execute(f"PRAGMA cache_size = -{WAL_CHECKPOINT_CACHE_KIB}")
            written = None
            while not self._stop.wait(self._every_s):
                now = self._written()
                if now is not None and now != written:
                    written = now if self._checkpoint(conn) else written
        finally:
            conn.close()  # the writer's connection is open: this one does not checkpoint

    def _written(self) -> int | None:
        """When the WAL was last written (None: there is none)."""
        try:
            return os.stat(self._wal).st_mtime_ns
        except FileNotFoundError:
            return None

    def _checkpoint(self, conn: Any) -> bool:
        try:
            busy, _, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlcipher3.DatabaseError as exc:  # a full disk: the WAL keeps it all
            self._failed(exc)
            return False
        if self.failure is not None:
            log.info("the WAL is copied into the store again")
            self.failure = None
        self.copied += copied > 0
        return not busy

    def _failed(self, exc: BaseException) -> None:
        message = f"{exc}"
        if message != self.failure:
            log.warning("could not copy the WAL into %s: %s (the writer does it itself past"
                        " %d pages)", self._path, message, WAL_BACKSTOP_PAGES)
        self.failure = message
