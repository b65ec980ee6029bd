"""A promotion on the whole sale at a real till (issue 15): in a demo store whose basket
promotion gives 5 % off a sale from 5.00 (ERPNext's Pricing Rule on the transaction),
milk scanned five times brings the sale past 5.00 and the cart's summary names the
promotion beside the discount, readable at the till's size; the cashier's own invoice
discount is replaced by the promotion's, as ERPNext replaces it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.proc import NodeProcess, Nodes
from tests.ui.desk.desk import Desk
from tests.ui.desk.fit import assert_fits
from tests.ui.desk.test_promotions_desk import demo_with
from tests.ui.driver import CASHIER, client, ensure_shift
from tests.ui.test_vat_display import MILK

BASKET = {"name": "PRLE-0101", "title": "Basket 5%", "apply_on": "Transaction", "selling": 1,
          "price_or_product_discount": "Price", "currency": "EUR", "min_amt": 5,
          "rate_or_discount": "Discount Percentage", "discount_percentage": 5,
          "apply_discount_on": "Grand Total", "items": [], "item_groups": [], "brands": []}


@pytest.fixture(scope="module")
def node(nodes: Nodes) -> NodeProcess:
    """The demo counter, with the basket promotion."""
    return demo_with(nodes, [("Pricing Rule", BASKET)])


def test_a_promotion_on_the_whole_sale_shows_beside_its_discount(desk: Desk,
                                                                 node: NodeProcess):
    ensure_shift(node)
    desk.login(*CASHIER)
    sell = desk.window.sell
    desk.wait(lambda: sell.cart_id is not None)
    desk.scan(MILK)  # 1.09: below 5.00, no discount
    desk.wait(lambda: sell.model.view.total == Decimal("1.09"))
    assert "Discount" not in sell.summary.text()
    for _ in range(4):
        desk.scanner(MILK)
    desk.wait(lambda: sell.model.view.total == Decimal("5.45"))
    assert sell.model.view.discount == Decimal("0.27")  # 5 % of 5.45
    assert "Discount · Basket 5%" in sell.summary.text()
    assert sell.model.view.due == Decimal("5.18")
    desk.idle()
    assert_fits(desk.window)
    with client(node, CASHIER) as api:
        cart = api.cart_get(str(sell.cart_id))
        assert cart["invoice_promotions"] == ["Basket 5%"]
        # the cashier's 3 % gives way to the promotion's 5 %, as in ERPNext
        after = api.cart_discount(str(sell.cart_id), percent="3")
    assert (Decimal(after["totals"]["additional_discount_percentage"]), after["due"]) == (
        5, "5.18")
