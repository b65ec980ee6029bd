"""The chain model of ``tests/bench/erpnext_chain.py`` (issue 14): when a work-conserving
ERPNext has done a day's work, against a step-by-step simulation of one server taking
the work in the order it arrives, and the chain's figures that follow from it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.bench.erpnext_chain import (
    HOUR,
    MODES,
    Chain,
    Rates,
    Work,
    books_complete,
    chain_work,
    distinct_items,
    speedup_needed,
)

works = st.lists(st.builds(Work, st.floats(0, 1e5), st.floats(0, 1e4)), max_size=40)


def served(work: list[Work]) -> float:
    """One server, first come first served: when the last piece is done."""
    t = 0.0
    for w in sorted(work, key=lambda w: w.at):
        t = max(t, w.at) + w.seconds
    return t


@given(works)
def test_books_complete_when_one_server_has_served_everything(work: list[Work]) -> None:
    done = books_complete(work)
    assert abs(done - served(work)) <= 1e-6 * max(1.0, done)
    assert books_complete(list(reversed(work))) == done  # the order it is listed in: none
    if work:
        assert done >= max(w.at for w in work)
        assert done >= min(w.at for w in work) + sum(w.seconds for w in work) - 1e-6


@given(works, st.builds(Work, st.floats(0, 1e5), st.floats(0, 1e4)))
def test_more_work_never_completes_the_books_sooner(work: list[Work], more: Work) -> None:
    assert books_complete([*work, more]) >= books_complete(work) - 1e-6


RATES = Rates(invoice_s=0.1, merged_s=0.15, shift_doc_s=2.0, shift_row_s=0.02)


def test_a_chain_per_sale_cannot_finish_its_day_within_the_day() -> None:
    chain = Chain()
    work = chain_work(chain, RATES, "per-sale, after closing")
    # 1.6 million invoices at 0.1 s and their merges at 0.15 s: 111 hours of ERPNext
    assert round(sum(w.seconds for w in work) / HOUR) == round(
        1_600_000 * 0.25 / HOUR + 200 * 12 * 0.5 / HOUR)
    assert books_complete(work) > 4 * 86400
    all_day = chain_work(chain, RATES, "per-sale, all day")
    assert abs(sum(w.seconds for w in all_day) - sum(w.seconds for w in work)) < 1e-3
    assert books_complete(all_day) > 4 * 86400  # sending all day does not help


def test_a_chain_per_shift_is_in_the_books_soon_after_closing() -> None:
    chain = Chain()
    work = chain_work(chain, RATES, "per-shift")
    assert len(work) == 200 * 6 * 2  # one consolidated invoice per shift
    rows = distinct_items(round(8000 / 12 * 8), 20_000)
    assert 1000 < rows < 5336  # repeat buyers of popular items fold into one row
    assert books_complete(work) < chain.close_at(chain.stores) + 24 * HOUR
    assert set(MODES) == {"per-sale, after closing", "per-sale, all day", "per-shift"}


@given(works, st.floats(0, 2e5))
def test_the_speedup_needed_just_meets_the_deadline(work: list[Work], deadline: float) -> None:
    k = speedup_needed(work, deadline)
    if k == float("inf"):  # work that arrives at or after the deadline cannot make it
        assert any(w.at > deadline or (w.at == deadline and w.seconds > 0) for w in work)
        return
    faster = [Work(w.at, w.seconds / k) for w in work]
    assert books_complete(faster) <= deadline * (1 + 1e-6) + 1e-6
    if k > 1.0:  # and a little less would not do
        slower = [Work(w.at, w.seconds / (k * 0.99)) for w in work]
        assert books_complete(slower) > deadline
