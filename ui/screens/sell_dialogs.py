"""Dialogs of the sell screen: discount, customer (search and quick create), cash in/out
(paying out more than the drawer should hold is asked first, and needs a supervisor)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QButtonGroup, QLineEdit, QListWidget, QWidget

from tillmesh.node.errors import CashOutBeyondDrawer, TillmeshError
from tillmesh.ui.bridge import Lane, OnOk
from tillmesh.ui.const import SEARCH_DEBOUNCE_MS
from tillmesh.ui.context import Approval, Context
from tillmesh.ui.models.count import beyond_drawer
from tillmesh.ui.models.money import dec, parse_amount
from tillmesh.ui.screens.dialogs import ConfirmDialog, Dialog, show
from tillmesh.ui.screens.widgets import Keypad, button, label, row


def _toggle(*texts: str) -> tuple[QWidget, QButtonGroup]:
    """Touch-sized exclusive choice buttons; the first is checked."""
    group = QButtonGroup()
    buttons = []
    for i, text in enumerate(texts):
        btn = button(text, kind="nav")
        btn.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # a keyboard: Tab to it, Space picks
        btn.setCheckable(True)
        btn.setChecked(i == 0)
        group.addButton(btn, i)
        buttons.append(btn)
    return row(*buttons), group


class DiscountDialog(Dialog):
    """A discount on the selected line or the whole sale, as a percentage or an amount."""

    chosen = Signal(bool, bool, object)  # whole sale?, percent?, Decimal

    def __init__(self, parent: QWidget | None, line_name: str | None) -> None:
        super().__init__(parent, "Discount")
        scope_row, self.scope = _toggle(f"Line: {line_name}" if line_name else "Line",
                                        "Whole sale")
        if line_name is None:
            self.scope.button(0).setEnabled(False)
            self.scope.button(1).setChecked(True)
        kind_row, self.kind = _toggle("Percent %", "Amount")
        self.field = QLineEdit()
        self.field.setPlaceholderText("e.g. 10")
        self.field.returnPressed.connect(self.done_ok)
        keypad = Keypad(self.field)
        keypad.enter.connect(self.done_ok)
        for widget in (scope_row, kind_row, self.field, keypad):
            self.body.addWidget(widget)
        self.finish_layout()
        self.field.setFocus()

    def set_whole_sale(self, whole: bool) -> None:
        self.scope.button(1 if whole else 0).setChecked(True)

    def set_percent(self, percent: bool) -> None:
        self.kind.button(0 if percent else 1).setChecked(True)

    def done_ok(self) -> None:
        value = parse_amount(self.field.text())
        percent = self.kind.checkedId() == 0
        if value is None or (percent and value > 100):
            self.error.setText("Enter a percentage from 0 to 100, or an amount")
            return
        self.chosen.emit(self.scope.checkedId() == 1, percent, value)
        self.accept()


class CustomerDialog(Dialog):
    """Find a customer by name or phone as you type, or create one on the spot."""

    chosen = Signal(str)  # the customer's name (id)

    def __init__(self, parent: QWidget | None, ctx: Context) -> None:
        super().__init__(parent, "Customer", ok_text="Sell to this customer")
        self.ctx = ctx
        self.names: list[str] = []
        self.search = QLineEdit()
        self.search.setPlaceholderText("Name or phone")
        self.results = QListWidget()
        self.results.itemActivated.connect(lambda _: self.done_ok())
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._search)
        self.search.textChanged.connect(lambda _: self._debounce.start())
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("New customer: name")
        self.new_phone = QLineEdit()
        self.new_phone.setPlaceholderText("Mobile (optional)")
        create = button("Create", self._create)
        for widget in (self.search, self.results, label("Not found?", "subtitle"),
                       row(self.new_name, self.new_phone, create)):
            self.body.addWidget(widget)
        self.finish_layout()
        self.search.setFocus()
        self._search()

    def _search(self) -> None:
        self.ctx.call("search_customers", {"text": self.search.text()}, self._show,
                      lane=Lane.SEARCH)

    def _show(self, customers: Any) -> None:
        self.results.clear()
        self.names = [str(c["name"]) for c in customers]
        for c in customers:
            phone = f"   {c['mobile_no']}" if c.get("mobile_no") else ""
            self.results.addItem(f"{c.get('customer_name') or c['name']}{phone}")
        if self.names:
            self.results.setCurrentRow(0)

    def _create(self) -> None:
        name = self.new_name.text().strip()
        if not name:
            self.error.setText("Type the new customer's name")
            return

        def created(doc: Any) -> None:
            self.chosen.emit(str(doc["name"]))
            self.accept()

        self.ctx.call("create_customer", {"customer_name": name,
                                          "mobile_no": self.new_phone.text().strip() or None},
                      created)

    def done_ok(self) -> None:
        index = self.results.currentRow()
        if 0 <= index < len(self.names):
            self.chosen.emit(self.names[index])
            self.accept()


BEYOND_DRAWER = "cash_out_beyond_drawer"  # the permission that may say yes (node.roles)


def send_cash_move(ctx: Context, parent: QWidget, way: str, amount: Decimal, reason: str,
                   on_ok: OnOk) -> None:
    """Cash in or out through the node. Paying out more than the drawer should hold is
    refused by the node until it is asked, saying what it means: a user who may allow it
    confirms, anyone else gets a supervisor's PIN (the node checks both, and audits it)."""
    params = {"direction": way, "amount": str(amount), "reason": reason}

    def beyond(exc: TillmeshError) -> bool:
        if not isinstance(exc, CashOutBeyondDrawer):
            return False
        question = beyond_drawer(dec(exc.expected), dec(exc.amount, amount))
        again = {**params, "beyond_drawer": True}
        if ctx.user is None or not ctx.user.can(BEYOND_DRAWER):
            ctx.approval_needed.emit(Approval("cash_move", again, question, on_ok, None,
                                              ("supervisor",)))
            return True
        dialog = ConfirmDialog(parent, "Pay out more than the drawer holds?",
                               f"{question}: you may allow it, and the audit trail keeps it.",
                               ok_text="Pay out anyway", keep_text="Cancel")
        dialog.accepted.connect(lambda: ctx.call("cash_move", again, on_ok, approvable=True))
        dialog.rejected.connect(lambda: ctx.notify(f"Not paid out: {question}", "warn"))
        show(ctx, dialog)
        return True

    ctx.call("cash_move", params, on_ok, approvable=True, on_error=beyond)


class CashDialog(Dialog):
    """Cash into or out of the drawer, with the reason the audit trail keeps."""

    chosen = Signal(str, object, str)  # "in" | "out", Decimal, reason

    def __init__(self, parent: QWidget | None) -> None:
        super().__init__(parent, "Cash in / out")
        way_row, self.way = _toggle("Cash in", "Cash out")
        self.amount = QLineEdit()
        self.amount.setPlaceholderText("Amount")
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("Reason (required), e.g. change from the bank")
        keypad = Keypad(self.amount)
        for enter in (keypad.enter, self.amount.returnPressed, self.reason.returnPressed):
            enter.connect(self.done_ok)
        for widget in (way_row, self.amount, self.reason, keypad):
            self.body.addWidget(widget)
        self.finish_layout()
        self.amount.setFocus()

    def set_out(self, out: bool) -> None:
        self.way.button(1 if out else 0).setChecked(True)

    def done_ok(self) -> None:
        amount = parse_amount(self.amount.text())
        reason = self.reason.text().strip()
        if amount is None or amount <= Decimal(0):
            self.error.setText("Enter an amount above 0")
            return
        if not reason:
            self.error.setText("A reason is required")
            return
        self.chosen.emit("out" if self.way.checkedId() == 1 else "in", amount, reason)
        self.accept()
