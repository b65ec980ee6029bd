"""Between two customers, at a real till: the change shows after "Complete sale", and
whatever the cashier does next with the keyboard or the scanner acts. Enter starts the
next customer, as the button says; a scan starts the next customer with that item (it
was lost before: nothing on the change screen took keys)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.proc import NodeProcess, demo_barcodes
from tests.ui.desk.desk import Desk
from tests.ui.driver import CASHIER, ensure_shift


def paid_in_cash(desk: Desk, code: str) -> None:
    """Scan one item, F10, type 50 into Cash and Enter: the change screen shows."""
    desk.scan(code)
    desk.key(Qt.Key.Key_F10)
    desk.wait(lambda: desk.screen == "payment")
    desk.type("50")
    desk.press("Return")
    desk.wait(lambda: desk.window.payment.sale is not None)


def test_a_scan_on_the_change_screen_starts_the_next_customer_with_it(desk, node):
    ensure_shift(node)
    desk.login(*CASHIER)
    first, second = demo_barcodes(2)
    paid_in_cash(desk, first)
    sold = desk.window.payment.view.cart_id
    desk.scanner(second)  # the next customer's first item, while the change still shows
    sell = desk.window.sell
    desk.wait(lambda: desk.screen == "sell" and sell.cart_id not in (None, sold)
              and len(sell.model.view.lines) == 1)


def test_enter_on_the_change_screen_does_what_the_button_says(desk: Desk, node: NodeProcess):
    ensure_shift(node)
    desk.login(*CASHIER)
    paid_in_cash(desk, demo_barcodes(1)[0])
    desk.press("Return")
    sell = desk.window.sell
    desk.wait(lambda: desk.screen == "sell" and sell.cart_id is not None
              and not sell.model.view.lines and sell.scan_field.hasFocus())


def test_a_scan_while_paying_goes_into_the_sale_not_into_the_drawer(desk: Desk,
                                                                   node: NodeProcess):
    """A forgotten item scanned on the payment screen lands in the Cash field, whose
    Enter would have paid 4,250,100,000,011.00 and given it back as change."""
    ensure_shift(node)
    desk.login(*CASHIER)
    first, forgotten = demo_barcodes(2)
    desk.scan(first)
    cart = desk.window.sell.cart_id
    desk.key(Qt.Key.Key_F10)
    desk.wait(lambda: desk.screen == "payment")
    desk.scanner(forgotten)  # into the Cash field, which has the keyboard
    sell = desk.window.sell
    desk.wait(lambda: desk.screen == "sell" and len(sell.model.view.lines) == 2)
    assert sell.cart_id == cart and desk.window.payment.sale is None  # nothing was paid
    assert f"Scanned {forgotten} while paying" in desk.window.message.text()
