"""Whether the projection tables a snapshot brought are what its events build.

A snapshot's tables are installed as the inviting counter had them: rebuilding them from
200,000 events takes about a minute, and a new counter must sell within seconds. So
``record`` digests every copied table right after the install (in its transaction) and
keeps the digests in meta with the installed events' extent (a vector). The running node
then replays exactly those events into a scratch store in a low-priority worker thread
(``start``) and digests its tables the same way. Equal: the tables are what the signed,
chained events say. Different: the file (or the inviting counter's tables) held rows no
event made; that is a security finding (logged once as an ERROR, listed by
``security_status``) and the node rebuilds its projections from its events.

The outcome stays in meta: a restart never repeats a finished check, and starts an
unfinished one again. Until the check ends the counter sells from the installed tables.

A snapshot that carries a checkpoint brings no tables to check: the new counter builds
them at the install from the checkpoint, checked, and the events after it (``built``).

A digest is order-free by construction (rows in primary-key order, each row's ``repr``):
it equals another store's exactly when every row and cell does, whatever order the rows
were written in. That the tables themselves do not depend on the order events arrived in
is the projections' own rule (``projections._registry``), tested with these digests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from tillmesh.node.errors import StoreError
from tillmesh.node.projections import shape
from tillmesh.node.store import checkpoint, open_engine, read_key_file
from tillmesh.node.store._engine import _connect, connect_store
from tillmesh.node.store.base import Meta
from tillmesh.node.store.const import KEY_BYTES, REBUILD_BATCH
from tillmesh.node.store.event_codec import Event
from tillmesh.node.store.event_log import EventLog
from tillmesh.node.store.tables import digests

if TYPE_CHECKING:
    from tillmesh.node.api import Node

log = logging.getLogger("tillmesh.snapshot")

KEY = "snapshot_check"  # meta: the installed snapshot's digests, extent and outcome
PENDING, VERIFIED, TAMPERED = "pending", "verified", "tampered"
REBUILT = "rebuilt"  # a release changed the tables before the check: rebuilt from events
SCRATCH = "snapshot-check"  # the scratch store's folder in the data dir (0700)


def record(conn: Any) -> None:
    """Inside the install's transaction, on its connection: the copied tables' digests
    and the copied events' extent, as a check still to do."""
    vector = dict(conn.execute("SELECT origin, max(seq) FROM main.events GROUP BY origin"))
    pending = {"state": PENDING, "installed_at": _now(), "events": sum(vector.values()),
               "vector": vector, "shape": shape(), "digests": digests(conn)}
    conn.execute("INSERT OR REPLACE INTO main.meta (key, value) VALUES (?, ?)",
                 (KEY, json.dumps(pending)))


def built(event_log: EventLog) -> None:
    """A snapshot that carried a checkpoint: the tables are made from it (``rebuild``
    checks it first: signed by an enrolled counter, its digests as sealed) and the events
    after it, here; so they are verified once built, with nothing left for the background."""
    started = time.perf_counter()
    replayed = event_log.rebuild()
    now = _now()
    with event_log.transaction() as tx:
        tx.session.merge(Meta(key=KEY, value=json.dumps(
            {"state": VERIFIED, "installed_at": now, "verified_at": now,
             "events": sum(event_log.vector().values()), "replayed": replayed,
             "built_from": "checkpoint", "seconds": round(time.perf_counter() - started, 2)})))


def held(session: Session) -> dict[str, Any] | None:
    """The snapshot check as kept in meta (digests and extent too); None without one."""
    row = session.get(Meta, KEY)
    return None if row is None else dict(json.loads(row.value))


def outcome(session: Session) -> dict[str, Any] | None:
    """What an admin reads: the state (pending, verified, tampered, rebuilt), when, how
    long it took and, when tampered, which tables differed. None: this counter did not
    join by a snapshot."""
    check = held(session)
    if check is None:
        return None
    return {k: v for k, v in check.items() if k not in ("vector", "shape", "digests")}


def replay_digests(db_path: Path, key: bytes, vector: dict[str, int], scratch_dir: Path,
                   trusted: Mapping[str, bytes] | None = None) -> dict[str, str]:
    """The digests of the tables that exactly the events within ``vector`` build, replayed
    in log order into a scratch store in ``scratch_dir``, removed after. Reads the live
    store on a connection of its own, a short read at a time. With a checkpoint, the
    scratch store starts from it, checked first (signed by a counter of ``trusted``:
    StoreError if not) and only the events after it are replayed."""
    shutil.rmtree(scratch_dir, ignore_errors=True)  # a check a stop cut short
    scratch_dir.mkdir(mode=0o700, parents=True)
    try:
        path = scratch_dir / "scratch.db"
        conn = connect_store(db_path, key)
        try:
            floor = checkpoint.standing(conn, checkpoint.checkpoint_path(db_path), key) or {}
        finally:
            conn.close()
        if floor:
            checkpoint.check(checkpoint.checkpoint_path(db_path), key, floor, trusted or {})
            checkpoint.copy(checkpoint.checkpoint_path(db_path), path, key)
            scratch_key = key
        else:
            # SQLite gives its -wal and -shm files the database file's mode.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            scratch_key = secrets.token_bytes(KEY_BYTES)
        scratch = EventLog(open_engine(path, scratch_key,
                                       archive=scratch_dir / "scratch-archive.db"), "scratch")
        try:
            for batch in _installed_events(db_path, key, vector, floor):
                with scratch.transaction() as tx:
                    tx.receive_many(batch)
        finally:
            scratch.engine.dispose()
        conn = _connect(path, scratch_key)
        try:
            return digests(conn)
        finally:
            conn.close()
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)


def _installed_events(db_path: Path, key: bytes, vector: dict[str, int],
                      floor: Mapping[str, tuple[int, bytes]]) -> Iterator[list[Event]]:
    """The events within ``vector`` and after the checkpoint (``floor``) in log order
    (hlc, origin, seq), in batches; events that came after the install are skipped."""
    conn = _connect(db_path, key)
    try:
        last: tuple[int, str, int] = (-1, "", 0)
        while True:
            rows = conn.execute(
                "SELECT origin, seq, hlc, wall_us, kind, body, prev_hash, hash,"
                " coalesce(sig, x'') FROM events WHERE (hlc, origin, seq) > (?, ?, ?)"
                " ORDER BY hlc, origin, seq LIMIT ?", (*last, REBUILD_BATCH)).fetchall()
            if not rows:
                return
            events = [Event(*row) for row in rows]
            last = (events[-1].hlc, events[-1].origin, events[-1].seq)
            yield [e for e in events if floor.get(e.origin, (0, b""))[0] < e.seq
                   <= vector.get(e.origin, 0)]
    finally:
        conn.close()


def start(node: Node) -> threading.Thread | None:
    """On the running node (its event loop): verify an installed snapshot not verified
    yet, in a worker thread; None when there is nothing to verify."""
    with node.read() as session:
        check = held(session)
    if check is None or check["state"] != PENDING:
        return None
    if check["shape"] != shape():  # tables of another format: digests cannot compare
        with node.log.transaction() as tx:  # and the event log rebuilt them on opening
            tx.session.merge(Meta(key=KEY, value=json.dumps(
                {**check, "state": REBUILT, "verified_at": _now(), "seconds": 0})))
        return None
    trusted = node.log.enrolled_keys()  # read here: the store is the loop's
    worker = threading.Thread(target=_verify, args=(node, asyncio.get_running_loop(), check,
                                                    trusted),
                              name="tillmesh-snapshot-check", daemon=True)
    worker.start()
    return worker


def _verify(node: Node, loop: asyncio.AbstractEventLoop, check: dict[str, Any],
            trusted: Mapping[str, bytes]) -> None:
    # Lowest CPU priority for this thread only (Linux: a thread is a task of its own);
    # its SQLite work releases the GIL, so the loop's requests go first.
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    started = time.perf_counter()
    try:
        built = replay_digests(node.config.db_path, read_key_file(node.config.key_path),
                               check["vector"], node.config.data_dir / SCRATCH, trusted)
    except StoreError as exc:  # the checkpoint it carried is forged: nothing to rebuild from
        log.error("SECURITY: the snapshot this counter joined with carried a checkpoint "
                  "that fails its check (%s): join this counter again", exc)
        return
    except Exception:  # a bug or a full disk: say so; the next start checks again
        log.exception("could not verify the snapshot this counter joined with")
        return
    seconds = round(time.perf_counter() - started, 2)
    differ = sorted(name for name, digest in check["digests"].items()
                    if built.get(name) != digest)
    if differ:
        log.error("SECURITY: the snapshot this counter joined with held tables its events do "
                  "not build (%s): rebuilding every projection from the events",
                  ", ".join(differ))
        done = {**check, "state": TAMPERED, "tables": differ, "found_at": _now(),
                "seconds": seconds}
    else:
        log.info("snapshot verified: its tables are what its %d events build (%.1f s)",
                 check["events"], seconds)
        done = {**check, "state": VERIFIED, "verified_at": _now(), "seconds": seconds}
    finish = _finish(node.log, done)
    try:
        future = asyncio.run_coroutine_threadsafe(finish, loop)
    except RuntimeError:  # the loop closed: the node stopped meanwhile; next start, again
        finish.close()
        return
    try:
        future.result()
    except concurrent.futures.CancelledError:  # the node is stopping; next start, again
        return
    except Exception:
        log.exception("could not record the check of the snapshot this counter joined with")


async def _finish(event_log: EventLog, done: dict[str, Any]) -> None:
    """On the loop, which owns the store: a tampered snapshot's projections are rebuilt
    from the events (one transaction: selling waits meanwhile, then sees the rebuilt
    tables), with the outcome in the same transaction."""
    with event_log.batch():
        if done["state"] == TAMPERED:
            done["rebuilt_events"] = event_log.rebuild()
        with event_log.transaction() as tx:
            tx.session.merge(Meta(key=KEY, value=json.dumps(done)))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
