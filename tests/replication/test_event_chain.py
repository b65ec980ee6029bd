"""The hash chain check every reader of a store shares (snapshot, backup, doctor): a
changed, lost or inserted event is found, and where."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from tillmesh.replication.event import GENESIS, Event, first_break


def _chain(origin: str, count: int) -> list[Event]:
    events, prev = [], GENESIS
    for seq in range(1, count + 1):
        event = Event.make(origin, seq, seq, datetime(2026, 5, 1, tzinfo=UTC), "k", b"x", prev)
        events.append(event)
        prev = event.hash
    return events


@given(st.integers(1, 6), st.integers(1, 6), st.data())
def test_the_first_break_of_any_chain_is_found(a, b, data):
    events = _chain("C01", a) + _chain("C02", b)
    assert first_break(events) == (a + b, None)
    where = data.draw(st.integers(0, a + b - 1))
    tampered = list(events)
    tampered[where] = Event(**{**vars(events[where]), "body": b"changed"})
    checked, broken = first_break(tampered)
    assert (checked, broken) == (where, events[where].id)
    gap = events[:where] + events[where + 1:]  # a lost event breaks its successor's link
    lost = events[where]
    checked, broken = first_break(gap)
    after = [e for e in events[where + 1:] if e.origin == lost.origin]
    assert broken == (after[0].id if after else None)
