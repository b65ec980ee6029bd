"""Counting money into or out of a drawer: an amount per mode of payment, and for cash
optionally a count by EUR notes and coins (the grid fills the cash amount). The grid opens
over the screen, not in it: inline, its 15 counters squeezed the shift's report beside it
until no amount showed on a 1024x768 till."""

from __future__ import annotations

from decimal import Decimal
from functools import partial

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QGridLayout, QLineEdit, QSpinBox, QVBoxLayout, QWidget

from tillmesh.ui.const import COUNT_GRID_ROWS, MAX_PIECES
from tillmesh.ui.models.count import DenominationCount
from tillmesh.ui.models.money import ZERO, editable, money, parse_amount
from tillmesh.ui.models.payment import Mode
from tillmesh.ui.screens.widgets import button, clear_layout, label


class DenominationGrid(QWidget):
    """A count per note and coin; ``changed(total)`` whenever a count changes."""

    changed = Signal(object)  # Decimal

    def __init__(self) -> None:
        super().__init__()
        self.count = DenominationCount()
        self.spins: dict[Decimal, QSpinBox] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, value in enumerate(self.count.denominations):
            spin = QSpinBox()
            spin.setRange(0, MAX_PIECES)
            spin.valueChanged.connect(partial(self._set, value))
            self.spins[value] = spin
            column = (i // COUNT_GRID_ROWS) * 2
            grid.addWidget(label(f"€ {money(value)}"), i % COUNT_GRID_ROWS, column)
            grid.addWidget(spin, i % COUNT_GRID_ROWS, column + 1)
        self.total = label("", "subtitle")
        grid.addWidget(self.total, COUNT_GRID_ROWS, 0, 1, -1)
        self._show_total()

    def _set(self, value: Decimal, pieces: int) -> None:
        self.count = self.count.with_count(value, pieces)
        self._show_total()
        self.changed.emit(self.count.total)

    def _show_total(self) -> None:
        self.total.setText(f"Counted in notes and coins: € {money(self.count.total)}")

    def set_pieces(self, value: Decimal, pieces: int) -> None:
        self.spins[value].setValue(pieces)


class DenominationDialog(QDialog):
    """The notes-and-coins grid over the screen; its counts stay for the next opening, and
    every change goes straight into the cash field."""

    def __init__(self, parent: QWidget, grid: DenominationGrid) -> None:
        super().__init__(parent)
        self.setWindowTitle("Count notes and coins")
        layout = QVBoxLayout(self)
        layout.addWidget(label("Count notes and coins", "title"))
        layout.addWidget(grid)
        done = button("Done", self.accept, kind="primary")
        done.setDefault(True)
        layout.addWidget(done)


class CountForm(QWidget):
    """An amount per mode; cash can be counted by denomination. ``changed`` on any edit.
    ``blank`` is what an empty field reads: "0.00" for a float, "not counted" at closing
    (where blank is not 0)."""

    changed = Signal()
    submitted = Signal()  # Enter in a field: done counting

    def __init__(self, blank: str = "0.00") -> None:
        super().__init__()
        self.blank = blank
        self.fields: dict[str, QLineEdit] = {}
        self.cash_mode: str | None = None
        self.grid = DenominationGrid()
        self.grid.changed.connect(self._from_grid)
        self.notes = DenominationDialog(self, self.grid)
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.notes_button = button("Count notes and coins", self._count_notes)

    def set_modes(self, modes: tuple[Mode, ...]) -> None:
        """One field per mode (kept when the modes are the same, so nothing typed is lost)."""
        if [m.name for m in modes] == list(self.fields):
            return
        clear_layout(self._layout, keep=(self.notes_button,))
        self.fields = {}
        self.cash_mode = next((m.name for m in modes if m.is_cash), None)
        for i, mode in enumerate(modes):
            field = QLineEdit()
            field.setPlaceholderText(self.blank)
            field.textChanged.connect(lambda _: self.changed.emit())
            field.returnPressed.connect(self.submitted.emit)
            self.fields[mode.name] = field
            self._layout.addWidget(label(mode.name, "subtitle"), i, 0)
            self._layout.addWidget(field, i, 1)
        n = len(modes)
        if self.cash_mode is not None:
            self._layout.addWidget(self.notes_button, n, 0, 1, 2)

    def _count_notes(self) -> None:
        self.notes.open()  # window-modal: the count goes on where it was when it closes

    def _from_grid(self, total: Decimal) -> None:
        if self.cash_mode is not None:
            self.fields[self.cash_mode].setText(editable(total))

    def focus_first(self) -> None:
        """The keyboard on the first mode's field (when the form shows and none of its
        fields has the keyboard already: a late answer never moves a typing cashier)."""
        first = next(iter(self.fields.values()), None)
        if (first is not None and self.isVisible()
                and not any(f.hasFocus() for f in self.fields.values())):
            first.setFocus()

    def set_amount(self, mode: str, amount: Decimal) -> None:
        self.fields[mode].setText(editable(amount))

    def clear(self) -> None:
        """Every field blank again: the grid is reset first, without telling the cash
        field (a reset grid is no count of 0.00)."""
        was_blocked = self.grid.blockSignals(True)
        try:
            for spin in self.grid.spins.values():
                spin.setValue(0)
        finally:
            self.grid.blockSignals(was_blocked)
        for field in self.fields.values():
            field.clear()

    def texts(self) -> dict[str, str]:
        """What each mode's field says, blank included, in the modes' order."""
        return {mode: field.text() for mode, field in self.fields.items()}

    def amounts(self) -> dict[str, Decimal] | None:
        """Per mode (empty fields are 0), or None when a field is not an amount."""
        out = {}
        for mode, field in self.fields.items():
            text = field.text().strip()
            value = parse_amount(text) if text else ZERO
            if value is None:
                return None
            out[mode] = value
        return out
