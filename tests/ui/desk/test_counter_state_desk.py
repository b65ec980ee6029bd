"""At a real till, with real keys and a real pointer (issue 12, points 7 and 10): the
login screen offers its users before anyone ever logged in here, and a touch on one then
a PIN typed logs in; a good scan takes a bad scan's red message away; a revoked counter
keeps its red banner for as long as it is revoked and refuses a scan with a visible
message."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QPushButton
from pytestqt.exceptions import TimeoutError as WaitTimedOut

from tests.proc import NodeProcess, Nodes, demo_barcodes
from tests.ui.desk.desk import Desk
from tests.ui.driver import ADMIN, CASHIER, client, ensure_shift
from tests.ui.test_counter_state import BAD_CHECK_DIGIT, banner_after_next_poll, store_of_two


@pytest.fixture(scope="module")
def pair(nodes: Nodes) -> tuple[NodeProcess, NodeProcess]:
    """C01 and C02 of one store; C02 is revoked by its test."""
    return store_of_two(nodes)


def test_a_finger_on_a_user_button_then_the_pin_logs_in(desk: Desk, node: NodeProcess):
    login = desk.window.login

    def cashier_button() -> QPushButton | None:
        return next((b for b in login.users_box.findChildren(QPushButton)
                     if b.isVisible() and b.text().startswith("Demo Cashier\n")), None)

    desk.wait(lambda: cashier_button() is not None)  # nobody ever logged in on this till
    button = cashier_button()
    assert button is not None
    desk.touch(button)
    desk.wait(lambda: login.user_field.text() == "cashier" and login.pin.field.hasFocus())
    desk.type(CASHIER[1])
    desk.press("Return")
    desk.login_done("cashier")


def test_a_good_scan_takes_the_red_message_of_a_bad_one_away(desk: Desk, node: NodeProcess):
    ensure_shift(node)
    desk.login(*CASHIER)
    sell, message = desk.window.sell, desk.window.message
    desk.wait(lambda: sell.cart_id is not None and sell.scan_field.hasFocus())
    desk.scanner(BAD_CHECK_DIGIT)
    desk.wait(lambda: message.isVisible() and "check digit" in message.text().lower())
    desk.scan(demo_barcodes(1)[0])
    desk.wait(lambda: not message.isVisible())


def test_a_revoked_counter_keeps_its_banner_and_refuses_a_scan(open_desk, pair):
    c1, c2 = pair
    desk: Desk = open_desk(c2.endpoint)
    desk.login(*CASHIER)
    sell = desk.window.sell
    first, second = demo_barcodes(2)
    desk.scan(first)
    with client(c1, ADMIN) as api:
        api.call("node_revoke", node_id="C02")
    banner = desk.window.counter_banner
    # C01 may refuse C02's events before C02 holds its revocation: the banner first says
    # that ("Refused by C01: sales stay on this counter"), then the revocation
    try:
        desk.wait(lambda: banner.isVisible()
                  and banner.text().startswith("Revoked by admin: this counter cannot sell"))
    except WaitTimedOut:  # seen twice on CI, never here: what each counter logged
        pytest.fail(f"banner: {banner.text()!r}\n--- C01:\n{c1.stderr()[-2500:]}\n"
                    f"--- C02:\n{c2.stderr()[-2500:]}")
    assert banner.property("level") == "error"
    desk.scanner(second)
    message = desk.window.message
    desk.wait(lambda: message.isVisible() and "revoked by admin (on C01)" in message.text())
    assert len(sell.model.view.lines) == 1  # nothing was added
    assert banner_after_next_poll(desk).startswith("Revoked by admin")  # it stays
    assert banner.isVisible() and not banner.visibleRegion().isEmpty()  # on screen, in view
