"""A store's history does not make the counter's hot paths read more.

The year benchmark's generator (tests/bench/year.py) writes a small store's first day
and first week; the SQLite VM steps of scan, search, the cart, ``sale_submit``, a
replication batch and a forwarder cycle with nothing due are the same after the week as
after the day. The check is structural, never a wall clock: a step is one VM instruction,
so a seek costs the same in a small B-tree as in a big one, and only rows read count. A
query left to read history fails it (shown by taking away an index a hot path needs).
The generator itself is checked too: its store is what its events build, every event
chained and signed by its counter, with the day's mix in it; and the benchmark's table
comes out whole on a one-day store, archived down to nothing of its day: events leave the
live store, the archive verifies, a counter joins it from the checkpoint and fetches the
history before it from a running counter, and its rebuild from the checkpoint gives the
same tables.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import pytest

from tests.bench.year import (
    AFTER,
    HOT_PATHS,
    NIGHTLY,
    PARTS,
    SMALL,
    Part,
    Row,
    Run,
    Year,
    connected,
    probe,
    rebuild_after_archive,
    restamp,
    run,
)
from tests.nodekit import dump
from tillmesh.node.domain.sale import sale_body
from tillmesh.node.projections import counters, outbox
from tillmesh.node.store.base import Base
from tillmesh.node.store.event_codec import first_break, unpack_body
from tillmesh.node.store.event_log import EventLog
from tillmesh.node.store.tables import digests
from tillmesh.replication.signing import signed_by

DAYS = 7
# What a hot path may cost more after the week than after the day: a row it finds now
# that it did not find before (a stock slot that exists, a customer looked up) is a few
# steps; a row per shift, sale or day of history is what must not come.
SLACK_STEPS, SLACK_SHARE = 50, 0.02
DROPPED = "ix_shifts_status"  # sale_submit finds the counter's open shift by it


Steps = dict[str, Counter[str]]


@dataclass
class Week:
    year: Year
    day: Steps  # probed after the first day
    week: Steps  # after the seventh
    day_without: Steps  # the same, without the index DROPPED
    week_without: Steps


@contextmanager
def without(log: EventLog, name: str) -> Iterator[None]:
    """The store without one of its indexes (its queries left to scan), then with it."""
    index = next(i for t in Base.metadata.tables.values() for i in t.indexes if i.name == name)
    with log.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX {name}")
    try:
        yield
    finally:
        index.create(log.engine)


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Week:
    year = Year(tmp_path_factory.mktemp("year") / "d", SMALL, days=DAYS)
    probes: list[Steps] = []
    for days in (1, DAYS - 1):
        year.trade(days)
        probes.append(probe(year))
        with without(year.log, DROPPED):
            probes.append(probe(year))
    day, day_without, week_, week_without = probes
    return Week(year, day, week_, day_without, week_without)


def grown(before: Steps, after: Steps) -> dict[str, tuple[int, int]]:
    """The hot paths that read more after than before, beyond the slack: (steps, steps)."""
    out = {}
    for op in HOT_PATHS:
        early, late = sum(before[op].values()), sum(after[op].values())
        if late > early * (1 + SLACK_SHARE) + SLACK_STEPS:
            out[op] = (early, late)
    return out


def test_hot_paths_read_no_more_after_a_week_than_after_a_day(week):
    assert set(week.day) == set(week.week) == set(HOT_PATHS)
    assert all(sum(steps.values()) > 0 for steps in week.week.values())  # each was measured
    assert grown(week.day, week.week) == {}, {
        op: week.week[op].most_common(3) for op in grown(week.day, week.week)}


def test_a_query_that_reads_history_fails_the_check(week):
    """Without the index, finding the counter's open shift reads every shift the store
    ever had: sale_submit reads more each day, and the check says so."""
    assert "sale_submit" in grown(week.day_without, week.week_without)
    assert "sale_submit" not in grown(week.day, week.week)


def test_the_generated_store_is_what_its_events_build(week):
    log = week.year.log
    held = dump(log)
    assert log.rebuild() == sum(log.vector().values())
    assert dump(log) == held


def test_every_event_is_chained_and_signed_by_its_counter(week):
    log = week.year.log
    with log.reading() as s:
        keys = {node: t.signing_key for node, t in counters.trust(s).items()}
    assert set(keys) == set(week.year.counters) == {"C01", "C02", "C03"}
    for origin, seq in log.vector().items():
        events = log.range(origin, 1, seq)
        assert first_break(events) == (seq, None)
        assert all(signed_by(e, keys[origin]) for e in events), origin


def test_the_week_has_the_store_s_mix_and_erpnext_holds_all_of_it(week):
    year, log = week.year, week.year.log
    kinds = Counter(e.kind for e in log.events())
    shifts = len(year.counters) * DAYS
    assert kinds["sale.submitted"] >= SMALL.sales_per_day * DAYS
    assert kinds["shift.opened"] >= shifts and kinds["shift.closed"] >= shifts
    assert kinds["cash.moved"] >= shifts and kinds["audit.login"] >= 3 * shifts
    assert kinds["stock.base"] >= DAYS
    bodies = {e.kind: [] for e in log.events()}
    for e in log.events():
        bodies[e.kind].append(unpack_body(e.body))
    sold = {b["invoice"]: b for b in bodies["sale.submitted"]}
    returns = bodies["sale.returned"]
    assert len(returns) >= SMALL.sales_per_day * SMALL.return_share * DAYS * 0.5
    other = [r for r in returns if r.get("reservation")]  # agreed with the sale's counter
    partial = [r for r in returns if -Decimal(r["totals"]["total_qty"])
               < Decimal(sold[r["return_against"]]["totals"]["total_qty"])]
    assert other and partial and len(other) < len(returns) and len(partial) < len(returns)
    with log.reading() as s:
        assert outbox.owed_counts(s) == ({}, 0)  # every document acked
    assert kinds["forward.acked"] >= kinds["sale.submitted"] + kinds["sale.returned"]


def test_a_restamped_body_is_what_sale_body_makes(week):
    year = week.year
    counter = year.counters["C02"]
    when = year.clock().astimezone(counter.node.config.tz)
    for t in year.carts[:20]:
        assert restamp(t.body, invoice="C02-2026-000042", shift="C02-SH-000007",
                       cashier=counter.cashier, posted_at=when) == sale_body(
            cart=t.cart, totals=t.totals, tenders=t.tenders, ctx=year.context,
            invoice="C02-2026-000042", shift="C02-SH-000007", cashier=counter.cashier,
            posted_at=when)


@pytest.mark.slow
def test_the_benchmark_table_comes_out_whole_on_a_one_day_store():
    """With nothing of the day kept live (``keep_days=0``), so that the archive parts
    have something to move."""
    seen: dict[str, dict[str, str]] = {}
    runs: list[Run] = []

    def tables(when: str) -> Part:  # no rows: the year store's tables, to compare
        def part(r: Run) -> list[Row]:
            with connected(r.year.data_dir) as conn:
                seen[when] = digests(conn)
            runs.append(r)
            return []
        part.__name__ = f"tables_{when}"  # a run knows its parts by name
        return part

    at = PARTS.index(rebuild_after_archive)
    parts = [*PARTS[:at], tables("before"), rebuild_after_archive, tables("after"),
             *PARTS[at + 1:]]
    rows = run(1, SMALL, parts, api_sales=5, keep_days=0)
    labels = [row[0] for row in rows]
    for part in ("write 1 days", "store on disk", "VM steps: sale_submit",
                 "sale_submit via API", "join a new counter", "rebuild", "nightly job",
                 f"join a new counter{NIGHTLY}", f"rebuild{NIGHTLY}", "archive the events",
                 "tillmesh archive verify", "live store after archive", "archive file",
                 "checkpoint file", "  table ", f"join a new counter{AFTER}, with every",
                 f"join a new counter{AFTER}, from the checkpoint", "history backfill",
                 f"rebuild{AFTER}", f"sale_submit via API (tillmesh run){AFTER}"):
        assert any(label.startswith(part) for label in labels), (part, labels)
    assert all(len(row) == 4 and row[2] for row in rows)

    r = runs[0]
    assert r.archived is not None
    (before, after), moved = r.archived.live, r.archived.moved
    assert moved.events > 0 and after < before
    assert "every seal and chain holds" in r.archived.verified
    assert "checkpoint: at " in r.archived.verified and "signed by C01" in r.archived.verified
    copied = {row[0]: int(row[3].split(" of ")[0].replace(",", "")) for row in rows
              if row[0].startswith(f"join a new counter{AFTER}")}
    window, fast = sorted(copied.values(), reverse=True)
    assert fast < window  # from the checkpoint: only the events after it
    # ... and then every event before it, from C01, checked (archive verify in the part)
    fetched = next(int(row[1].split()[0].replace(",", "")) for row in rows
                   if row[0].startswith("history backfill"))
    assert fetched == sum(moved.checkpoint.values())  # every counter's, up to its floor
    assert seen["after"] == seen["before"]  # the rebuild from the checkpoint
    assert r.replayed[AFTER] < r.replayed[""]  # ... replayed only the live events
    # After the nightly job (nothing archived): the checkpoint and the events after it.
    first = {row[0].split(" (")[0]: int(row[3].split(" of ")[0].replace(",", ""))
             for row in rows if row[0].startswith("join a new counter") and AFTER not in row[0]}
    assert first[f"join a new counter{NIGHTLY}"] < first["join a new counter"]
    assert r.replayed[NIGHTLY] < r.replayed[""]
