"""A cashier cannot take a cart past the discount limit by changing it after the discount
(real processes). Seen at a real counter: 1.00 off a 10.00 cart is 10 %, within the
limit; lower the quantity or remove a line and the same 1.00 is the whole cart, grand
total 0.00, with no approval asked and nothing in the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import pytest

from tests.clusterkit import cashier, logged_in
from tests.proc import NodeProcess, Nodes, demo_barcodes
from tillmesh.node.api.client import Client
from tillmesh.node.errors import PermissionDenied

pytestmark = pytest.mark.slow

LIMIT = Decimal("0.10")  # the demo cashier's limit: 10 % of the list total
CENT = Decimal("0.01")
SUPERVISOR = {"user": "supervisor", "pin": "2222"}
CASH = [{"mode_of_payment": "Cash", "amount": "1000.00"}]


@pytest.fixture
def counter(nodes: Nodes) -> Iterator[tuple[NodeProcess, Client]]:
    proc = nodes.start(nodes.init())
    with cashier(proc) as client:
        client.shift_open({"Cash": "100"})
        yield proc, client


def listed(view: dict[str, Any]) -> Decimal:
    """The cart at list prices."""
    return sum((Decimal(ln["qty"]) * Decimal(ln["price_list_rate"]) for ln in view["lines"]),
               Decimal(0))


def grand_total(view: dict[str, Any]) -> Decimal:
    return Decimal(view["totals"]["grand_total"])


def within_the_limit(client: Client, *codes: str) -> tuple[str, dict[str, Any]]:
    """A cart of ``codes`` with as much off the invoice, by amount, as the limit allows."""
    cart = client.cart_new()["cart_id"]
    for code in codes:
        view = client.cart_scan(cart, code)
    amount = (listed(view) * LIMIT).quantize(CENT, rounding=ROUND_FLOOR)
    view = client.cart_discount(cart, amount=str(amount))
    assert grand_total(view) == listed(view) - amount
    return cart, view


def discount_audits(proc: NodeProcess) -> list[dict[str, Any]]:
    with logged_in(proc, "supervisor", "2222") as sup:
        return [a for a in sup.call("audit_list") if a["kind"] == "audit.discount"]


def refused(call: Any) -> PermissionDenied:
    """The refusal, as the app sees it: approvable with a supervisor's PIN."""
    with pytest.raises(PermissionDenied) as caught:
        call()
    assert "above your limit of 10%" in caught.value.message
    assert "supervisor" in caught.value.details["approver_roles"]
    return caught.value


def test_lowering_the_quantity_after_an_amount_off_is_refused(
        counter: tuple[NodeProcess, Client]) -> None:
    proc, client = counter
    code = demo_barcodes(1)[0]
    cart, before = within_the_limit(client, code, code)  # one line, qty 2
    refusal = refused(lambda: client.cart_set_qty(cart, 0, "1"))
    assert "of its list total" in refusal.message  # the effective discount, named
    after = client.cart_get(cart)
    assert after == before  # nothing changed
    assert grand_total(after) >= listed(after) * (1 - LIMIT)
    assert discount_audits(proc) == []


def test_removing_a_line_after_an_amount_off_is_refused(
        counter: tuple[NodeProcess, Client]) -> None:
    proc, client = counter
    cart, before = within_the_limit(client, *demo_barcodes(2))
    for line in (0, 1):
        refused(lambda: client.cart_remove(cart, line))  # noqa: B023 (called at once)
    after = client.cart_get(cart)
    assert after == before
    assert grand_total(after) >= listed(after) * (1 - LIMIT)


def halved_with_a_pin(client: Client) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Two of one item with the limit's worth off, then one taken out with a supervisor's
    PIN (the same amount off is now twice the share): the cart, before and after."""
    code = demo_barcodes(1)[0]
    cart, before = within_the_limit(client, code, code)
    return cart, before, client.call("cart_set_qty", cart_id=cart, line=0, qty="1",
                                     approver=SUPERVISOR)


def test_a_supervisors_pin_lets_the_deeper_discount_through_and_is_audited(
        counter: tuple[NodeProcess, Client]) -> None:
    proc, client = counter
    cart, before, view = halved_with_a_pin(client)
    off = Decimal(before["totals"]["discount_amount"])
    assert grand_total(view) == listed(view) - off  # the same amount, now ~20 %
    (audit,) = discount_audits(proc)
    assert (audit["user"], audit["approver"], audit["cart_id"]) == (
        "cashier", "supervisor", cart)
    percent = (off / listed(view) * 100).quantize(Decimal("0.001"))
    assert Decimal(audit["effective_percent"]) == percent
    sale = client.sale_submit(cart, CASH)  # approved: paid without another PIN
    assert Decimal(sale["totals"]["grand_total"]) == grand_total(view)


def test_after_an_approval_a_deeper_discount_needs_a_new_one(
        counter: tuple[NodeProcess, Client]) -> None:
    proc, client = counter
    cart, _, approved = halved_with_a_pin(client)
    refused(lambda: client.cart_line_discount(cart, 0, percent="5"))  # 5 % on top
    assert client.cart_get(cart) == approved
    client.cart_line_discount(cart, 0, percent="5", approver=SUPERVISOR)
    assert len(discount_audits(proc)) == 2


def test_payment_is_refused_for_a_cart_over_the_limit_without_an_approval(
        nodes: Nodes) -> None:
    """The store lowers the cashier's limit to 5 % while a cart with 10 % off waits."""
    data_dir = nodes.init()
    proc = nodes.start(data_dir)
    with cashier(proc) as client:
        client.shift_open({"Cash": "100"})
        cart, view = within_the_limit(client, *demo_barcodes(2))
    proc.stop()
    with (data_dir / "tillmesh.toml").open("a") as config:
        config.write('\n[permissions.cashier]\nmax_discount_percent = "5"\n')
    proc = nodes.start(data_dir)
    with cashier(proc) as client:
        with pytest.raises(PermissionDenied, match="above your limit of 5%") as caught:
            client.sale_submit(cart, CASH)
        assert caught.value.details["approver_roles"][0] == "supervisor"
        assert client.cart_get(cart) == view  # still there, unpaid
        sale = client.call("sale_submit", cart_id=cart, payments=CASH, approver=SUPERVISOR)
    (audit,) = discount_audits(proc)
    assert (audit["approver"], audit["invoice"]) == ("supervisor", sale["invoice"])
