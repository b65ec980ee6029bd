"""``tillmesh demo --counters 3 --headless``: a store of three real counters and the
simulator goes through its scripted day, and the report finds nothing lost, duplicated,
divergent or undelivered."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.proc import TILLMESH
from tests.xserver import Screen, XServer, missing_programs
from tillmesh.lab.demo_store import divergent

pytestmark = pytest.mark.slow

DEMO_TIMEOUT_S = 600.0  # seconds; the day takes well under a minute on an idle machine
CLOSE_PRESSES = 3
CLOSE_WAIT_S = 30.0  # for the window to go after Alt+F4; it goes in well under a second


def test_a_store_of_three_goes_through_its_day_and_loses_nothing() -> None:
    result = subprocess.run([str(TILLMESH), "demo", "--counters", "3", "--headless"],
                            capture_output=True, text=True, timeout=DEMO_TIMEOUT_S)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for step in ("C02 joined with an invite code", "C03 is cut off",
                 "C02 took back part of C01-", "a supervisor on C02 closed C01's shift",
                 "ERPNext is down", "ERPNext is back", "everything delivered"):
        assert step in out, (step, out)
    for name in ("C01", "C02", "C03"):
        sold = re.search(rf"  {name}: (\d+) sales and returns", out)
        assert sold is not None and int(sold[1]) >= 6, out
    for problem in ("lost", "duplicated", "undelivered"):
        assert re.search(rf"  {problem}: +0\n", out), (problem, out)
    compared = re.search(r"  divergent: +0 \(of (\d+) tables and the events", out)
    assert compared is not None and int(compared[1]) >= 20, out
    held = re.search(r"ERPNext holds: (\d+) POS Invoices, (\d+) returns, (\d+) consolidated,"
                     r" (\d+) openings, (\d+) closings", out)
    assert held is not None, out
    invoices, returns, consolidated, openings, closings = map(int, held.groups())
    total = sum(int(n) for n in re.findall(r"  C0\d: (\d+) sales and returns", out))
    assert (invoices, returns, consolidated, openings, closings) == (total, 1, total, 3, 3)
    assert re.search(r"the store agreed \d+\.\d\d s after the heal", out), out


def test_the_report_names_each_table_that_differs_between_counters() -> None:
    alike = {"sales": "s1", "outbox": "o1", "events": "e1"}
    held = {"C01": alike, "C02": {**alike, "sales": "s2"}, "C03": {"outbox": "o1", "events": "e1"}}
    assert divergent(held) == ["sales differs on C02", "sales differs on C03"]
    assert divergent({"C01": alike, "C02": dict(alike)}) == []


def test_with_the_app_the_demo_opens_a_window_and_reports_once_it_is_closed(
    tmp_path: Path,
) -> None:
    """In a real X server under a window manager: the app of the cut-off counter opens,
    the day goes on beside it, and closing the window (Alt+F4, as a person does) ends the
    demo with its report."""
    if missing := missing_programs():
        pytest.skip(f"needs {', '.join(missing)} (./dev.sh installs them)")
    with XServer(Screen(1366, 768, wm=True, full_screen=False), tmp_path) as x:
        demo = subprocess.Popen([str(TILLMESH), "demo", "--counters", "2", "--pace", "0.2"],
                                env=x.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(demo.stdout or ()), daemon=True)
        reader.start()
        try:
            window = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name",
                                     "Tillmesh"], env=x.env, capture_output=True, text=True,
                                    timeout=DEMO_TIMEOUT_S).stdout.split()[0]
            _until(lambda: "close the app's window to see the day's report\n" in lines)
            assert demo.poll() is None, "".join(lines)  # it waits for the window
            _close_with_alt_f4(x.env, window)
            assert demo.wait(DEMO_TIMEOUT_S) == 0, "".join(lines)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
        reader.join(DEMO_TIMEOUT_S)
    out = "".join(lines)
    assert "the app of C02 is open: log in as cashier (PIN 1111)" in out
    assert re.search(r"  lost: +0\n", out) and re.search(r"  divergent: +0 ", out), out


def _close_with_alt_f4(env: dict[str, str], window: str) -> None:
    """Alt+F4 on the window, pressed again while the window stays: on a loaded machine the
    window manager let a press go by once in some 60 runs, the app idle with its window
    up (the demo then waited for ever). A person presses again; an app that ignored the
    close would still fail here, with what the window manager and the window said."""
    def shown() -> bool:
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "Tillmesh"],
                               env=env, capture_output=True, text=True, timeout=CLOSE_WAIT_S)
        return window in found.stdout.split()

    for _ in range(CLOSE_PRESSES):
        subprocess.run(["xdotool", "windowactivate", "--sync", window, "key", "alt+F4"],
                       env=env, check=True, timeout=CLOSE_WAIT_S)
        if _until(lambda: not shown(), CLOSE_WAIT_S, fail=False):
            return
    said = subprocess.run(["sh", "-c", f"xprop -root _NET_ACTIVE_WINDOW; xprop -id {window} "
                           "WM_STATE _NET_WM_STATE; pgrep -a openbox"], env=env,
                          capture_output=True, text=True, timeout=CLOSE_WAIT_S)
    raise AssertionError(f"{CLOSE_PRESSES} presses of Alt+F4 left the window open:\n"
                         f"{said.stdout}{said.stderr}")


def _until(done: Callable[[], bool], within_s: float = DEMO_TIMEOUT_S, *,
           fail: bool = True) -> bool:
    deadline = time.monotonic() + within_s
    while not done():
        if time.monotonic() > deadline:
            assert not fail, "the demo did not get there in time"
            return False
        time.sleep(0.1)
    return True
