"""A return the sale's counter cannot confirm, through the real widgets: two real
counters, C01 sells, and the app on C02 returns it while C02 is cut off. The cashier
reads the risk in words and a supervisor accepts it with their PIN; a supervisor at the
till confirms it themselves. Either way the return is recorded flagged."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.ui.driver import CASHIER, SUPERVISOR, client
from tests.ui.returns_scene import (
    ask_for_return,
    recorded,
    refunded,
    texts,
)
from tillmesh.ui.screens.dialogs import RISK_NOTE, ApproverDialog, RiskDialog


def test_a_cashier_reads_the_risk_and_a_supervisor_accepts_it(open_app, counters):
    app, invoice = ask_for_return(open_app, counters, CASHIER)
    dialog = app.dialog(ApproverDialog)  # one prompt: the risk and the PIN together
    said = texts(dialog)
    assert dialog.windowTitle() == "Supervisor: accept the risk?"
    assert f"C01 made sale {invoice} and cannot confirm this return" in said
    assert "risks paying it back twice" in said and RISK_NOTE in said
    app.approve(*SUPERVISOR)
    refunded(app)
    here = counters[1]
    got = recorded(here, invoice)
    assert got["unconfirmed"].startswith("C01 could not confirm: this counter is cut off")
    with client(here, SUPERVISOR) as api:
        (risk,) = [a for a in api.audit_list() if a["kind"] == "audit.return_unconfirmed"
                   and a["return_against"] == invoice]
    assert risk["approver"] == "supervisor" and risk["user"] == "cashier"


def test_a_supervisor_at_the_till_confirms_the_risk_themselves(open_app, counters):
    app, invoice = ask_for_return(open_app, counters, SUPERVISOR)
    dialog = app.dialog(RiskDialog)
    assert f"C01 made sale {invoice}" in texts(dialog)
    app.qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
    refunded(app)
    got = recorded(counters[1], invoice)
    assert got["unconfirmed"]
    status = app.window.status  # the store status lists it for supervisors
    app.window.show_screen("status")
    app.wait(lambda: got["invoice"] in [status.reviews.item(r, 0).text()
                                        for r in range(status.reviews.rowCount())])
