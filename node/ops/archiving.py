"""``tillmesh archive run | status | verify | export``: old events leave the live store.

``run`` moves the events the retention policy lets go (``domain.retention``: older than
the fiscal years kept, their documents in ERPNext and consolidated) into the archive
beside the store (``store.archive``), brings the checkpoint up to the new floor
(``store.checkpoint``), then raises the floor and deletes the live copies in small
transactions, so the node sells on while it runs (a systemd timer runs it nightly). A run
cut anywhere is finished by the next one. ``verify`` checks every seal and chain of the
archive and the checkpoint's signature and tables; ``export`` writes months of the
archive as JSON lines for an auditor, with every hash and signature to check them by.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from tillmesh.node import projections
from tillmesh.node.domain import invoice_ranges, retention
from tillmesh.node.errors import StoreError, ValidationError
from tillmesh.node.membership.keys import read_keypair_file
from tillmesh.node.ops import config as config_mod
from tillmesh.node.ops.config import Config
from tillmesh.node.ops.provisioning import _node_stopped
from tillmesh.node.projections import deliveries, ledger
from tillmesh.node.store import archive, checkpoint, open_engine, read_key_file
from tillmesh.node.store._engine import archive_path, connect_store
from tillmesh.node.store.const import REBUILD_BATCH
from tillmesh.node.store.event_codec import Event, unpack_body
from tillmesh.node.store.ownership import create
from tillmesh.replication import hlc
from tillmesh.replication.signing import Signer

DataDir = Callable[[argparse.Namespace], Path]
LOWER_BATCH = 2000  # events deleted per transaction: a sale waits at most a few ms for one
INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL
GIVE_BACK_AT_ONCE = 65_536  # free pages a run gives back in one commit (256 MiB of 4 KiB)
APPEND_BATCH = 50_000  # events copied into the archive per transaction (bounded WAL)
Floor = dict[str, tuple[int, bytes]]


@dataclass(frozen=True)
class Moved:
    events: int
    segments: int
    floor: dict[str, int]
    cutoff: datetime
    seconds: float
    sales: int = 0  # sales rows that left the live ledger
    checkpoint: dict[str, int] = field(default_factory=dict)  # where it stands now
    kept_free: int = 0  # bytes of free pages the store keeps (``_giving_back``)


def run(config: Config, now: datetime, signer: Signer, cut: datetime | None = None) -> Moved:
    """Bring the checkpoint to what ERPNext holds and move what the policy lets go (or
    what is older than ``cut``, for a benchmark's shorter window); safe while the node
    runs and after a cut run."""
    start = time.perf_counter()
    key = read_key_file(config.key_path)
    cut = cut or retention.cutoff(now, config.tz,
                                  retention.fiscal_start(config.fiscal_year_start),
                                  config.keep_fiscal_years)
    path = checkpoint.checkpoint_path(config.db_path)
    held = checkpoint.read_seal(path, key)
    if held is not None and held.shape != projections.shape():
        # Brought forward, its tables would be part another release's, sealed as this one's.
        raise StoreError("the checkpoint holds another release's tables: start the node "
                         "once (it builds them again from the events), then archive")
    conn = connect_store(config.db_path, key)
    try:
        with _giving_back(conn):
            _finish(conn)
            _compact(conn, config.db_path, key)
        stands = dict(checkpoint.standing(conn, path, key) or {})
        sales = 0
        ahead = _plan(config.db_path, key, None, {o: s for o, (s, _) in stands.items()})
        if ahead:  # the checkpoint first: the floor never passes it
            stands |= _hashes(conn, ahead, "every_event")
            checkpoint.advance(config.db_path, key, stands, signer, config.node_id,
                               now.isoformat())
            with _giving_back(conn):
                sales = _compact(conn, config.db_path, key)
        before = archive.floors(conn)
        target = {o: min(s, stands[o][0]) for o, s in _plan(
            config.db_path, key, hlc.pack(int(cut.timestamp() * 1000), 0),
            {o: s for o, (s, _) in before.items()}).items() if o in stands}
        target = {o: s for o, s in target.items() if s > before.get(o, (0, b""))[0]}
        events = segments = 0
        if target:
            events, segments = _append(conn, before, target, now.isoformat(), config.node_id)
            with _giving_back(conn):
                _lower(conn, before, {**before, **_hashes(conn, target, "archive.events")})
        floor = archive.floors(conn)
        free = _free_pages(conn)
        kept_free = free * int(conn.execute("PRAGMA main.page_size").fetchone()[0]) \
            if free > GIVE_BACK_AT_ONCE else 0
    finally:
        conn.close()
    return Moved(events, segments, {o: s for o, (s, _) in floor.items()}, cut,
                 time.perf_counter() - start, sales, {o: s for o, (s, _) in stands.items()},
                 kept_free)


def _plan(db_path: Path, key: bytes, cutoff_hlc: int | None, base: dict[str, int]
          ) -> dict[str, int]:
    """Per origin, how far past ``base`` the policy lets go now (only those that move):
    up to the first event whose document is owed or unconsolidated, and (``cutoff_hlc``)
    older than the window."""
    engine = open_engine(db_path, key)
    try:
        with Session(engine) as session:
            cursor: Any = session.connection().connection.driver_connection
            older = {str(o): int(s) for o, s in cursor.execute(
                "SELECT origin, max(seq) FROM main.events"
                + ("" if cutoff_hlc is None else " WHERE hlc < ?") + " GROUP BY origin",
                () if cutoff_hlc is None else (cutoff_hlc,))}
            owed = {str(o): int(s) for o, s in cursor.execute(
                "SELECT origin, min(seq) FROM outbox WHERE settled = 0 GROUP BY origin")}
            within = {o: (base.get(o, 0), s) for o, s in older.items()}
            for origin, seq in ledger.first_unconsolidated(session, within).items():
                owed[origin] = min(seq, owed.get(origin, seq))
            return retention.next_floor(base, older, owed)
    finally:
        engine.dispose()


def _append(conn: Any, before: Floor, target: dict[str, int], made_at: str,
            made_by: str) -> tuple[int, int]:
    """Copy each origin's events (floor, target] into the archive; (events, segments)."""
    events = segments = 0
    for origin in sorted(target):
        first = before.get(origin, (0, b""))[0] + 1
        while first <= target[origin]:
            last = min(target[origin], first + APPEND_BATCH - 1)
            conn.execute("BEGIN")  # deferred: only the archive is written, never main
            try:
                batch = [Event(*row) for row in conn.execute(
                    f"SELECT {archive.READ} FROM main.events WHERE origin = ? AND seq"
                    " BETWEEN ? AND ? ORDER BY seq", (origin, first, last))]
                if len(batch) != last - first + 1:
                    raise StoreError(f"the live store lacks events of {origin} between "
                                     f"{first} and {last}: not archived")
                made = archive.append(conn, batch, made_at, made_by)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            events += sum(s.events for s in made)
            segments += len(made)
            first = last + 1
    return events, segments


def _hashes(conn: Any, target: dict[str, int], table: str) -> Floor:
    out = {}
    for origin, seq in target.items():
        row = conn.execute(f"SELECT hash FROM {table} WHERE origin = ? AND seq = ?",
                           (origin, seq)).fetchone()
        if row is None:
            raise StoreError(f"the store lacks {origin}:{seq}")
        out[origin] = (seq, bytes(row[0]))
    return out


def _lower(conn: Any, before: Floor, floor: Floor) -> None:
    """Raise the floor to ``floor`` and delete the live copies below it, a few thousand
    events per transaction; the kept kinds and each origin's floor event stay live."""
    kept = ", ".join("?" * len(archive.KEPT))
    for origin, (upto, _) in sorted(floor.items()):
        at = before.get(origin, (0, b""))[0]
        while at < upto:
            step = min(upto, at + LOWER_BATCH)
            with _immediate(conn):
                row = conn.execute("SELECT hash FROM archive.events WHERE origin = ? AND"
                                   " seq = ?", (origin, step)).fetchone()
                conn.execute(f"DELETE FROM main.events WHERE origin = ? AND seq >= ? AND"
                             f" seq < ? AND kind NOT IN ({kept})",
                             (origin, at, step, *archive.KEPT))
                conn.execute("INSERT OR REPLACE INTO main.event_floor (origin, seq, hash)"
                             " VALUES (?, ?, ?)", (origin, step, row[0]))
            at = step


# The live tables whose rows of archived documents a checkpoint lets go (``ledger.compact``,
# ``outbox.forget``), each with what must hold before a row may go here.
_COMPACTED = {"sales": "invoice IN (SELECT invoice FROM archive.sales)",  # copied there
              "outbox": "settled = 1"}


def _compact(conn: Any, db_path: Path, key: bytes) -> int:
    """Delete the live rows of archived documents that the checkpoint let go (those at or
    below its floor it no longer holds), a few thousand per transaction; how many sales."""
    path = checkpoint.checkpoint_path(db_path)
    if not path.exists():
        return 0
    ckpt = checkpoint.ALIAS
    with checkpoint.attached_to(conn, path, key):
        floor = conn.execute(f"SELECT origin, seq FROM {ckpt}.event_floor").fetchall()
        gone = {table: [row for origin, upto in floor for row in conn.execute(
            f"SELECT rowid FROM main.{table} t WHERE origin = ? AND seq <= ? AND {must}"
            f" AND NOT EXISTS (SELECT 1 FROM {ckpt}.{table} c WHERE {_same(conn, table)})",
            (origin, upto)).fetchall()] for table, must in _COMPACTED.items()}
        # Stock slots: those the archive holds and the checkpoint let go (no event moves
        # them again, ``ledger._slot_final``).
        gone["stock_deltas"] = conn.execute(
            "SELECT rowid FROM main.stock_deltas t WHERE EXISTS (SELECT 1 FROM"
            f" archive.stock_deltas a WHERE {_same(conn, 'stock_deltas', 'a')}) AND NOT EXISTS"
            f" (SELECT 1 FROM {ckpt}.stock_deltas c WHERE {_same(conn, 'stock_deltas')})"
        ).fetchall()
        gone["deliveries"] = _delivered_for_good(conn)
    for table, rows in gone.items():
        for at in range(0, len(rows), LOWER_BATCH):
            with _immediate(conn):
                conn.executemany(f"DELETE FROM main.{table} WHERE rowid = ?",
                                 rows[at:at + LOWER_BATCH])
    return len(gone["sales"])


def _delivered_for_good(conn: Any) -> list[tuple[int]]:
    """The checkpoint's ranges of invoices delivered for good, copied into the live store
    (first: a late event about one of them already changes nothing there), and the live
    rows of delivery they cover that the checkpoint let go (``deliveries.compact``)."""
    ckpt, columns = checkpoint.ALIAS, "series, lo, hi"
    with _immediate(conn):
        conn.execute("DELETE FROM main.delivered_for_good")
        conn.execute(f"INSERT INTO main.delivered_for_good ({columns}) SELECT {columns}"
                     f" FROM {ckpt}.delivered_for_good")
    ranges: dict[str, list[invoice_ranges.Range]] = {}
    for series, lo, hi in conn.execute(f"SELECT {columns} FROM main.delivered_for_good"
                                       " ORDER BY series, lo"):
        ranges.setdefault(str(series), []).append((int(lo), int(hi)))
    rows = conn.execute(
        "SELECT rowid, name FROM main.deliveries t WHERE doctype = ? AND NOT EXISTS"
        f" (SELECT 1 FROM {ckpt}.deliveries c WHERE {_same(conn, 'deliveries')})",
        (deliveries.INVOICE,)).fetchall()
    return [(rowid,) for rowid, name in rows
            if (split := invoice_ranges.split(str(name))) is not None
            and invoice_ranges.covered(ranges.get(split[0], []), split[1])]


@contextlib.contextmanager
def _immediate(conn: Any) -> Iterator[None]:
    """One write transaction on the DB-API connection ``conn``: committed, or rolled back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _same(conn: Any, table: str, other: str = "c") -> str:
    """``other`` (the checkpoint's row, by default) has ``t``'s primary key."""
    keys = [row[1] for row in conn.execute(f"PRAGMA main.table_info({table})") if row[5]]
    return " AND ".join(f"{other}.{k} = t.{k}" for k in keys)


@contextlib.contextmanager
def _giving_back(conn: Any) -> Iterator[None]:
    """While the run deletes, each of its transactions gives the pages it freed back to
    the disk as it commits (``auto_vacuum`` FULL for that while, and for the node's own
    commits meanwhile, which free a page or two; INCREMENTAL again after, or at the next
    run if the power went, so a sale does no such work otherwise). Giving them back afterwards
    with ``incremental_vacuum`` costs time that grows with the square of the pages freed
    (SQLite looks each page at the file's end up in the free list): a year's store gave
    back 128 pages/s that way, 30 s per transaction, while FULL gives back a commit's
    pages at once from a free list that stays short. First, what the store freed since
    the last run. A store made without ``auto_vacuum``, or holding more free pages than
    ``GIVE_BACK_AT_ONCE`` (one archived by a release that gave them back afterwards: a
    commit writes a WAL frame per free page, 17 GiB for a year's), keeps them for later
    events until ``vacuum``."""
    if int(conn.execute("PRAGMA main.auto_vacuum").fetchone()[0]) != INCREMENTAL \
            or _free_pages(conn) > GIVE_BACK_AT_ONCE:
        yield
        return
    conn.execute("PRAGMA main.auto_vacuum = FULL")
    try:
        with _immediate(conn):
            pass
        yield
    finally:
        conn.execute("PRAGMA main.auto_vacuum = INCREMENTAL")


def _free_pages(conn: Any) -> int:
    return int(conn.execute("PRAGMA main.freelist_count").fetchone()[0])


def vacuum(config: Config) -> tuple[int, int]:
    """A store made before stores kept their freed pages apart (``auto_vacuum``), or
    holding more than a run gives back at once, is rewritten once, with the node
    stopped: the pages archived events left are given back to the disk, now and after
    every later run. The store's bytes on disk (database and WAL) before and after.
    Refused when the disk has not room for the copy SQLite writes meanwhile."""
    before = _size(config.db_path)
    free = shutil.disk_usage(config.db_path.parent).free
    if free < before:
        raise StoreError(f"{before / 2**30:.2f} GiB free are needed beside the store to "
                         f"rewrite it ({free / 2**30:.2f} GiB are): free some space first")
    with _node_stopped(config, "archive vacuum"):
        conn = connect_store(config.db_path, read_key_file(config.key_path))
        try:
            conn.execute("PRAGMA main.auto_vacuum = INCREMENTAL")
            conn.execute("VACUUM main")
            conn.execute("PRAGMA main.wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            conn.close()
    return before, _size(config.db_path)


def _finish(conn: Any) -> None:
    """A run cut after it archived: the floor goes up to the archive's last events."""
    floor = archive.floors(conn)
    ahead = {o: h for o, h in archive.archived_heads(conn).items()
             if h[0] > floor.get(o, (0, b""))[0]}
    if ahead:
        _lower(conn, floor, {**floor, **ahead})


# --- status, verify, export ---------------------------------------------------------------


def status(config: Config) -> dict[str, Any]:
    key = read_key_file(config.key_path)
    conn = connect_store(config.db_path, key)
    try:
        floor = archive.floors(conn)
        segments = archive.read_segments(conn)
        live = conn.execute("SELECT count(*) FROM main.events").fetchone()[0]
        history = archive.history_from(conn)
    finally:
        conn.close()
    seal = checkpoint.read_seal(checkpoint.checkpoint_path(config.db_path), key)
    months = sorted({s.month for s, _ in segments})
    return {"live_events": live, "archived_events": sum(s.events for s, _ in segments),
            "months": months, "floor": {o: s for o, (s, _) in floor.items()},
            "history_from": history,  # origins whose first events are still to come
            "checkpoint": None if seal is None else {"vector": seal.vector,
                                                     "made_by": seal.made_by,
                                                     "made_at": seal.made_at},
            "bytes": {name: _size(path) for name, path in (
                ("store", config.db_path), ("archive", archive_path(config.db_path)),
                ("checkpoint", checkpoint.checkpoint_path(config.db_path)))}}


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def verify(config: Config) -> list[str]:
    """Every seal, chain and the checkpoint; lines saying what holds. StoreError at the
    first thing that fails."""
    key = read_key_file(config.key_path)
    conn = connect_store(config.db_path, key)
    try:
        checked = archive.verify(conn, REBUILD_BATCH)
        path = checkpoint.checkpoint_path(config.db_path)
        at = checkpoint.standing(conn, path, key)
        trusted = {str(n): bytes(k) for n, k in conn.execute(checkpoint.ENROLLED_KEYS)}
    finally:
        conn.close()
    lines = [f"archive: {checked.segments} segments, {checked.events:,} events, every seal "
             "and chain holds; the live store starts where it ends"]
    if checked.starts:
        lines.append(f"history: this counter joined from a checkpoint and holds"
                     f" {archive.held_from(checked.starts)};"
                     " the earlier events come from the other counters in the background")
    if at is None and checked.events:
        raise StoreError(f"events were archived but {path} is missing")
    if at is not None:
        trusted[config.node_id] = read_keypair_file(config.node_key_path).signer.public
        seal = checkpoint.check(path, key, at, trusted)
        lines.append(f"checkpoint: at {sum(seal.vector.values()):,} events, signed by "
                     f"{seal.made_by} ({seal.made_at}), its {len(seal.digests)} tables as"
                     " sealed")
    return lines


def export(config: Config, first: str, last: str, out: Path) -> int:
    """Months ``first``..``last`` of the archive as JSON lines into ``out`` (0600, the
    data dir owner's when run as root): one line per segment, then its events, each with
    its body decoded and as stored (base64), hash, previous hash and signature. Events."""
    key = read_key_file(config.key_path)
    conn = connect_store(config.db_path, key)
    count = 0
    try:
        segments = archive.read_segments(conn, (first, last))
        if not segments:
            raise ValidationError(f"the archive holds no month from {first} to {last}")
        fd = create(out, out.parent)
        with open(fd, "w", encoding="utf-8") as fh:
            for segment, seal in segments:
                fh.write(json.dumps({"segment": segment.month, "ranges": segment.ranges,
                                     "heads": segment.heads, "prev_seal": segment.prev_seal,
                                     "seal": seal, "made_by": segment.made_by,
                                     "made_at": segment.made_at}) + "\n")
                for event in archive.segment_events(conn, segment, REBUILD_BATCH):
                    fh.write(json.dumps(_exported(event), default=str) + "\n")
                    count += 1
    finally:
        conn.close()
    return count


def _exported(event: Event) -> dict[str, Any]:
    return {"id": event.id, "origin": event.origin, "seq": event.seq, "hlc": event.hlc,
            "wall": event.wall.isoformat(), "kind": event.kind,
            "body": unpack_body(event.body), "body_msgpack": base64.b64encode(
                event.body).decode(), "prev_hash": event.prev_hash.hex(),
            "hash": event.hash.hex(), "sig": event.sig.hex()}


# --- the commands -------------------------------------------------------------------------


def cmd_run(data_dir: DataDir, args: argparse.Namespace) -> int:
    config = config_mod.load(data_dir(args))
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    if now.tzinfo is None:
        raise ValidationError("--now needs a time zone, e.g. 2027-02-01T00:00:00+01:00")
    signer = read_keypair_file(config.node_key_path).signer
    moved = run(config, now, signer)
    kept = moved.cutoff.strftime("%Y-%m-%d")
    print(f"checkpoint at {sum(moved.checkpoint.values()):,} events (what ERPNext holds);"
          f" {moved.sales:,} sales rows of the ledger moved to the archive")
    if not moved.events:
        print(f"nothing to archive: every event from before {kept} is archived already, "
              "or still owed to ERPNext or not consolidated there")
    else:
        print(f"archived {moved.events:,} events in {moved.segments} segments in "
              f"{moved.seconds:.1f} s; the live store keeps what came from {kept} on")
    if moved.kept_free:
        print(f"the store keeps {moved.kept_free / 2**30:.2f} GiB of free pages, which later "
              "events fill: with the node stopped, `sudo tillmesh archive vacuum` gives them "
              "back to the disk")
    return 0


def cmd_vacuum(data_dir: DataDir, args: argparse.Namespace) -> int:
    before, after = vacuum(config_mod.load(data_dir(args)))
    print(f"the store took {before / 2**30:.2f} GiB, now {after / 2**30:.2f} GiB; each "
          "archive run gives what it frees back to the disk from now on")
    return 0


def cmd_status(data_dir: DataDir, args: argparse.Namespace) -> int:
    print(json.dumps(status(config_mod.load(data_dir(args))), indent=2))
    return 0


def cmd_verify(data_dir: DataDir, args: argparse.Namespace) -> int:
    for line in verify(config_mod.load(data_dir(args))):
        print(line)
    return 0


def cmd_export(data_dir: DataDir, args: argparse.Namespace) -> int:
    config = config_mod.load(data_dir(args))
    count = export(config, args.first, args.last or args.first, args.out)
    print(f"{count:,} events of {args.first}..{args.last or args.first} written to {args.out}")
    return 0


def add_commands(sub: Any, data_dir: DataDir) -> None:
    """``archive run | vacuum | status | verify | export`` on the ``tillmesh`` parser."""
    top = sub.add_parser("archive", help="move old events out of the live store, check and "
                         "export the archive")
    inner = top.add_subparsers(dest="archive_cmd", required=True)
    p = inner.add_parser("run", help="archive what the retention policy lets go (the node "
                         "may run)")
    p.add_argument("--now", help="the time to judge the policy at (ISO 8601 with zone)")
    p.set_defaults(fn=partial(cmd_run, data_dir))
    p = inner.add_parser("vacuum", help="rewrite a store made before this release once, so "
                         "that archiving gives its pages back to the disk (node stopped)")
    p.set_defaults(fn=partial(cmd_vacuum, data_dir))
    p = inner.add_parser("status", help="live and archived events, months, floor, sizes")
    p.set_defaults(fn=partial(cmd_status, data_dir))
    p = inner.add_parser("verify", help="check every seal and chain and the checkpoint")
    p.set_defaults(fn=partial(cmd_verify, data_dir))
    p = inner.add_parser("export", help="months of the archive as JSON lines, for an auditor")
    p.add_argument("first", help="the first month, YYYY-MM")
    p.add_argument("last", nargs="?", help="the last month (default: the first)")
    p.add_argument("--out", type=Path, required=True, help="the file to write")
    p.set_defaults(fn=partial(cmd_export, data_dir))

