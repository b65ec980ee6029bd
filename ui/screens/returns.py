"""Returns and reprints: find any counter's invoice by number or by scanning its receipt,
return some or all of its lines (``return_create``), or print its receipt again.

When the counter that made the sale cannot confirm the return (ReturnUnconfirmed), the
node's words say the risk, and a supervisor accepts it with their PIN (or confirms it,
when they are the one at the till): the same return is sent with ``unconfirmed``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QWidget

from tillmesh.node.errors import ReturnUnconfirmed, TillmeshError
from tillmesh.ui.const import INVOICE_LIST_LIMIT, TOUCH_PX
from tillmesh.ui.context import Context
from tillmesh.ui.models.clock import when
from tillmesh.ui.models.money import dec, money, parse_qty, qty, with_symbol
from tillmesh.ui.models.returns import (
    RISK_PERMISSION,
    Invoice,
    invoice_from_scan,
    return_lines,
)
from tillmesh.ui.screens.payment import print_receipt
from tillmesh.ui.screens.widgets import button, card, fill, label, row, table

LINE_HEADERS = ("Item", "Sold", "Returned", "Left", "Price", "Return qty")
RECENT_HEADERS = ("Invoice", "Time", "Customer", "Total")


class ReturnsScreen(QWidget):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.setObjectName("screen")
        self.ctx = ctx
        self.invoice: Invoice | None = None
        self.qty_fields: dict[str, QLineEdit] = {}
        self.recent_numbers: list[str] = []

        self.find_field = QLineEdit()
        self.find_field.setPlaceholderText("Scan the receipt or type the invoice number")
        self.find_field.returnPressed.connect(self.find_invoice)
        self.recent = table(RECENT_HEADERS)
        self.recent.cellClicked.connect(self._picked)
        self.recent.cellActivated.connect(self._picked)  # Enter on the keyboard
        # Down from the number field goes to the latest sales (Up and Enter pick there).
        QShortcut(QKeySequence(Qt.Key.Key_Down), self.find_field, self._to_recent,
                  context=Qt.ShortcutContext.WidgetShortcut)
        self.heading = label("No invoice chosen", "title", wrap=True)
        self.lines = table(LINE_HEADERS, row_px=TOUCH_PX + 8)  # rows hold a qty field
        self.lines.setTabKeyNavigation(False)
        self.result = label("", "change")
        self.return_button = button("Return chosen lines", self.submit, kind="primary")
        left = card(label("Find a sale", "subtitle"),
                    row(self.find_field, button("Find", self.find_invoice)),
                    label("Latest sales of every counter", "subtitle"), self.recent)
        right = card(self.heading, self.lines,
                     row(button("All lines", self.choose_all), button("Reprint receipt",
                                                                       self.reprint),
                         self.return_button),
                     label("Refund", "bigLabel"), self.result)
        layout = QHBoxLayout(self)
        layout.addWidget(left, 2)
        layout.addWidget(right, 3)

    def activate(self) -> None:
        self.find_field.setFocus()
        self.ctx.call("invoice_list", {"limit": INVOICE_LIST_LIMIT}, self._show_recent)

    def _show_recent(self, rows: Any) -> None:
        sales = [r for r in rows if not r.get("is_return")]
        self.recent_numbers = [str(r["invoice"]) for r in sales]
        fill(self.recent, [(str(r["invoice"]), when(r.get("posted_at"), self.ctx.now()),
                            str(r.get("customer") or ""), money(dec(r.get("grand_total"))))
                           for r in sales], numeric=(3,))

    def _picked(self, row: int, _: int) -> None:
        self.load(self.recent_numbers[row])

    def _to_recent(self) -> None:
        if self.recent.rowCount():
            self.recent.setFocus()
            self.recent.setCurrentCell(0, 0)

    def find_invoice(self) -> None:
        number = invoice_from_scan(self.find_field.text())
        self.find_field.clear()
        if number is None:
            self.ctx.notify("That is not an invoice number (like C01-2026-000042)", "warn")
            return
        self.load(number)

    def load(self, number: str) -> None:
        self.result.setText("")
        self.ctx.call("invoice_get", {"invoice": number}, self._show)

    def _show(self, doc: Any) -> None:
        invoice = Invoice.from_api(doc)
        self.invoice = invoice
        kind = "Return" if invoice.is_return else "Sale"
        flags = "".join(f" · {flag}" for flag in invoice.flags)
        self.heading.setText(f"{kind} {invoice.number} · {invoice.customer} · "
                             f"{with_symbol(invoice.grand_total)}{flags}")
        fill(self.lines, [(ln.item_name, qty(ln.sold), qty(ln.returned), qty(ln.returnable),
                           money(ln.rate), "") for ln in invoice.lines], numeric=(1, 2, 3, 4))
        self.qty_fields = {}
        for r, line in enumerate(invoice.lines):
            field = QLineEdit()
            field.setPlaceholderText("0")
            field.setEnabled(line.returnable > 0 and not invoice.is_return)
            field.returnPressed.connect(self.submit)  # Enter returns, as the button does
            self.lines.setCellWidget(r, len(LINE_HEADERS) - 1, field)
            self.qty_fields[line.row] = field
        self.return_button.setEnabled(not invoice.is_return and not invoice.fully_returned)
        # the quantities are typed next (Tab goes from line to line, not cell to cell)
        first = next((f for f in self.qty_fields.values() if f.isEnabled()), None)
        if first is not None and self.isVisible():
            first.setFocus()

    def choose_all(self) -> None:
        if self.invoice is None:
            return
        for line in self.invoice.lines:
            if line.returnable > 0:
                self.qty_fields[line.row].setText(format(line.returnable.normalize(), "f"))

    def submit(self) -> None:
        if self.invoice is None:
            return
        chosen: dict[str, Decimal] = {}
        for row_name, field in self.qty_fields.items():
            text = field.text().strip()
            if not text:
                continue
            amount = parse_qty(text)
            if amount is None:
                self.ctx.notify(f"{text!r} is not a quantity", "warn")
                return
            chosen[row_name] = amount
        try:
            lines = return_lines(self.invoice, chosen)
        except ValueError as exc:
            self.ctx.notify(str(exc), "warn")
            return
        params = {"invoice": self.invoice.number, "lines": lines}
        self.ctx.call("return_create", params, self._returned, approvable=True,
                      on_error=lambda exc: self._unconfirmed(params, exc))

    def _unconfirmed(self, params: dict[str, Any], exc: TillmeshError) -> bool:
        """The sale's counter could not confirm: say the risk, let a supervisor accept it."""
        if not isinstance(exc, ReturnUnconfirmed):
            return False  # the app's error sink shows it
        self.ctx.accept_risk("return_create", {**params, "unconfirmed": True}, exc.message,
                             RISK_PERMISSION, self._returned, None)
        return True

    def _returned(self, answer: Any) -> None:
        refund = dec(answer.get("refund"))
        self.ctx.notify(f"Return {answer['invoice']} recorded: refund {with_symbol(refund)}",
                        "ok")
        self.ctx.watch_printer()
        self.load(str(answer.get("return_against")))  # what is left to return now
        self.result.setText(with_symbol(refund))

    def reprint(self) -> None:
        if self.invoice is None:
            self.ctx.notify("Find the invoice first", "warn")
            return
        print_receipt(self.ctx, self.invoice.number)
