"""Every screen at this till set-up's size: nothing lies outside the window, no text or
amount is cut or elided, no table hides columns. The cart and the payment hold a sale,
so the amounts shown are real ones."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.proc import NodeProcess, demo_barcodes
from tests.ui.desk.desk import Desk
from tests.ui.desk.fit import assert_fits
from tests.ui.driver import ADMIN, ensure_shift

BACK_OFFICE = ("returns", "shifts", "status", "admin")


def test_every_screen_fits_with_nothing_cut(desk: Desk, node: NodeProcess) -> None:
    ensure_shift(node)
    desk.wait(lambda: desk.screen == "login")
    assert_fits(desk.window)
    desk.login(*ADMIN)
    for code in demo_barcodes(3):
        desk.scan(code)
    assert_fits(desk.window)
    desk.key(Qt.Key.Key_F10)
    desk.wait(lambda: desk.screen == "payment")
    assert_fits(desk.window)
    desk.press("Escape")
    desk.wait(lambda: desk.screen == "sell")
    for name in BACK_OFFICE:
        desk.touch(desk.window.nav_buttons[name])
        desk.wait(lambda name=name: desk.screen == name)
        desk.idle()
        assert_fits(desk.window)
    counting = desk.window.shifts.counting  # the shift open here, to be counted
    desk.touch(desk.window.nav_buttons["shifts"])
    desk.wait(lambda: counting.isVisible())
    desk.touch(counting.notes_button)
    desk.wait(lambda: counting.notes.isVisible())
    assert_fits(counting.notes)  # the notes-and-coins grid, over the screen
    desk.press("Return")  # Done
    desk.wait(lambda: not counting.notes.isVisible())
