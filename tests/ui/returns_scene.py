"""A return the sale's counter cannot confirm: two real counters, C01 sells, and the app
on C02 returns it while C02 is cut off from C01 (its replication paused). Shared by the
offscreen tests and the real-X ones (tests/ui/desk)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from tests.clusterkit import converge, invite, join
from tests.proc import NodeProcess, Nodes, demo_barcodes, network, sell_one
from tests.ui.driver import ADMIN, CASHIER, SUPERVISOR, App, client, ensure_shift


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
    let_in(owner, here)
    return invoice


def let_in(owner: NodeProcess, here: NodeProcess) -> None:
    """C02 catches up with C01, and is cut off again."""
    with client(here, ADMIN) as api:
        api.call("replication_pause", paused=False)
        converge([owner, here])
        api.call("replication_pause", paused=True)


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
    app.type_into(returns.qty_fields[returns.invoice.lines[0].row], "1")
    app.touch(returns.return_button)
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


def late_sale(owner: NodeProcess, here: NodeProcess) -> str:
    """A sale C01 makes after a supervisor at C02 closed C01's shift, which C01 had not
    heard yet: C02 holds it as late, to be reconciled. C01's shift is open again after."""
    let_in(owner, here)
    with client(here, SUPERVISOR) as api:
        (shift,) = [s["shift"] for s in api.shift_list("open") if s["counter"] == "C01"]
        api.shift_close(shift, {"Cash": "0", "Card": "0"})
    with client(owner, CASHIER) as api:
        invoice = str(sell_one(api, demo_barcodes(1)[0])["invoice"])
    let_in(owner, here)
    ensure_shift(owner)
    return invoice
