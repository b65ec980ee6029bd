"""The payment screen: split over the profile's modes, quick cash, change shown large.

The amounts typed here feed the Qt-free :class:`~ui.models.payment.Payment`; Pay is only
enabled when the node would accept them. What is typed also goes to the node as a draft
(``cart_tender_draft``, ~150 ms after the last change, in the background, its errors
dropped) so the customer display shows paid and change before the sale is recorded.
Once ``sale_submit`` answers, the sale is on disk (the node answers after its fsync) and
the node's change is shown; a printer that is off never blocks this, it only shows the
printer banner.
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLineEdit, QStackedWidget, QWidget

from tillmesh.node.errors import NodeUnavailable, NotFoundError, TillmeshError
from tillmesh.ui.bridge import Lane
from tillmesh.ui.const import (
    BIG_BUTTON_PX,
    POINTS_FIELD_PX,
    PRINT_METHOD,
    QUICK_CASH_COLUMNS,
    RECHECK_MS,
    TENDER_DRAFT_DEBOUNCE_MS,
    TENDER_DRAFT_METHOD,
)
from tillmesh.ui.context import Context
from tillmesh.ui.models.cart import EMPTY_CART, CartView, looks_scanned
from tillmesh.ui.models.money import dec, editable, parse_amount, with_symbol
from tillmesh.ui.models.payment import Payment, Points, new_payment, quick_cash
from tillmesh.ui.screens.widgets import STRETCH, Keypad, button, card, clear_layout, label, row


class PaymentScreen(QWidget):
    next_customer = Signal(str)  # the sale is done: a new cart, with this first scan if any
    scanned = Signal(str)  # a barcode scanned while paying: back to this cart, with it
    back = Signal()  # back to the cart, nothing paid

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.setObjectName("screen")
        self.ctx = ctx
        self.view: CartView = EMPTY_CART
        self.payment: Payment = new_payment("0", ctx.modes)
        self.fields: dict[str, QLineEdit] = {}
        self.sale: dict[str, Any] | None = None
        self._syncing = False  # fields being set from the model: not an edit
        self._quick_base: Decimal | None = None
        self._draft_sent: list[dict[str, str]] = []  # the tender the node shows the customer
        self._draft_timer = QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(TENDER_DRAFT_DEBOUNCE_MS)
        self._draft_timer.timeout.connect(self._send_draft)

        self.due = label("", "big")
        # A member pays part in points: how many, typed (the balance shows beside).
        self.points_label = label("", "subtitle")
        self.points_field = QLineEdit()
        self.points_field.setObjectName("points")
        self.points_field.setPlaceholderText("0")
        self.points_field.textChanged.connect(self.set_points)
        self.points_field.returnPressed.connect(self.submit)
        self.points_field.setMaximumWidth(POINTS_FIELD_PX)
        # beside "Amount due": a till's screen has no height to spare for a row of its own
        self.points_row = row(self.points_label, self.points_field)
        self.modes_box = QWidget()
        self.modes_grid = QGridLayout(self.modes_box)
        self.quick_box = QWidget()
        self.quick_grid = QGridLayout(self.quick_box)  # rows of a few: fits a 1024-px till
        self.quick_grid.setContentsMargins(0, 0, 0, 0)
        self.keypad_target = QLineEdit()  # replaced by the focused mode's field
        self.keypad = Keypad(self.keypad_target)
        self.keypad.enter.connect(self.submit)
        self.paid = label("", "bigLabel")
        self.remaining = label("", "bigLabel")
        self.change = label("", "change")
        self.problem = label("", "subtitle", wrap=True)
        self.pay_button = button("Complete sale  F10", self.submit, kind="primary")
        self.pay_button.setMinimumHeight(BIG_BUTTON_PX)
        entry = QWidget()
        layout = QHBoxLayout(entry)
        layout.addWidget(card(row(label("Amount due", "bigLabel"), self.points_row),
                              self.due, label("Payments", "subtitle"), self.modes_box,
                              label("Quick cash", "subtitle"), self.quick_box, STRETCH,
                              self.paid, self.remaining, self.problem), 3)
        layout.addWidget(card(self.keypad, label("Change", "bigLabel"), self.change,
                              row(button("Back  Esc", self.back.emit), self.pay_button)), 2)

        self.done_change = label("", "change")
        self.done_change.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.done_text = label("", "title", wrap=True)
        self.done_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.next_button = button("Next customer  Enter", self._next_customer, kind="primary")
        self.next_button.setMinimumHeight(BIG_BUTTON_PX)
        # Holds the keyboard while the change shows: Enter starts the next customer, and a
        # scan starts it with that item (a scan is never lost between customers).
        self.next_scan = QLineEdit()
        self.next_scan.setObjectName("scan")
        self.next_scan.setPlaceholderText("Scan the next customer's first item, or press Enter")
        self.next_scan.returnPressed.connect(self._next_customer)
        done = QWidget()
        done_layout = QHBoxLayout(done)
        done_layout.addWidget(card(STRETCH, label("Change", "bigLabel"), self.done_change,
                                   self.done_text, STRETCH, self.next_scan,
                                   row(button("Reprint receipt", self.reprint),
                                       self.next_button)))
        self.pages = QStackedWidget()
        self.pages.addWidget(entry)
        self.pages.addWidget(done)
        outer = QHBoxLayout(self)
        outer.addWidget(self.pages)

    def start(self, view: CartView) -> None:
        """A new payment of ``view``'s due amount over the profile's modes."""
        self.view, self.sale = view, None
        member = None if view.points is None else Points(view.points, view.point_value)
        self.payment = new_payment(view.due, self.ctx.modes, member)
        self._syncing = True
        self.points_field.clear()
        self._syncing = False
        self.points_row.setVisible(member is not None and member.available > 0)

        self._draft_sent = []  # a new cart, or changed: the node dropped its draft
        self.pages.setCurrentIndex(0)
        self._quick_base = None
        self._build_modes()
        self._refresh()

    def activate(self) -> None:
        if self.sale is not None:
            self.next_scan.setFocus()
        elif self.fields:
            next(iter(self.fields.values())).setFocus()

    def _build_modes(self) -> None:
        clear_layout(self.modes_grid)
        self.fields = {}
        for i, mode in enumerate(self.payment.modes):
            field = QLineEdit()
            field.setPlaceholderText("0.00")
            field.textChanged.connect(partial(self.set_amount, mode.name))
            field.returnPressed.connect(partial(self._entered, field))
            self.fields[mode.name] = field
            self.modes_grid.addWidget(label(mode.name, "subtitle"), i, 0)
            self.modes_grid.addWidget(field, i, 1)
            self.modes_grid.addWidget(button("Rest", partial(self.rest_to, mode.name)), i, 2)
        first = next(iter(self.fields.values()), None)
        if first is not None:
            self._point_keypad(first)

    def _build_quick(self, base: Decimal) -> None:
        """Cash offers for what is left after the non-cash payments (``base``)."""
        self._quick_base = base
        clear_layout(self.quick_grid)
        cash = next((m.name for m in self.payment.modes if m.is_cash), None)
        if cash is None:
            return
        for i, amount in enumerate(quick_cash(base)):
            text = "Exact" if amount == base else with_symbol(amount)
            self.quick_grid.addWidget(button(text, partial(self.quick, cash, amount)),
                                      i // QUICK_CASH_COLUMNS, i % QUICK_CASH_COLUMNS)

    def _point_keypad(self, field: QLineEdit) -> None:
        """The keypad types into the mode field touched last."""
        self.keypad.target = field
        field.setFocus()

    def set_amount(self, mode: str, text: str) -> None:
        if self._syncing:
            return
        self._point_keypad(self.fields[mode])
        amount = parse_amount(text) if text.strip() else Decimal(0)
        if amount is None:
            self.problem.setText(f"{mode}: {text!r} is not an amount of money")
            self.pay_button.setEnabled(False)
            return
        self.payment = self.payment.set(mode, amount)
        self._refresh()

    def set_points(self, text: str) -> None:
        """The member pays this many points: what is left is paid in money."""
        if self._syncing:
            return
        text = text.strip()
        if text and not text.isdigit():
            self.problem.setText(f"Points: {text!r} is not a whole number of points")
            self.pay_button.setEnabled(False)
            return
        self.payment = self.payment.redeem(int(text or 0))
        self._refresh()

    def quick(self, mode: str, amount: Decimal) -> None:
        """The customer handed over this much cash (other modes keep their amounts)."""
        self.payment = self.payment.set(mode, amount)
        self._refresh(sync_fields=True)

    def rest_to(self, mode: str) -> None:
        self.payment = self.payment.rest_to(mode)
        self._refresh(sync_fields=True)

    def _refresh(self, sync_fields: bool = False) -> None:
        if sync_fields:
            self._syncing = True
            for mode, field in self.fields.items():
                amount = self.payment.amount(mode)
                field.setText(editable(amount) if amount else "")
            self._syncing = False
        base = self.payment.in_money - self.payment.non_cash
        member, worth = self.payment.member, self.payment.points_worth
        self.due.setText(with_symbol(self.payment.in_money))  # in money: points come off
        if member is not None:
            self.points_label.setText(f"Points ({member.available})"
                                      + (f": −{with_symbol(worth)}" if worth else ""))
        if base != self._quick_base:
            self._build_quick(base)
        self.paid.setText(f"Paid  {with_symbol(self.payment.paid)}")
        self.remaining.setText(f"Still due  {with_symbol(self.payment.remaining)}")
        self.change.setText(with_symbol(self.payment.change))
        self.problem.setText(self.payment.problem or "")
        self.pay_button.setEnabled(self.payment.ready)
        self._draft_timer.start()  # debounced: typing "50.00" sends one draft

    def handle(self, action: str) -> bool:
        if action == "pay":
            if self.sale is None:
                self.submit()
            else:
                self._next_customer()
            return True
        return False

    def _entered(self, field: QLineEdit) -> None:
        """Enter in an amount: pay, unless a scanner typed a barcode there (an item the
        cashier forgot): that goes into the sale, never into the drawer as change."""
        code = field.text().strip()
        if looks_scanned(code):
            field.clear()
            self.scanned.emit(code)
            return
        self.submit()

    def submit(self) -> None:
        if self.sale is not None or not self.payment.ready:
            return
        self.pay_button.setEnabled(False)  # one submit: sale_submit must not run twice
        self._draft_timer.stop()  # the sale itself shows next
        points = {"loyalty_points": self.payment.points} if self.payment.points else {}
        self.ctx.call("sale_submit", {"cart_id": self.view.cart_id,
                                      "payments": self.payment.payments(), **points},
                      self._recorded, on_error=self._refused)

    def _send_draft(self, draft: list[dict[str, str]] | None = None) -> None:
        """Tell the node what the customer hands over (for the customer display), if it
        changed: fire and forget, on the poll lane, never holding up the cashier's calls;
        a refusal or a node that is away only leaves the display as it was."""
        draft = self.payment.draft() if draft is None else draft
        if self.sale is not None or draft is None or draft == self._draft_sent:
            return
        self._draft_sent = draft
        self.ctx.call(TENDER_DRAFT_METHOD, {"cart_id": self.view.cart_id, "payments": draft},
                      on_error=lambda _: True, lane=Lane.POLL)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        self._draft_timer.start()  # back from the lock screen: the display shows it again
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 (Qt's name)
        self._draft_timer.stop()  # back to the cart, locked: nothing is being paid now
        self._send_draft([])
        super().hideEvent(event)

    def _refused(self, exc: TillmeshError) -> bool:
        if isinstance(exc, NodeUnavailable):
            self._check_recorded()
            return True
        self._refresh()
        return False  # the sink shows why

    def _check_recorded(self) -> None:
        """sale_submit got no answer: the node may have recorded the sale or not (a call
        that timed out is never re-sent). The node drops the cart in the sale's own
        transaction, so the cart tells: gone = recorded, still there = not recorded."""
        self.ctx.notify("No answer from the node: checking whether the sale was recorded…",
                        "warn")

        def still_open(_: Any) -> None:
            self.ctx.notify("The sale was not recorded: take the payment again", "warn")
            self._refresh()

        def answered(exc: TillmeshError) -> bool:
            if isinstance(exc, NotFoundError):
                self._recorded({"change": str(self.payment.change)})  # number unknown
                return True
            if isinstance(exc, NodeUnavailable) and self.isVisible():
                QTimer.singleShot(RECHECK_MS, self._check_recorded)  # until the node is back
                return True
            return False

        self.ctx.call("cart_get", {"cart_id": self.view.cart_id}, still_open,
                      on_error=answered)

    def _recorded(self, sale: Any) -> None:
        self.sale = dict(sale)
        self.ctx.sale_recorded(self.sale)
        self.done_change.setText(with_symbol(dec(sale.get("change"))))
        invoice = sale.get("invoice")
        text = (f"Sale {invoice} recorded" if invoice
                else "Sale recorded (its answer was lost: Returns lists its number)")
        self.done_text.setText(text)
        self.pages.setCurrentIndex(1)
        self.next_scan.setFocus()
        self.ctx.notify(text, "ok")

    def _next_customer(self) -> None:
        code = self.next_scan.text().strip()
        self.next_scan.clear()
        self.next_customer.emit(code)

    def reprint(self) -> None:
        invoice = (self.sale or {}).get("invoice")
        if invoice:
            print_receipt(self.ctx, str(invoice))
        else:
            self.ctx.notify("Find the sale on the Returns screen (F8) to reprint it", "warn")


def print_receipt(ctx: Context, invoice: str) -> None:
    """Print (or reprint) the receipt of any invoice; older nodes cannot print at all."""
    def printed(_: Any) -> None:
        ctx.notify(f"Receipt {invoice} sent to the printer", "info")
        ctx.watch_printer()

    ctx.optional(PRINT_METHOD, {"invoice": invoice}, printed,
                 lambda text: ctx.notify(f"Printing is {text}", "warn"))
