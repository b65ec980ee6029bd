"""A year benchmark written over several runs (``--year-dir``): what one run leaves, the
next goes on from, and the table comes out as if written at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.year import SMALL, Kept, Row, Run, generation, run, size

DAYS = 2


def written(rows: list[Row] | None) -> tuple[str, str]:
    """The history's sales and returns, and its events (not how long they took)."""
    assert rows is not None
    days = next(row for row in rows if row[0].startswith(f"write {DAYS} days"))
    return days[1], days[2].split(" in ")[0]


def vectors(home: Path) -> dict[str, dict[str, int]]:
    kept = Kept(home)
    years = {label: kept.year(label, SMALL, DAYS) for label in ("fresh", "year")}
    out = {label: y.log.vector() for label, y in years.items()}
    for y in years.values():
        y.log.engine.dispose()
    return out


def test_a_history_stopped_after_a_day_goes_on_to_the_same_store(tmp_path):
    at_once = written(run(DAYS, SMALL, [generation], home=tmp_path / "a"))

    kept = Kept(tmp_path / "b")
    year = kept.year("year", SMALL, DAYS)
    year.trade(1)
    kept.save(year)  # what a run stopped after its first day leaves
    year.log.engine.dispose()
    assert written(run(DAYS, SMALL, [generation], home=tmp_path / "b")) == at_once
    assert vectors(tmp_path / "b")["year"] == vectors(tmp_path / "a")["year"]


def test_a_run_stopped_at_once_leaves_the_stores_and_goes_on_later(tmp_path, capsys):
    assert run(DAYS, SMALL, [generation], home=tmp_path, stop_after_s=0) is None
    assert "stopped after day 0 of 2" in capsys.readouterr().out
    assert (tmp_path / "year.state").exists() and (tmp_path / "fresh.state").exists()
    rows = run(DAYS, SMALL, [generation], home=tmp_path)
    assert written(rows)[0].startswith(f"{DAYS * SMALL.sales_per_day:,} sales")


def test_parts_done_are_not_measured_again(tmp_path, capsys):
    first = run(DAYS, SMALL, [generation], home=tmp_path)
    capsys.readouterr()
    calls: list[Run] = []

    def counted(r: Run) -> list[Row]:
        calls.append(r)
        return size(r)

    rows = run(DAYS, SMALL, [generation, counted], home=tmp_path)
    assert rows is not None and first is not None
    assert rows[:len(first)] == first  # the same rows, seconds and all: kept, not measured
    assert len(calls) == 1 and "[generation" not in capsys.readouterr().out
    assert any(row[0].startswith("store on disk per counter") for row in rows)


def test_a_store_that_went_on_after_its_saved_day_is_refused(tmp_path):
    kept = Kept(tmp_path)
    year = kept.year("year", SMALL, DAYS)
    year.trade(1)  # not saved: as a run killed in the middle of a day
    year.log.engine.dispose()
    with pytest.raises(SystemExit, match="went on after day 0"):
        run(DAYS, SMALL, [generation], home=tmp_path)
