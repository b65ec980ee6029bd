"""Receipts from the app's point of view: a sale paid in the app leads to a receipt job
on the node's printer, and a printer that is off never blocks the sale, it shows the
printer banner. (The ESC/POS bytes themselves are node.printing's tests.)"""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from tests.proc import free_port, with_printer
from tests.ui.driver import CASHIER, SUPERVISOR, client, ensure_shift
from tillmesh.ui.models.money import with_symbol

MILK = "4250100000011"
RECEIPT_FILE = "receipts.bin"


def cashier_at_a_file_printer(open_app, nodes):
    """A counter printing to a file, its shift open, the app logged in as the cashier."""
    data_dir = nodes.init()
    with_printer(data_dir, kind="file", file=RECEIPT_FILE)
    node = nodes.start(data_dir)
    ensure_shift(node)
    app = open_app(node.endpoint)
    app.login(*CASHIER)
    return app, node, data_dir


def sell_by_card(app) -> dict:
    """One milk, paid by card (no drawer kick: the receipt is the only job)."""
    sell, payment = app.window.sell, app.window.payment
    app.wait(lambda: sell.cart_id is not None)
    app.scan(MILK)
    app.key(Qt.Key.Key_F10)
    app.wait(lambda: app.screen == "payment")
    payment.rest_to("Card")
    app.key(Qt.Key.Key_F10)
    app.wait(lambda: payment.sale is not None)
    return payment.sale


def test_a_sale_leads_to_a_receipt_job_and_a_reprint_to_a_copy(open_app, nodes):
    app, node, data_dir = cashier_at_a_file_printer(open_app, nodes)
    sale = sell_by_card(app)
    receipt = data_dir / RECEIPT_FILE  # the file printer writes each job over the last
    app.wait(lambda: receipt.exists() and sale["invoice"].encode() in receipt.read_bytes())
    assert b"COPY" not in receipt.read_bytes()
    assert not app.window.printer_banner.isVisible()

    app.key(Qt.Key.Key_F10)  # next customer, then a reprint from the returns screen
    app.key(Qt.Key.Key_F8)
    returns = app.window.returns
    app.wait(lambda: app.screen == "returns")
    returns.load(sale["invoice"])
    app.wait(lambda: returns.invoice is not None)
    reprint = next(b for b in returns.findChildren(QPushButton) if b.text() == "Reprint receipt")
    app.qtbot.mouseClick(reprint, Qt.MouseButton.LeftButton)
    app.wait(lambda: b"COPY" in receipt.read_bytes()
             and sale["invoice"].encode() in receipt.read_bytes())


def test_a_printer_that_is_off_never_blocks_the_sale(open_app, nodes):
    data_dir = nodes.init()
    with_printer(data_dir, kind="network", host="127.0.0.1", port=free_port(),
                 timeout_seconds=1)  # nothing listens there: the printer is off
    node = nodes.start(data_dir)
    ensure_shift(node)
    app = open_app(node.endpoint)
    app.login(*CASHIER)
    paid_cart = app.window.sell.cart_id
    sell_by_card(app)
    assert app.window.payment.done_change.text() == with_symbol(Decimal(0))  # recorded
    app.wait(lambda: app.window.printer_banner.isVisible())
    text = app.window.printer_banner.text()
    assert text.startswith("Printer:") and "waiting" in text and "selling goes on" in text
    app.key(Qt.Key.Key_F10)  # the next customer is served all the same
    app.wait(lambda: app.screen == "sell" and app.window.sell.cart_id not in (None, paid_cart))
    app.scan(MILK)


def test_a_no_sale_drawer_open_needs_a_supervisor_and_kicks_the_drawer(open_app, nodes):
    app, node, data_dir = cashier_at_a_file_printer(open_app, nodes)
    app.key(Qt.Key.Key_F12)
    app.wait(lambda: app.screen == "shifts")
    no_sale = next(b for b in app.window.findChildren(QPushButton)
                   if b.text() == "Open drawer (no sale)")
    app.qtbot.mouseClick(no_sale, Qt.MouseButton.LeftButton)
    app.approve(*SUPERVISOR)  # a cashier may not: the supervisor's PIN, for this once
    kick = b"\x1bp"  # ESC p: the drawer pulse
    receipt = data_dir / RECEIPT_FILE
    app.wait(lambda: receipt.exists() and kick in receipt.read_bytes())
    with client(node) as api:
        opened = [a for a in api.call("audit_list") if a["kind"] == "audit.drawer_opened"]
    assert opened and opened[0]["approver"] == SUPERVISOR[0]
