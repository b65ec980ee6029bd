"""A banner that goes away just before a tap moves nothing: the finger lands where the
cashier aimed. (At a real till a "Return recorded" banner vanished before a tap, the
layout jumped 43 px, and the tap closed a shift with Cash counted 0.00.)"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QAbstractButton, QLineEdit, QWidget

from tests.proc import NodeProcess, demo_barcodes
from tests.ui.desk.desk import Desk
from tests.ui.driver import CASHIER, ensure_shift
from tillmesh.ui.screens.sell_dialogs import CustomerDialog

UNKNOWN_CODE = "4000000000999"  # a valid EAN-13 no demo item has


def _places(window: QWidget) -> dict[int, QRect]:
    """Where every visible button and field of ``window`` is, in screen coordinates."""
    return {id(w): QRect(w.mapToGlobal(QPoint(0, 0)), w.size())
            for w in window.findChildren(QWidget)
            if isinstance(w, QAbstractButton | QLineEdit) and w.isVisible()}


def test_a_tap_as_the_banner_goes_lands_where_the_cashier_aimed(desk: Desk,
                                                                node: NodeProcess) -> None:
    ensure_shift(node)
    desk.login(*CASHIER)
    desk.scan(demo_barcodes(1)[0])
    banner = desk.window.message
    desk.scanner(UNKNOWN_CODE)  # refused: the error banner shows
    desk.wait(lambda: banner.isVisible() and UNKNOWN_CODE in banner.text())
    desk.idle()
    customer = next(b for b in desk.window.sell.findChildren(QAbstractButton)
                    if b.text().startswith("Customer"))
    aimed = customer.mapToGlobal(customer.rect().center())  # the cashier sees it here
    with_banner = _places(desk.window)

    banner.clear_message()  # the banner times out, just before the finger arrives
    desk.wait(lambda: not banner.text())
    assert _places(desk.window) == with_banner, "the layout moved when the banner went"
    desk.touch_at(aimed)
    desk.dialog(CustomerDialog)  # the tap did what the cashier aimed at
