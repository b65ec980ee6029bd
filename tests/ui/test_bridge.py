"""The bridge drops an answer whose widget Qt has deleted meanwhile, instead of crashing."""

from __future__ import annotations

from PySide6.QtWidgets import QListWidget

from tillmesh.ui.bridge import _alive


class Results(QListWidget):
    def show_rows(self, rows: list[str]) -> None:
        self.addItems(rows)


def test_an_answer_for_a_closed_dialog_has_nowhere_to_go(qtbot):
    results = Results()
    assert _alive(results.show_rows) and _alive(lambda rows: None)
    results.deleteLater()
    qtbot.waitUntil(lambda: not _alive(results.show_rows), timeout=2000)
