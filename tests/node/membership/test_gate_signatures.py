"""The gate checks one signature per origin's run (its chain vouches for the rest) and,
when that one fails, finds the first event that is not its counter's: a forged run is
refused from its first forgery, what came before it is kept."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from tillmesh.node.membership.trust import FORGED, signed_runs
from tillmesh.replication.event import GENESIS, Event
from tillmesh.replication.signing import Signer

C03, MALLORY = Signer(b"\x03" * 32), Signer(b"\x66" * 32)
WALL = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def chain(origin: str, signers: list[Signer | None]) -> list[Event]:
    """``origin``'s events 1..n, each signed by the signer given (None: unsigned)."""
    events, prev = [], GENESIS
    for seq, signer in enumerate(signers, start=1):
        event = Event.make(origin, seq, seq << 16, WALL, "test.event", b"x", prev)
        events.append(signer.sign(event) if signer else event)
        prev = event.hash
    return events


@given(st.lists(st.booleans(), min_size=1, max_size=12))
def test_a_run_is_kept_up_to_its_first_forgery(genuine: list[bool]):
    events = chain("C03", [C03 if ok else MALLORY for ok in genuine])
    kept, refused = signed_runs([(e, C03.public) for e in events], [])
    if genuine[-1]:  # C03 signed the run's last hash, which commits to all before it
        assert (kept, refused) == (events, [])
    else:
        first_forged = genuine.index(False)
        assert kept == events[:first_forged]
        assert refused == [(events[first_forged], FORGED.format("C03"))]


def test_a_counter_made_before_signatures_is_trusted_on_its_chain():
    events = chain("C01", [None, None])
    assert signed_runs([(e, None) for e in events], []) == (events, [])


def test_origins_are_judged_apart():
    good, bad = chain("C03", [C03, C03]), chain("C04", [MALLORY])
    kept, refused = signed_runs([(e, C03.public) for e in good + bad], [])
    assert kept == good and [e.id for e, _ in refused] == ["C04:1"]
