"""The hybrid logical clock and version vectors that event stamps and sync rely on."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tillmesh.replication.hlc import HybridClock, physical_ms
from tillmesh.replication.vector import dominates, merge, missing

walls = st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=50)


@given(walls)
def test_local_stamps_strictly_increase_even_when_the_wall_clock_jumps_back(times):
    clock = HybridClock()
    stamps = [clock.now(t) for t in times]
    assert stamps == sorted(set(stamps))
    assert physical_ms(stamps[-1]) >= max(times)


@given(walls, st.integers(min_value=0, max_value=2**44))
def test_a_received_stamp_orders_every_later_local_event_after_it(times, remote_ms):
    clock = HybridClock()
    for t in times:
        clock.now(t)
    remote = remote_ms << 16
    clock.observe(remote, times[-1])
    assert clock.now(times[-1]) > remote


vectors = st.dictionaries(st.sampled_from(["C01", "C02", "C03"]), st.integers(0, 50))


@given(vectors, vectors)
def test_merge_is_the_least_vector_covering_both(a, b):
    m = merge(a, b)
    assert dominates(m, a) and dominates(m, b)
    assert merge(a, b) == merge(b, a)
    assert all(m[o] in (a.get(o, 0), b.get(o, 0)) for o in m)


@given(vectors, vectors)
def test_missing_ranges_are_exactly_what_brings_have_up_to_want(have, want):
    gaps = missing(have, want)
    filled = merge(have, {o: last for o, (_, last) in gaps.items()})
    assert dominates(filled, want)
    assert all(first == have.get(o, 0) + 1 for o, (first, _) in gaps.items())
    assert dominates(have, want) == (gaps == {})
