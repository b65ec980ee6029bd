"""The lists a till without a touch screen must reach by keyboard, with real keys in a
real X server: the latest sales on the Returns screen (Down from the number field, then
Enter opens the sale) and a supervisor's list of open shifts (Tab to it, Enter opens another
counter's shift to count, the keyboard on the first count field)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from tests.proc import NodeProcess, Nodes, demo_barcodes, sell_one
from tests.ui.desk.desk import Desk
from tests.ui.driver import CASHIER, SUPERVISOR, client, ensure_shift
from tests.ui.test_counter_state import store_of_two

TABS_MAX = 12  # widgets on a screen before the list; more means it is not reachable


def test_the_latest_sales_open_from_the_keyboard(desk: Desk, node: NodeProcess):
    ensure_shift(node)
    with client(node, CASHIER) as api:
        sold = sell_one(api, demo_barcodes(1)[0])["invoice"]
    desk.login(*CASHIER)
    desk.press("F8")
    returns = desk.window.returns
    desk.wait(lambda: desk.screen == "returns" and returns.find_field.hasFocus())
    desk.wait(lambda: returns.recent.rowCount() > 0 and returns.recent_numbers[0] == sold)
    desk.press("Down")
    desk.wait(lambda: returns.recent.hasFocus() and returns.recent.currentRow() == 0)
    desk.press("Return")
    desk.wait(lambda: returns.invoice is not None and returns.invoice.number == sold)


@pytest.fixture(scope="module")
def pair(nodes: Nodes) -> tuple[NodeProcess, NodeProcess]:
    """C01 and C02 of one store, a shift open on C02."""
    return store_of_two(nodes)


def test_a_supervisor_opens_another_counters_shift_from_the_keyboard(open_desk, pair):
    c1, c2 = pair
    shift = ensure_shift(c2)
    desk: Desk = open_desk(c1.endpoint)
    desk.login(*SUPERVISOR)
    desk.press("F12")
    shifts = desk.window.shifts
    desk.wait(lambda: desk.screen == "shifts" and shifts.list.count() > 0)
    for _ in range(TABS_MAX):
        if shifts.list.hasFocus():
            break
        desk.press("Tab")
    assert shifts.list.hasFocus(), QApplication.focusWidget()
    desk.press("Down")
    desk.wait(lambda: shifts.list.currentRow() >= 0)
    row = next(i for i, s in enumerate(shifts.shifts) if s["shift"] == shift)
    while shifts.list.currentRow() != row:
        desk.press("Down")
    assert shifts.selected is None  # not open yet: this counter has no shift of its own
    desk.press("Return")
    desk.wait(lambda: shifts.selected is not None and shifts.selected["shift"] == shift)
    # the count is typed next, in the fields of the shift's modes once they are known
    desk.wait(lambda: any(f.hasFocus() for f in list(shifts.counting.fields.values())[:1]))
