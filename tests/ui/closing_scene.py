"""The tester's closing (issue 12), for the offscreen and the real-X tests alike: a shift
that took a card payment, and the cashier at its count on the shifts screen."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.proc import NodeProcess, demo_barcodes
from tests.ui.driver import CASHIER, App, client, ensure_shift


def card_shift_to_count(app: App, node: NodeProcess) -> str:
    """This counter's shift with a card payment in it; the cashier logged in, F12, its
    count showing with every mode. Returns the shift."""
    shift = ensure_shift(node)
    with client(node, CASHIER) as api:
        cart = api.cart_new()["cart_id"]
        due = api.cart_scan(cart, demo_barcodes(1)[0])["due"]
        api.sale_submit(cart, [{"mode_of_payment": "Card", "amount": due}])
    app.login(*CASHIER)
    shifts = app.window.shifts
    app.key(Qt.Key.Key_F12)
    app.wait(lambda: app.screen == "shifts" and shifts.selected is not None
             and shifts.selected["shift"] == shift and "Card" in shifts.expected
             and "Card" in shifts.counting.fields)
    return shift
