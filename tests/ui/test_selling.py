"""The cashier's and the supervisor's day through the real widgets, against a real node:
login, scans (one weighed), search, a discount above the cashier's limit approved with a
supervisor PIN, split payment with change, a return, hold and resume, opening a shift by
counting notes and coins, a supervisor closing the cashier's shift, lockout and idle lock.
"""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QPushButton

from tests.proc import demo_barcodes
from tests.ui.driver import (
    CASHIER,
    SUPERVISOR,
    client,
    close_open_shifts,
    ensure_shift,
)
from tillmesh.ui.const import TOUCH_PX
from tillmesh.ui.models.money import dec, with_symbol
from tillmesh.ui.screens.dialogs import ChoiceDialog, ConfirmDialog, EntryDialog
from tillmesh.ui.screens.sell_dialogs import CashDialog, CustomerDialog, DiscountDialog

MILK, APPLES_1250G, WATER_BOX = "4250100000011", "2100101012501", "4250200001222"


def test_login_and_scan_three_items_one_weighed(app, node):
    ensure_shift(node)
    app.login(*CASHIER)
    sell = app.window.sell
    assert app.screen == "sell"
    app.wait(lambda: sell.cart_id is not None)
    app.wait(lambda: QApplication.focusWidget() is sell.scan_field)  # the scanner's target
    for code in (MILK, APPLES_1250G, WATER_BOX):
        app.scan(code)
    view = sell.model.view
    assert [(ln.item_code, ln.qty, ln.uom) for ln in view.lines] == [
        ("DAI-0001", Decimal("1.000"), "Nos"), ("FRU-0101", Decimal("1.250"), "Kg"),
        ("BEV-0002", Decimal("1.000"), "Box")]
    assert sell.table.model().rowCount() == 3
    assert QApplication.focusWidget() is sell.scan_field  # still: the next scan goes in
    with client(node, CASHIER) as api:  # what is shown is the node's, to the cent
        cart = api.cart_get(sell.cart_id)
    assert sell.total.text() == with_symbol(dec(cart["due"]))
    assert [ln.amount for ln in view.lines] == [dec(ln["amount"]) for ln in cart["lines"]]


def test_a_bad_barcode_is_reported_and_selling_goes_on(app, node):
    ensure_shift(node)
    app.login(*CASHIER)
    sell = app.window.sell
    app.wait(lambda: sell.cart_id is not None)
    app.type_enter(sell.scan_field, "4250100000012")  # check digit wrong (README)
    app.wait(lambda: app.window.message.isVisible() and "check digit" in
             app.window.message.text().lower())
    app.scan(MILK)


def test_search_as_you_type_adds_the_chosen_item(app, node):
    ensure_shift(node)
    app.login(*CASHIER)
    sell = app.window.sell
    app.wait(lambda: sell.cart_id is not None)
    app.key(Qt.Key.Key_F2)
    app.wait(lambda: QApplication.focusWidget() is sell.search_field)
    app.qtbot.keyClicks(sell.search_field, "whole milk")
    app.wait(lambda: sell.results.isVisible() and "DAI-0001" in sell.result_codes)
    sell.results.setCurrentRow(sell.result_codes.index("DAI-0001"))
    app.qtbot.keyClick(sell.search_field, Qt.Key.Key_Return)
    app.wait(lambda: [ln.item_code for ln in sell.model.view.lines] == ["DAI-0001"])
    assert not sell.results.isVisible()
    app.wait(lambda: QApplication.focusWidget() is sell.scan_field)


def test_line_uom_qty_discount_within_the_limit_and_removal(app, node):
    ensure_shift(node)
    app.login(*CASHIER)
    sell = app.window.sell
    app.wait(lambda: sell.cart_id is not None)
    app.scan(WATER_BOX)  # a Box of 12
    app.scan(MILK)
    sell.table.selectRow(0)
    uom = next(b for b in sell.findChildren(QPushButton) if b.text() == "UOM")
    app.qtbot.mouseClick(uom, Qt.MouseButton.LeftButton)
    dialog = app.dialog(ChoiceDialog)
    dialog.list.setCurrentRow(dialog.values.index("Nos"))
    app.qtbot.keyClick(dialog.list, Qt.Key.Key_Return)
    app.wait(lambda: sell.model.view.lines[0].uom == "Nos")

    app.key(Qt.Key.Key_F3)
    app.type_enter(app.dialog(EntryDialog).field, "3")
    app.wait(lambda: sell.model.view.lines[0].qty == 3)

    app.key(Qt.Key.Key_F4)  # 5 % on the line: within the cashier's 10 %, no PIN asked
    dialog = app.dialog(DiscountDialog)
    dialog.set_percent(True)
    app.type_enter(dialog.field, "5")
    app.wait(lambda: sell.model.view.lines[0].discount_percentage == 5)
    assert app.ctx.current_dialog is None

    app.qtbot.keyClick(sell.scan_field, Qt.Key.Key_Delete)  # Del in the empty scan field
    app.wait(lambda: [ln.item_code for ln in sell.model.view.lines] == ["DAI-0001"])


def test_customer_found_as_you_type_or_created_on_the_spot(app, node):
    ensure_shift(node)
    app.login(*CASHIER)
    sell = app.window.sell
    app.wait(lambda: sell.cart_id is not None)
    app.key(Qt.Key.Key_F5)
    dialog = app.dialog(CustomerDialog)
    app.qtbot.keyClicks(dialog.search, "anna")
    app.wait(lambda: dialog.names == ["Anna Schmidt"])
    app.qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
    app.wait(lambda: sell.model.view.customer == "Anna Schmidt")

    app.key(Qt.Key.Key_F5)
    dialog = app.dialog(CustomerDialog)
    dialog.new_name.setText("Jana Novak")
    dialog.new_phone.setText("+49 151 0000000")
    create = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Create")
    app.qtbot.mouseClick(create, Qt.MouseButton.LeftButton)
    app.wait(lambda: sell.model.view.customer.startswith("C01-CUST-"))
    with client(node, CASHIER) as api:
        assert [c["customer_name"] for c in api.search_customers("Novak")] == ["Jana Novak"]


def test_discount_above_the_limit_with_supervisor_pin_then_split_payment(app, node):
    ensure_shift(node)
    app.login(*CASHIER)
    sell, payment = app.window.sell, app.window.payment
    app.wait(lambda: sell.cart_id is not None)
    for code in (MILK, APPLES_1250G, WATER_BOX):
        app.scan(code)
    before = sell.model.view.due

    app.key(Qt.Key.Key_F4)  # 20 % on the whole sale: the cashier may give 10 %
    dialog = app.dialog(DiscountDialog)
    dialog.set_whole_sale(True)
    dialog.set_percent(True)
    app.type_enter(dialog.field, "20")
    app.approve(*SUPERVISOR)
    app.wait(lambda: sell.model.view.discount > 0)
    due = sell.model.view.due
    assert due < before
    with client(node, CASHIER) as api:
        assert dec(api.cart_get(sell.cart_id)["due"]) == due  # the node's number, not ours

    app.key(Qt.Key.Key_F10)
    app.wait(lambda: app.screen == "payment")
    app.qtbot.keyClicks(payment.fields["Card"], "5")
    fifty = next(b for b in payment.quick_box.findChildren(QPushButton)
                 if b.text() == with_symbol(Decimal(50)))
    app.qtbot.mouseClick(fifty, Qt.MouseButton.LeftButton)
    expected_change = Decimal("55.00") - due
    assert payment.change.text() == with_symbol(expected_change)  # shown before paying
    app.key(Qt.Key.Key_F10)
    app.wait(lambda: payment.sale is not None)
    sale = payment.sale
    assert dec(sale["change"]) == expected_change  # the node agrees
    assert payment.done_change.text() == with_symbol(expected_change)
    with client(node, SUPERVISOR) as api:
        recorded = api.invoice_get(sale["invoice"])
    assert {p["mode_of_payment"]: dec(p["amount"]) for p in recorded["payments"]} == {
        "Cash": Decimal(50), "Card": Decimal(5)}
    app.key(Qt.Key.Key_F10)  # next customer
    app.wait(lambda: app.screen == "sell" and sell.model.view.empty and sell.cart_id is not None)


def test_return_of_one_line_approved_by_a_supervisor(app, node):
    ensure_shift(node)
    with client(node, CASHIER) as api:
        cart = api.cart_new()["cart_id"]
        for code in demo_barcodes(2):
            due = api.cart_scan(cart, code)["due"]
        sale = api.sale_submit(cart, [{"mode_of_payment": "Cash", "amount": due}])
    app.login(*CASHIER)
    returns = app.window.returns
    app.key(Qt.Key.Key_F8)
    app.wait(lambda: app.screen == "returns" and sale["invoice"] in returns.recent_numbers)
    app.type_enter(returns.find_field, f"TM:{sale['invoice']}")  # the receipt's QR code
    app.wait(lambda: returns.invoice is not None and returns.invoice.number == sale["invoice"])
    first = returns.invoice.lines[0]
    returns.qty_fields[first.row].setText("1")
    app.qtbot.mouseClick(returns.return_button, Qt.MouseButton.LeftButton)
    app.approve(*SUPERVISOR)  # a cashier may not return on their own
    app.wait(lambda: returns.result.text().startswith("€"))
    assert returns.result.text() == with_symbol(first.rate)
    with client(node, SUPERVISOR) as api:
        items = api.invoice_get(sale["invoice"])["items"]
    assert [dec(i["returned_qty"]) for i in items] == [Decimal(1), Decimal(0)]
    app.wait(lambda: returns.invoice is not None and returns.invoice.lines[0].returnable == 0)


def test_hold_and_resume(app, node):
    ensure_shift(node)
    app.login(*CASHIER)
    sell = app.window.sell
    app.wait(lambda: sell.cart_id is not None)
    app.scan(WATER_BOX)
    held_id = sell.cart_id
    app.key(Qt.Key.Key_F6)
    app.type_enter(app.dialog(EntryDialog).field, "fetching eggs")
    app.wait(lambda: sell.model.view.empty and sell.cart_id not in (None, held_id))
    app.key(Qt.Key.Key_F7)
    dialog = app.dialog(ChoiceDialog)
    dialog.list.setCurrentRow(dialog.values.index(held_id))
    app.qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
    app.wait(lambda: sell.cart_id == held_id and len(sell.model.view.lines) == 1)
    assert sell.model.view.lines[0].item_code == "BEV-0002"


def test_cash_out_needs_a_supervisor_and_lands_in_the_x_report(app, node):
    shift = ensure_shift(node)
    app.login(*CASHIER)
    app.key(Qt.Key.Key_F9)
    dialog = app.dialog(CashDialog)
    dialog.set_out(True)
    dialog.reason.setText("bank deposit")
    app.type_enter(dialog.amount, "20")
    app.approve(*SUPERVISOR)  # cash out is a supervisor's (cash in is the cashier's)
    app.wait(lambda: "Cash out: 20" in app.window.message.text())
    with client(node, CASHIER) as api:
        assert dec(api.shift_report(shift)["report"]["cash_out"]) >= Decimal(20)


def test_open_a_shift_counting_notes_and_coins(app, node):
    close_open_shifts(node)
    app.login(*CASHIER)
    shifts = app.window.shifts
    app.key(Qt.Key.Key_F12)
    app.wait(lambda: app.screen == "shifts" and "Cash" in shifts.opening.fields)
    assert shifts.pages.currentIndex() == 0  # nothing open here: the opening count
    grid = shifts.opening.grid
    grid.set_pieces(Decimal("50"), 2)
    grid.set_pieces(Decimal("1"), 5)
    grid.set_pieces(Decimal("0.20"), 3)
    assert shifts.opening.fields["Cash"].text() == "105.60"
    open_button = next(b for b in shifts.findChildren(QPushButton) if b.text() == "Open shift")
    app.qtbot.mouseClick(open_button, Qt.MouseButton.LeftButton)
    app.wait(lambda: app.ctx.shift is not None)
    with client(node, CASHIER) as api:
        assert api.shift_current()["opening"] == {"Cash": "105.60"}


def test_a_supervisor_closes_the_cashiers_shift(app, node):
    shift = ensure_shift(node)
    app.login(*SUPERVISOR)
    shifts = app.window.shifts
    app.key(Qt.Key.Key_F12)
    app.wait(lambda: any(s["shift"] == shift for s in shifts.shifts))
    shifts.select(next(s for s in shifts.shifts if s["shift"] == shift))
    app.wait(lambda: "Cash" in shifts.expected and "Cash" in shifts.counting.fields)
    expected = dec(shifts.expected["Cash"])
    shifts.counting.set_amount("Cash", expected + Decimal("2.50"))  # 2.50 too much
    app.wait(lambda: shifts.comparison.rowCount() >= 1)
    cash_row = next(r for r in range(shifts.comparison.rowCount())
                    if shifts.comparison.item(r, 0).text() == "Cash")
    assert shifts.comparison.item(cash_row, 3).text() == "+2.50"
    shifts.counting.set_amount("Card", dec(shifts.expected.get("Card")))  # every mode counted
    app.qtbot.mouseClick(shifts.close_button, Qt.MouseButton.LeftButton)
    confirm = app.dialog(ConfirmDialog)  # the differences, before the Z report is made
    assert confirm.consequence.text().startswith("Cash: +2.50 over\n")
    app.qtbot.mouseClick(confirm.ok, Qt.MouseButton.LeftButton)
    app.wait(lambda: shifts.report_title.text() == "Z report")
    assert "Difference · Cash +2.50" in shifts.report.text()
    with client(node, SUPERVISOR) as api:
        closed = {s["shift"]: s for s in api.shift_list("closed")}
    assert closed[shift]["closed_by"] == "supervisor"


def test_wrong_pins_lock_the_user_out_and_say_until_when(app, node):
    with client(node) as api:
        api.user_create("temp", "Temp Cashier", "cashier", pin="4321")
    login = app.window.login
    login.user_field.setText("temp")
    for attempt in range(5):
        app.type_enter(login.pin.field, "0000")
        app.wait(lambda: login.message.text().startswith(("Wrong", "Too many")))
        if attempt < 4:
            assert login.message.text().startswith("Wrong")
            login.message.setText("")
    assert "temp is locked until" in login.message.text()


def test_idle_lock_takes_the_same_users_pin(app, node):
    ensure_shift(node)
    app.login(*CASHIER)
    app.window.idle.setInterval(300)  # the 10 minutes of a real till, shortened
    app.window.idle.start()
    app.wait(lambda: app.screen == "lock")
    lock = app.window.lock_screen
    app.type_enter(lock.pin.field, "2222")  # somebody else's PIN does not unlock
    app.wait(lambda: "Wrong" in lock.message.text())
    app.type_enter(lock.pin.field, "1111")
    app.wait(lambda: app.screen == "sell")


def test_every_button_is_touch_sized(app, node):
    ensure_shift(node)
    app.login("admin", "1234")
    for name in ("sell", "returns", "shifts", "status", "admin"):
        app.window.show_screen(name)
        app.idle()
        small = [b.text() for b in app.window.findChildren(QPushButton)
                 if b.isVisible() and b.height() < TOUCH_PX]
        assert not small, (name, small)
