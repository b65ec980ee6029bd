"""The archive: events that left the live store, sealed month by month.

Once ERPNext holds a document and it is older than the store's retention window
(``domain.retention``), the events behind it move from the live store into
``<store>-archive.db`` beside it: SQLCipher under the same key, attached to every
connection of the store as schema ``archive``. Per origin, ``event_floor`` in the live
store says up to which seq the archive holds its events; the live ones start after it and
chain from its hash. The temporary view ``every_event`` is the live events plus the
archived ones up to the floor (each event exactly once, whatever step of a move was cut
by a crash): a body looked up by (origin, seq) is found wherever it lies, and a peer that
asks for an old range is answered from the archive. The archive also keeps the ledger's
rows of the sales that left (``sales``, moved by ``projections.ledger.compact``), the
stock slots of the shifts they emptied (``stock_deltas``) and their rows of delivery
(``deliveries``, moved by ``projections.deliveries.compact``); the views ``every_sale`` and
``every_stock_delta`` read them with the live ones.

The archive is sealed in segments, one per month an archiving run touched: a segment
lists, per origin, the seq range it holds and its last event's hash; its seal is the
SHA-256 of that and of the previous segment's seal. Events chain per origin across
segments, so ``verify`` checking every event, every seal and the live floor against the
last segment finds a changed, lost or inserted event or segment.

A move is three steps, each safe to repeat: append the events and their segments to the
archive (one transaction there), bring the checkpoint up to the new floor (``checkpoint``),
then raise the floor and delete the live copies in small transactions (sales go on).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tillmesh.node.domain import authority
from tillmesh.node.errors import StoreError
from tillmesh.node.store.ownership import own
from tillmesh.replication.event import GENESIS, Event, first_break

ALIAS = "archive"
COLUMNS = "origin, seq, hlc, wall_us, kind, body, prev_hash, hash, sig"
READ = "origin, seq, hlc, wall_us, kind, body, prev_hash, hash, coalesce(sig, x'')"  # Event(*row)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS archive.events (origin VARCHAR(32) NOT NULL,"
    " seq BIGINT NOT NULL, hlc BIGINT NOT NULL, wall_us BIGINT NOT NULL,"
    " kind VARCHAR(64) NOT NULL, body BLOB NOT NULL, prev_hash BLOB NOT NULL,"
    " hash BLOB NOT NULL, sig BLOB, PRIMARY KEY (origin, seq))",
    "CREATE TABLE IF NOT EXISTS archive.segments (id INTEGER PRIMARY KEY,"
    " month TEXT NOT NULL, ranges TEXT NOT NULL, heads TEXT NOT NULL, events INTEGER NOT NULL,"
    " made_at TEXT NOT NULL, made_by TEXT NOT NULL, prev_seal TEXT NOT NULL,"
    " seal TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS archive.ix_segments_month ON segments (month)",
    "CREATE INDEX IF NOT EXISTS archive.ix_archive_order ON events (hlc, origin, seq)",
    # The ledger's rows of sales that left with their events (``ledger.compact``): the
    # columns of ``sales`` (a test holds them equal).
    "CREATE TABLE IF NOT EXISTS archive.sales (invoice VARCHAR(40) NOT NULL PRIMARY KEY,"
    " origin VARCHAR(32) NOT NULL, seq BIGINT NOT NULL, hlc BIGINT NOT NULL,"
    " shift VARCHAR(40) NOT NULL, is_return BOOLEAN NOT NULL, return_against VARCHAR(40),"
    " posted_at VARCHAR NOT NULL, customer VARCHAR(140) NOT NULL,"
    " cashier VARCHAR(140) NOT NULL, grand_total VARCHAR NOT NULL, late BOOLEAN NOT NULL,"
    " summary BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS archive.ix_archived_sales_shift ON sales (shift)",
    # The stock slots of the shifts whose sales all left (``ledger.compact``): the columns
    # of ``stock_deltas``. No event changes them again; a stock reading that drops such a
    # shift from ERPNext's base (a closing cancelled there) reads them back.
    "CREATE TABLE IF NOT EXISTS archive.stock_deltas (item_code VARCHAR(140) NOT NULL,"
    " warehouse VARCHAR(140) NOT NULL, origin VARCHAR(32) NOT NULL, shift VARCHAR(40) NOT NULL,"
    " qty_nano BIGINT NOT NULL, PRIMARY KEY (item_code, warehouse, origin, shift))",
    "CREATE INDEX IF NOT EXISTS archive.ix_archived_slots ON stock_deltas (warehouse, shift)",
    # The acked rows of the invoices whose sales left (``deliveries.compact``): the columns
    # of ``deliveries``; the live store keeps them as ranges (``delivered_for_good``).
    "CREATE TABLE IF NOT EXISTS archive.deliveries (doctype VARCHAR(64) NOT NULL,"
    " name VARCHAR(140) NOT NULL, acked BOOLEAN NOT NULL, erpnext_name VARCHAR(140),"
    " acked_at VARCHAR(40), resolved BOOLEAN NOT NULL, failed_hlc BIGINT NOT NULL,"
    " failed_origin VARCHAR(32) NOT NULL, retried_hlc BIGINT NOT NULL,"
    " failures INTEGER NOT NULL, status INTEGER, exc_type VARCHAR(140), message TEXT,"
    " stage VARCHAR(32), note TEXT, note_hlc BIGINT NOT NULL, note_origin VARCHAR(32) NOT NULL,"
    " PRIMARY KEY (doctype, name))",
)
SALE_COLUMNS = ("invoice, origin, seq, hlc, shift, is_return, return_against, posted_at,"
                " customer, cashier, grand_total, late, summary")
# The live store keeps, below its floor, the events the store's membership is folded from
# (``KEPT``) and each origin's last archived event (its signed head): a joining counter
# gets them with the live ones. Archived rows count only below the floor and when not
# kept: each event shows once, also when a run was cut between its steps (the floor and
# the deletes move together).
KEPT = authority.KINDS
KEPT_SQL = ", ".join(f"'{kind}'" for kind in KEPT)


def _every_event(store: str, upto: str = "") -> str:
    """The ``every_event`` view: the events of the store attached as ``store``, and the
    archived ones below its floor but the kept kinds; with ``upto`` (a schema whose
    ``event_floor`` holds a vector) only those up to that vector."""
    def within(alias: str) -> str:
        return (f" JOIN {upto}.event_floor u ON u.origin = {alias}.origin"
                f" AND {alias}.seq <= u.seq") if upto else ""
    def cols(alias: str) -> str:
        return ", ".join(f"{alias}.{column}" for column in COLUMNS.split(", "))
    return (f"CREATE TEMP VIEW IF NOT EXISTS every_event AS SELECT {cols('l')} FROM"
            f" {store}.events l{within('l')} UNION ALL SELECT {cols('a')} FROM"
            f" {ALIAS}.events a JOIN {store}.event_floor f ON f.origin = a.origin"
            f" AND a.seq < f.seq AND a.kind NOT IN ({KEPT_SQL}){within('a')}")


_VIEW = _every_event("main")
# Every sale the ledger holds, live or archived (a row being moved shows once).
_SALES = (f"CREATE TEMP VIEW IF NOT EXISTS every_sale AS SELECT {SALE_COLUMNS} FROM main.sales"
          f" UNION ALL SELECT {SALE_COLUMNS} FROM archive.sales a WHERE NOT EXISTS"
          f" (SELECT 1 FROM main.sales m WHERE m.invoice = a.invoice)")
SLOT_COLUMNS = "item_code, warehouse, origin, shift, qty_nano"
# Every stock slot, live or archived (a slot being moved shows once).
_SLOTS = (f"CREATE TEMP VIEW IF NOT EXISTS every_stock_delta AS SELECT {SLOT_COLUMNS} FROM"
          f" main.stock_deltas UNION ALL SELECT {SLOT_COLUMNS} FROM archive.stock_deltas a"
          " WHERE NOT EXISTS (SELECT 1 FROM main.stock_deltas m WHERE m.item_code ="
          " a.item_code AND m.warehouse = a.warehouse AND m.origin = a.origin"
          " AND m.shift = a.shift)")
_FLOOR = ("CREATE TABLE IF NOT EXISTS main.event_floor (origin VARCHAR(32) NOT NULL,"
          " seq BIGINT NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (origin))")
NO_SEAL = "0" * 64  # the "previous seal" of the first segment


def see_store_up_to(conn: Any, store: Path, key: bytes) -> None:
    """Make ``every_event`` of ``conn`` (a checkpoint being built: its ``event_floor``
    holds the vector it is built up to) the events of the store at ``store`` up to that
    vector, live or archived. The projectors that read another event than the one they
    apply (a carried sale's body, when its stock moves to the closing that carried it)
    find it there as they would on the store itself; the checkpoint's own file holds no
    events, and the archive only those below the store's floor."""
    conn.execute("ATTACH DATABASE ? AS live KEY ?", (str(store), f"x'{key.hex()}'"))
    conn.execute("DROP VIEW IF EXISTS temp.every_event")
    conn.execute(_every_event("live", upto="main"))


def attach(conn: Any, path: Path, key: bytes) -> None:
    """Attach the archive at ``path`` (made empty if missing) to the DB-API connection
    ``conn`` of a store under ``key``, with the ``every_event`` view. A new archive is
    private (0600) and, made by root, the data dir owner's, as the store is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    else:
        try:
            own(fd, path.parent)
        finally:
            os.close(fd)
    conn.execute(f"ATTACH DATABASE ? AS {ALIAS} KEY ?", (str(path), f"x'{key.hex()}'"))
    conn.execute(f"PRAGMA {ALIAS}.journal_mode = WAL").fetchone()
    for statement in (*_SCHEMA, _FLOOR, _VIEW, _SALES, _SLOTS):
        conn.execute(statement)


# --- the live chains -----------------------------------------------------------------------


@dataclass(frozen=True)
class Chains:
    checked: int
    broken: str | None  # the first event that does not chain ("C02:17"), or None
    heads: dict[str, Event]  # per origin, its last live event (whose signature vouches)


def live_chains(cursor: Any, schema: str = "main", batch: int = 5000) -> Chains:
    """Every live event of the store (``schema``: a snapshot or backup attached) through
    ``first_break``, from the floor the archive left (none in a store of an earlier
    release)."""
    has_floor = cursor.execute(f"SELECT 1 FROM {schema}.sqlite_master WHERE name ="
                               " 'event_floor'").fetchone()
    starts = {} if not has_floor else {str(o): (int(s), bytes(h)) for o, s, h in cursor.execute(
        f"SELECT origin, seq, hash FROM {schema}.event_floor")}
    heads: dict[str, Event] = {}

    def events() -> Iterator[Event]:
        rows = cursor.execute(f"SELECT {READ} FROM {schema}.events ORDER BY origin, seq")
        while chunk := rows.fetchmany(batch):
            for row in chunk:
                event = Event(*row)
                heads[event.origin] = event
                yield event

    checked, broken = first_break(events(), starts)
    return Chains(checked, broken, heads)


# --- segments and seals (pure) ------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One month of one archiving run: per origin the seq range held and its last hash."""

    month: str  # "2025-01", UTC, of the events' HLC time
    ranges: dict[str, tuple[int, int]]
    heads: dict[str, str]  # origin -> hex hash of its last event here
    events: int
    made_at: str
    made_by: str
    prev_seal: str

    @property
    def seal(self) -> str:
        return seal_of(self.month, self.ranges, self.heads, self.prev_seal)


def seal_of(month: str, ranges: Mapping[str, tuple[int, int]], heads: Mapping[str, str],
            prev_seal: str) -> str:
    """What a segment commits to: its month, ranges and heads (each head's hash covers its
    origin's whole chain) and the segment before it."""
    content = json.dumps({"month": month, "ranges": {o: list(r) for o, r in ranges.items()},
                          "heads": dict(heads), "prev": prev_seal}, sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()


def month_of(event: Event) -> str:
    """The UTC month of an event's HLC time (monotone per origin, unlike its wall time)."""
    return datetime.fromtimestamp((event.hlc >> 16) / 1000, UTC).strftime("%Y-%m")


def segments_for(events: list[Event], prev_seal: str, made_at: str,
                 made_by: str) -> list[Segment]:
    """The segments that seal ``events`` (in (origin, seq) order), one per month, chained
    after ``prev_seal``."""
    months: dict[str, dict[str, list[Event]]] = {}
    for event in events:
        months.setdefault(month_of(event), {}).setdefault(event.origin, []).append(event)
    out: list[Segment] = []
    for month in sorted(months):
        by_origin = months[month]
        segment = Segment(month, {o: (e[0].seq, e[-1].seq) for o, e in by_origin.items()},
                          {o: e[-1].hash.hex() for o, e in by_origin.items()},
                          sum(len(e) for e in by_origin.values()), made_at, made_by,
                          prev_seal)
        out.append(segment)
        prev_seal = segment.seal
    return out


# --- reading and writing ------------------------------------------------------------------


FLOORS = "SELECT origin, seq, hash FROM main.event_floor"


def floors(cursor: Any) -> dict[str, tuple[int, bytes]]:
    """Per origin, the (seq, hash) of its last archived event (none: nothing archived)."""
    return {str(o): (int(s), bytes(h)) for o, s, h in cursor.execute(FLOORS)}


# Per origin with a floor: the lowest seq held (the archive's lowest, else the floor
# event, which stays live) and the hash that event names before it. Every heartbeat: one
# index seek per origin (min() per origin, not over a GROUP BY, which reads every row).
_HISTORY_GAPS = (
    "SELECT f.origin, coalesce(a.seq, f.seq), coalesce(a.prev_hash, e.prev_hash)"
    " FROM main.event_floor f"
    " LEFT JOIN archive.events a ON a.origin = f.origin"
    " AND a.seq = (SELECT min(seq) FROM archive.events WHERE origin = f.origin)"
    " LEFT JOIN main.events e ON e.origin = f.origin AND e.seq = f.seq")


def history_gaps(cursor: Any) -> dict[str, tuple[int, bytes]]:
    """Per origin whose first events the store does not hold (it joined from a checkpoint,
    or copied the live events of an archived store): the lowest seq held, and the hash
    that event names before it. The archive holds a contiguous run per origin (runs
    append above it, backfill below it), so that seq is the archive's lowest or, with
    none archived, the floor event's."""
    return {str(o): (int(low), bytes(prev)) for o, low, prev in cursor.execute(_HISTORY_GAPS)
            if low > 1 and prev is not None}


def history_from(cursor: Any) -> dict[str, int]:
    """``history_gaps`` as shown: per origin, the event this store's history starts at."""
    return {origin: low for origin, (low, _) in history_gaps(cursor).items()}


def held_from(starts: Mapping[str, int]) -> str:
    """``history_from`` in words: "C01 from event 90,001, C02 from event 7"."""
    return ", ".join(f"{o} from event {s:,}" for o, s in sorted(starts.items()))


def last_seal(cursor: Any) -> str:
    row = cursor.execute("SELECT seal FROM archive.segments ORDER BY id DESC LIMIT 1").fetchone()
    return NO_SEAL if row is None else str(row[0])


def archived_heads(cursor: Any) -> dict[str, tuple[int, bytes]]:
    """Per origin, the last archived event's (seq, hash), whatever the floor says."""
    return {str(o): (int(s), bytes(h)) for o, s, h in cursor.execute(
        "SELECT e.origin, e.seq, e.hash FROM archive.events e JOIN (SELECT origin,"
        " max(seq) AS seq FROM archive.events GROUP BY origin) m"
        " ON m.origin = e.origin AND m.seq = e.seq")}


def append(cursor: Any, events: list[Event], made_at: str, made_by: str) -> list[Segment]:
    """Add ``events`` (each origin's next ones after what the archive holds, in (origin,
    seq) order) and their segments, in the caller's transaction. Events the archive holds
    already (a run repeated after a crash) are left out."""
    held = archived_heads(cursor)
    return _insert(cursor, [e for e in events if e.seq > held.get(e.origin, (0, GENESIS))[0]],
                   made_at, made_by)


def prepend(cursor: Any, run: list[Event], made_at: str, made_by: str) -> list[Segment]:
    """Add ``run``, one origin's events right below the lowest the archive holds of it
    (history a counter that joined from a checkpoint fetched from its peers), and their
    segments, in the caller's transaction. Its segments come after the others: ``verify``
    puts each origin's ranges in seq order, whatever order they were sealed in."""
    return _insert(cursor, run, made_at, made_by)


def _insert(cursor: Any, new: list[Event], made_at: str, made_by: str) -> list[Segment]:
    if not new:
        return []
    cursor.executemany(f"INSERT INTO archive.events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
                       " ?)", [(e.origin, e.seq, e.hlc, e.wall_us, e.kind, e.body, e.prev_hash,
                               e.hash, e.sig or None) for e in new])
    segments = segments_for(new, last_seal(cursor), made_at, made_by)
    cursor.executemany(
        "INSERT INTO archive.segments (month, ranges, heads, events, made_at, made_by,"
        " prev_seal, seal) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(s.month, json.dumps(s.ranges), json.dumps(s.heads), s.events, s.made_at,
          s.made_by, s.prev_seal, s.seal) for s in segments])
    return segments


def read_segments(cursor: Any, months: tuple[str, str] | None = None
                  ) -> list[tuple[Segment, str]]:
    """The archive's segments in order, each with the seal stored beside it (``months``:
    only those from..to, inclusive)."""
    where, params = ("", ()) if months is None else ("WHERE month BETWEEN ? AND ?", months)
    return [(Segment(str(m), {o: (int(r[0]), int(r[1])) for o, r in json.loads(rg).items()},
                     json.loads(hd), int(n), str(at), str(by), str(prev)), str(seal))
            for m, rg, hd, n, at, by, prev, seal in cursor.execute(
                "SELECT month, ranges, heads, events, made_at, made_by, prev_seal, seal"
                f" FROM archive.segments {where} ORDER BY id", params).fetchall()]


def events_of(cursor: Any, table: str, origin: str, first: int, last: int, batch: int
              ) -> Iterator[Event]:
    """``origin``'s events ``first``..``last`` in ``table`` (``archive.events``, or the
    ``every_event`` view), in seq order, ``batch`` per read."""
    while first <= last:
        rows = cursor.execute(
            f"SELECT {READ} FROM {table} WHERE origin = ? AND seq BETWEEN ? AND ?"
            " ORDER BY seq", (origin, first, min(last, first + batch - 1))).fetchall()
        if not rows:
            return
        for row in rows:
            yield Event(*row)
        first = int(rows[-1][1]) + 1


def segment_events(cursor: Any, segment: Segment, batch: int) -> Iterator[Event]:
    """A segment's events, in (origin, seq) order."""
    for origin in sorted(segment.ranges):
        first, last = segment.ranges[origin]
        yield from events_of(cursor, "archive.events", origin, first, last, batch)


@dataclass(frozen=True)
class Verified:
    segments: int
    events: int
    heads: dict[str, tuple[int, bytes]]  # per origin, the last archived (seq, hash)
    # per origin whose first events this counter does not hold (it joined from a
    # checkpoint and fetches them from peers): the seq its history starts at
    starts: dict[str, int] = field(default_factory=dict)


def verify(cursor: Any, batch: int) -> Verified:
    """Every segment's seal, and every archived event's chain in each origin's ranges put
    in seq order (history fetched later is sealed after what was archived above it), and
    the live floor against them; StoreError saying the first thing that fails. An origin
    whose archive starts after its first event is a counter that joined from a
    checkpoint and has not fetched all its history yet: said in ``starts``."""
    prev, segments = NO_SEAL, read_segments(cursor)
    spans: dict[str, list[tuple[int, int, int]]] = {}  # origin -> (first, last, segment)
    for number, (segment, stored) in enumerate(segments, 1):
        if segment.prev_seal != prev or segment.seal != stored:
            raise StoreError(f"archive segment {number} ({segment.month}) is not the one "
                             "sealed after the segment before it: the archive was altered")
        for origin, (first, last) in segment.ranges.items():
            spans.setdefault(origin, []).append((first, last, number))
        prev = segment.seal
    heads: dict[str, tuple[int, bytes]] = {}
    starts: dict[str, int] = {}
    count = 0
    for origin in sorted(spans):
        ranges = sorted(spans[origin])
        seq, digest = ranges[0][0] - 1, GENESIS if ranges[0][0] == 1 else None
        for first, last, number in ranges:
            segment = segments[number - 1][0]
            if first != seq + 1:
                raise StoreError(f"archive segment {number} ({segment.month}) starts "
                                 f"{origin} at {first}, after {seq}: a gap or an overlap")
            for event in events_of(cursor, "archive.events", origin, first, last, batch):
                # the first event of a history held from its middle vouches for itself
                if event.seq != seq + 1 or not event.verify(digest or event.prev_hash):
                    raise StoreError(f"archived event {event.id} does not chain to "
                                     f"{origin}:{seq} (segment {number}, {segment.month})")
                seq, digest = event.seq, event.hash
                count += 1
            if seq != last or digest is None or digest.hex() != segment.heads.get(origin):
                raise StoreError(f"archive segment {number} ({segment.month}) lacks "
                                 f"{origin}:{seq + 1}..{last}")
        assert digest is not None
        heads[origin] = (seq, digest)
        if ranges[0][0] > 1:
            starts[origin] = ranges[0][0]
    extra = cursor.execute("SELECT count(*) FROM archive.events").fetchone()[0] - count
    if extra:
        raise StoreError(f"the archive holds {extra} events no segment seals")
    for origin, (seq, digest) in floors(cursor).items():
        if origin not in heads:  # nothing archived here: history starts at the floor
            starts[origin] = seq
        elif heads[origin][0] < seq or _archived_hash(cursor, origin, seq) != digest:
            raise StoreError(f"the live store's floor {origin}:{seq} is not in the archive")
    return Verified(len(segments), count, heads, {o: s for o, s in starts.items() if s > 1})


def _archived_hash(cursor: Any, origin: str, seq: int) -> bytes | None:
    row = cursor.execute("SELECT hash FROM archive.events WHERE origin = ? AND seq = ?",
                         (origin, seq)).fetchone()
    return None if row is None else bytes(row[0])
