"""Counting money into or out of a drawer: an amount per mode of payment, and for cash
optionally a count by EUR notes and coins (the grid fills the cash amount)."""

from __future__ import annotations

from decimal import Decimal
from functools import partial

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QLineEdit, QSpinBox, QWidget

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


class CountForm(QWidget):
    """An amount per mode; cash can be counted by denomination. ``changed`` on any edit."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, QLineEdit] = {}
        self.cash_mode: str | None = None
        self.grid = DenominationGrid()
        self.grid.changed.connect(self._from_grid)
        self.grid.hide()
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._toggle = button("Count notes and coins", self._toggle_grid)

    def set_modes(self, modes: tuple[Mode, ...]) -> None:
        """One field per mode (kept when the modes are the same, so nothing typed is lost)."""
        if [m.name for m in modes] == list(self.fields):
            return
        clear_layout(self._layout, keep=(self._toggle, self.grid))
        self.fields = {}
        self.cash_mode = next((m.name for m in modes if m.is_cash), None)
        for i, mode in enumerate(modes):
            field = QLineEdit()
            field.setPlaceholderText("0.00")
            field.textChanged.connect(lambda _: self.changed.emit())
            self.fields[mode.name] = field
            self._layout.addWidget(label(mode.name, "subtitle"), i, 0)
            self._layout.addWidget(field, i, 1)
        n = len(modes)
        if self.cash_mode is not None:
            self._layout.addWidget(self._toggle, n, 0, 1, 2)
            self._layout.addWidget(self.grid, n + 1, 0, 1, 2)

    def _toggle_grid(self) -> None:
        self.grid.setVisible(not self.grid.isVisible())

    def _from_grid(self, total: Decimal) -> None:
        if self.cash_mode is not None:
            self.fields[self.cash_mode].setText(editable(total))

    def set_amount(self, mode: str, amount: Decimal) -> None:
        self.fields[mode].setText(editable(amount))

    def clear(self) -> None:
        for field in self.fields.values():
            field.clear()
        for spin in self.grid.spins.values():
            spin.setValue(0)

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
