"""Long reads of what the store committed, on a connection and a thread of their own
(``Reader``), so that the event loop does not wait for them.

The node writes and reads on one connection, on the loop: a read that takes tens of
milliseconds there holds up every cashier's call that comes meanwhile. The forwarder's
plan is such a read when the first documents owed wait (a refused opening entry holds
back its shift's sales; a store delivering per shift waits for its closings): it reads
every document owed, 37-60 ms at 5,000 on a 2-core machine, once a second. In WAL mode
another connection reads what was committed when its read began, and neither waits for
the writer nor makes it wait. What a read sees is what was committed: anything the
caller wrote must be committed before it asks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlcipher3
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tillmesh.node.store._engine import open_engine, store_files
from tillmesh.node.store.const import READER_CACHE_KIB
from tillmesh.node.store.event_log import collector_paused
from tillmesh.node.store.raw import Raw

T = TypeVar("T")


class Reader:
    """Reads of the store of ``engine`` (made by ``open_engine``), one at a time, in a
    thread named ``name``; the connection is opened at the first and kept until
    ``close``."""

    def __init__(self, engine: Engine, name: str) -> None:
        self._files = store_files(engine)
        self._name = name
        self._engine: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None

    async def read(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` in one read transaction of the reader's connection."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, self._read, work)

    def _read(self, work: Callable[[Session], T]) -> T:
        if self._engine is None:
            self._engine = self._open()
        fairy = self._engine.raw_connection()
        driver: Any = fairy.driver_connection
        session = Session(self._engine)
        try:
            driver.execute("BEGIN")
            session.info["raw"] = Raw(driver.cursor(), sqlcipher3.Error)
            # What a long read makes (a closing's 5,000 sales decoded) set off full passes
            # of the cycle collector, which stop every thread, the loop's too: 90-110 ms.
            with collector_paused():
                return work(session)
        finally:
            session.close()
            if driver.in_transaction:
                driver.execute("ROLLBACK")  # a read: nothing to keep, the snapshot let go
            fairy.close()

    def _open(self) -> Engine:
        files = self._files
        engine = open_engine(files.path, files.key, files.archive)
        fairy = engine.raw_connection()
        try:
            driver: Any = fairy.driver_connection
            driver.execute(f"PRAGMA cache_size = -{READER_CACHE_KIB}")
        finally:
            fairy.close()
        return engine

    def close(self) -> None:
        """After the read under way, if any: the thread ends, the connection closes."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.shutdown(wait=True)
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()
