"""A whole shift at a till with a keyboard and a scanner only (issue 12): the cashier
logs in, opens the shift typing the float, sells 20 sales paid in cash, by card and split,
gives a line discount a supervisor approves, returns a sale, pays cash out, counts the
drawer and closes the shift — every step with real keys in a real X server, no pointer
(a touch fails the test). The Z report the app shows is then read back figure by figure
against the node's own ``shift_report`` of that shift, and the node's figures are what
the cashier did."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QGridLayout, QLabel, QLayout, QWidget

from tests.proc import NodeProcess, demo_barcodes
from tests.ui.desk.desk import Desk
from tests.ui.driver import CASHIER, SUPERVISOR, client
from tillmesh.ui.models.count import MINUS
from tillmesh.ui.models.money import ZERO, dec, editable, money, parse_amount
from tillmesh.ui.screens.dialogs import ApproverDialog, ConfirmDialog
from tillmesh.ui.screens.sell_dialogs import CashDialog, DiscountDialog

OPENING = Decimal("100.00")
SALES = 20
HOW = ("card", "exact", "change", "split")  # how sale i is paid: HOW[i % 4]
SPLIT_CASH = Decimal("0.50")  # the cash part of a split payment; the card pays the rest
DISCOUNTED = 2  # the sale whose line gets a discount above the cashier's 10 %
DISCOUNT_PERCENT = "20"
RETURNED = 1  # the sale of two lines whose second is returned (paid exactly in cash:
#   refunded in cash)
CASH_OUT = Decimal("20.00")
SHORT = Decimal("0.50")  # the cash counted is this much short


@dataclass
class Till:
    """What the cashier did, as the test saw it on screen: the node must agree."""

    dues: list[Decimal] = field(default_factory=list)
    invoices: list[str] = field(default_factory=list)
    cash: Decimal = ZERO  # cash handed over
    card: Decimal = ZERO
    change: Decimal = ZERO
    line_discount: Decimal = ZERO
    to_return: Decimal = ZERO  # what the line to be returned cost
    refund: Decimal = ZERO
    paid_out: Decimal = ZERO

    @property
    def drawer(self) -> Decimal:
        return OPENING + self.cash - self.change - self.refund - self.paid_out

    def expected(self) -> dict[str, str]:
        """What the drawer should hold per mode, as the count's comparison shows it."""
        return {"Cash": money(self.drawer), "Card": money(self.card)}


def keys_only(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pointer move fails the test: the keyboard must do it all."""
    def no_touch(point: QPoint) -> None:
        raise AssertionError(f"a touch was needed at {point}: no keyboard path")

    monkeypatch.setattr(desk, "touch_at", no_touch)


def focused(desk: Desk, widget: QWidget) -> None:
    desk.wait(lambda: widget.hasFocus() and QApplication.activeWindow() is widget.window())


def open_shift(desk: Desk) -> None:
    """F12 with no shift open: the float form has the keyboard; type it, Enter."""
    shifts = desk.window.shifts
    desk.key(Qt.Key.Key_F12)
    desk.wait(lambda: desk.screen == "shifts" and "Cash" in shifts.opening.fields)
    focused(desk, shifts.opening.fields["Cash"])
    desk.type(editable(OPENING))
    desk.press("Return")
    desk.wait(lambda: desk.ctx.shift is not None)
    desk.press("Escape")  # back to selling
    desk.wait(lambda: desk.screen == "sell")
    focused(desk, desk.window.sell.scan_field)


def line_discount(desk: Desk) -> Decimal:
    """F4 on the line just scanned: 20 % typed, Enter; above the cashier's limit, so the
    supervisor types their PIN. Returns what the discount took off."""
    sell = desk.window.sell
    desk.key(Qt.Key.Key_F4)
    dialog = desk.dialog(DiscountDialog)
    focused(desk, dialog.field)
    desk.type(DISCOUNT_PERCENT)
    desk.press("Return")
    desk.dialog(ApproverDialog)
    desk.approve(*SUPERVISOR)
    desk.wait(lambda: sell.model.view.lines[-1].discount_percentage == dec(DISCOUNT_PERCENT))
    line = sell.model.view.lines[-1]
    return line.qty * line.price_list_rate - line.amount


def sell_one(desk: Desk, till: Till, i: int, code: str, extra: str) -> None:
    """Scan (``extra`` too for the sale to return), F10, pay with keys as HOW says,
    Enter; Enter again for the next customer."""
    sell, payment = desk.window.sell, desk.window.payment
    desk.wait(lambda: desk.screen == "sell" and sell.cart_id is not None
              and sell.model.view.empty)
    focused(desk, sell.scan_field)
    desk.scan(code)
    if i == RETURNED:
        desk.scan(extra)
        till.to_return = sell.model.view.lines[-1].amount
    if i == DISCOUNTED:
        till.line_discount = line_discount(desk)
    due = sell.model.view.due
    desk.key(Qt.Key.Key_F10)
    desk.wait(lambda: desk.screen == "payment" and payment.payment.due == due)
    cash_field, card_field = payment.fields["Cash"], payment.fields["Card"]
    focused(desk, cash_field)
    how = HOW[i % len(HOW)]
    cash, card = {"card": (ZERO, due), "exact": (due, ZERO),
                  "change": (Decimal(5), ZERO), "split": (SPLIT_CASH, due - SPLIT_CASH)}[how]
    if cash:
        desk.type(editable(cash))
    if card:
        desk.press("Tab")  # from Cash to Card
        focused(desk, card_field)
        desk.type(editable(card))
    desk.press("Return")
    desk.wait(lambda: payment.sale is not None)
    sale: dict[str, Any] = payment.sale or {}
    assert dec(sale["change"]) == max(cash + card - due, ZERO)
    till.dues.append(due)
    till.invoices.append(str(sale["invoice"]))
    till.cash += cash
    till.card += card
    till.change += dec(sale["change"])
    desk.press("Return")  # the next customer


def return_one(desk: Desk, till: Till) -> None:
    """F8, the invoice's number typed and Enter; the first line's quantity has the
    keyboard, Tab to the second's, 1 typed and Enter; a cashier may not refund alone,
    so the supervisor types their PIN."""
    returns = desk.window.returns
    invoice = till.invoices[RETURNED]
    desk.key(Qt.Key.Key_F8)
    desk.wait(lambda: desk.screen == "returns")
    focused(desk, returns.find_field)
    desk.type(invoice)
    desk.press("Return")
    desk.wait(lambda: returns.invoice is not None and returns.invoice.number == invoice)
    assert returns.invoice is not None
    first, second = (returns.qty_fields[line.row] for line in returns.invoice.lines)
    focused(desk, first)
    desk.press("Tab")
    focused(desk, second)
    desk.type("1")
    desk.press("Return")
    desk.dialog(ApproverDialog)
    desk.approve(*SUPERVISOR)
    desk.wait(lambda: returns.result.text().startswith("€"))
    refund = parse_amount(returns.result.text().removeprefix("€").strip())
    assert refund == till.to_return  # its one unit, the sale paid in cash: in cash
    till.refund = refund


def cash_out(desk: Desk, till: Till) -> None:
    """F9; Shift+Tab to "Cash out", Space picks it; Tab back, the amount, Tab, the
    reason, Enter; paying out takes the supervisor's PIN."""
    desk.key(Qt.Key.Key_F9)
    dialog = desk.dialog(CashDialog)
    focused(desk, dialog.amount)
    desk.press("shift+Tab")
    focused(desk, dialog.way.button(1))
    desk.press("space", "Tab")
    focused(desk, dialog.amount)
    assert dialog.way.checkedId() == 1
    desk.type(editable(CASH_OUT))
    desk.press("Tab")
    focused(desk, dialog.reason)
    desk.type("to the bank")
    desk.press("Return")
    desk.dialog(ApproverDialog)
    desk.approve(*SUPERVISOR)
    desk.wait(lambda: f"Cash out: {editable(CASH_OUT)}" in desk.window.message.text())
    till.paid_out += CASH_OUT


def comparison(desk: Desk) -> dict[str, str]:
    """Mode -> expected, as the count's comparison on the shifts screen shows it."""
    table = desk.window.shifts.comparison
    cells = [[table.item(r, c) for c in (0, 1)] for r in range(table.rowCount())]
    return {mode.text(): amount.text() for mode, amount in cells if mode and amount}


def close_shift(desk: Desk, till: Till) -> dict[str, Decimal]:
    """F12: the count has the keyboard, against what the drawer should hold now. Tab,
    the card terminal's total typed; then F9 pays the takings out (above), and the
    comparison follows with the card count kept; Shift+Tab, the cash typed, Enter; the
    question comes up on "Count again", Tab then Enter closes. Returns the count."""
    shifts = desk.window.shifts
    desk.key(Qt.Key.Key_F12)
    desk.wait(lambda: desk.screen == "shifts" and shifts.selected is not None
              and "Card" in shifts.counting.fields)
    cash_field, card_field = shifts.counting.fields["Cash"], shifts.counting.fields["Card"]
    focused(desk, cash_field)
    desk.wait(lambda: comparison(desk) == till.expected())  # the sales in, not stale
    desk.press("Tab")
    focused(desk, card_field)
    desk.type(editable(till.card))
    cash_out(desk, till)
    focused(desk, card_field)  # back where the count was left, the count kept
    assert card_field.text() == editable(till.card)
    desk.wait(lambda: comparison(desk) == till.expected())  # the cash out in
    counted = {"Cash": till.drawer - SHORT, "Card": till.card}
    desk.press("shift+Tab")
    focused(desk, cash_field)
    desk.type(editable(counted["Cash"]))
    desk.press("Return")
    dialog = desk.dialog(ConfirmDialog)
    focused(desk, dialog.keep)
    assert f"Cash: {MINUS}{editable(SHORT)} short" in dialog.consequence.text()
    desk.press("Tab", "Return")
    desk.wait(lambda: shifts.report_title.text() == "Z report")
    desk.idle()
    return counted


def shown_rows(grid: QLayout | None) -> dict[str, Decimal]:
    """The report as the screen shows it: each row's label and its amount read back."""
    assert isinstance(grid, QGridLayout)
    rows = {}
    for r in range(grid.rowCount()):
        name, value = (grid.itemAtPosition(r, c) for c in (0, 1))
        if name is None or value is None:
            continue
        name_label, value_label = name.widget(), value.widget()
        assert isinstance(name_label, QLabel) and isinstance(value_label, QLabel)
        rows[name_label.text()] = Decimal(value_label.text().replace(",", ""))
    return rows


def node_rows(report: dict[str, Any]) -> dict[str, Decimal]:
    """The node's Z report under the labels of the screen, discounts taken off."""
    rows = {f"Sales ({report['sales_count']})": dec(report["gross_sales"]),
            f"Returns ({report['returns_count']})": dec(report["returns_total"]),
            "Total": dec(report["grand_total"]),
            "Net (excl. VAT)": dec(report["net_sales"]),
            "VAT": dec(report["total_taxes"]),
            "Line discounts": -dec(report["line_discounts"]),
            "Invoice discounts": -dec(report["invoice_discounts"]),
            "Discounts": -dec(report["discounts"]),
            "Items sold": dec(report["total_qty"]),
            "Change given": dec(report["change_given"]),
            "Cash in": dec(report["cash_in"]),
            "Cash out": dec(report["cash_out"])}
    for vat in report["vat"]:
        rate = format(dec(vat["rate"]).normalize(), "f")
        rows[f"VAT {rate}% (net {dec(vat['net']):,.2f})"] = dec(vat["tax"])
    for section, title in (("opening", "Opening float"), ("payments", "Taken"),
                           ("expected", "Expected in drawer"), ("counted", "Counted"),
                           ("difference", "Difference")):
        for mode, amount in report[section].items():
            rows[f"{title} · {mode}"] = dec(amount)
    return rows


def test_a_whole_shift_with_the_keyboard_matches_the_nodes_z_report(
        desk: Desk, node: NodeProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    with client(node, CASHIER) as api:
        assert api.shift_current() is None  # the shift under test is opened with keys
    keys_only(desk, monkeypatch)
    desk.login(*CASHIER)
    open_shift(desk)
    assert desk.ctx.shift is not None
    shift = str(desk.ctx.shift["shift"])
    till = Till()
    *codes, extra = demo_barcodes(SALES + 1)
    for i, code in enumerate(codes):
        sell_one(desk, till, i, code, extra)
    return_one(desk, till)
    counted = close_shift(desk, till)  # a cash out on the way

    shown = shown_rows(desk.window.shifts.report.layout())
    with client(node, SUPERVISOR) as api:
        z = api.shift_report(shift)
    report = z["report"]
    assert z["status"] == "closed"
    assert shown == node_rows(report)  # every figure the app shows is the node's

    # ... and the node's figures are what the cashier did
    assert (report["sales_count"], report["returns_count"]) == (SALES, 1)
    assert dec(report["gross_sales"]) == sum(till.dues, ZERO)
    assert dec(report["returns_total"]) == -till.refund
    assert dec(report["line_discounts"]) == till.line_discount > 0
    assert (dec(report["cash_in"]), dec(report["cash_out"])) == (ZERO, CASH_OUT)
    assert dec(report["change_given"]) == till.change
    assert {m: dec(v) for m, v in report["opening"].items()} == {"Cash": OPENING}
    assert {m: dec(v) for m, v in report["payments"].items()} == {
        "Cash": till.cash - till.refund, "Card": till.card}
    assert {m: dec(v) for m, v in report["expected"].items()} == {
        "Cash": till.drawer, "Card": till.card}
    assert {m: dec(v) for m, v in report["counted"].items()} == counted
    assert {m: dec(v) for m, v in report["difference"].items()} == {
        "Cash": -SHORT, "Card": ZERO}
    assert sum((dec(v["gross"]) for v in report["vat"]), ZERO) == dec(report["grand_total"])

    # the next shift opens from the keyboard too: away and back, the float has the keys
    desk.press("Escape")
    desk.wait(lambda: desk.screen == "sell")
    desk.key(Qt.Key.Key_F12)
    focused(desk, desk.window.shifts.opening.fields["Cash"])
