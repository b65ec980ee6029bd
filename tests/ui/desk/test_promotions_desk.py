"""Promotions at a real till (issue 15, point 5): in a demo store with two Pricing Rules
(milk: buy 2, get 1 free; water: 10 % off), a scanner's second milk brings a free milk
row named after its promotion, the water line names its discount, both readable at the
till's size; touching the free row and pressing F3 (quantity) changes nothing and says
why."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from PySide6.QtCore import Qt

from tests.proc import NodeProcess, Nodes
from tests.ui.desk.desk import Desk
from tests.ui.desk.fit import assert_fits
from tests.ui.driver import CASHIER, client, ensure_shift
from tests.ui.test_vat_display import MILK, WATER
from tillmesh.node.ops.config import load
from tillmesh.node.ops.provisioning import _open
from tillmesh.node.projections.master_data import upserted_body

MODIFIED = "2099-01-01 00:00:00.000000"  # later than the demo's master data


def rule(name: str, title: str, item: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "title": title, "apply_on": "Item Code", "selling": 1,
            "price_or_product_discount": "Price", "currency": "EUR",
            "items": [{"item_code": item}], "item_groups": [], "brands": [], **fields}


RULES = [rule("PRLE-0001", "Milk 2+1", "DAI-0001", price_or_product_discount="Product",
              same_item=1, min_qty=2, free_qty=1),
         rule("PRLE-0002", "Water 10%", "BEV-0002", rate_or_discount="Discount Percentage",
              discount_percentage=10)]


@pytest.fixture(scope="module")
def node(nodes: Nodes) -> NodeProcess:
    """The demo counter, with the two rules pulled before it starts."""
    data_dir = nodes.init()
    log = _open(load(data_dir))
    with log.transaction() as tx:
        for doc in RULES:
            tx.append("master.upserted", upserted_body("Pricing Rule", doc, MODIFIED))
    log.engine.dispose()
    return nodes.start(data_dir)


def test_promotions_show_on_their_lines_and_a_free_row_is_not_edited(desk: Desk,
                                                                      node: NodeProcess):
    ensure_shift(node)
    desk.login(*CASHIER)
    sell = desk.window.sell
    desk.wait(lambda: sell.cart_id is not None)
    desk.scan(WATER)
    desk.scan(MILK)
    desk.scanner(MILK)  # the second milk: the same line, and a free row after it
    desk.wait(lambda: [ln.free for ln in sell.model.view.lines] == [False, False, True])
    names = [ln.described for ln in sell.model.view.lines]
    assert names[0].endswith("· Water 10%") and names[2].endswith("· Milk 2+1")
    free = sell.model.view.lines[2]
    assert (free.qty, free.amount) == (1, 0)

    row = sell.table.visualRect(sell.model.index(2, 0))
    desk.touch_at(sell.table.viewport().mapToGlobal(row.center()))
    desk.wait(lambda: sell.selected_row() == 2)
    desk.key(Qt.Key.Key_F3)
    banner = desk.window.message
    desk.wait(lambda: banner.isVisible() and "free by a promotion" in banner.text())
    with client(node, CASHIER) as api:
        lines = api.cart_get(str(sell.cart_id))["lines"]
    assert [(ln["item_code"], Decimal(ln["qty"]), ln["is_free_item"]) for ln in lines] == [
        ("BEV-0002", 1, False), ("DAI-0001", 2, False), ("DAI-0001", 1, True)]
    desk.idle()
    assert_fits(desk.window)
