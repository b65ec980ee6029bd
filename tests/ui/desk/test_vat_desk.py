"""VAT per rate at a real till (issue 12, 5 and 6): scanned with a scanner's keys, the
milk shows under 7 % and the water under 19 % beside the cart, every amount whole at the
till's screen size; the X report, reached with F12, lists the VAT per rate, line and
invoice discounts and the change given, all of it readable without a cut."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt

from tests.proc import NodeProcess
from tests.ui.desk.desk import Desk
from tests.ui.desk.fit import assert_fits
from tests.ui.driver import CASHIER, SUPERVISOR, client, ensure_shift
from tests.ui.test_vat_display import MILK, WATER, cells, discounted_day, shown
from tillmesh.ui.models.shift import report_rows


def test_the_cart_shows_each_rate_whole_beside_the_lines(desk: Desk, node: NodeProcess):
    ensure_shift(node)
    desk.login(*CASHIER)
    sell = desk.window.sell
    desk.wait(lambda: sell.cart_id is not None)
    desk.scan(MILK)
    desk.scan(WATER)
    with client(node, CASHIER) as api:
        cart = api.cart_get(sell.cart_id)
    desk.wait(lambda: sum(label.startswith("incl. VAT") for label, _ in shown(sell.summary))
              == len(cart["vat"]) == 2)
    labels = [label for label, _ in shown(sell.summary)]
    assert [label.split(" (")[0] for label in labels if "VAT" in label] == [
        "incl. VAT 19%", "incl. VAT 7%"]
    desk.idle()
    assert_fits(desk.window)


def test_the_x_report_lists_rates_and_discounts_readably(desk: Desk, node: NodeProcess):
    discounted_day(node)
    desk.login(*SUPERVISOR)
    desk.key(Qt.Key.Key_F12)
    desk.wait(lambda: desk.screen == "shifts")
    shifts = desk.window.shifts
    with client(node, SUPERVISOR) as api:
        report = api.shift_report()["report"]
    desk.wait(lambda: shown(shifts.report) == report_rows(report))
    labels = dict(shown(shifts.report))
    assert {"Line discounts", "Invoice discounts", "Discounts", "Change given"} <= set(labels)
    assert sum(label.startswith("VAT ") and "(net" in label for label in labels) == 2
    desk.idle()
    desk.wait(lambda: all(w.isVisible() for row in cells(shifts.report) for w in row))
    assert_fits(desk.window)
    # Longer than the room on a small screen: the wheel (or a finger) scrolls to the end.
    area, bar = shifts.report_area, shifts.report_area.verticalScrollBar()
    if bar.maximum() > 0:
        middle = area.mapToGlobal(area.rect().center())
        while bar.value() < bar.maximum():
            before = bar.value()
            desk.xdotool("mousemove", "--sync", str(middle.x()), str(middle.y()), "click", "5")
            desk.wait(lambda before=before: bar.value() > before)
    last = cells(shifts.report)[-1][1]
    seen = QRect(last.mapTo(area.viewport(), QPoint(0, 0)), last.size())
    assert area.viewport().rect().contains(seen), f"{last.text()!r} cannot be reached"
