"""The event log: append local events, receive peers' events, rebuild projections.

Every write is one SQLite transaction holding the event and the projection rows it
changes; the commit (WAL, synchronous=FULL) is the moment a sale becomes durable.

    with log.transaction() as tx:
        event = tx.append("sale.submitted", body)
    # committed and fsynced here
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from tillmesh.node import projections
from tillmesh.node.errors import DiskFull, StoreError, ValidationError
from tillmesh.node.projections import ledger
from tillmesh.node.store import archive, backup_restored, checkpoint
from tillmesh.node.store._engine import disk_full, store_files
from tillmesh.node.store.base import PROJECTIONS_KEY, Base, EventRow, Meta
from tillmesh.node.store.const import MAX_DRIFT_MS, REBUILD_BATCH, SQLITE_FULL
from tillmesh.node.store.event_codec import GENESIS, Event, pack_known
from tillmesh.node.store.raw import Raw, raw
from tillmesh.replication import hlc
from tillmesh.replication.hlc import HybridClock
from tillmesh.replication.protocol import ProtocolError, check_event
from tillmesh.replication.signing import Signer
from tillmesh.replication.stores import anchored
from tillmesh.replication.vector import VersionVector

logger = logging.getLogger("tillmesh.eventlog")

_INSERT_EVENT = ("INSERT INTO events (origin, seq, hlc, wall_us, kind, body, prev_hash, hash,"
                 " sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
# The live events after an (hlc, origin, seq) in that order, a batch at a time: on the
# DB-API cursor, as the projections write, since SQLAlchemy's rows cost a rebuild 4 %.
_IN_ORDER = (f"SELECT {archive.READ} FROM events WHERE (hlc, origin, seq) > (?, ?, ?)"
             f" ORDER BY hlc, origin, seq LIMIT {REBUILD_BATCH}")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Head:
    seq: int
    hash: bytes


DISK_FULL = ("The counter's disk is full: free space or call IT. Nothing was recorded; "
             "selling goes on by itself once there is room")


def not_recorded(exc: SQLAlchemyError) -> StoreError:
    """What a failed write tells a cashier: the disk full in one sentence; else the
    database's own words, without SQLAlchemy's wrapping and web link."""
    cause = getattr(exc, "orig", None) or exc
    said = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    full = "disk is full" in said or getattr(cause, "sqlite_errorcode", None) == SQLITE_FULL
    return DiskFull(DISK_FULL) if full else StoreError(f"could not record: {said}")


class EventLog:
    """One node's log. Single writer: the node process (or the CLI while it is stopped)."""

    def __init__(self, engine: Engine, origin: str, clock: Clock = utc_now,
                 signer: Signer | None = None) -> None:
        self.engine = engine
        self._error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self.origin = origin
        self.clock = clock
        self.signer = signer  # signs this counter's own events (None: unsigned, tests only)
        from tillmesh.node.store import schema  # noqa: F401  (every table and handler, before create_all)

        try:
            Base.metadata.create_all(engine)
            _add_signature_column(engine)
            _add_new_indexes(engine)
            last = self._latest_stamp()
            self._heads = self._load_heads()
            with Session(engine) as s:
                # Why it records no event of its own now (None: it may): restored from a
                # backup and not caught up yet (``backup_restored``).
                self.held: str | None = backup_restored.reason(s)
        except SQLAlchemyError as exc:
            what = "cannot read the event log"
            files = store_files(engine, missing_ok=True)
            full = disk_full(files.path, what) if files is not None else None
            raise full or StoreError(f"{what}: {exc}") from exc
        self.hlc = HybridClock(last)
        # Called once events are durable (own or received), with them: replication pushes
        # them to peers. Never called for a rolled-back transaction. ``afterwards``: the
        # same, but only once the requests that waited for them have answered (the
        # printer: a sale's answer need not wait for its receipt).
        self.listeners: list[Callable[[list[Event]], None]] = []
        self.afterwards: list[Callable[[list[Event]], None]] = []
        # Group commit (the daemon turns it on): commits skip their own fsync and
        # ``flush`` makes everything committed so far durable with one fsync of the WAL,
        # shared by every request that waits for it. Off: each commit fsyncs (FULL).
        self.group_commit = False
        self.wal_path = Path()
        self._unsynced: list[Event] = []
        self._committed = 0  # durable-needing commits so far
        self._synced = 0  # of those, how many are known durable
        self._syncing: asyncio.Task[None] | None = None
        # The fsyncs' own thread (started at the first): in the loop's shared threads a
        # sale's fsync queued behind the forwarder's requests to ERPNext, each of which
        # holds one of those (6 on 2 cores) for as long as ERPNext takes to answer.
        self._syncer = ThreadPoolExecutor(1, thread_name_prefix="tillmesh-fsync")
        self._later: list[Event] = []  # durable, ``afterwards`` not told yet
        self._waiting = 0  # ``flush`` calls waiting for a fsync
        self._batch: Transaction | None = None  # the open ``batch()``, if any
        self._open: Session | None = None  # the transaction or reading open on the store
        # The ORM's side of every transaction on the driver, closed at its end and used
        # again: a new Session and its close cost ~7 µs, its close alone ~2 (a whole sale
        # has 14 transactions).
        self._session = Session(engine, expire_on_commit=False)
        self._rebuild_if_reshaped()

    def _rebuild_if_reshaped(self) -> None:
        """A release that adds or changes a projection table rebuilds it at the first
        start (a new table would otherwise miss every earlier event: the outbox, say)."""
        shape = projections.shape()
        with Session(self.engine) as s:
            held = s.get(Meta, PROJECTIONS_KEY)
            if held is not None and held.value == shape:
                return
        if self._heads:
            logger.warning("projection tables changed since this store was last opened: "
                        "rebuilding them from %d events", sum(self.vector().values()))
            self.rebuild()
        with self.transaction() as tx:
            tx.session.merge(Meta(key=PROJECTIONS_KEY, value=shape))

    def reload(self) -> None:
        """Re-read heads and clock after another connection wrote events (a snapshot)."""
        last = self._latest_stamp()
        self._heads = self._load_heads()
        self.hlc.last = max(self.hlc.last, last)

    def _latest_stamp(self) -> int:
        """The clock starts from the latest stamp held, but never from one further ahead of
        the wall clock than a peer may be: one poisoned stamp (``2**63-1``) in the log
        would otherwise carry every later event past what peers accept."""
        bound = hlc.pack(int(self.clock().timestamp() * 1000) + MAX_DRIFT_MS, 0)
        with Session(self.engine) as s:
            return s.scalar(select(func.max(EventRow.hlc)).where(EventRow.hlc <= bound)) or 0

    def _load_heads(self) -> dict[str, _Head]:
        with Session(self.engine) as s:
            rows = s.execute(
                select(EventRow.origin, func.max(EventRow.seq)).group_by(EventRow.origin)
            ).all()
            # An origin whose events all went to the archive goes on from its floor.
            heads = {o: _Head(seq, digest) for o, (seq, digest) in self.floors(s).items()}
            for origin, seq in rows:
                if seq <= heads.get(origin, _Head(0, GENESIS)).seq:
                    continue  # only events the archive left live (``archive.KEPT``)
                digest = s.scalar(
                    select(EventRow.hash).where(EventRow.origin == origin, EventRow.seq == seq)
                )
                heads[origin] = _Head(seq, digest or GENESIS)
            return heads

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Transaction]:
        """A write transaction; commits on normal exit, rolls back on error.

        ``durable=False`` is for local scratch state only (carts): its commit is not
        fsynced. Appending an event in such a transaction is refused.
        """
        if self._batch is not None:
            with self._savepoint(self._batch) as tx:
                yield tx
            return
        fsync_now = durable and not self.group_commit
        with self._undone_on_error(), self._on_driver(write=True, fsync=fsync_now) as session:
            tx = Transaction(self, session, durable)
            yield tx
        if not tx.recorded:
            return
        if self.group_commit:
            self._unsynced += tx.recorded  # durable (and announced) at the next flush
            self._committed += 1
            return
        self._tell(self.listeners, tx.recorded)
        self._tell(self.afterwards, tx.recorded)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for every write until the block ends (what replication received
        in one go): each ``transaction()`` inside is a savepoint, so a failing one costs
        only itself. A commit costs ~0.3 ms of page encryption, events ~0.1 ms each."""
        if self._batch is not None:
            yield
            return
        with self.transaction() as tx:
            self._batch = tx
            try:
                yield
            finally:
                self._batch = None

    @contextmanager
    def _savepoint(self, outer: Transaction) -> Iterator[Transaction]:
        """A transaction inside the batch: a SQLite savepoint, begun and ended on the
        driver. SQLAlchemy's nested transaction (the ORM joining, then its SAVEPOINT and
        RELEASE) was a fifth of the CPU a counter spent applying a peer's sale (1.42 ms in
        process, 1.15 without it); the ORM's changes are flushed on either side of this one
        instead, and what it holds is let go when it rolls back."""
        recorded = len(outer.recorded)
        session = outer.session
        sql = raw(session)
        _still_open(sql.in_transaction)  # a part that failed earlier may have ended it
        session.flush()  # the ORM's changes so far go before the savepoint
        sql.run("SAVEPOINT batched")

        def rollback() -> None:
            del outer.recorded[recorded:]
            session.expunge_all()  # what the ORM wrote or read inside is undone or stale
            if sql.in_transaction:  # SQLite ends the whole one on some errors (a full disk)
                sql.run("ROLLBACK TO batched")
                sql.run("RELEASE batched")

        with self._undone_on_error(rollback):
            yield outer
            session.flush()  # the ORM's changes inside belong to this savepoint
            sql.run("RELEASE batched")

    @contextmanager
    def _undone_on_error(self, rollback: Callable[[], None] | None = None) -> Iterator[None]:
        """On any error: roll the store back (``rollback``, else the transaction ended
        inside has) and forget the heads and clock it moved."""
        heads = {o: _Head(h.seq, h.hash) for o, h in self._heads.items()}
        hlc_before = self.hlc.last
        try:
            yield
        except BaseException as exc:
            if rollback is not None:
                rollback()
            self._heads, self.hlc.last = heads, hlc_before
            if isinstance(exc, SQLAlchemyError):
                raise not_recorded(exc) from exc
            raise

    def enable_group_commit(self, db_path: Path) -> None:
        """From now on, durability comes from ``flush`` (the daemon awaits it before it
        answers a request that recorded events)."""
        self.wal_path = Path(f"{db_path}-wal")
        self.group_commit = True

    def close(self) -> None:
        """Let the fsync thread end and close the store's connections (at a stop: the
        log is not used after)."""
        self._syncer.shutdown(wait=True)  # an fsync under way ends first
        self.engine.dispose()

    @staticmethod
    def _tell(listeners: list[Callable[[list[Event]], None]], events: list[Event]) -> None:
        for listener in listeners:
            listener(events)

    @property
    def committed(self) -> int:
        """Commits so far that recorded events (each durable once ``flush`` returns)."""
        return self._committed

    async def flush(self) -> None:
        """Wait until every commit made so far is durable (group commit; on the loop)."""
        target = self._committed
        self._waiting += 1
        try:
            while self._synced < target:
                if self._syncing is None:
                    self._syncing = asyncio.get_running_loop().create_task(self._sync())
                await asyncio.shield(self._syncing)
        finally:
            self._waiting -= 1
        if self._later:  # told after this waiter goes on: its answer leaves first
            asyncio.get_running_loop().call_soon(self._tell_later)

    def _tell_later(self) -> None:
        events, self._later = self._later, []
        if events:  # each waiter of the fsync calls this; the first tells
            self._tell(self.afterwards, events)

    async def _sync(self) -> None:
        target, events, self._unsynced = self._committed, self._unsynced, []
        try:
            await asyncio.get_running_loop().run_in_executor(self._syncer, _fsync,
                                                             self.wal_path)
            self._synced = target
        except OSError as exc:  # committed, but not known durable: say so, never hide it
            raise StoreError(f"could not make the record durable (fsync failed: {exc})"
                             ) from exc
        finally:
            self._syncing = None
        self._tell(self.listeners, events)
        # ``afterwards`` once the first waiter goes on (``flush``), at once if none is
        # left: a sale's answer waited for its receipt's queueing, and for the printer's
        # thread taking the interpreter, 0.3 ms.
        if not self.afterwards:  # a counter without a printer: nothing to keep
            return
        self._later += events
        if not self._waiting:
            self._tell_later()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read transaction; inside one already open on the store (the node has one
        connection), the same: it sees what that one wrote so far."""
        if self._open is not None:  # one connection: read inside what is open on it
            yield self._open
            return
        try:
            with self._on_driver(write=False) as session:
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"could not read: {exc}") from exc

    @contextmanager
    def _on_driver(self, write: bool, fsync: bool = False) -> Iterator[Session]:
        """A session whose SQLite transaction is begun and committed on the driver, and
        whose ``raw`` cursor is the driver's at once: SQLAlchemy's own transaction costs
        ~30-50 µs (a sale has 13 transactions), so it starts only when the ORM is used
        inside, and then joins this one (``_begin`` in ``_engine``). A write begins
        IMMEDIATE, taking the write lock up front so that it never fails half-way when
        another process (the CLI) writes too: a store held past the busy timeout is
        refused here, as a clear "could not record"."""
        if self._open is not None:  # only a write reaches here then: refused, touching nothing
            raise StoreError("could not record: a write cannot begin inside another"
                             " transaction or read of this store")
        fairy = self.engine.raw_connection()
        driver: Any = fairy.driver_connection
        session = self._session
        try:
            if write:
                # FULL fsyncs the WAL at commit (events); NORMAL does not (scratch state
                # such as a cart being scanned, or group commit: ``flush`` fsyncs).
                sync = "FULL" if fsync else "NORMAL"
                if fairy.info.get("synchronous") != sync:
                    self._on(driver, f"PRAGMA synchronous = {sync}")
                    fairy.info["synchronous"] = sync
            self._on(driver, "BEGIN IMMEDIATE" if write else "BEGIN")
            session.info["raw"] = Raw(driver.cursor(), self._error)
            self._open = session
            yield session
            if write:
                _still_open(driver.in_transaction)  # else the flush would write on its own
                session.flush()  # ORM changes not written yet join the transaction now
                self._on(driver, "COMMIT")
        finally:
            self._open = None
            session.close()  # the ORM's part, if it joined (a rollback ends an uncommitted one)
            if driver.in_transaction:  # not committed: an error, or a read
                driver.execute("ROLLBACK")
            fairy.close()

    def _on(self, driver: Any, statement: str) -> None:
        """``statement`` on the driver, its error raised as SQLAlchemy raises the driver's
        (a failed write reads as every other: ``not_recorded``)."""
        try:
            driver.execute(statement)
        except self._error as exc:
            raise DBAPIError.instance(statement, (), exc, self._error) from exc

    def vector(self) -> VersionVector:
        return {o: h.seq for o, h in self._heads.items()}

    def events(self, session: Session | None = None) -> Iterator[Event]:
        """Every event in HLC order, which respects each origin's seq order.

        Pass the session of an open transaction to read inside it (the node has one
        connection, so a second session would collide with it).
        """
        last = (-1, "", 0)
        while True:
            with self._maybe(session) as s:
                batch = [Event(*r) for r in raw(s).run(_IN_ORDER, last)]
            if not batch:
                return
            yield from batch
            tail = batch[-1]
            last = (tail.hlc, tail.origin, tail.seq)

    @contextmanager
    def _maybe(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
        else:
            with self.reading() as s:
                yield s

    def range(self, origin: str, first: int, last: int) -> list[Event]:
        """One origin's events ``first..last`` inclusive (what a peer asks for), from the
        live store or the archive; only the run of them held from ``first`` on (a counter
        that joined from a checkpoint holds none before it: a peer asking gets nothing,
        and asks another counter)."""
        with self.reading() as s:
            rows = raw(s).run(f"SELECT {archive.READ} FROM every_event WHERE origin = ?"
                              " AND seq BETWEEN ? AND ? ORDER BY seq", (origin, first, last))
        held = [Event(*r) for r in rows]
        run = next((i for i, e in enumerate(held) if e.seq != first + i), len(held))
        return held[:run]

    def history_from(self) -> dict[str, int]:
        """Per origin whose first events this counter does not hold yet (``archive.
        history_gaps``), the event it holds from."""
        with self.reading() as s:
            return archive.history_from(s.connection().connection.driver_connection)

    def backfill(self, events: list[Event]) -> int:
        """Of a peer's answer for one origin's history, the run that chains right below the
        lowest event held (``replication.stores.anchored``) goes into the archive with its
        segment, in one transaction (with the floor event if the archive held none of that
        origin); how many events that stored (0: none chain). Not applied: the tables hold
        what they did (the checkpoint the counter joined from); but the ledger's rows of the
        sales among them go to the archive, as a counter that was there holds them."""
        origin = events[0].origin
        made_at = self.clock().isoformat()
        with self.transaction() as tx:
            conn: Any = tx.session.connection().connection.driver_connection
            gap = archive.history_gaps(conn).get(origin)
            run = [] if gap is None else anchored(events, origin, *gap)
            if gap is None or not run:
                return 0
            low = gap[0]
            if not conn.execute("SELECT 1 FROM archive.events WHERE origin = ? AND seq = ?",
                                (origin, low)).fetchone():  # the floor event, live only
                run += archive.events_of(conn, "main.events", origin, low, low, 1)
            archive.prepend(conn, run, made_at, self.origin)
            ledger.from_history(conn, run)
        return len(run)

    def floors(self, session: Session | None = None) -> dict[str, tuple[int, bytes]]:
        """Per origin, the (seq, hash) of its last event in the archive (``archive``)."""
        with self._maybe(session) as s:
            return {str(o): (int(q), bytes(h)) for o, q, h in raw(s).run(archive.FLOORS)}

    def rebuild(self, trusted: Mapping[str, bytes] | None = None) -> int:
        """Empty every projection and replay the log; returns the events replayed. With a
        checkpoint, the tables start from it (signed by a counter of ``trusted``, else of
        the store's enrolled keys) and only the events after it are replayed; a
        checkpoint of another release's tables is built again from the events first."""
        files = store_files(self.engine)
        path = checkpoint.checkpoint_path(files.path)
        with self.reading() as s:
            at = checkpoint.standing(s.connection().connection.driver_connection, path,
                                     files.key)
        if at is None:
            if self.floors():
                raise StoreError(f"events were archived but {path} is missing: restore it "
                                 "from a backup")
            return self._replay(None, {})
        try:
            checkpoint.check(path, files.key, at, trusted or self.enrolled_keys())
        except checkpoint.Reshaped:
            if self.signer is None:
                raise
            checkpoint.from_events(files.path, files.key, at, self.signer, self.origin,
                                   self.clock().isoformat())
        with checkpoint.attached(self.engine, path, files.key):
            return self._replay(checkpoint.load, {o: s for o, (s, _) in at.items()})

    def enrolled_keys(self) -> dict[str, bytes]:
        """Each enrolled, unrevoked counter's Ed25519 key, this one's own included."""
        with self.reading() as s:
            keys = {str(n): bytes(k) for n, k in raw(s).run(checkpoint.ENROLLED_KEYS)}
        if self.signer is not None:
            keys[self.origin] = self.signer.public
        return keys

    def _replay(self, start: Callable[[Session], None] | None,
                after: Mapping[str, int]) -> int:
        with self.transaction() as tx:
            projections.reset(tx.session)
            if start is not None:
                start(tx.session)
            with collector_paused():
                return projections.apply_all(tx.session, self._after(tx.session, after))

    def _after(self, session: Session, after: Mapping[str, int]) -> Iterator[Event]:
        """The live events after ``after`` (per origin; all of one it does not name), in
        HLC order. Each origin's run is read by its key from where the checkpoint stands:
        a rebuild reads what came after it, not the whole window of live events."""
        if not after:
            return self.events(session)
        conn = session.connection().connection.driver_connection
        runs = [archive.events_of(conn, "main.events", origin, after.get(origin, 0) + 1, seq,
                                  REBUILD_BATCH) for origin, seq in self.vector().items()]
        return heapq.merge(*runs, key=lambda e: (e.hlc, e.origin, e.seq))


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a bulk write runs (a replay, an ERPNext pull):
    applying events makes no cycles (a rebuild of 200,000 events left 276 objects for
    it), but its passes over a heap that every decoded body grows cost a rebuild 4-6 %,
    and a pull of 100,000 items held its documents through 15 full passes of up to
    0.5 s, each stopping every thread of the counter (its cashier too). Whatever the run
    leaves is collected once the collector is back. Only ever turned back on: a second
    run overlapping the first cannot leave it off."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _add_signature_column(engine: Engine) -> None:
    """A store made before events were signed gets the column; its old events keep none."""
    with engine.begin() as conn:
        columns = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(events)")}
        if "sig" not in columns:
            conn.exec_driver_sql("ALTER TABLE events ADD COLUMN sig BLOB")


def _add_new_indexes(engine: Engine) -> None:
    """An index a release adds to a table the store already holds (``create_all`` makes
    only the missing tables): without it, a query planned around it reads the whole
    table, or fails where it names the index (``INDEXED BY``)."""
    with engine.begin() as conn:  # one read of what is held, not a look per index
        held = {str(n) for (n,) in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        for table in Base.metadata.sorted_tables:
            for index in table.indexes:
                if index.name not in held:
                    index.create(conn)


def _still_open(in_transaction: bool) -> None:
    """Refuse to write once SQLite has rolled the transaction back by itself (it does on a
    full disk): a statement then would commit on its own, outside the batch that failed."""
    if not in_transaction:
        raise StoreError("could not record: the store's transaction was rolled back by an"
                         " earlier error (a full disk?); nothing of it was recorded")


def _fsync(path: Path) -> None:
    """fsync the WAL: what synchronous=FULL does at each commit, once for many."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # no WAL: everything is in the database file, which SQLite synced
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Transaction:
    def __init__(self, log: EventLog, session: Session, durable: bool = True) -> None:
        self.log = log
        self.session = session
        self.durable = durable
        self.recorded: list[Event] = []

    def append(self, kind: str, body: dict[str, Any]) -> Event:
        """Record a new event of this node and apply it to the projections."""
        (made,) = self.append_many([(kind, body)])
        if isinstance(made, ValidationError):
            raise made
        return made

    def append_many(self, entries: Iterable[tuple[str, dict[str, Any]]],
                    ) -> list[Event | ValidationError]:
        """Record new events of this node, each ``(kind, body)``, as ``append`` would one
        by one, with one insert and one pass of the projections (whose rows that only add
        up are then written many at once: a pull records 100 to 2,000 events a step).
        What became of each entry: its event, or why it was refused (skipped; the rest go
        in)."""
        log = self.log
        if log.held is not None:
            raise StoreError(log.held)
        head = log._heads.get(log.origin) or _Head(0, GENESIS)
        made: list[Event | ValidationError] = []
        known: list[dict[str, Any] | None] = []  # each event's body, where plain (pack_known)
        for kind, body in entries:
            wall = log.clock()
            stamp = log.hlc.now(int(wall.timestamp() * 1000))
            packed, plain = pack_known(body)
            event = Event.make(log.origin, head.seq + 1, stamp, wall, kind, packed, head.hash)
            if log.signer is not None:
                event = log.signer.sign(event)
            try:
                check_event(event)  # an event peers would refuse would stall this origin
            except ProtocolError as exc:
                refused = ValidationError(f"cannot record {kind}: {exc}")
                refused.__cause__ = exc
                made.append(refused)
                continue
            made.append(event)
            known.append(plain)
            head = _Head(event.seq, event.hash)
        if recorded := [e for e in made if isinstance(e, Event)]:
            self._insert(recorded, known)
        return made

    def receive(self, event: Event) -> bool:
        """Insert a peer's event if it extends that origin's prefix; False if already held.

        Raises StoreError for a gap or a broken hash chain: the caller asks again.
        """
        return self.receive_many([event]) == 1

    def receive_many(self, events: list[Event]) -> int:
        """Insert peers' events in order, those already held skipped; how many were new.

        All rows go in with one statement, then the projections: several times faster
        than event by event when a new counter pulls the whole store.
        """
        log = self.log
        now_ms = int(log.clock().timestamp() * 1000)
        new: list[Event] = []
        for event in events:
            head = log._heads.get(event.origin) or _Head(0, GENESIS)
            if event.seq <= head.seq:
                continue
            if event.seq != head.seq + 1:
                raise StoreError(f"gap in {event.origin}: have {head.seq}, got {event.seq}")
            if not event.verify(head.hash):
                raise StoreError(f"event {event.id} does not chain to {event.origin}:"
                                 f"{head.seq}")
            # A peer whose clock runs far ahead must not drag our clock along for good.
            log.hlc.observe(min(event.hlc, hlc.pack(now_ms + MAX_DRIFT_MS, 0)), now_ms)
            log._heads[event.origin] = _Head(event.seq, event.hash)
            new.append(event)
        self._insert(new)
        return len(new)

    def _insert(self, events: list[Event],
                known: Sequence[dict[str, Any] | None] = ()) -> None:
        if not self.durable:
            raise StoreError("an event can only be recorded in a durable transaction")
        if not events:
            return
        self.session.flush()  # ORM changes made earlier in this transaction go first
        raw(self.session).many(_INSERT_EVENT, [
            (e.origin, e.seq, e.hlc, e.wall_us, e.kind, e.body, e.prev_hash, e.hash,
             e.sig or None) for e in events])
        for event in events:
            self.log._heads[event.origin] = _Head(event.seq, event.hash)
        projections.apply_all(self.session, events, known)
        self.recorded += events
        # Handlers write raw SQL: objects the ORM loaded earlier in this transaction
        # must be re-read.
        self.session.expire_all()
