"""A CI-sized run of ``./dev.sh bench``'s counter part: it runs and prints its one table
with the floors and the multiples of them. Timings are never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_counter_benchmark_prints_its_table_with_the_floors() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--only", "counter", "--items", "300",
         "--sales", "3", "--events", "600", "--runs", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert any(line.startswith("floors: durable SQLite commit") for line in lines)
    rows = {line.split("  ")[0]: line for line in lines}
    assert "x commit" in rows["sale_submit via API, durable"]
    assert "x IPC" in rows["cart_scan via API (re-priced cart)"]
    assert "2 runs:" in rows["whole sale: new + 5 scans + submit"]
    assert "events/s" in next(v for k, v in rows.items() if k.startswith("rebuild "))


def test_the_pricing_benchmark_prints_rules_next_to_no_rules() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--only", "pricing", "--runs", "2", "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = {line.split("  ")[0]: line for line in run.stdout.splitlines()}
    assert "x no rules" in rows["price a 30-line cart, 20 Pricing Rules"]
    assert "2 runs:" in rows["price the same cart, no rules"]


def test_the_work_of_a_sale_and_of_each_of_its_calls_is_counted() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--only", "work", "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = {line.split("  ")[0]: line for line in run.stdout.splitlines()}

    def millions(what: str) -> float:
        return float(rows[what].split(" M instructions")[0].split()[-1])

    # a payment does more than a scan, which does more than opening a cart: each counted
    # span is its own (a switch that missed its call counts nothing, or the next one's)
    assert 0 < millions("of which: cart_new") < millions(
        "of which: one cart_scan (the mean of 5)") < millions("of which: sale_submit")
    whole = millions("CPU work of a whole sale (new + 5 scans + submit), in instructions")
    assert whole > 1
    # another counter records and projects the sale, without pricing or looking it up
    assert 0 < millions("another counter applying that sale (checked, recorded, projected)"
                        ) < millions("of which: sale_submit")
    # the API server's own part of a call is counted in its process: less than a scan
    api = rows["the local API's own work for one call (read, decode, queue, encode, send)"]
    per_call = float(api.split(" k instructions")[0].split()[-1]) / 1e3
    assert 0 < per_call < millions("of which: one cart_scan (the mean of 5)")
    split = rows["a whole sale's instructions by library"]
    assert all(name in split for name in ("the interpreter", "SQLite", "OpenSSL"))


def test_the_pull_on_a_selling_counter_gives_its_time_and_the_sales_during_it() -> None:
    from tests.bench import erpnext_pull

    pull, during, without = erpnext_pull.run_while_selling(True, items=500, sell_s=20)
    assert pull[0] == ("ERPNext pull, 500 items, on a running counter whose cashier sells"
                       " meanwhile (a sale every 0.5 s)") and "answered meanwhile" in pull[1]
    assert during[0].startswith("whole sale (new + 5 scans + submit) while that pull runs")
    assert without[1].startswith("median") and "sales" in without[1]


def test_the_forwarders_long_reads_give_the_loops_wait_beside_the_read_on_it() -> None:
    from tests.bench import erpnext_forward

    rows: list[tuple[str, str, str]] = []
    erpnext_forward.bench_reads_off_the_loop(30, rows)
    (plan, plan_waits, _), (closing, closing_waits, _) = rows
    assert plan.startswith("30 sales owed behind their refused opening entry")
    assert "the cashier's loop waits at most" in plan_waits and "plan read on it" in plan_waits
    assert closing.startswith("the shift closed: forming its closing entry reads the 30")
    assert "the cashier's loop waits at most" in closing_waits and "read on it" in closing_waits


def test_the_partition_heal_gives_its_time_and_the_cashiers_sales_meanwhile() -> None:
    from tests.bench import replication

    rows: list = []
    replication.partition(rows, 200)
    heal, selling = rows
    assert heal.what == "partition heal, 200 sales on each side" and "to converge" in heal.figure
    assert selling.what.startswith("whole sale (new + 5 scans + submit) on one side while")
    assert selling.figure.startswith("median") and "longest" in selling.figure


def test_a_part_that_fails_leaves_the_table_of_those_before_it(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.bench import __main__ as bench

    def broken(*args: object) -> None:
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(bench, "bench_rebuild", broken)
    monkeypatch.setattr(sys, "argv", ["bench", "--only", "counter", "--items", "300",
                                      "--sales", "3", "--events", "600", "--runs", "2"])
    with pytest.raises(RuntimeError, match="the disk went away"):
        bench.main()
    out = capsys.readouterr().out
    assert "floors: durable SQLite commit" in out
    assert "sale_submit via API, durable" in out  # measured before the rebuild failed
