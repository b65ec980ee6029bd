"""What the store keeps live and when it archives (issue 14): the fiscal years kept, the
floor that never passes a document ERPNext does not hold, the daily run in the store's
time zone through daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillmesh.node.domain.retention import (
    archive_time,
    cutoff,
    fiscal_start,
    next_floor,
    next_run,
)

ZONES = st.sampled_from([ZoneInfo(z) for z in ("Europe/Berlin", "America/New_York",
                                              "Australia/Sydney", "Asia/Kolkata", "UTC")])
MOMENTS = st.datetimes(datetime(2020, 1, 1), datetime(2035, 1, 1), timezones=st.just(UTC))
STARTS = st.sampled_from([(1, 1), (4, 1), (7, 1), (10, 1), (12, 31), (2, 28)])


@given(MOMENTS, ZONES, STARTS, st.integers(1, 5))
def test_the_live_store_keeps_whole_fiscal_years_up_to_now(now, tz, start, keep):
    first = cutoff(now, tz, start, keep)
    local = now.astimezone(tz)
    assert (first.month, first.day, first.hour, first.minute) == (*start, 0, 0)
    assert first <= local  # the current fiscal year is always kept
    # exactly ``keep`` fiscal-year starts lie in (first - 1 day, now]: no more, no fewer
    starts = [datetime(y, *start, tzinfo=tz) for y in range(first.year, local.year + 1)]
    assert len([s for s in starts if s <= local]) == keep


def test_a_store_on_the_calendar_year_keeps_this_year_and_last():
    berlin = ZoneInfo("Europe/Berlin")
    assert cutoff(datetime(2026, 11, 26, tzinfo=UTC), berlin, (1, 1), 2) == datetime(
        2025, 1, 1, tzinfo=berlin)
    # 23:59 on 31 March in Berlin is still in the fiscal year from 1 April 2025: the one
    # before it started in 2024; a minute later the kept years move on.
    assert cutoff(datetime(2026, 3, 31, 21, 59, tzinfo=UTC), berlin, (4, 1), 2) == datetime(
        2024, 4, 1, tzinfo=berlin)
    assert cutoff(datetime(2026, 3, 31, 22, 0, tzinfo=UTC), berlin, (4, 1), 2) == datetime(
        2025, 4, 1, tzinfo=berlin)
    with pytest.raises(ValueError, match="at least 1"):
        cutoff(datetime(2026, 1, 1, tzinfo=UTC), berlin, (1, 1), 0)


@given(st.dictionaries(st.sampled_from(["C01", "C02", "C03"]), st.integers(0, 50)),
       st.dictionaries(st.sampled_from(["C01", "C02", "C03"]), st.integers(0, 60)),
       st.dictionaries(st.sampled_from(["C01", "C02", "C03"]), st.integers(1, 60)))
def test_the_floor_only_rises_and_stops_before_what_erpnext_does_not_hold(floor, older, owed):
    moved = next_floor(floor, older, owed)
    for origin, upto in moved.items():
        assert upto > floor.get(origin, 0)  # it only ever rises
        assert upto <= older[origin]  # nothing newer than the cutoff
        assert upto < owed.get(origin, upto + 1)  # nothing owed or unconsolidated
    for origin, last_old in older.items():
        best = min(last_old, owed.get(origin, last_old + 1) - 1)
        assert moved.get(origin, floor.get(origin, 0)) == max(best, floor.get(origin, 0))


@given(MOMENTS, ZONES, st.times().map(lambda t: t.replace(second=0, microsecond=0)))
def test_the_daily_run_is_the_next_time_the_store_clock_shows_it(now, tz, at):
    then = next_run(now, tz, at)
    assert now < then <= now + timedelta(hours=25)
    local = then.astimezone(tz)
    if local.time().replace(fold=0) != at:  # the clocks skipped ``at`` that day
        assert (datetime.combine(local.date(), at, tzinfo=tz).astimezone(UTC).astimezone(tz)
                == local)
    earlier = next_run(now - timedelta(minutes=1), tz, at)
    assert earlier <= then


def test_settings_that_are_not_days_or_times_are_refused_clearly():
    assert fiscal_start("04-01") == (4, 1)
    assert archive_time("03:30") == time(3, 30)
    for bad in ("02-29", "13-01", "4-1x", ""):
        with pytest.raises(ValueError, match="MM-DD"):
            fiscal_start(bad)
    for bad in ("3:30", "24:00", "03:60", "0330", "ab:cd"):
        with pytest.raises(ValueError, match="HH:MM"):
            archive_time(bad)
