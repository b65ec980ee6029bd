"""The check of a snapshot's tables against its events: table digests that see every cell
but not the order rows were written in, projections whose digests do not depend on the
order events arrived in (the premise of the whole check), and the scratch replay that
rebuilds exactly the installed events."""

from __future__ import annotations

import json
import random
import sqlite3
import tempfile
from pathlib import Path
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table

from tests.node.store.test_rebuild import scenario
from tests.node.store.test_snapshot import _store, _tampered, inviter  # noqa: F401 (fixture)
from tillmesh.node.store import Meta, create_key_file, open_engine, snapshot
from tillmesh.node.store._engine import _connect
from tillmesh.node.store.event_codec import Event
from tillmesh.node.store.event_log import EventLog
from tillmesh.node.store.snapshot_check import (
    KEY,
    PENDING,
    REBUILT,
    held,
    outcome,
    replay_digests,
    start,
)
from tillmesh.node.store.tables import digests, table_digest

_PRICES = Table("prices", MetaData(), Column("name", String, primary_key=True),
                Column("rate", String), Column("qty", Integer), Column("data", LargeBinary))
_ROWS = [("P-1", "12.50", 3, b"\x00a"), ("P-2", "0.99", None, b""), ("P-3", "7", 0, b"x\ny")]


def _digest(rows: list[tuple]) -> str:
    conn = sqlite3.connect(":memory:")
    # Columns without affinity keep each value's type as given (3.0 stays a float).
    conn.execute("CREATE TABLE prices (name PRIMARY KEY, rate, qty, data)")
    conn.executemany("INSERT INTO prices VALUES (?, ?, ?, ?)", rows)
    return table_digest(conn, _PRICES)


def test_a_digest_ignores_the_order_rows_were_written_in_and_sees_every_cell():
    expected = _digest(_ROWS)
    assert _digest(list(reversed(_ROWS))) == expected
    assert _digest([_ROWS[1], _ROWS[2], _ROWS[0]]) == expected
    for r, row in enumerate(_ROWS):
        for c, cell in enumerate(row):
            for other in ("12.5", 1, None, b"\x00b", "P-9", 3.0, "3"):
                if other == cell and type(other) is type(cell):
                    continue
                changed = [*_ROWS[:r], (*row[:c], other, *row[c + 1:]), *_ROWS[r + 1:]]
                if c == 0 and any(other == x[0] for x in _ROWS):
                    continue  # another row's key: not a table SQLite would hold
                assert _digest(changed) != expected, (r, c, other)
    assert _digest(_ROWS[:2]) != expected  # a row less
    assert _digest([*_ROWS, ("P-4", "1", 1, b"")]) != expected  # a row planted


def _fresh() -> EventLog:
    tmp = Path(tempfile.mkdtemp(prefix="tmck", dir="/tmp"))
    return EventLog(open_engine(tmp / "db", create_key_file(tmp / "key")), "C09")


def _digests(log: EventLog) -> dict[str, str]:
    with log.engine.connect() as conn:
        return digests(conn.connection.driver_connection)


_REBUILT: dict[str, dict[str, str]] = {}


def _rebuilt_digests() -> dict[str, str]:
    """Every projection table's digest after a rebuild (log order) of the scenario."""
    if not _REBUILT:
        events, _ = scenario()
        log = _fresh()
        with log.transaction() as tx:
            tx.receive_many(sorted(events, key=lambda e: (e.origin, e.seq)))
        log.rebuild()
        _REBUILT.update(_digests(log))
    return _REBUILT


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_every_projection_table_is_the_same_whatever_order_events_arrived_in(
        rng: random.Random):
    """Two counters selling, returning, closing across each other, with last-writer-wins
    conflicts (``test_rebuild.scenario``): applied in any interleaving of the origins and
    any batching (what a counter that replicated them holds) or rebuilt in log order
    (what the check replays), every table's digest, rowids of the search index included,
    is the same."""
    events, _ = scenario()
    queues: dict[str, list[Event]] = {}
    for event in sorted(events, key=lambda e: (e.origin, e.seq)):
        queues.setdefault(event.origin, []).append(event)
    log = _fresh()
    while queues:
        with log.transaction() as tx:
            batch = []
            for _ in range(rng.randint(1, 5)):
                origin = rng.choice(sorted(queues))
                batch.append(queues[origin].pop(0))
                if not queues[origin]:
                    del queues[origin]
                if not queues:
                    break
            tx.receive_many(batch)
    assert _digests(log) == _rebuilt_digests()


def _install(source, tmp: Path, file: Path | None = None) -> tuple[EventLog, Path, bytes]:
    _, ticket = source
    log, db, key = _store(tmp / "new", "C09")
    snapshot.install(db, key, file or ticket.path, ticket.key)
    log.reload()
    return log, db, key


def test_an_honest_snapshot_replays_to_the_digests_its_install_recorded(inviter,  # noqa: F811
                                                                       tmp_path: Path):
    n1, _ = inviter
    log, db, key = _install(inviter, tmp_path)
    with log.reading() as s:
        check = held(s)
    assert check is not None and check["state"] == PENDING
    assert check["vector"] == n1.log.vector()
    assert check["digests"] == _digests(n1.log)  # the inviting counter's tables, as copied
    with log.transaction() as tx:  # sold after the join: not part of the check
        tx.append("audit.test", {"user": None})
    scratch = tmp_path / "scratch"
    assert replay_digests(db, key, check["vector"], scratch) == check["digests"]
    assert not scratch.exists()


def test_a_planted_price_shows_in_the_replay_as_that_table_only(inviter,  # noqa: F811
                                                               tmp_path: Path):
    _, ticket = inviter
    bad = _tampered(ticket, tmp_path, "UPDATE catalog_prices SET price_list_rate = '0.01'")
    log, db, key = _install(inviter, tmp_path, bad)
    with log.reading() as s:
        check = held(s)
    assert check is not None
    built = replay_digests(db, key, check["vector"], tmp_path / "scratch")
    assert [t for t, d in check["digests"].items() if built[t] != d] == ["catalog_prices"]


def test_the_scratch_store_is_private_while_it_exists(inviter, tmp_path: Path,  # noqa: F811
                                                      monkeypatch):
    log, db, key = _install(inviter, tmp_path)
    with log.reading() as s:
        check = held(s)
    assert check is not None
    seen: list[tuple[int, list[tuple[str, int]]]] = []
    real = _connect

    def watching(path: Path, k: bytes):  # the scratch store's digests are read last
        if path.parent.name == "scratch":
            seen.append((path.parent.stat().st_mode & 0o777,
                         [(p.name, p.stat().st_mode & 0o777) for p in path.parent.iterdir()]))
        return real(path, k)

    monkeypatch.setattr("tillmesh.node.store.snapshot_check._connect", watching)
    replay_digests(db, key, check["vector"],
                   tmp_path / "scratch")
    (mode, files), = seen
    assert mode == 0o700 and files and all(m == 0o600 for _, m in files), files


def test_tables_a_new_release_rebuilt_before_the_check_are_not_a_finding(
        inviter, tmp_path: Path):  # noqa: F811
    """Installed by one release, first run by the next, whose other table formats made the
    event log rebuild every table from the events on opening: nothing to compare."""
    log, _, _ = _install(inviter, tmp_path)
    with log.transaction() as tx:
        check = held(tx.session)
        assert check is not None
        tx.session.merge(Meta(key=KEY, value=json.dumps({**check, "shape": "older"})))
    node = SimpleNamespace(log=log, read=log.reading)
    assert start(node) is None  # type: ignore[arg-type]  (what start reads of a Node)
    with log.reading() as s:
        done = outcome(s)
    assert done is not None and done["state"] == REBUILT
