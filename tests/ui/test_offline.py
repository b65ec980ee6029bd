"""Never frozen: the app keeps processing events with the node down, shows the banner,
and after the node comes back (a restart: its sessions are gone) returns to login, saying
why. Real processes, SIGKILL like a power cut."""

from __future__ import annotations

import os
import signal
import time

from PySide6.QtCore import Qt, QTimer

from tests.ui.driver import CASHIER, client, ensure_shift
from tillmesh.node.ops.config import load
from tillmesh.ui.models.session import RESTARTED, Link
from tillmesh.ui.shell import OFFLINE_TEXT

MILK, WATER_BOX = "4250100000011", "4250200001222"
TICK_MS = 50  # a UI timer that must keep firing while the node is down
OFFLINE_CALL_S = 1.0  # a call made while the banner shows fails at once, not after 5 s


def ticking(app) -> list[float]:
    """Times at which a repeating UI timer fired: proof that the event loop runs."""
    ticks: list[float] = []
    timer = QTimer(app.window)
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    return ticks


def test_node_killed_and_restarted_while_the_app_is_open(open_app, nodes):
    data_dir = nodes.init()
    node = nodes.start(data_dir)
    ensure_shift(node)
    app = open_app(node.endpoint)
    app.login(*CASHIER)
    sell = app.window.sell
    app.wait(lambda: sell.cart_id is not None)
    app.scan(MILK)

    node.kill()
    ticks = ticking(app)
    app.wait(lambda: app.window.link_banner.isVisible())
    assert app.window.link_banner.text() == OFFLINE_TEXT
    assert app.ctx.bridge.link is Link.OFFLINE
    seen = len(ticks)
    app.wait(lambda: len(ticks) >= seen + 10)  # the UI keeps running with the node down

    started = time.monotonic()  # a scan now is refused at once (the banner says why) ...
    app.type_enter(sell.scan_field, WATER_BOX)
    app.idle()
    assert time.monotonic() - started < OFFLINE_CALL_S
    assert len(sell.model.view.lines) == 1  # ... and nothing was added behind our back

    node = nodes.start(data_dir)  # the same store, a new process: sessions are gone
    app.wait(lambda: not app.window.link_banner.isVisible())
    app.wait(lambda: app.screen == "login")
    assert app.window.login.message.text() == RESTARTED
    app.login(*CASHIER)
    app.wait(lambda: app.screen == "sell" and sell.cart_id is not None)
    app.scan(WATER_BOX)  # selling goes on


def test_the_app_starts_with_the_node_down_and_connects_when_it_comes(open_app, nodes):
    data_dir = nodes.init()  # never started yet
    app = open_app(load(data_dir).api_endpoint)
    ticks = ticking(app)
    app.wait(lambda: app.window.link_banner.isVisible())
    login = app.window.login
    login.user_field.setText("cashier")
    app.type_enter(login.pin.field, "1111")
    app.wait(lambda: "not answering" in login.message.text())  # said at once, not frozen
    assert len(ticks) > 5

    nodes.start(data_dir)
    app.wait(lambda: app.ctx.bridge.link is Link.ONLINE and not app.window.link_banner.isVisible())
    app.login(*CASHIER)


def test_a_sale_without_an_answer_is_checked_never_paid_twice(open_app, nodes):
    """The node freezes while the sale is sent: the call times out. The app must not let
    the cashier take the money again blindly: it asks the node (the cart is dropped in the
    sale's own transaction) and says whether the sale was recorded."""
    node = nodes.start(nodes.init())
    ensure_shift(node)
    app = open_app(node.endpoint)
    app.login(*CASHIER)
    sell, payment = app.window.sell, app.window.payment
    app.wait(lambda: sell.cart_id is not None)
    app.scan(MILK)
    cart_id = sell.cart_id
    app.key(Qt.Key.Key_F10)
    app.wait(lambda: app.screen == "payment")
    payment.rest_to("Cash")
    os.kill(node.pid, signal.SIGSTOP)  # hung: no answer within the call's timeout
    try:
        app.key(Qt.Key.Key_F10)
        app.wait(lambda: "checking whether the sale was recorded" in
                 app.window.message.text())
        assert not payment.pay_button.isEnabled()  # no second submit meanwhile
    finally:
        os.kill(node.pid, signal.SIGCONT)
    app.wait(lambda: payment.sale is not None or "not recorded" in app.window.message.text(),
             timeout=30_000)
    with client(node, CASHIER) as api:
        sales = api.invoice_list(10)
        if payment.sale is not None:  # the node had it: recorded once, and the app says so
            assert len(sales) == 1
            assert "recorded" in payment.done_text.text()
        else:  # the node never took it: the cart is still there to pay
            assert sales == [] and api.cart_get(cart_id)["lines"]
            assert payment.pay_button.isEnabled()
