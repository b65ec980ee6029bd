"""Irreversible actions at a real till (issue 12), with real keys in a real X server: the
question before voiding a sale comes up in front with the keyboard on "Keep the sale", so
Enter or Escape keeps it, a scan is refused in words, and only Tab then Enter voids; closing a
shift with a mode left blank is refused, naming it, and moves the keyboard there; paying
out more than the drawer should hold takes the supervisor's PIN typed on the keyboard."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.proc import NodeProcess, demo_barcodes
from tests.ui.closing_scene import card_shift_to_count
from tests.ui.desk.desk import Desk
from tests.ui.desk.fit import assert_fits
from tests.ui.driver import CASHIER, SUPERVISOR, client, ensure_shift
from tillmesh.ui.models.money import dec, editable, with_symbol
from tillmesh.ui.screens.dialogs import ApproverDialog, ConfirmDialog
from tillmesh.ui.screens.sell_dialogs import CashDialog


def asked(desk: Desk) -> ConfirmDialog:
    """The question is the window the keyboard types into, on its safe answer, whole."""
    dialog: ConfirmDialog = desk.dialog(ConfirmDialog)
    desk.wait(lambda: QApplication.activeWindow() is dialog and dialog.keep.hasFocus())
    assert_fits(dialog)
    return dialog


def answered(desk: Desk) -> None:
    desk.wait(lambda: desk.ctx.current_dialog is None
              and QApplication.activeWindow() is desk.window)
    desk.idle()


def test_voiding_a_sale_asks_and_only_tab_then_enter_voids_it(desk: Desk, node: NodeProcess):
    ensure_shift(node)
    desk.login(*CASHIER)
    sell = desk.window.sell
    desk.wait(lambda: sell.cart_id is not None and sell.scan_field.hasFocus())
    for code in demo_barcodes(2):
        desk.scan(code)
    cart = sell.cart_id
    next_item = demo_barcodes(3)[2]
    for keep in ("Return", "Escape", "a scan"):
        desk.press("ctrl+Delete")
        dialog = asked(desk)
        assert dialog.consequence.text() == (
            f"2 lines, {with_symbol(sell.model.view.due)} will be removed")
        if keep == "a scan":
            buttons = dialog.ok.geometry(), dialog.keep.geometry()
            desk.scanner(next_item)  # the next customer's item: digits, then its Enter
            desk.wait(lambda d=dialog: next_item in d.error.text())  # refused, in words
            assert "not added" in dialog.error.text() and desk.ctx.current_dialog is dialog
            assert (dialog.ok.geometry(), dialog.keep.geometry()) == buttons  # nothing moved
            desk.press("Escape")
        else:
            desk.press(keep)
        answered(desk)
        assert (sell.cart_id, len(sell.model.view.lines)) == (cart, 2)
    desk.wait(lambda: sell.scan_field.hasFocus())  # back on the scanner's field
    desk.press("ctrl+Delete")
    asked(desk)
    desk.press("Tab", "Return")
    desk.wait(lambda: sell.cart_id not in (None, cart) and sell.model.view.empty)
    desk.wait(lambda: sell.scan_field.hasFocus())


def test_closing_with_a_mode_left_blank_is_refused_naming_it(desk: Desk, node: NodeProcess):
    shift = card_shift_to_count(desk, node)  # the tester's shift: card payments taken
    shifts = desk.window.shifts
    desk.type_into(shifts.counting.fields["Cash"], editable(dec(shifts.expected["Cash"])))
    desk.press("Return")  # done counting, as the tester thought
    desk.wait(lambda: "Card not counted" in desk.window.message.text())
    desk.wait(lambda: shifts.counting.fields["Card"].hasFocus())
    assert desk.ctx.current_dialog is None
    with client(node, CASHIER) as api:
        assert api.shift_current()["shift"] == shift  # nothing recorded
    desk.type("0")
    desk.press("Return")
    dialog = asked(desk)
    assert f"Card: \N{MINUS SIGN}{editable(dec(shifts.expected['Card']))} short" in (
        dialog.consequence.text())
    desk.press("Return")  # Enter keeps counting: the Z report is not made
    answered(desk)
    with client(node, CASHIER) as api:
        assert api.shift_current()["shift"] == shift
    desk.touch(shifts.close_button)
    asked(desk)
    desk.press("Tab", "Return")
    desk.wait(lambda: shifts.report_title.text() == "Z report")
    with client(node, CASHIER) as api:
        assert api.shift_current() is None


def test_paying_out_beyond_the_drawer_takes_a_supervisors_pin(desk: Desk, node: NodeProcess):
    shift = ensure_shift(node)
    with client(node, CASHIER) as api:
        holds = dec(api.shift_report(shift)["report"]["expected"]["Cash"])
    desk.login(*CASHIER)
    desk.key(Qt.Key.Key_F9)
    dialog = desk.dialog(CashDialog)
    desk.touch(dialog.way.button(1))  # Cash out
    amount = max(holds, Decimal(0)) + Decimal("10000.00")
    desk.type_into(dialog.amount, editable(amount))
    desk.type_into(dialog.reason, "to the bank")
    desk.press("Return")
    approval = desk.dialog(ApproverDialog)
    desk.wait(lambda: QApplication.activeWindow() is approval)
    assert_fits(approval)
    desk.approve(*SUPERVISOR)
    desk.wait(lambda: f"Cash out: {editable(amount)}" in desk.window.message.text())
    with client(node, SUPERVISOR) as api:
        (audit, *_) = [a for a in api.audit_list()
                       if a["kind"] == "audit.cash_out_beyond_drawer"]
    assert (audit["approver"], dec(audit["amount"])) == ("supervisor", amount)
