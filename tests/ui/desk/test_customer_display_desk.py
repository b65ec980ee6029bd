"""The customer display beside a real till: ``tillmesh ui --customer-display`` as a process
of its own on the same X server as the cashier's app, which sells with real keys. The
display shows the total, what the customer pays and the change as the cashier types it,
then the sale's change; it never takes the keyboard from the till (the scanner keeps
typing into the cashier's app) and its window says so to the window manager."""

from __future__ import annotations

import re
import subprocess

from PySide6.QtCore import Qt

from tests.proc import NodeProcess, demo_barcodes
from tests.ui.desk.desk import Desk
from tests.ui.driver import CASHIER, ensure_shift
from tests.ui.test_customer_display import DisplayProcess
from tillmesh.ui.const import DISPLAY_TITLE, DISPLAY_WINDOW_SIZE
from tillmesh.ui.models.money import dec, with_symbol


def _x(desk: Desk, *command: str) -> str:
    """An X client's output, the Qt loop turning meanwhile."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    desk.wait(lambda: proc.poll() is not None)
    out, err = proc.communicate()
    assert proc.returncode == 0, f"{' '.join(command)}: {err}"
    return out


def _money(value: object) -> str:
    return re.escape(with_symbol(dec(value)))


def test_the_customer_sees_the_total_and_the_change_and_the_till_keeps_the_keyboard(
        desk: Desk, node: NodeProcess):
    ensure_shift(node)
    desk.login(*CASHIER)
    setup = desk.screen_setup
    display = DisplayProcess(node.data_dir, "--screen", "0",
                             *(() if setup.full_screen else ("--windowed",)))
    try:
        desk.wait(lambda: display.find("^welcome$") is not None)
        wid = _x(desk, "xdotool", "search", "--sync", "--onlyvisible", "--name",
                 f"^{DISPLAY_TITLE}$").split()[0]
        assert "Client accepts input or input focus: False" in _x(desk, "xprop", "-id", wid,
                                                                   "WM_HINTS")
        geometry = _x(desk, "xwininfo", "-id", wid)
        width, height = (setup.width, setup.height) if setup.full_screen else DISPLAY_WINDOW_SIZE
        assert f"Width: {width}\n" in geometry and f"Height: {height}\n" in geometry, geometry
        till = str(int(desk.window.winId()))
        assert _x(desk, "xdotool", "getwindowfocus").strip() == till

        first, second, third = demo_barcodes(3)
        desk.scan(first)  # the scanner types into the till, not the display on top of it
        desk.scan(second)
        due = desk.window.sell.model.view.due
        desk.wait(lambda: display.find(f"^cart: 2 lines, .* total {_money(due)}$") is not None)

        desk.key(Qt.Key.Key_F10)
        desk.wait(lambda: desk.screen == "payment")
        desk.type("50")  # typed, Enter not pressed yet: the customer sees it already
        typed = (f"^cart: 2 lines, .* total {_money(due)}, paid {_money('50')}, "
                 f"change {_money(dec('50') - due)}$")
        desk.wait(lambda: display.find(typed) is not None)
        assert desk.window.payment.sale is None
        desk.press("Return")
        desk.wait(lambda: desk.window.payment.sale is not None)
        sale = desk.window.payment.sale
        assert sale is not None
        paid = (f"^paid: total {_money(due)}, paid {_money('50')}, "
                f"change {_money(sale['change'])}$")
        desk.wait(lambda: display.find(paid) is not None)
        found = display.find(paid)
        assert found is not None

        desk.press("Return")  # next customer: the change stays until their first item
        desk.wait(lambda: desk.screen == "sell" and not desk.window.sell.model.view.lines)
        desk.scan(third)
        desk.wait(lambda: display.find("^cart: 1 lines", after=found[0]) is not None)
        assert display.shown()[found[0] + 1].startswith("cart: 1 lines")
        assert _x(desk, "xdotool", "getwindowfocus").strip() == till
    finally:
        display.stop()
