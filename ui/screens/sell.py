"""The sell screen: scan field (always focused), item search as you type, the cart, totals.

Barcode scanners type like a keyboard and end with Enter, so the scan field keeps the
focus: buttons and the table never take it, and it gets it back whenever nothing else on
this screen should have it. Every change goes to the node (``cart_*``) and the node's
answer (lines, taxes, totals, due: ERPNext's numbers) replaces what is shown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QListWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from tillmesh.node.errors import NotFoundError, TillmeshError
from tillmesh.ui.bridge import Lane
from tillmesh.ui.const import (
    BIG_BUTTON_PX,
    CART_ROW_PX,
    MIN_SEARCH_CHARS,
    SEARCH_DEBOUNCE_MS,
    SEARCH_LIMIT,
)
from tillmesh.ui.context import Context
from tillmesh.ui.models.cart import (
    CartLine,
    CartView,
    looks_scanned,
    selection_after,
    shown_date,
)
from tillmesh.ui.models.money import ZERO, dec, money, qty, with_symbol
from tillmesh.ui.screens import dialogs
from tillmesh.ui.screens.cart_table import CartTableModel
from tillmesh.ui.screens.sell_dialogs import CustomerDialog, DiscountDialog
from tillmesh.ui.screens.widgets import STRETCH, Pairs, button, card, label, row


class SellScreen(QWidget):
    pay = Signal(object)  # CartView: the payment screen takes over

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.setObjectName("screen")
        self.ctx = ctx
        self.cart_id: str | None = None
        self._waiting: list[str] = []  # scanned before the first cart existed
        self._creating = False  # a cart_new is on its way
        self._scan_error: str | None = None  # the message of the last refused scan
        self._search_seq = 0
        self.model = CartTableModel()

        self.scan_field = QLineEdit()
        self.scan_field.setObjectName("scan")
        self.scan_field.setPlaceholderText("Scan a barcode (or type it and press Enter)")
        self.scan_field.returnPressed.connect(self._scan_entered)
        self.scan_field.installEventFilter(self)
        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText("F2  Search items by name or code")
        self.search_field.returnPressed.connect(self._search_entered)
        self.results = QListWidget()
        self.results.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.results.itemClicked.connect(lambda _: self._add_result())
        self.results.hide()
        self.result_codes: list[str] = []
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._search)
        self.search_field.textChanged.connect(lambda _: self._debounce.start())

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(CART_ROW_PX)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

        line_buttons = row(button("Qty  F3", self.change_qty), button("UOM", self.change_uom),
                           button("Batch", self.change_batch),
                           button("Discount  F4", self.discount),
                           button("Remove  Del", self.remove_line, kind="danger"))
        left = QVBoxLayout()
        left.addWidget(self.scan_field)
        left.addWidget(self.search_field)
        left.addWidget(self.results)
        left.addWidget(self.table, 1)
        left.addWidget(line_buttons)

        self.shift_note = label("", "subtitle", wrap=True)
        self.customer = label("", "subtitle", wrap=True)
        # A coupon is scanned (or typed) in the scan field; it shows here until taken off.
        self.coupon = label("", "subtitle", wrap=True)
        self.coupon.setObjectName("coupon")
        self.coupon_off = button("Remove coupon", self.remove_coupon)
        self.coupon_off.setObjectName("removeCoupon")
        self.summary = Pairs()
        self.total = label(with_symbol(ZERO), "big")
        self.total.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.pay_button = button("Pay  F10", self.start_payment, kind="primary")
        self.pay_button.setMinimumHeight(BIG_BUTTON_PX)
        right = card(self.shift_note, self.customer, button("Customer  F5", self.pick_customer),
                     self.coupon, self.coupon_off, STRETCH, self.summary,
                     label("Total", "bigLabel"), self.total, self.pay_button,
                     row(button("Hold  F6", self.hold), button("Resume  F7", self.resume)),
                     button("Void sale  Ctrl+Del", self.void, kind="danger"))
        right.setMinimumWidth(380)

        layout = QHBoxLayout(self)
        layout.addLayout(left, 3)
        layout.addWidget(right, 2)
        ctx.shift_changed.connect(lambda _: self._show_shift())
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._focus_changed)

    # --- life cycle -------------------------------------------------------------------------

    def activate(self) -> None:
        self._show_shift()
        if self.cart_id is None:
            self._new_cart()
        else:
            self.ctx.call("cart_get", {"cart_id": self.cart_id}, self.apply,
                          on_error=self._cart_gone)
        self.focus_scan()

    def _cart_gone(self, exc: TillmeshError) -> bool:
        if isinstance(exc, NotFoundError):  # sold meanwhile (an answer that was lost)
            self.cart_id = None
            self._new_cart()
            return True
        return False

    def new_sale(self) -> None:
        """After a sale, a hold or a void: an empty cart."""
        self.cart_id = None
        self.model.set_view(CartView.from_api({}))
        self._new_cart()

    def _new_cart(self) -> None:
        if not self._creating:  # one cart_new at a time, or empty carts pile up
            self._creating = True
            self.ctx.call("cart_new", None, self.apply, on_error=self._not_created)

    def _not_created(self, exc: TillmeshError) -> bool:
        self._creating = False
        if self._waiting:  # a scan was refused with it (a revoked counter starts no cart)
            self._scan_error = exc.message
        self._waiting.clear()  # not added later behind the cashier's back; they scan again
        return False  # the sink (or the banner) says why

    def focus_scan(self) -> None:
        if self.isVisible() and not self.search_field.hasFocus():
            self.scan_field.setFocus()

    def _focus_changed(self, _: QWidget | None, new: QWidget | None) -> None:
        """Focus that leaves to nowhere (or off this screen) comes back to the scan field."""
        if (self.isVisible() and (new is None or not self.isAncestorOf(new))
                and QApplication.activeModalWidget() is None):
            self.focus_scan()

    def _show_shift(self) -> None:
        shift = self.ctx.shift
        self.shift_note.setText("" if shift else "No open shift on this counter: F12 to open "
                                "one before taking payment")

    def apply(self, result: Any) -> None:
        """Show the node's answer for this cart (every cart_* method returns the cart)."""
        view = CartView.from_api(result)
        self._creating = False
        old, selected = self.model.view.lines, self.selected_row()
        self.cart_id = view.cart_id
        self.model.set_view(view)
        target = selection_after(old, view.lines, selected)
        if target is not None:
            self.table.selectRow(target)
            self.table.scrollTo(self.model.index(target, 0))
        points = "" if view.points is None else f"  ·  {view.points} points"
        self.customer.setText(f"Customer: {view.customer}{points}")
        self.coupon.setText(f"Coupon: {view.coupon}" if view.coupon else "")
        self.coupon.setVisible(bool(view.coupon))
        self.coupon_off.setVisible(bool(view.coupon))
        self.summary.set_rows(view.summary())
        self.total.setText(with_symbol(view.due))
        waiting, self._waiting = self._waiting, []
        for code in waiting:
            self.scan(code)

    def selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def selected_line(self, required: bool = True) -> CartLine | None:
        """The line selected in the table; tells the cashier when ``required`` and none is,
        and when it is a promotion's free item (None: it cannot be changed)."""
        selected = self.selected_row()
        line = None if selected is None else self.model.line(selected)
        if line is None and required:
            self.ctx.notify("Select a line first", "warn")
        if line is not None and line.free:
            self.ctx.notify(f"{line.item_name} is free by a promotion: change the line it "
                            "comes with", "warn")
            return None
        return line

    def _edit(self, method: str, params: dict[str, Any]) -> None:
        # Any change of the lines may take the cart's effective discount above the
        # cashier's limit: the node then asks for a supervisor's PIN.
        self.ctx.call(method, {"cart_id": self.cart_id, **params}, self.apply,
                      approvable=True, on_error=self._ask_serial)
        self.focus_scan()

    def _ask_serial(self, exc: TillmeshError) -> bool:
        """A serial-tracked item came without its serial number: ask for it (typed, or
        scanned from the unit's label into the dialog's field), then add that unit."""
        if exc.code != "serial_needed":
            return False
        code, name = str(exc.details.get("item_code")), str(exc.details.get("item_name"))
        dialog = dialogs.EntryDialog(self, "Serial number",
                                     f"Scan or type the serial number of {name}", kind="text")
        dialog.setObjectName("serialDialog")
        dialog.chosen.connect(lambda serial: self._edit(
            "cart_add", {"item_code": code, "serial_no": serial}))
        dialogs.show(self.ctx, dialog)
        return True

    # --- scanning and searching -------------------------------------------------------------

    def _scan_entered(self) -> None:
        code = self.scan_field.text().strip()
        self.scan_field.clear()
        if code:
            self.scan(code)

    def scan(self, code: str) -> None:
        if self.cart_id is None:
            self._waiting.append(code)  # the cart is on its way; scan into it then
            self._new_cart()
            return
        # Like _edit (a scan may need a supervisor's PIN), and a good scan takes the
        # message of a refused one away: it no longer holds, and the cashier reads on.
        self.ctx.call("cart_scan", {"cart_id": self.cart_id, "code": code}, self._scanned,
                      approvable=True, on_error=self._scan_refused)
        self.focus_scan()

    def _scan_refused(self, exc: TillmeshError) -> bool:
        if self._ask_serial(exc):
            return True
        self._scan_error = exc.message
        return False  # the sink shows it

    def _scanned(self, result: Any) -> None:
        self.apply(result)
        if self._scan_error is not None:
            self.ctx.withdraw(self._scan_error)
            self._scan_error = None

    def _search(self) -> None:
        text = self.search_field.text().strip()
        self._search_seq += 1
        if len(text) < MIN_SEARCH_CHARS:
            self._show_results(self._search_seq, [])
            return
        seq = self._search_seq
        self.ctx.call("search_items", {"text": text, "limit": SEARCH_LIMIT},
                      lambda hits: self._show_results(seq, hits), lane=Lane.SEARCH)

    def _show_results(self, seq: int, hits: Any) -> None:
        if seq != self._search_seq:
            return  # an older query answered late: the newest one wins
        self.results.clear()
        self.result_codes = [str(h["item_code"]) for h in hits]
        for h in hits:
            self.results.addItem(f"{h['item_name']}    {h['item_code']}    "
                                 f"{h.get('barcode') or ''}")
        self.results.setVisible(bool(hits))
        if hits:
            self.results.setCurrentRow(0)

    def _search_entered(self) -> None:
        text = self.search_field.text().strip()
        if looks_scanned(text):
            self.close_search()
            self.scan(text)  # a scanner fired while the search field had the focus
        elif self.result_codes:
            self._add_result()

    def _add_result(self) -> None:
        index = self.results.currentRow()
        if 0 <= index < len(self.result_codes):
            code = self.result_codes[index]
            self.close_search()
            self._edit("cart_add", {"item_code": code, "qty": "1"})

    def close_search(self) -> None:
        self.search_field.clear()
        self._debounce.stop()
        self._search_seq += 1
        self.results.hide()
        self.search_field.clearFocus()
        self.scan_field.setFocus()

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        """Up / Down walk the search results (the line edit passes them on)."""
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up) and self.results.isVisible():
            step = 1 if event.key() == Qt.Key.Key_Down else -1
            self.results.setCurrentRow(max(0, self.results.currentRow() + step))
        else:
            super().keyPressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        """Del in the empty scan field removes the selected line (with text, it edits);
        Ctrl+Del voids the sale (asked first). The scan field has the keyboard, and a
        line edit keeps Ctrl+Del from shortcuts, so the keys are taken here."""
        if (watched is self.scan_field and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Delete):
            if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
                self.void()
                return True
            if not self.scan_field.text():
                self.remove_line()
                return True
        return False

    # --- actions (buttons and F-keys) -------------------------------------------------------

    def handle(self, action: str) -> bool:
        """An F-key action meant for this screen; False if it is not one of ours."""
        handlers = {"search": self.open_search, "qty": self.change_qty,
                    "discount": self.discount, "customer": self.pick_customer,
                    "hold": self.hold, "resume": self.resume, "pay": self.start_payment}
        if action not in handlers:
            return False
        handlers[action]()
        return True

    def open_search(self) -> None:
        self.search_field.setFocus()
        self.search_field.selectAll()

    def change_qty(self) -> None:
        line = self.selected_line()
        if line is None:
            return
        dialog = dialogs.EntryDialog(self, "Quantity", f"New quantity of {line.item_name}",
                                     kind="qty", initial=qty(line.qty))
        dialog.chosen.connect(
            lambda q: self._edit("cart_set_qty", {"line": line.index, "qty": str(q)}))
        dialogs.show(self.ctx, dialog)

    def change_uom(self) -> None:
        line = self.selected_line()
        if line is None:
            return

        def offer(item: Any) -> None:
            prices = item.get("prices") or {}
            choices = [(f"{uom}   {money(dec(price))}", uom) for uom, price in prices.items()]
            dialog = dialogs.ChoiceDialog(self, f"Sell {line.item_name} as", choices)
            dialog.chosen.connect(
                lambda uom: self._edit("cart_set_uom", {"line": line.index, "uom": uom}))
            dialogs.show(self.ctx, dialog)

        self.ctx.call("item", {"item_code": line.item_code}, offer)

    def change_batch(self) -> None:
        """Sell the selected line from another batch: those that may sell it, first
        expiry first, with what each has left."""
        line = self.selected_line()
        if line is None:
            return
        if not line.batch_no:
            self.ctx.notify(f"{line.item_name} is not sold by batch", "warn")
            return

        def offer(tracking: Any) -> None:
            choices = [(f"{b['batch_no']}   best before "
                        f"{shown_date(b['expiry_date']) if b['expiry_date'] else '-'}   "
                        f"{qty(dec(b['available']))} left", b["batch_no"])
                       for b in tracking["batches"] if not b["expired"] and not b["disabled"]
                       and dec(b["available"]) > 0 and b["batch_no"] != line.batch_no]
            dialog = dialogs.ChoiceDialog(self, f"Sell {line.item_name} from batch", choices,
                                          empty="No other batch of it may be sold")
            dialog.setObjectName("batchDialog")
            dialog.chosen.connect(lambda batch: self._edit(
                "cart_set_batch", {"line": line.index, "batch_no": batch}))
            dialogs.show(self.ctx, dialog)

        self.ctx.call("item_tracking", {"item_code": line.item_code}, offer)

    def discount(self) -> None:
        line = self.selected_line(required=False)
        if line is None and self.selected_row() is not None:
            return  # a promotion's free item: selected_line said so
        dialog = DiscountDialog(self, line.item_name if line else None)

        def chosen(whole: bool, percent: bool, value: Any) -> None:
            amount = {"percent" if percent else "amount": str(value)}
            if whole:
                self._edit("cart_discount", amount)
            elif line is not None:
                self._edit("cart_line_discount", {"line": line.index, **amount})

        dialog.chosen.connect(chosen)
        dialogs.show(self.ctx, dialog)

    def remove_line(self) -> None:
        line = self.selected_line()
        if line is not None:
            self._edit("cart_remove", {"line": line.index})

    def pick_customer(self) -> None:
        dialog = CustomerDialog(self, self.ctx)
        dialog.chosen.connect(lambda name: self._edit("cart_set_customer", {"customer": name}))
        dialogs.show(self.ctx, dialog)

    def remove_coupon(self) -> None:
        self._edit("cart_remove_coupon", {})

    def hold(self) -> None:
        if self.model.view.empty:
            self.ctx.notify("The cart is empty: nothing to hold", "warn")
            return
        dialog = dialogs.EntryDialog(self, "Hold this sale", "A note to find it again "
                                     "(optional)", kind="text")

        def held(_: Any) -> None:
            self.ctx.notify("Sale held: F7 resumes it", "info")
            self.new_sale()

        def hold(note: Any) -> None:
            self.ctx.call("cart_hold", {"cart_id": self.cart_id, "note": str(note)}, held)

        dialog.chosen.connect(hold)
        dialogs.show(self.ctx, dialog)

    def resume(self) -> None:
        if not self.model.view.empty:
            self.ctx.notify("Finish or hold this sale (F6) before resuming another", "warn")
            return

        def offer(carts: Any) -> None:
            choices = [(f"{c.get('note') or 'no note'}   ·   {c.get('customer')}   ·   "
                        f"{len(c.get('lines') or [])} lines   ·   {with_symbol(dec(c.get('due')))}",
                        c["cart_id"]) for c in carts]
            dialog = dialogs.ChoiceDialog(self, "Resume a held sale", choices,
                                          empty="No held sales on this counter")
            dialog.chosen.connect(lambda cart_id: self.ctx.call(
                "cart_resume", {"cart_id": cart_id}, self.apply))
            dialogs.show(self.ctx, dialog)

        self.ctx.call("cart_held", None, offer)

    def void(self) -> None:
        """Void the whole sale, asked first with what goes; an empty cart loses nothing."""
        view, cart_id = self.model.view, self.cart_id
        if cart_id is None or view.empty:
            self.ctx.notify("The cart is empty: nothing to void", "info")
            return
        n = len(view.lines)
        dialog = dialogs.ConfirmDialog(
            self, "Void this sale?",
            f"{n} line{'' if n == 1 else 's'}, {with_symbol(view.due)} will be removed",
            ok_text="Void sale", keep_text="Keep the sale")

        def go() -> None:
            if self.cart_id == cart_id:  # the cart that was asked about, nothing else
                self.ctx.call("cart_void", {"cart_id": cart_id}, lambda _: self.new_sale(),
                              approvable=True)

        dialog.accepted.connect(go)
        dialogs.show(self.ctx, dialog)

    def start_payment(self) -> None:
        if self.model.view.empty:
            self.ctx.notify("Scan something first: the cart is empty", "warn")
        elif self.ctx.shift is None:
            self.ctx.notify("Open a shift first (F12): sales need an open shift", "warn")
        else:
            self.pay.emit(self.model.view)

