"""Invoice numbers as ranges: the rows stand for exactly the numbers put in them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tillmesh.node.domain.invoice_ranges import covered, merged, split

NUMBERS = st.lists(st.integers(min_value=1, max_value=60), max_size=40)


@given(NUMBERS, NUMBERS)
def test_ranges_hold_exactly_the_numbers_added_in_one_form(first, then):
    ranges = merged(merged([], first), then)
    held = {n for lo, hi in ranges for n in range(lo, hi + 1)}
    assert held == set(first) | set(then)
    # Sorted, disjoint and never adjacent: the same numbers always make the same rows.
    assert all(lo <= hi for lo, hi in ranges)
    assert all(a[1] + 1 < b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert ranges == merged([], [*then, *first])
    assert all(covered(ranges, n) == (n in held) for n in range(0, 62))


def test_only_a_counters_invoice_names_have_a_number():
    assert split("C01-2026-000042") == ("C01-2026", 42)
    assert split("ACC-PSINV-2026-00001") == ("ACC-PSINV-2026", 1)
    for name in ("C01-2026-", "000042", "C01-2026-4x", "C01-2026-٤٢", "-12", ""):
        assert split(name) is None
