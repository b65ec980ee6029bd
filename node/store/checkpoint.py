"""A checkpoint: the projection tables as the events up to a point left them.

Events before the checkpoint are not replayed again: ``rebuild`` starts from it and
applies only the events after it, and a joining counter gets it with those events only,
so their cost follows what happened since the last night, not the store's age.
Projections are pure functions of the event set whatever the order of origins, so the
tables at the checkpoint plus the later events equal a replay of every event (tested).

Each archiving run (``ops.archiving``) brings it forward, to the frontier of what ERPNext
holds: per origin, up to the first event whose document is still owed or not
consolidated (a counter holding only later events could not deliver it). The archive's
floor (``event_floor``) never passes it: the live store holds every event after the
floor, the checkpoint stands at or after the floor.

``<store>-checkpoint.db`` (SQLCipher, the store's key) holds every table of the store's
schema, the projection tables filled, ``event_floor`` set to the vector it stands at,
and in ``meta`` its seal: that vector and each origin's hash there, the tables' shape and
digests, the seal of the checkpoint before it, who made it and when, and that counter's
Ed25519 signature of it all. It is checked the way events are: its hashes must be the
store's own events there (``standing``), its digests its tables', its signature a
counter's the store enrolled. Each run makes the next one from the last plus the events
between, then lets the ledger's rows of archived-for-good sales go to the archive
(``ledger.compact``), and the outbox's rows of the shifts nothing is owed for any more
(``outbox.forget_shifts``); the live store deletes the same rows after it
(``ops.archiving``), so the two stay equal.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tillmesh.node import projections
from tillmesh.node.errors import StoreError
from tillmesh.node.projections import deliveries, ledger, outbox
from tillmesh.node.store import archive
from tillmesh.node.store._engine import _connect, archive_path, connect_store, open_engine
from tillmesh.node.store.base import PROJECTIONS_KEY, Base, Meta
from tillmesh.node.store.const import REBUILD_BATCH
from tillmesh.node.store.tables import copy_rows, create_like, digests
from tillmesh.replication.event import Event
from tillmesh.replication.signing import Signer, digest_signed_by

KEY = "checkpoint"  # meta, in the checkpoint file: its seal
ALIAS = "ckpt"
NONE = "0" * 64  # the "previous" of the first checkpoint

Floor = Mapping[str, tuple[int, bytes]]
# Whose signature a checkpoint may carry: the store's enrolled, unrevoked counters.
ENROLLED_KEYS = ("SELECT node, signing_key FROM members WHERE signing_key IS NOT NULL"
                 " AND NOT revoked")


def checkpoint_path(db_path: Path) -> Path:
    return db_path.with_name(f"{db_path.stem}-checkpoint{db_path.suffix}")


@dataclass(frozen=True)
class Seal:
    vector: dict[str, int]
    heads: dict[str, str]  # origin -> hex hash of its event at ``vector``
    shape: str  # ``projections.shape()`` of the release that built the tables
    digests: dict[str, str]  # projection table -> ``tables.table_digest``
    prev: str  # the digest of the checkpoint this one was built from (NONE: from nothing)
    made_by: str
    made_at: str
    sig: str = ""  # hex Ed25519 signature of ``digest`` by ``made_by``

    @property
    def digest(self) -> bytes:
        content = {k: v for k, v in asdict(self).items() if k != "sig"}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).digest()

    def at(self, floor: Floor) -> bool:
        """True when it stands exactly at ``floor`` (seqs and hashes)."""
        return self.vector == {o: s for o, (s, _) in floor.items()} and self.heads == {
            o: h.hex() for o, (_, h) in floor.items()}


class Reshaped(StoreError):
    """The checkpoint's tables were built by a release with other tables: this release
    builds them again from the archive."""


def read_seal(path: Path, key: bytes) -> Seal | None:
    """The seal of the checkpoint at ``path``; None when there is none."""
    if not path.exists():
        return None
    conn = _connect(path, key)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (KEY,)).fetchone()
    except Exception as exc:
        raise StoreError(f"cannot read the checkpoint {path}: {exc}") from exc
    finally:
        conn.close()
    return None if row is None else Seal(**json.loads(row[0]))


def check(path: Path, key: bytes, floor: Floor, trusted: Mapping[str, bytes]) -> Seal:
    """The checkpoint at ``path``, checked: it stands at ``floor`` (``standing``), a counter of
    ``trusted`` (counter -> public signing key) signed it, its tables are what it sealed,
    and this release built them (else ``Reshaped``). StoreError saying what fails."""
    seal = read_seal(path, key)
    if seal is None:
        raise StoreError(f"no checkpoint at {path}: the archived events cannot be skipped")
    if not seal.at(floor):
        raise StoreError(f"the checkpoint stands at {seal.vector}, but this store's "
                         "events there are not the ones it sealed: refused")
    public = trusted.get(seal.made_by)
    if public is None or not digest_signed_by(seal.digest, bytes.fromhex(seal.sig), public):
        raise StoreError(f"the checkpoint is not signed by {seal.made_by}'s enrolled key: "
                         "refused")
    if seal.shape != projections.shape():
        raise Reshaped("the checkpoint's tables are another release's")
    conn = _connect(path, key)
    try:
        found = digests(conn)
    finally:
        conn.close()
    changed = sorted(t for t in found if found[t] != seal.digests.get(t))
    if changed:
        raise StoreError(f"the checkpoint's tables differ from what was sealed "
                         f"({', '.join(changed)}): it was altered")
    return seal


def standing(conn: Any, path: Path, key: bytes) -> Floor | None:
    """Where the checkpoint at ``path`` stands, with the hash of the store's own event
    at each seq there (``conn``: the store's, archive attached; empty when the store does
    not hold it); None when there is no checkpoint."""
    seal = read_seal(path, key)
    if seal is None:
        return None
    held = {}
    for origin, seq in seal.vector.items():
        row = conn.execute("SELECT hash FROM every_event WHERE origin = ? AND seq = ?",
                           (origin, seq)).fetchone()
        held[origin] = (seq, b"" if row is None else bytes(row[0]))
    return held


def stands_on(conn: Any, path: Path, key: bytes) -> bool:
    """Whether the checkpoint at ``path`` stands on this store's own events (``conn``)."""
    seal, at = read_seal(path, key), standing(conn, path, key)
    return seal is not None and at is not None and seal.at(at)


def advance(db_path: Path, key: bytes, upto: Floor, signer: Signer, made_by: str,
            made_at: str) -> Seal:
    """The next checkpoint, at ``upto``: the last one with the store's events between
    its vector and ``upto`` applied in HLC order."""
    before = read_seal(checkpoint_path(db_path), key)
    after = {} if before is None else dict(before.vector)
    return _build(db_path, key, after, upto, signer, made_by, made_at, before)


def from_events(db_path: Path, key: bytes, upto: Floor, signer: Signer, made_by: str,
                made_at: str) -> Seal:
    """A checkpoint at ``upto`` built from nothing by every event up to it (a release
    whose tables differ from the last checkpoint's: the one replay of the history).
    StoreError when the store does not hold them all (it joined from a checkpoint)."""
    conn = connect_store(db_path, key)
    try:
        for origin, (seq, _) in upto.items():
            held = conn.execute("SELECT count(*) FROM every_event WHERE origin = ? AND"
                                " seq <= ?", (origin, seq)).fetchone()[0]
            if held != seq:
                raise StoreError(
                    f"this counter holds {held} of {origin}'s first {seq} events (it "
                    "joined from a checkpoint): this release's tables can be built only "
                    "from them all; let it fetch them from the other counters first "
                    "(`tillmesh status` shows history_from until it holds them), or join "
                    "it again from a counter of this release")
    finally:
        conn.close()
    return _build(db_path, key, {}, upto, signer, made_by, made_at, None)


def _between(db_path: Path, key: bytes, after: Mapping[str, int], upto: Floor
             ) -> Iterator[Event]:
    """The store's events after ``after`` up to ``upto`` (per origin), live or archived,
    in HLC order: each origin's run is in seq order, which is its HLC order."""
    conn = connect_store(db_path, key)
    try:
        runs = [archive.events_of(conn, "every_event", origin, after.get(origin, 0) + 1,
                                  seq, REBUILD_BATCH) for origin, (seq, _) in upto.items()]
        yield from heapq.merge(*runs, key=lambda e: (e.hlc, e.origin, e.seq))
    finally:
        conn.close()


def _build(db_path: Path, key: bytes, after: Mapping[str, int], upto: Floor, signer: Signer,
           made_by: str, made_at: str, before: Seal | None) -> Seal:
    """``before``'s tables (or empty ones) with the store's events after ``after`` up to
    ``upto``. Built beside and renamed over the old file once sealed and on disk: a
    failure leaves the old one."""
    path = checkpoint_path(db_path)
    fresh = path.with_name(f".{path.name}.new")
    fresh.unlink(missing_ok=True)
    if before is not None:
        copy(path, fresh, key)
    engine = open_engine(fresh, key, archive=archive_path(db_path))
    try:
        Base.metadata.create_all(engine)
        with Session(engine) as session, session.begin():
            conn: Any = session.connection().connection.driver_connection
            conn.execute("DELETE FROM event_floor")
            conn.executemany("INSERT INTO event_floor (origin, seq, hash) VALUES (?, ?, ?)",
                             [(o, s, h) for o, (s, h) in upto.items()])
            archive.see_store_up_to(conn, db_path, key)
            projections.apply_all(session, _between(db_path, key, after, upto))
            # The rows of sales that left, and of their delivery: the store drops the same.
            left = ledger.compact(session)
            outbox.forget(session, left)
            outbox.forget_shifts(session)
            deliveries.compact(session, left)
        # Sealed once committed: a projection may hold rows back until the commit (search).
        with Session(engine) as session, session.begin():
            conn = session.connection().connection.driver_connection
            seal = Seal({o: s for o, (s, _) in upto.items()},
                        {o: h.hex() for o, (_, h) in upto.items()}, projections.shape(),
                        digests(conn), NONE if before is None else before.digest.hex(),
                        made_by, made_at)
            seal = Seal(**{**asdict(seal), "sig": signer.sign_digest(seal.digest).hex()})
            session.merge(Meta(key=KEY, value=json.dumps(asdict(seal))))
            # A store opened on a copy of it (a snapshot's check) finds its tables current.
            session.merge(Meta(key=PROJECTIONS_KEY, value=seal.shape))
    finally:
        engine.dispose()
    _put(fresh, path, key)
    return seal


def _put(fresh: Path, path: Path, key: bytes) -> None:
    """``fresh`` in the place of ``path``, whole and on disk first."""
    _settle(fresh, key)
    os.replace(fresh, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename too
    finally:
        os.close(directory)


# --- carried in a snapshot, for a joining counter -----------------------------------------

PREFIX = "ckpt__"  # a checkpoint table's name in a snapshot file
SEAL_TABLE = "ckpt_seal"


def export_into(conn: Any, schema: str) -> None:
    """Inside a snapshot's export (its read transaction, the checkpoint attached as
    ``ALIAS``): the checkpoint's tables and seal into the snapshot attached as ``schema``."""
    for table in projections.projection_tables():
        dest = f"{schema}.{PREFIX}{table.name}"
        create_like(conn, table.name, dest, schema=ALIAS)
        copy_rows(conn, table.name, f"{ALIAS}.{table.name}", dest, schema=ALIAS)
    conn.execute(f"CREATE TABLE {schema}.{SEAL_TABLE} (value TEXT NOT NULL)")
    conn.execute(f"INSERT INTO {schema}.{SEAL_TABLE} SELECT value FROM {ALIAS}.meta"
                 " WHERE key = ?", (KEY,))


def carried(conn: Any, schema: str) -> Seal | None:
    """The seal of the checkpoint a snapshot attached as ``schema`` carries (None: none)."""
    if not conn.execute(f"SELECT 1 FROM {schema}.sqlite_master WHERE name = ?",
                        (SEAL_TABLE,)).fetchone():
        return None
    row = conn.execute(f"SELECT value FROM {schema}.{SEAL_TABLE}").fetchone()
    return None if row is None else Seal(**json.loads(row[0]))


def install_from(snapshot: Path, snapshot_key: bytes, db_path: Path, key: bytes,
                 seal: Seal) -> None:
    """This counter's checkpoint from the one a snapshot carries (its tables as sealed;
    ``check`` judges them, and who signed them, before anything relies on them)."""
    path = checkpoint_path(db_path)
    fresh = path.with_name(f".{path.name}.new")
    fresh.unlink(missing_ok=True)
    engine = open_engine(fresh, key, archive=archive_path(db_path))
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()
    conn = _connect(fresh, key)
    try:
        with attached_to(conn, snapshot, snapshot_key):
            conn.execute("BEGIN IMMEDIATE")
            for table in projections.projection_tables():
                copy_rows(conn, table.name, f"{ALIAS}.{PREFIX}{table.name}",
                          f"main.{table.name}")
            conn.executemany(
                "INSERT INTO main.event_floor (origin, seq, hash) VALUES (?, ?, ?)",
                [(o, s, bytes.fromhex(seal.heads[o])) for o, s in seal.vector.items()])
            conn.executemany("INSERT OR REPLACE INTO main.meta (key, value) VALUES (?, ?)",
                             [(KEY, json.dumps(asdict(seal))), (PROJECTIONS_KEY, seal.shape)])
            conn.execute("COMMIT")
    finally:
        conn.close()
    _put(fresh, path, key)


def copy(source: Path, dest: Path, key: bytes) -> None:
    """A whole copy of a checkpoint file (one read snapshot)."""
    src = _connect(source, key)
    try:
        target = _connect(dest, key)
        try:
            src.backup(target)
        finally:
            target.close()
    finally:
        src.close()


def _settle(path: Path, key: bytes) -> None:
    """Fold the WAL into the file, give back the pages the rows that left freed, and make
    it durable before it replaces the old one (each checkpoint is the last one copied:
    unvacuumed, a month's archiving doubled the file with free pages)."""
    conn = _connect(path, key)
    try:
        conn.execute("PRAGMA journal_mode = DELETE").fetchone()
        conn.execute("VACUUM")
    finally:
        conn.close()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def attached_to(conn: Any, path: Path, key: bytes) -> Iterator[None]:
    """The checkpoint file at ``path`` (or a snapshot carrying one) attached to the DB-API
    connection ``conn`` as ``ckpt``, outside any transaction, as SQLite requires."""
    conn.execute(f"ATTACH DATABASE ? AS {ALIAS} KEY ?", (str(path), f"x'{key.hex()}'"))
    try:
        yield
    finally:
        conn.execute(f"DETACH DATABASE {ALIAS}")


@contextlib.contextmanager
def attached(engine: Engine, path: Path, key: bytes) -> Iterator[None]:
    """The checkpoint attached to the engine's connection (``attached_to``)."""
    raw_conn = engine.raw_connection()
    try:
        with attached_to(raw_conn.driver_connection, path, key):
            yield
    finally:
        raw_conn.close()


def load(session: Session) -> None:
    """Inside the rebuild's transaction, the projection tables emptied: fill them from the
    attached checkpoint."""
    conn: Any = session.connection().connection.driver_connection
    for table in projections.projection_tables():
        copy_rows(conn, table.name, f"{ALIAS}.{table.name}", f"main.{table.name}")
