"""Promotions at a real till (issue 15, point 5): in a demo store with two Pricing Rules
(milk: buy 2, get 1 free; water: 10 % off), a scanner's second milk brings a free milk
row named after its promotion, the water line names its discount, both readable at the
till's size; touching the free row and pressing F3 (quantity) changes nothing and says
why. A customer's coupon (butter week: 20 % off butter), scanned, shows on the cart and
prices the butter; touching "Remove coupon" takes it off again."""

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
              discount_percentage=10),
         rule("PRLE-0003", "Butter week 20%", "DAI-0003", coupon_code_based=1,
              rate_or_discount="Discount Percentage", discount_percentage=20)]
COUPON = {"name": "Butter week", "coupon_name": "Butter week", "coupon_code": "BUTTER20",
          "coupon_type": "Promotional", "pricing_rule": "PRLE-0003", "maximum_use": 500,
          "used": 0}
BUTTER = "4250100000035"  # DAI-0003, 2.29


def demo_with(nodes: Nodes, docs: list[tuple[str, dict[str, Any]]]) -> NodeProcess:
    """The demo counter, with ``docs`` (doctype, document) pulled before it starts."""
    data_dir = nodes.init()
    log = _open(load(data_dir))
    with log.transaction() as tx:
        for doctype, doc in docs:
            tx.append("master.upserted", upserted_body(doctype, doc, MODIFIED))
    log.engine.dispose()
    return nodes.start(data_dir)


@pytest.fixture(scope="module")
def node(nodes: Nodes) -> NodeProcess:
    """The demo counter, with the rules and the coupon."""
    return demo_with(nodes, [*(("Pricing Rule", doc) for doc in RULES),
                             ("Coupon Code", COUPON)])


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


def test_a_scanned_coupon_prices_its_item_shows_on_the_cart_and_comes_off_by_touch(
        desk: Desk, node: NodeProcess):
    ensure_shift(node)
    desk.login(*CASHIER)
    sell = desk.window.sell
    desk.wait(lambda: sell.cart_id is not None)
    desk.scan(BUTTER)
    desk.wait(lambda: sell.model.view.lines[0].rate == Decimal("2.29"))  # not without it
    assert not sell.coupon_off.isVisible()
    desk.scanner("BUTTER20")  # the coupon's barcode: no line, the coupon
    desk.wait(lambda: sell.model.view.coupon == "BUTTER20 · Butter week 20%")
    assert sell.coupon.isVisible() and sell.coupon.text() == "Coupon: BUTTER20 · Butter week 20%"
    butter = sell.model.view.lines[0]
    assert (len(sell.model.view.lines), butter.rate) == (1, Decimal("1.83"))
    assert butter.described.endswith("· Butter week 20%")
    desk.idle()
    assert_fits(desk.window)
    with client(node, CASHIER) as api:
        assert api.cart_get(str(sell.cart_id))["coupon"]["name"] == "Butter week"
    desk.touch(sell.coupon_off)
    desk.wait(lambda: sell.model.view.coupon == "" and not sell.coupon_off.isVisible())
    assert sell.model.view.lines[0].rate == Decimal("2.29")
    with client(node, CASHIER) as api:
        assert api.cart_get(str(sell.cart_id))["coupon"] is None
