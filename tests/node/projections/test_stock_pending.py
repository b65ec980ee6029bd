"""On-hand is read from one row per item (``stock_pending``), kept by every slot's change
and every stock reading; in any order of the counters' events it is what summing the
slots the base does not include gives (the definition in ``projections.stock``)."""

from __future__ import annotations

import random
import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.nodekit import FakeClock, Till, approver, dump, link, make_node, sync
from tillmesh.node.projections.stock import base_body
from tillmesh.node.store import create_key_file, open_engine
from tillmesh.node.store.event_codec import Event
from tillmesh.node.store.event_log import EventLog
from tillmesh.node.store.raw import raw

WH = "Stores - T"


def _reading(log: EventLog, qty: dict[str, str], consolidated: list[str]) -> None:
    with log.transaction() as tx:
        tx.append("stock.base", base_body(WH, {i: Decimal(q) for i, q in qty.items()},
                                          consolidated, "2026-11-26T10:00:00+00:00"))


def _scenario() -> tuple[list[Event], dict[str, list[tuple]]]:
    """Two counters selling over three shifts, a return, and stock readings from both
    whose watermarks grow, shrink and cross (the newest by HLC wins per item)."""
    tmp = Path(tempfile.mkdtemp(prefix="tmsp", dir="/tmp"))
    n1, n2 = make_node(tmp / "c1", "C01", FakeClock()), make_node(tmp / "c2", "C02", FakeClock())
    link(n1, n2)
    ann, bob, sup = Till(n1, "ann"), Till(n2, "bob"), Till(n2, "sup")
    s1 = ann("shift_open", opening={"Cash": "0"})["shift"]
    s2 = bob("shift_open", opening={"Cash": "0"})["shift"]
    first = ann.sell("4000000000044", "4000000000044", "4000000000082")
    bob.sell("4000000000044")
    _reading(n1.log, {"WINE": "10", "BOOK": "5"}, [])
    sync(n1.log, n2.log)
    sup("shift_close", shift_id=s1, counted={"Cash": "52.93", "Card": "0"})
    sync(n2.log, n1.log)
    ann("shift_open", opening={"Cash": "0"})
    ann.sell("4000000000044", "4000000000082")
    _reading(n2.log, {"WINE": "7", "BOOK": "4"}, [s1])  # S1 consolidated
    bob("return_create", invoice=first["invoice"], approver=approver("sup"),
        lines=[{"row": f"{first['invoice']}-1", "qty": "1"}])
    _reading(n1.log, {"WINE": "9"}, [s2])  # another view: S2 only, for WINE
    sync(n1.log, n2.log)
    sync(n2.log, n1.log)
    _reading(n2.log, {"WINE": "6", "BOOK": "4"}, [s1, s2])
    bob.sell("4000000000082")
    sync(n2.log, n1.log)
    sync(n1.log, n2.log)
    assert dump(n1.log) == dump(n2.log)
    return list(n1.log.events()), dump(n1.log)


_CACHE: dict[str, tuple[list[Event], dict[str, list[tuple]]]] = {}


def scenario() -> tuple[list[Event], dict[str, list[tuple]]]:
    if "s" not in _CACHE:
        _CACHE["s"] = _scenario()
    return _CACHE["s"]


def pending_by_definition(log: EventLog) -> dict[tuple[str, str], int]:
    """Per item and warehouse, the slots its current base reading does not include."""
    with log.reading() as s:
        sql = raw(s)
        reading = {(i, w): r for i, w, r in sql.run(
            "SELECT item_code, warehouse, reading FROM stock_base")}
        included = defaultdict(set)
        for r, shift in sql.run("SELECT reading, shift FROM stock_base_shifts"):
            included[r].add(shift)
        out: dict[tuple[str, str], int] = defaultdict(int)
        for item, wh, shift, qty in sql.run(
                "SELECT item_code, warehouse, shift, qty_nano FROM stock_deltas"):
            if shift not in included.get(reading.get((item, wh), ""), ()):
                out[item, wh] += qty
    return {k: v for k, v in out.items() if v}


def held(log: EventLog) -> dict[tuple[str, str], int]:
    with log.reading() as s:
        return {(i, w): q for i, w, q in raw(s).run(
            "SELECT item_code, warehouse, qty_nano FROM stock_pending")}


def _arriving() -> tuple[dict[str, list[Event]], EventLog, dict[str, list[tuple]]]:
    """The scenario's events per origin, a counter with none of them, and the tables
    every counter must end with."""
    events, expected = scenario()
    queues: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        queues[event.origin].append(event)
    tmp = Path(tempfile.mkdtemp(prefix="tmsp", dir="/tmp"))
    return queues, EventLog(open_engine(tmp / "db", create_key_file(tmp / "key")), "C09"), expected


def test_the_scenario_moves_stock_both_ways():
    events, tables = scenario()
    assert sum(e.kind == "stock.base" for e in events) == 4
    assert tables["stock_pending"]  # something is pending, WINE and BOOK both sold


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_pending_is_the_sum_by_definition_in_any_order(rng: random.Random):
    queues, log, expected = _arriving()
    while queues:
        origin = rng.choice(sorted(queues))
        with log.transaction() as tx:
            tx.receive(queues[origin].pop(0))
        if not queues[origin]:
            del queues[origin]
        assert held(log) == pending_by_definition(log)  # after every single event
    assert dump(log) == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_pending_is_the_same_when_runs_of_events_arrive_at_once(rng: random.Random):
    """A peer's batch (and a rebuild) applies many events at once, and adds the stock
    moves of a run of sales and returns up before writing them: with stock readings,
    closings and returns inside the batches, the tables are those of one event at a
    time."""
    queues, log, expected = _arriving()
    while queues:
        origin = rng.choice(sorted(queues))
        take = rng.randint(1, 8)
        batch, queues[origin] = queues[origin][:take], queues[origin][take:]
        with log.transaction() as tx:
            assert tx.receive_many(batch) == len(batch)
        if not queues[origin]:
            del queues[origin]
        assert held(log) == pending_by_definition(log)
    assert dump(log) == expected
