"""PNGs of the main screens, for the README: ``python -m tillmesh.lab.screenshots OUTDIR``
(or ``tillmesh ui --screenshots OUTDIR``).

Runs against a real demo node it starts itself, and drives the real widgets the way a
cashier would: login, a sale with four lines (one weighed), payment, a return, the shift
count, the store status and the admin screen. Offscreen unless a display is chosen
(``QT_QPA_PLATFORM=xcb`` with ``DISPLAY``): there the app is full screen, as at a till,
and the pictures are that screen's size (``tools/screenshots`` takes them in Xvfb at
1024x768 and 1920x1080).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from tillmesh.ui.const import WINDOW_SIZE

if TYPE_CHECKING:  # Qt is imported only once the platform is chosen (save_all)
    from tillmesh.ui.shell import MainWindow

SALE = ("4250100000011", "2100101012501", "4250200001222", "2800201004993")  # README codes
CUSTOMER = "Anna Schmidt"
LAYOUT_MS = 300  # ms of event processing before a picture: posted layout requests run


def save_all(outdir: Path) -> list[Path]:
    """Start a demo node, drive the app through its screens, save one PNG each."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt loads a platform
    from tillmesh.lab.demo_node import DemoNode, pump, wait_until
    from tillmesh.ui.app import application, open_customer_display, open_window

    outdir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    application()
    offscreen = os.environ["QT_QPA_PLATFORM"] == "offscreen"
    with _erpnext() as link, DemoNode(prepare=link) as node:
        window = open_window(node.endpoint, windowed=offscreen)
        ctx = window.ctx

        def settle(predicate: Callable[[], bool] = lambda: True) -> None:
            wait_until(lambda: predicate() and not ctx.bridge.busy, 20)

        def shot(name: str) -> None:
            settle()
            window.message.clear_message()  # a passing message is not part of the screen
            pump(LAYOUT_MS)
            if offscreen:  # as small as the screen allows, down to a 15" till
                window.resize(*WINDOW_SIZE)
                pump(LAYOUT_MS)
            path = outdir / f"{name}.png"
            window.grab().save(str(path))
            saved.append(path)

        def login(user: str, pin: str) -> None:
            window.login.user_field.setText(user)
            window.login.pin.submitted.emit(pin)
            settle(lambda: ctx.user is not None and ctx.user.user == user)

        login("admin", "1234")  # fills the login screen's user buttons
        ctx.logout()
        window.login.user_field.clear()
        shot("login")

        login("cashier", "1111")
        ctx.call("shift_open", {"opening": {"Cash": "150.00"}}, ctx.set_shift)
        settle(lambda: ctx.shift is not None)
        window.show_screen("sell")
        for code in SALE:
            window.sell.scan(code)
        settle(lambda: len(window.sell.model.view.lines) == len(SALE))
        ctx.call("cart_set_customer", {"cart_id": window.sell.cart_id, "customer": CUSTOMER},
                 window.sell.apply)
        settle(lambda: window.sell.model.view.customer == CUSTOMER)
        window.sell.table.selectRow(1)
        shot("sell")

        window.sell.start_payment()
        settle(lambda: window.current == "payment")
        cash = next(m.name for m in ctx.modes if m.is_cash)
        window.payment.quick(cash, Decimal(50))
        shot("payment")
        display = open_customer_display(node.endpoint, windowed=True)  # the customer's side
        settle(lambda: display.shown.tendered is not None)  # paid and change, while paying
        pump(LAYOUT_MS)
        path = outdir / "customer-display.png"
        display.grab().save(str(path))
        saved.append(path)
        display.close()

        window.payment.submit()
        settle(lambda: window.payment.sale is not None)
        invoice = str(window.payment.sale["invoice"]) if window.payment.sale else ""
        window.payment.next_customer.emit("")
        _returns(window, settle, invoice)
        shot("returns")

        window.show_screen("shifts")
        settle(lambda: window.shifts.selected is not None and bool(window.shifts.expected))
        for value, pieces in (("50", 3), ("20", 2), ("10", 1), ("2", 2), ("0.50", 1)):
            window.shifts.counting.grid.set_pieces(Decimal(value), pieces)
        window.shifts.counting.set_amount("Card", Decimal("0"))
        shot("shift-close")
        notes = window.shifts.counting.notes
        notes.open()
        pump(LAYOUT_MS)
        path = outdir / "count-notes.png"
        notes.grab().save(str(path))
        saved.append(path)
        notes.accept()

        ctx.logout()
        login("admin", "1234")
        settle(lambda: _refused(node.endpoint))  # the forwarder met ERPNext's refusal
        window.show_screen("status")
        shot("store-status")

        window.show_screen("admin")
        window.admin.create_invite()
        # The demo counter announces nothing on mDNS, so its invite has no short code:
        # the QR code and the note say what to do.
        settle(lambda: bool(window.admin.invite_note.text()))
        shot("admin")
        window.close()
    return saved


@contextlib.contextmanager
def _erpnext() -> Iterator[Callable[[Path], None]]:
    """The ERPNext simulator as the demo counter's ERPNext, out of the first item's stock,
    so the store-status screen shows a delivery ERPNext refused, with its message."""
    from tillmesh.lab.demo_data import WAREHOUSE, demo_master_docs
    from tillmesh.lab.erpnext_simulator import Simulator
    from tillmesh.node.erpnext import ErpNextClient, ErpNextSettings, save_settings, setup
    from tillmesh.node.ops.config import load

    with Simulator(seed="demo") as sim:
        item = next(doc["name"] for doctype, doc in demo_master_docs() if doctype == "Item"
                    and any(b.get("barcode") == SALE[0] for b in doc.get("barcodes", [])))
        sim.set_bin(item, WAREHOUSE, 0)
        with ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
            setup(client, "Demo POS", lambda check: None)

        def link(data_dir: Path) -> None:
            save_settings(load(data_dir), ErpNextSettings(sim.url, sim.api_key,
                                                          sim.api_secret, "Demo POS",
                                                          verify=False))
        yield link


def _refused(endpoint: str) -> bool:
    from tillmesh.node.api.client import Client

    with Client(endpoint, timeout=2) as client:
        return bool(client.call("erpnext_status").get("failed"))


def _returns(window: MainWindow, settle: Callable[[Callable[[], bool]], None],
             invoice: str) -> None:
    """The returns screen with the sale just made loaded and two lines chosen."""
    window.show_screen("returns")
    window.returns.load(invoice)
    settle(lambda: window.returns.invoice is not None)
    fields = list(window.returns.qty_fields.values())
    fields[0].setText("1")
    fields[2].setText("1")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tillmesh.lab.screenshots OUTDIR", file=sys.stderr)
        return 2
    for path in save_all(Path(argv[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
