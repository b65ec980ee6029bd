"""Loyalty points at a real till (issue 15, point 5): a member picked with F5 shows their
points beside their name; on the payment screen the cashier types how many points the
member uses, the amount due in money drops by their worth, the rest is paid in cash, and
the node records the points redeemed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from PySide6.QtCore import Qt

from tests.proc import NodeProcess, Nodes
from tests.ui.desk.desk import Desk
from tests.ui.desk.fit import assert_fits
from tests.ui.driver import CASHIER, client, ensure_shift
from tests.ui.test_vat_display import MILK
from tillmesh.node.ops.config import load
from tillmesh.node.ops.provisioning import _open
from tillmesh.node.projections.master_data import upserted_body
from tillmesh.ui.screens.sell_dialogs import CustomerDialog

MODIFIED = "2099-01-01 00:00:00.000000"  # later than the demo's master data
PROGRAM = {"name": "Demo Points", "loyalty_program_name": "Demo Points",
           "company": "Demo Store GmbH", "from_date": "2020-01-01", "conversion_factor": "0.1",
           "expiry_duration": 3650,
           "collection_rules": [{"tier_name": "Member", "min_spent": 0, "collection_factor": 1}]}
MEMBER = {"name": "Mia Member", "customer_name": "Mia Member", "disabled": 0,
          "customer_group": "All Customer Groups", "loyalty_program": "Demo Points"}
POINTS = {"name": "LPE-DEMO-1", "customer": "Mia Member", "loyalty_program": "Demo Points",
          "invoice": "ERP-1", "invoice_type": "POS Invoice", "loyalty_points": 200,
          "purchase_amount": 200, "posting_date": "2026-01-01", "expiry_date": "2099-01-01",
          "company": "Demo Store GmbH"}


@pytest.fixture(scope="module")
def node(nodes: Nodes) -> NodeProcess:
    """The demo counter, with a loyalty program and a member of 200 points pulled."""
    data_dir = nodes.init()
    log = _open(load(data_dir))
    with log.transaction() as tx:
        for doctype, doc in (("Loyalty Program", PROGRAM), ("Customer", MEMBER),
                             ("Loyalty Point Entry", POINTS)):
            tx.append("master.upserted", upserted_body(doctype, doc, MODIFIED))
    log.engine.dispose()
    return nodes.start(data_dir)


def test_a_member_pays_part_in_points_and_the_rest_in_cash(desk: Desk, node: NodeProcess):
    ensure_shift(node)
    desk.login(*CASHIER)
    sell = desk.window.sell
    desk.wait(lambda: sell.cart_id is not None)
    for _ in range(5):
        desk.scan(MILK) if not sell.model.view.lines else desk.scanner(MILK)
    desk.wait(lambda: sell.model.view.lines[0].qty == 5)
    desk.key(Qt.Key.Key_F5)
    dialog = desk.dialog(CustomerDialog)
    desk.type_into(dialog.search, "Mia")  # once the dialog has the keyboard
    desk.wait(lambda: dialog.search.text() == "Mia" and "Mia Member" in dialog.names)
    dialog.results.setCurrentRow(dialog.names.index("Mia Member"))
    desk.touch(dialog.ok)
    desk.wait(lambda: sell.customer.text() == "Customer: Mia Member  ·  200 points")
    due = sell.model.view.due
    desk.key(Qt.Key.Key_F10)
    payment = desk.window.payment
    desk.wait(lambda: desk.screen == "payment" and payment.points_row.isVisible())
    assert payment.points_label.text() == "Points (200)"
    desk.type_into(payment.points_field, "20")  # 2.00
    desk.wait(lambda: payment.payment.points == 20)
    assert payment.points_label.text().endswith(": −€2.00") or ": −" in (
        payment.points_label.text())  # the store's currency symbol
    assert payment.due.text().replace("€", "").strip().endswith(str(due - Decimal("2.00")))
    desk.idle()
    assert_fits(desk.window)
    desk.touch(next(b for b in payment.modes_box.findChildren(type(payment.pay_button))
                    if b.text() == "Rest"))  # the first mode, cash, pays the rest
    desk.wait(lambda: payment.payment.ready)
    assert payment.payment.amount("Cash") == due - Decimal("2.00")
    desk.key(Qt.Key.Key_F10)
    desk.wait(lambda: payment.sale is not None)
    with client(node, CASHIER) as api:
        sold = api.invoice_get(payment.sale["invoice"])
    assert (sold["loyalty_points"], Decimal(sold["loyalty_amount"])) == (20, Decimal("2.00"))
    assert Decimal(sold["totals"]["paid_amount"]) == due
