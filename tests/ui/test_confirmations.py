"""Irreversible actions ask first, naming what they do (issue 12), through the real widgets
against a real node: voiding a cart with lines, closing a shift (every mode counted, a
blank is not 0, then the differences confirmed), paying out more than the drawer should
hold (a supervisor). A tester voided a whole cart with one tap, closed with only Cash
counted (a card shortage of -173.74 recorded for good), and paid out 10,000.00 from a
drawer holding about 250; each of those is refused or asked here."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QPushButton

from tests.proc import demo_barcodes
from tests.ui.closing_scene import card_shift_to_count
from tests.ui.driver import CASHIER, SUPERVISOR, App, client, ensure_shift
from tests.ui.returns_scene import texts
from tillmesh.ui.models.count import (
    MINUS,
    NOT_COUNTED,
    CountRow,
    beyond_drawer,
    comparison,
    differences,
    signed,
    tally,
)
from tillmesh.ui.models.money import dec, editable, with_symbol
from tillmesh.ui.models.payment import Mode
from tillmesh.ui.screens.count import CountForm
from tillmesh.ui.screens.dialogs import ApproverDialog, ConfirmDialog
from tillmesh.ui.screens.sell_dialogs import CashDialog

MODES = ("Cash", "Card", "Voucher")
money_st = st.integers(min_value=0, max_value=10_000_000).map(lambda c: Decimal(c) / 100)


# --- the count, Qt-free ---------------------------------------------------------------------

@given(st.dictionaries(st.sampled_from(MODES), st.none() | money_st, min_size=1))
def test_a_blank_field_is_not_counted_and_a_typed_zero_is(fields):
    texts = {m: "" if a is None else editable(a) for m, a in fields.items()}
    count = tally(texts)
    assert count.counted == {m: a for m, a in fields.items() if a is not None}
    assert count.uncounted == tuple(m for m, a in fields.items() if a is None)
    assert {m: Decimal(v) for m, v in count.param().items()} == count.counted  # 0 is sent
    refusal = count.refusal()
    if count.uncounted:
        assert refusal is not None and all(m in refusal for m in count.uncounted)
    else:
        assert refusal is None  # every mode has an amount, 0 included: it may close


def test_text_that_is_not_money_is_no_count_either():
    count = tally({"Cash": "12,5x", "Card": " ", "Voucher": "0"})
    assert (count.counted, count.uncounted, count.invalid) == (
        {"Voucher": Decimal("0.00")}, ("Card",), ("Cash",))
    assert count.refusal() == ("Count every mode before closing: Card not counted. Type 0 "
                               "for a mode with nothing in it. Not an amount of money: Cash")


@given(st.dictionaries(st.sampled_from(MODES), money_st),
       st.dictionaries(st.sampled_from(MODES), money_st))
def test_the_differences_named_are_exactly_the_modes_that_do_not_match(expected, counted):
    rows = [CountRow(m, expected.get(m, Decimal(0)), counted.get(m, Decimal(0)))
            for m in sorted(set(expected) | set(counted))]
    said = differences(rows)
    assert [s.split(":")[0] for s in said] == [r.mode for r in rows if r.difference]
    for text, row in zip(said, [r for r in rows if r.difference], strict=True):
        short = row.counted < row.expected
        assert text.endswith(" short" if short else " over")
        assert dec(text.split(": ")[1].split()[0].replace(MINUS, "-").replace(",", "")) == (
            row.difference)


def test_the_testers_card_shortage_reads_as_one():
    assert signed(Decimal("-173.74")) == f"{MINUS}173.74"
    assert differences([CountRow("Card", Decimal("173.74"), Decimal(0))]) == [
        f"Card: {MINUS}173.74 short"]
    rows = comparison({"Card": Decimal("173.74")}, tally({"Cash": "250", "Card": ""}))
    assert rows == [("Card", "173.74", "", NOT_COUNTED), ("Cash", "0.00", "250.00", "+250.00")]
    assert beyond_drawer(Decimal("250"), Decimal("10000")) == (
        "The drawer should hold € 250.00; paying out € 10,000.00 needs a supervisor")


# --- the app --------------------------------------------------------------------------------

def press(app: App, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
          ) -> None:
    """A key as the keyboard sends it: to whatever has the focus."""
    target = QApplication.focusWidget() or QApplication.activeWindow() or app.window
    app.qtbot.keyClick(target, key, modifier)


def confirm_dialog(app: App) -> ConfirmDialog:
    dialog: ConfirmDialog = app.dialog(ConfirmDialog)
    app.wait(lambda: QApplication.focusWidget() is dialog.keep)  # the safe one has the keys
    assert dialog.keep.isDefault()
    return dialog


def closed_dialog(app: App) -> None:
    app.wait(lambda: app.ctx.current_dialog is None)


def test_voiding_a_cart_with_lines_asks_first_and_enter_or_escape_keep_it(app, node):
    ensure_shift(node)
    app.login(*CASHIER)
    sell = app.window.sell
    app.wait(lambda: sell.cart_id is not None)
    press(app, Qt.Key.Key_Delete, Qt.KeyboardModifier.ControlModifier)  # empty: nothing asked
    app.wait(lambda: "nothing to void" in app.window.message.text())
    assert app.ctx.current_dialog is None
    for code in demo_barcodes(3):
        app.scan(code)
    cart, due = sell.cart_id, sell.model.view.due
    for keep in (Qt.Key.Key_Return, Qt.Key.Key_Escape):
        app.wait(lambda: QApplication.focusWidget() is sell.scan_field)
        press(app, Qt.Key.Key_Delete, Qt.KeyboardModifier.ControlModifier)
        dialog = confirm_dialog(app)
        assert dialog.windowTitle() == "Void this sale?"
        assert dialog.consequence.text() == f"3 lines, {with_symbol(due)} will be removed"
        press(app, keep)
        closed_dialog(app)
        app.idle()
        assert (sell.cart_id, len(sell.model.view.lines)) == (cart, 3)
    app.touch(next(b for b in sell.findChildren(QPushButton)
                   if b.text().startswith("Void sale")))
    dialog = confirm_dialog(app)
    press(app, Qt.Key.Key_Tab)  # the keyboard's way to the action: Tab, then Enter
    app.wait(lambda: QApplication.focusWidget() is dialog.ok)
    press(app, Qt.Key.Key_Return)
    app.wait(lambda: sell.cart_id not in (None, cart) and sell.model.view.empty)
    with client(node, SUPERVISOR) as api:
        voided = [a for a in api.audit_list() if a["kind"] == "audit.void"]
    assert voided[0]["cart_id"] == cart and voided[0]["lines"] == 3


def test_closing_refuses_a_blank_mode_then_confirms_the_shortage(app, node):
    shift = card_shift_to_count(app, node)
    shifts = app.window.shifts
    card_expected = dec(shifts.expected["Card"])
    cash = shifts.counting.fields["Cash"]
    app.type_into(cash, editable(dec(shifts.expected["Cash"])))
    card_row = next(r for r in range(shifts.comparison.rowCount())
                    if shifts.comparison.item(r, 0).text() == "Card")
    assert [shifts.comparison.item(card_row, c).text() for c in (2, 3)] == [
        "", NOT_COUNTED]  # never 0.00 counted, nor a shortage of all it expected
    app.qtbot.keyClick(cash, Qt.Key.Key_Return)  # Enter in a count: close
    app.wait(lambda: "Card not counted" in app.window.message.text())
    assert "Card not counted" in shifts.count_note.text()
    assert app.ctx.current_dialog is None  # (the keyboard moving to Card: the desk test)
    with client(node, CASHIER) as api:
        assert api.shift_current()["shift"] == shift  # nothing recorded
    app.qtbot.keyClicks(shifts.counting.fields["Card"], "0")
    app.wait(lambda: shifts.count_note.text() == "")
    app.touch(shifts.close_button)
    dialog = confirm_dialog(app)
    assert f"Card: {MINUS}{editable(card_expected)} short" in dialog.consequence.text()
    assert "Cash" not in dialog.consequence.text()  # counted as expected: not a difference
    press(app, Qt.Key.Key_Escape)  # count again
    closed_dialog(app)
    app.idle()
    with client(node, CASHIER) as api:
        assert api.shift_current()["shift"] == shift
    app.touch(shifts.close_button)
    app.touch(confirm_dialog(app).ok)
    app.wait(lambda: shifts.report_title.text() == "Z report")
    with client(node, SUPERVISOR) as api:
        z = api.shift_report(shift)["report"]
    assert dec(z["counted"]["Card"]) == 0 and dec(z["difference"]["Card"]) == -card_expected


def cash_out(app: App, amount: str) -> CashDialog:
    """F9, Cash out, a reason, the amount typed and Enter."""
    app.key(Qt.Key.Key_F9)
    dialog: CashDialog = app.dialog(CashDialog)
    dialog.set_out(True)
    dialog.reason.setText("to the safe")
    app.type_enter(dialog.amount, amount)
    return dialog


def beyond_audits(node) -> list[dict]:
    with client(node, SUPERVISOR) as api:
        return [a for a in api.audit_list() if a["kind"] == "audit.cash_out_beyond_drawer"]


def test_paying_out_beyond_the_drawer_names_it_and_takes_a_supervisors_pin(app, node):
    shift = ensure_shift(node)
    with client(node, CASHIER) as api:
        holds = dec(api.shift_report(shift)["report"]["expected"]["Cash"])
    before = len(beyond_audits(node))
    app.login(*CASHIER)
    amount = holds + Decimal("9750.00")
    cash_out(app, editable(amount))
    dialog = app.dialog(ApproverDialog)
    assert (f"The drawer should hold {with_symbol(holds)}; paying out {with_symbol(amount)}"
            " needs a supervisor") in texts(dialog)
    app.qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    app.wait(lambda: "Not done: The drawer should hold" in app.window.message.text())
    assert len(beyond_audits(node)) == before
    cash_out(app, editable(amount))
    app.approve(*SUPERVISOR)
    app.wait(lambda: f"Cash out: {editable(amount)}" in app.window.message.text())
    (audit, *_) = beyond_audits(node)
    assert (audit["approver"], dec(audit["expected"]), dec(audit["amount"])) == (
        "supervisor", holds, amount)


def test_a_supervisor_is_asked_too_and_enter_pays_nothing_out(app, node):
    shift = ensure_shift(node)
    before = len(beyond_audits(node))
    app.login(*SUPERVISOR)
    with client(node, CASHIER) as api:
        holds = dec(api.shift_report(shift)["report"]["expected"]["Cash"])
    beyond = max(holds, Decimal(0)) + Decimal("0.01")  # a cent more than it holds
    cash_out(app, editable(beyond))
    dialog = confirm_dialog(app)
    assert dialog.consequence.text().startswith(f"The drawer should hold {with_symbol(holds)}")
    press(app, Qt.Key.Key_Return)  # the default keeps the money in the drawer
    app.wait(lambda: "Not paid out" in app.window.message.text())
    with client(node, CASHIER) as api:
        assert dec(api.shift_report(shift)["report"]["expected"]["Cash"]) == holds
    cash_out(app, editable(beyond))
    app.touch(confirm_dialog(app).ok)
    app.wait(lambda: len(beyond_audits(node)) == before + 1)


def test_a_zero_cash_out_is_refused_before_anything_is_sent(app, node):
    ensure_shift(node)
    app.login(*CASHIER)
    dialog = cash_out(app, "0")
    assert dialog.error.text() == "Enter an amount above 0"
    assert app.ctx.current_dialog is dialog and dialog.isVisible()


def test_a_count_cleared_after_counting_notes_leaves_cash_uncounted(qapp):
    """A shift counted with notes and coins, then the next one chosen: its cash field is
    blank (not counted), never 0.00, which would close it as short by the whole float."""
    form = CountForm(blank=NOT_COUNTED)
    form.set_modes((Mode("Cash", is_cash=True), Mode("Card", is_cash=False)))
    spins = list(form.grid.spins.values())
    spins[0].setValue(5)
    assert form.texts()["Cash"] not in ("", "0.00")  # the notes filled the cash field
    form.clear()
    assert form.texts() == {"Cash": "", "Card": ""}
    assert all(spin.value() == 0 for spin in spins)
