"""A return the sale's counter cannot confirm, through the real widgets: two real
counters, C01 sells, and the app on C02 returns it while C02 is cut off. The cashier
reads the risk in words and a supervisor accepts it with their PIN; a supervisor at the
till confirms it themselves. Either way the return is recorded flagged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from tests.clusterkit import converge, invite, join
from tests.proc import NodeProcess, Nodes, demo_barcodes, network, sell_one
from tests.ui.driver import ADMIN, CASHIER, SUPERVISOR, App, client, ensure_shift
from tillmesh.ui.screens.dialogs import RISK_NOTE, ApproverDialog, RiskDialog


@pytest.fixture(scope="module")
def counters(nodes: Nodes) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    """C01, which makes the sales, and C02, where the app runs, cut off from C01."""
    owner = nodes.start(nodes.init(*network(), node="C01"))
    here = nodes.start(join(nodes, invite(owner), "C02"))
    for proc in (owner, here):
        ensure_shift(proc)
    with client(here, ADMIN) as api:
        api.call("replication_pause", paused=True)
    yield owner, here


def sold_at(owner: NodeProcess, here: NodeProcess) -> str:
    """A sale of C01 that C02 holds (C02 is let back in just long enough to get it)."""
    with client(owner, CASHIER) as api:
        invoice = str(sell_one(api, demo_barcodes(1)[0])["invoice"])
    with client(here, ADMIN) as api:
        api.call("replication_pause", paused=False)
        converge([owner, here])
        api.call("replication_pause", paused=True)
    return invoice


def ask_for_return(open_app: Any, counters: tuple[NodeProcess, NodeProcess],
                   user: tuple[str, str]) -> tuple[App, str]:
    """``user`` at C02's app asks to return one unit of a new sale of C01's."""
    owner, here = counters
    invoice = sold_at(owner, here)
    app = open_app(here.endpoint)
    app.login(*user)
    returns = app.window.returns
    app.key(Qt.Key.Key_F8)
    app.wait(lambda: app.screen == "returns")
    app.type_enter(returns.find_field, invoice)
    app.wait(lambda: returns.invoice is not None and returns.invoice.number == invoice)
    returns.qty_fields[returns.invoice.lines[0].row].setText("1")
    app.qtbot.mouseClick(returns.return_button, Qt.MouseButton.LeftButton)
    return app, invoice


def refunded(app: App) -> None:
    app.wait(lambda: app.window.returns.result.text().startswith("€"))


def texts(dialog: Any) -> str:
    return "\n".join(label.text() for label in dialog.findChildren(QLabel))


def recorded(here: NodeProcess, invoice: str) -> dict[str, Any]:
    """The return of ``invoice`` the node recorded, as a supervisor reads it."""
    with client(here, SUPERVISOR) as api:
        (flag,) = [u for u in api.returns_flagged()["unconfirmed"]
                   if u["return_against"] == invoice]
        return dict(api.invoice_get(flag["invoice"]))


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
