"""Batches and serial numbers at a real till (issue 15, points 4 and 5): a scanned cough
syrup sells from the batch that expires first, its line naming the batch and its
best-before date; touching "Batch" offers the other batches (never the expired one) and
the cashier picks the one in the customer's hand. A scanned phone asks for its serial
number; the scanner reads it off the unit's label into the dialog and the line names it.
Both readable at the till's size."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.proc import NodeProcess, Nodes
from tests.ui.desk.desk import Desk
from tests.ui.desk.fit import assert_fits
from tests.ui.driver import CASHIER, ensure_shift
from tillmesh.lab.demo_data import WAREHOUSE
from tillmesh.node.ops.config import load
from tillmesh.node.ops.provisioning import _open
from tillmesh.node.projections.master_data import upserted_body
from tillmesh.node.projections.stock import BASE, base_body
from tillmesh.node.projections.stock_keys import batch_key, serial_key
from tillmesh.ui.screens.dialogs import ChoiceDialog, EntryDialog

MODIFIED = "2099-01-01 00:00:00.000000"  # later than the demo's master data
SYRUP, PHONE = "4000000000105", "4000000000112"


def item(code: str, name: str, barcode: str, **tracked: int) -> dict[str, Any]:
    return {"name": code, "item_code": code, "item_name": name, "item_group": "All Item Groups",
            "stock_uom": "Nos", "disabled": 0, "is_stock_item": 1, **tracked,
            "barcodes": [{"barcode": barcode, "barcode_type": "EAN"}],
            "uoms": [{"uom": "Nos", "conversion_factor": 1}]}


STORE: list[tuple[str, dict[str, Any]]] = [
    ("Item", item("SYRUP", "Cough Syrup 100 ml", SYRUP, has_batch_no=1)),
    ("Item", item("PHONE", "Phone X1", PHONE, has_serial_no=1)),
    ("Item Price", {"name": "SYRUP-P", "item_code": "SYRUP", "price_list": "Standard Selling",
                    "uom": "Nos", "price_list_rate": 4.5, "selling": 1}),
    ("Item Price", {"name": "PHONE-P", "item_code": "PHONE", "price_list": "Standard Selling",
                    "uom": "Nos", "price_list_rate": 199, "selling": 1}),
    ("Batch", {"name": "SY-OLD", "item": "SYRUP", "expiry_date": "2020-01-31"}),
    ("Batch", {"name": "SY-0924", "item": "SYRUP", "expiry_date": "2098-09-30"}),
    ("Batch", {"name": "SY-1299", "item": "SYRUP", "expiry_date": "2099-12-31"}),
    ("Serial No", {"name": "PX1-000417", "item_code": "PHONE"}),
]
HELD = {key: Decimal(qty) for key, qty in (
    ("SYRUP", 30), (batch_key("SY-OLD"), 5), (batch_key("SY-0924"), 5),
    (batch_key("SY-1299"), 20), ("PHONE", 1), (serial_key("PX1-000417"), 1))}


@pytest.fixture(scope="module")
def node(nodes: Nodes) -> NodeProcess:
    """The demo counter, with the syrup's batches, the phone's serial number and what the
    warehouse holds of each pulled before it starts."""
    data_dir = nodes.init()
    log = _open(load(data_dir))
    with log.transaction() as tx:
        for doctype, doc in STORE:
            tx.append("master.upserted", upserted_body(doctype, doc, MODIFIED))
        tx.append(BASE, base_body(WAREHOUSE, HELD, [],
                                  "2026-12-05T08:00:00+00:00"))
    log.engine.dispose()
    return nodes.start(data_dir)


def test_a_batch_is_picked_first_expiry_first_and_another_chosen_by_touch(
        desk: Desk, node: NodeProcess) -> None:
    ensure_shift(node)
    desk.login(*CASHIER)
    sell = desk.window.sell
    desk.wait(lambda: sell.cart_id is not None)
    desk.scan(SYRUP)
    line = sell.model.view.lines[0]
    assert (line.batch_no, line.described) == (
        "SY-0924", "Cough Syrup 100 ml · batch SY-0924, best before 30.09.2098")
    desk.wait(lambda: sell.selected_row() == 0)
    desk.touch(next(b for b in sell.findChildren(type(sell.pay_button))
                    if b.text() == "Batch"))
    dialog = desk.dialog(ChoiceDialog)
    assert dialog.values == ["SY-1299"]  # not the expired one, nor the one it sells from
    desk.press("Return")
    desk.wait(lambda: sell.model.view.lines[0].batch_no == "SY-1299")
    assert_fits(sell.table)


def test_a_phone_asks_for_its_serial_number_which_the_scanner_reads_into_the_dialog(
        desk: Desk, node: NodeProcess) -> None:
    desk.login(*CASHIER)
    sell = desk.window.sell
    desk.wait(lambda: sell.cart_id is not None)
    lines = len(sell.model.view.lines)
    desk.wait(lambda: sell.scan_field.hasFocus())
    desk.scanner(PHONE)
    dialog = desk.dialog(EntryDialog)
    assert dialog.objectName() == "serialDialog"
    desk.wait(lambda: dialog.field.hasFocus())
    desk.scanner("PX1-000417")  # the unit's label
    desk.wait(lambda: len(sell.model.view.lines) == lines + 1)
    line = sell.model.view.lines[-1]
    assert (line.serial_no, line.qty, line.described) == (
        "PX1-000417", 1, "Phone X1 · S/N PX1-000417")
    assert_fits(sell.table)
