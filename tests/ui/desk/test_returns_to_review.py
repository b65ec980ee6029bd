"""A return the sale's counter cannot confirm, at a real till: real key events and
touches in a real X server. The risk prompt comes up in front with the keyboard on it,
fits the screen and says the risk whole; the supervisor's PIN typed on the keyboard
accepts it; the store screen lists the return to review and the late sales, all of it
readable at this screen size."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from tests.ui.desk.fit import assert_fits
from tests.ui.driver import CASHIER, SUPERVISOR
from tests.ui.returns_scene import (
    ask_for_return,
    late_sale,
    recorded,
    refunded,
    texts,
)
from tillmesh.ui.screens.dialogs import RISK_NOTE, ApproverDialog, RiskDialog


def in_front(desk, dialog) -> None:
    """The prompt is the window the keyboard types into, and it fits the screen."""
    desk.wait(lambda: QApplication.activeWindow() is dialog)
    assert_fits(dialog)


def store_screen(desk):
    desk.touch(desk.window.nav_buttons["status"])
    desk.wait(lambda: desk.screen == "status")
    return desk.window.status


def test_the_risk_prompt_takes_the_supervisors_pin_from_the_keyboard(open_desk, counters):
    desk, invoice = ask_for_return(open_desk, counters, CASHIER)
    dialog = desk.dialog(ApproverDialog)
    in_front(desk, dialog)
    said = texts(dialog)
    assert f"C01 made sale {invoice} and cannot confirm this return" in said
    assert RISK_NOTE in said
    desk.approve(*SUPERVISOR)  # typed with real keys, Enter approves
    refunded(desk)
    assert recorded(counters[1], invoice)["unconfirmed"]
    assert QApplication.activeWindow() is desk.window  # the keyboard is back on the till


def test_a_supervisor_confirms_with_a_touch_and_finds_it_to_review(open_desk, counters):
    desk, invoice = ask_for_return(open_desk, counters, SUPERVISOR)
    dialog = desk.dialog(RiskDialog)
    in_front(desk, dialog)
    assert f"C01 made sale {invoice}" in texts(dialog)
    desk.touch(dialog.ok)
    refunded(desk)
    returned = recorded(counters[1], invoice)["invoice"]
    status = store_screen(desk)
    reviews = status.reviews
    desk.wait(lambda: returned in [reviews.item(r, 0).text()
                                   for r in range(reviews.rowCount())])
    (row,) = [r for r in range(reviews.rowCount()) if reviews.item(r, 0).text() == returned]
    assert reviews.item(row, 1).text() == invoice
    assert "C01 could not confirm" in reviews.item(row, 3).text()
    assert_fits(desk.window)


def test_late_sales_to_reconcile_show_on_the_store_screen(open_desk, counters):
    late_sale(*counters)
    desk = open_desk(counters[1].endpoint)
    desk.login(*SUPERVISOR)
    status = store_screen(desk)
    desk.wait(lambda: "Late sales to reconcile 1" in status.erpnext.text())
    assert_fits(desk.window)
