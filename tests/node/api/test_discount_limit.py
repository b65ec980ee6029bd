"""The role's discount limit holds for the cart as every change leaves it (in process).

Seen at a real counter: 1.00 off a 10.00 cart (10 %), then the quantity lowered or a
line removed, and the same 1.00 was the whole cart, with no approval and no audit.
"""

from __future__ import annotations

import pytest

from tests.nodekit import Till, approver
from tillmesh.node.errors import PermissionDenied
from tillmesh.node.store import cart_store

CASH = [{"mode_of_payment": "Cash", "amount": "100.00"}]


def discounted(ann: Till, *items: tuple[str, str], amount: str) -> str:
    """A cart of ``items`` (code, qty) with ``amount`` off the invoice."""
    cart = ann("cart_new")["cart_id"]
    for code, qty in items:
        ann("cart_add", cart_id=cart, item_code=code, qty=qty)
    ann("cart_discount", cart_id=cart, amount=amount)
    return cart


def discount_audits(node):
    return [a for a in Till(node, "sup")("audit_list") if a["kind"] == "audit.discount"]


def test_lowering_the_quantity_under_an_amount_off_needs_a_supervisor(node, ann):
    cart = discounted(ann, ("WINE", "2"), amount="3.99")  # 3.99 off 39.98: 9.98 %
    with pytest.raises(PermissionDenied) as refused:
        ann("cart_set_qty", cart_id=cart, line=0, qty="1")  # 3.99 off 19.99: 19.96 %
    assert refused.value.message == (
        "The cart's discounts come to 19.96% of its list total (3.99 off 19.99). Discount "
        "of 19.96% is above your limit of 10%: a supervisor PIN is needed")
    assert refused.value.details["approver_roles"] == ["supervisor", "admin"]
    assert ann("cart_get", cart_id=cart)["totals"]["grand_total"] == "35.99"  # unchanged
    assert discount_audits(node) == []

    view = ann("cart_set_qty", cart_id=cart, line=0, qty="1", approver=approver("sup"))
    assert view["totals"]["grand_total"] == "16.00"
    (audit,) = discount_audits(node)
    assert (audit["user"], audit["approver"], audit["effective_percent"], audit["off"],
            audit["list_total"]) == ("ann", "sup", "19.960", "3.99", "19.99")
    assert len(audit["digest"]) == 64


def test_removing_a_line_under_an_amount_off_needs_a_supervisor(ann):
    cart = discounted(ann, ("WINE", "1"), ("BOOK", "1"), amount="3.29")  # of 32.94
    with pytest.raises(PermissionDenied, match="25.405% of its list total"):
        ann("cart_remove", cart_id=cart, line=0)
    assert len(ann("cart_get", cart_id=cart)["lines"]) == 2
    view = ann("cart_remove", cart_id=cart, line=0, approver=approver("sup"))
    assert view["totals"]["grand_total"] == "9.66"


def test_an_approval_covers_the_cart_it_approved_but_not_a_deeper_discount(node, ann):
    cart = discounted(ann, ("WINE", "2"), amount="3.99")
    ann("cart_set_qty", cart_id=cart, line=0, qty="1", approver=approver("sup"))
    ann("cart_hold", cart_id=cart, note="back soon")  # the same cart: no PIN
    ann("cart_resume", cart_id=cart)
    ann("cart_add", cart_id=cart, item_code="BOOK")  # 3.99 off 32.94: less than approved
    ann("cart_remove", cart_id=cart, line=1)  # back to what was approved
    with pytest.raises(PermissionDenied, match="above your limit of 10%"):
        ann("cart_line_discount", cart_id=cart, line=0, percent="5")  # 5 % on top
    with pytest.raises(PermissionDenied, match="above your limit of 10%"):
        ann("cart_discount", cart_id=cart, amount="4.99")
    ann("cart_line_discount", cart_id=cart, line=0, percent="5", approver=approver("sup"))
    assert [a["effective_percent"] for a in discount_audits(node)] == ["24.961", "19.960"]
    sale = ann("sale_submit", cart_id=cart, payments=CASH)  # approved: no PIN to pay
    assert sale["totals"]["grand_total"] == "15.00"


def test_a_supervisors_own_discount_is_paid_at_a_cashiers_till(node, ann):
    sup = Till(node, "sup")
    cart = discounted(sup, ("WINE", "1"), amount="5.99")  # 30 %, within a supervisor's 50
    assert ann("sale_submit", cart_id=cart, payments=CASH)["totals"]["grand_total"] == "14.00"
    assert discount_audits(node) == []  # nobody approved anything


def test_payment_for_a_cart_over_the_limit_without_an_approval_is_refused(node, ann):
    cart = discounted(ann, ("WINE", "2"), amount="3.99")
    with node.write() as tx:  # as a cart of an older release could hold it
        held = cart_store.load(tx.session, cart)
        cart_store.save(tx.session, held.set_qty(0, held.lines[0].qty / 2), node.clock())
    with pytest.raises(PermissionDenied, match="19.96% of its list total"):
        ann("sale_submit", cart_id=cart, payments=CASH)
    sale = ann("sale_submit", cart_id=cart, payments=CASH, approver=approver("sup"))
    (audit,) = discount_audits(node)
    assert (audit["approver"], audit["invoice"]) == ("sup", sale["invoice"])


def test_a_price_override_counts_as_a_discount(node, ann):
    cart = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=cart, item_code="WINE")
    with pytest.raises(PermissionDenied, match="A supervisor cannot approve this"):
        ann("cart_set_rate", cart_id=cart, line=0, rate="9.99", approver=approver("sup"))
    view = ann("cart_set_rate", cart_id=cart, line=0, rate="10.99", approver=approver("sup"))
    assert view["totals"]["grand_total"] == "10.99"  # 45 % off: the supervisor approved both
    kinds = [a["kind"] for a in Till(node, "sup")("audit_list")]
    assert kinds.count("audit.discount") == kinds.count("audit.price_override") == 1
