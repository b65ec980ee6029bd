"""Benchmark: a barcode scan in the app, from the scanner's Enter to the new line painted in
the cart, with 100,000 items in the catalog of a real ``tillmesh run`` node; and search as
you type, from the text changing to the results listed (the debounce included).

``run(quick)`` returns rows (what, figure, target); ``quick`` times fewer scans (the
catalog is 100,000 items either way). The app runs offscreen in this process, as the
cashier's app would: the scan field's Enter, the bridge's worker thread, the node over
IPC (``cart_scan``: look-up and re-pricing of the cart), the answer back on the Qt thread,
the cart model reset, then a synchronous repaint of the table. Carts are voided every
``LINES_PER_CART`` scans, so carts stay the size of a real basket.

The scans are then repeated in a real X server (Xvfb at 1024x768, no window manager, the
app full screen as at a till; a child process, as Qt picks its platform once): xdotool
types each code at scanner speed and Enter, so the keys reach the app through the X
server as a scanner's do. The time runs from the Return key's arrival in the scan field
to the line painted; every scan must add exactly one line (none lost).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.bench.table import median_p99_ms
from tests.paths import REPO
from tillmesh.ui.const import SEARCH_DEBOUNCE_MS

if TYPE_CHECKING:
    from tillmesh.ui.screens.sell import SellScreen
    from tillmesh.ui.shell import MainWindow

FULL_ITEMS = 100_000
FULL_SCANS = 500
QUICK_SCANS = 100
LINES_PER_CART = 20  # a big basket; re-pricing grows with the lines
TARGET_P99_MS = 50.0  # issue 5: Enter to the line on screen
SEARCHES = 50
SEED = 5
XVFB_SCREEN = "1024x768"  # a 15" till
SCANNER_KEY_MS = 4  # ms between a scanner's keystrokes (they type 100-300 characters/s)
CHILD_TIMEOUT_S = 1800  # the X run loads its own 100,000-item catalog; minutes at most


def _load_catalog(data_dir: Path, items: int) -> None:
    """``items`` synthetic items (node.demo_data.bulk_items) as master-data events, written
    into the stopped node's store, as an ERPNext pull would leave them."""
    from tests.bench.__main__ import _load
    from tillmesh.lab.demo_data import bulk_items
    from tillmesh.node.ops.config import load
    from tillmesh.node.store import open_engine, read_key_file
    from tillmesh.node.store.event_log import EventLog

    config = load(data_dir)
    log = EventLog(open_engine(config.db_path, read_key_file(config.key_path)), config.node_id)
    try:
        _load(log, bulk_items(items))
    finally:
        log.engine.dispose()


def _search_words(rng: random.Random) -> list[str]:
    """Four-letter starts of words of real item names: what a cashier types."""
    from tillmesh.lab.demo_data import bulk_items

    names = [doc["item_name"] for doctype, doc in bulk_items(2000) if doctype == "Item"]
    return [rng.choice(rng.choice(names).split())[:4] for _ in range(SEARCHES)]


def run(quick: bool) -> list[tuple[str, str, str]]:
    """Offscreen here, then in a real X server in a child process."""
    return _run_here(quick, real_x=False) + _run_in_xvfb(quick)


def _run_here(quick: bool, real_x: bool) -> list[tuple[str, str, str]]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from tillmesh.lab.demo_data import bulk_barcode
    from tillmesh.lab.demo_node import DemoNode, wait_until
    from tillmesh.ui.app import application, open_window

    scans = QUICK_SCANS if quick else FULL_SCANS
    rng = random.Random(SEED)
    codes = [bulk_barcode(rng.randrange(FULL_ITEMS)) for _ in range(scans)]
    started = time.perf_counter()
    with DemoNode(prepare=lambda d: _load_catalog(d, FULL_ITEMS)) as node:
        loaded = time.perf_counter() - started
        application()
        window = open_window(node.endpoint, windowed=not real_x)
        ctx, sell = window.ctx, window.sell
        ctx.login("cashier", "1111", lambda exc: False)
        wait_until(lambda: ctx.user is not None and sell.cart_id is not None, 60)
        samples = _time_scans(window, codes, real_x)
        searched = [] if real_x else _time_searches(sell, _search_words(rng))
        window.close()
    median, p99 = median_p99_ms(samples)
    if real_x:
        return [(f"app in a real X server (Xvfb {XVFB_SCREEN}, xdotool as the scanner): "
                 f"scan Enter -> line painted, {FULL_ITEMS:,} items ({scans} scans, none "
                 "lost)", f"median {median:.1f} ms, p99 {p99:.1f} ms",
                 f"p99 < {TARGET_P99_MS:.0f} ms")]
    search_median, search_p99 = median_p99_ms(searched)
    return [
        (f"app: scan Enter -> line painted in the cart, {FULL_ITEMS:,} items "
         f"({scans} scans, carts of up to {LINES_PER_CART} lines)",
         f"median {median:.1f} ms, p99 {p99:.1f} ms", f"p99 < {TARGET_P99_MS:.0f} ms"),
        (f"app: search as you type -> results listed, {FULL_ITEMS:,} items "
         f"({len(searched)} searches, incl. the {SEARCH_DEBOUNCE_MS} ms debounce)",
         f"median {search_median:.1f} ms, p99 {search_p99:.1f} ms",
         f"p99 < {SEARCH_DEBOUNCE_MS} + {TARGET_P99_MS:.0f} ms"),
        ("  (setting up: demo node + catalog load)", f"{loaded:.1f} s", ""),
    ]


def _time_scans(window: MainWindow, codes: list[str], real_x: bool) -> list[float]:
    """Seconds from each scan's Return in the scan field to its line painted; offscreen the
    Return is a Qt key event, in X the scanner's own (xdotool through the X server)."""
    from PySide6.QtCore import QEvent, QObject, Qt
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtTest import QTest

    from tillmesh.lab.demo_node import wait_until

    ctx, sell = window.ctx, window.sell
    reset_at: list[float] = []
    returned_at: list[float] = []

    class ReturnClock(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt)
            if (event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                    and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):
                returned_at.append(time.perf_counter())
            return False

    clock = ReturnClock()
    sell.scan_field.installEventFilter(clock)
    sell.model.modelReset.connect(lambda: reset_at.append(time.perf_counter()))
    if real_x:
        _xdotool("windowfocus", "--sync", str(int(window.winId())))
        wait_until(lambda: sell.scan_field.hasFocus(), 10)
    samples = []
    for code in codes:
        lines = len(sell.model.view.lines)
        if lines >= LINES_PER_CART:
            ctx.call("cart_void", {"cart_id": sell.cart_id}, lambda _: sell.new_sale())
            wait_until(lambda: sell.model.view.empty and not ctx.bridge.busy, 30)
            lines = 0
        reset_at.clear()
        returned_at.clear()
        if real_x:
            # the Qt loop turns while xdotool types, as it would under a scanner
            for keys in (["type", "--delay", str(SCANNER_KEY_MS), "--", code],
                         ["key", "Return"]):
                typing = subprocess.Popen(["xdotool", *keys])
                wait_until(lambda t=typing: t.poll() is not None, 30)
            wait_until(lambda: bool(returned_at), 30)
        else:
            sell.scan_field.setText(code)
            QTest.keyClick(sell.scan_field, Qt.Key.Key_Return)
        wait_until(lambda n=lines: len(sell.model.view.lines) >= n + 1 and bool(reset_at), 30)
        assert len(sell.model.view.lines) == lines + 1, f"scan of {code} added no line"
        answered = reset_at[-1]
        painting = time.perf_counter()
        sell.table.viewport().repaint()  # the new line on screen, now
        samples.append(answered - returned_at[0] + time.perf_counter() - painting)
    sell.scan_field.removeEventFilter(clock)
    return samples


def _xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, capture_output=True, timeout=30)


def _run_in_xvfb(quick: bool) -> list[tuple[str, str, str]]:
    from tests.xserver import Screen, XServer, missing_programs

    if missing_programs():
        return [("app in a real X server", "not run: " + ", ".join(missing_programs())
                 + " missing (./dev.sh installs them)", "")]
    width, height = (int(n) for n in XVFB_SCREEN.split("x"))
    with tempfile.TemporaryDirectory() as logs, \
            XServer(Screen(width, height, wm=False, full_screen=True), Path(logs)) as x:
        child = subprocess.run(
            [sys.executable, "-m", "tests.bench.ui_scan", "--real-x",
             *(["--quick"] if quick else [])],
            env=x.env, cwd=REPO, capture_output=True, text=True, check=False,
            timeout=CHILD_TIMEOUT_S)
    if child.returncode != 0:
        return [("app in a real X server", "failed: " + child.stderr.strip()[-300:], "")]
    return [tuple(row) for row in json.loads(child.stdout.strip().splitlines()[-1])]


def _time_searches(sell: SellScreen, words: list[str]) -> list[float]:
    """From setting the search text (as typing does) to the first result listed."""
    from tillmesh.lab.demo_node import wait_until

    listed: list[float] = []
    sell.results.model().rowsInserted.connect(lambda *_: listed.append(time.perf_counter()))
    samples = []
    for word in words:
        sell.close_search()
        sell.open_search()
        listed.clear()
        typed = time.perf_counter()
        sell.search_field.setText(word)
        wait_until(lambda: bool(listed), 30)
        samples.append(listed[0] - typed)
    sell.close_search()
    return samples


if __name__ == "__main__":
    if "--real-x" in sys.argv:  # the child of _run_in_xvfb: one JSON line of rows
        print(json.dumps(_run_here("--quick" in sys.argv, real_x=True)), flush=True)
        os._exit(0)  # measured and said: PySide6 6.12 can abort in interpreter shutdown
    else:
        for row in run("--quick" in sys.argv):
            print("  ".join(row))
