"""The customer display's methods (in process): the tender the cashier types, which the node
keeps in memory for the display, and the paid amount and change the display then shows,
to the cent what the sale will book."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.nodekit import FakeClock, Till, approver, make_node, run_now
from tillmesh.node.api import Node
from tillmesh.node.api.const import MAX_TENDER_DRAFTS
from tillmesh.node.errors import NotFoundError, PaymentError, SessionExpired, ValidationError
from tillmesh.ui.models.payment import Mode, Payment

WINE, BOOK = "4000000000044", "4000000000082"  # 19.99 and 12.95 in the test catalog
MODES = (Mode("Cash", True), Mode("Card", False))


def _display(node: Node, since: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = run_now(node.call("customer_display", {"since": since}))
    return answer


def _cash(amount: str) -> list[dict[str, str]]:
    return [{"mode_of_payment": "Cash", "amount": amount}]


def _cart(till: Till, *codes: str) -> str:
    cart: str = till("cart_new")["cart_id"]
    for code in codes:
        till("cart_scan", cart_id=cart, code=code)
    return cart


def test_the_display_shows_what_is_typed_before_the_sale_and_the_sale_books_it(node, ann):
    cart = _cart(ann, WINE, BOOK)  # 32.94
    before = _display(node)
    assert (before["total"], before["paid"], before["change"]) == ("32.94", None, None)
    assert ann("cart_tender_draft", cart_id=cart, payments=_cash("50")) == {"paid": "50"}
    typed = _display(node, before["version"])
    assert (typed["total"], typed["paid"], typed["change"]) == ("32.94", "50.00", "17.06")
    assert _display(node, typed["version"]) == {"version": typed["version"], "unchanged": True}
    sale = ann("sale_submit", cart_id=cart, payments=_cash("50"))
    paid = _display(node, typed["version"])
    assert paid["sale"]["change"] == sale["change"] == typed["change"]
    assert paid["paid"] is None and len(node.tender_drafts) == 0  # sold: the draft is gone


def test_a_draft_needs_a_logged_in_session_and_an_open_cart(node, ann):
    cart = _cart(ann, WINE)
    draft = {"cart_id": cart, "payments": _cash("20")}
    for token in (None, "not-a-session"):
        with pytest.raises(SessionExpired):
            node.call("cart_tender_draft", draft, token)
    bob = Till(node, "bob")
    bob("lock")
    with pytest.raises(SessionExpired):  # a locked till types nothing for the customer
        bob("cart_tender_draft", **draft)
    assert len(node.tender_drafts) == 0 and _display(node)["paid"] is None
    with pytest.raises(NotFoundError):
        ann("cart_tender_draft", cart_id="f" * 16, payments=_cash("20"))
    ann("cart_hold", cart_id=cart)
    with pytest.raises(ValidationError, match="held"):
        ann("cart_tender_draft", **draft)
    assert len(node.tender_drafts) == 0


@pytest.mark.parametrize("payments, refused", [
    (_cash("20.001"), ValidationError),  # not an amount of money
    (_cash("-5"), ValidationError),
    ([{"mode_of_payment": "Cheque", "amount": "20"}], PaymentError),  # not in the profile
    ([{"mode_of_payment": "Cash", "amount": "20", "card": "1234"}], ValidationError),
    ("20", ValidationError),
])
def test_a_draft_the_sale_would_refuse_is_refused_and_the_last_one_stays(node, ann, payments,
                                                                         refused):
    cart = _cart(ann, WINE)
    ann("cart_tender_draft", cart_id=cart, payments=_cash("20"))
    with pytest.raises(refused):
        ann("cart_tender_draft", cart_id=cart, payments=payments)
    assert _display(node)["paid"] == "20.00"


def test_a_draft_is_never_recorded_and_goes_with_a_void_a_hold_and_a_change(node, ann):
    cart = _cart(ann, WINE)
    events = node.log.vector()
    for amount in ("2", "20", "20.5"):  # typing "20.5": one draft after another
        ann("cart_tender_draft", cart_id=cart, payments=_cash(amount))
    assert node.log.vector() == events  # nothing happened yet: no event
    assert _display(node)["paid"] == "20.50" and len(node.tender_drafts) == 1
    ann("cart_tender_draft", cart_id=cart, payments=[])  # the cashier cleared the field
    assert _display(node)["paid"] is None and len(node.tender_drafts) == 0

    for gone in ({"method": "cart_scan", "code": BOOK},  # another item: another total
                 {"method": "cart_hold"},
                 {"method": "cart_void", "approver": approver("sup")}):
        cart = _cart(ann, WINE)
        ann("cart_tender_draft", cart_id=cart, payments=_cash("50"))
        assert _display(node)["paid"] == "50.00"
        ann(gone.pop("method"), cart_id=cart, **gone)
        assert len(node.tender_drafts) == 0, gone
        assert _display(node)["paid"] is None


def test_a_tender_the_sale_would_refuse_shows_what_is_paid_and_no_change(node, ann):
    cart = _cart(ann, WINE)  # 19.99
    card = [{"mode_of_payment": "Card", "amount": "200"}]
    ann("cart_tender_draft", cart_id=cart, payments=card)
    shown = _display(node)
    assert (shown["paid"], shown["change"]) == ("200.00", None)  # not 180.01 from a card
    with pytest.raises(PaymentError, match="change can only be given in cash"):
        ann("sale_submit", cart_id=cart, payments=card)
    ann("cart_tender_draft", cart_id=cart, payments=_cash("10"))  # short of the due
    shown = _display(node)
    assert (shown["paid"], shown["change"]) == ("10.00", None)


@pytest.mark.parametrize("leave", ["lock", "logout"])
def test_a_till_that_locks_or_logs_out_takes_its_tender_off_the_display(node, ann, leave):
    cart = _cart(ann, WINE)
    ann("cart_tender_draft", cart_id=cart, payments=_cash("50"))
    typed = _display(node)
    assert (typed["paid"], typed["change"]) == ("50.00", "30.01")
    bob = Till(node, "bob")
    bob(leave)  # another session's: ann's tender stays
    assert _display(node)["paid"] == "50.00"
    ann(leave)
    assert len(node.tender_drafts) == 0  # gone at once, not kept for a session nobody pays in
    gone = _display(node, typed["version"])
    assert (gone["paid"], gone["change"]) == (None, None) and gone["total"] == "19.99"


def test_a_till_left_idle_shows_no_tender_though_it_never_called_again(tmp_path):
    clock = FakeClock()
    node = make_node(tmp_path, clock=clock)
    ann = Till(node, "ann")
    ann("shift_open", opening={"Cash": "100.00"})
    cart = _cart(ann, WINE)
    ann("cart_tender_draft", cart_id=cart, payments=_cash("50"))
    typed = _display(node)
    clock.advance(minutes=node.config.idle_lock_minutes + 1)  # the app stopped, say
    idle = _display(node, typed["version"])
    assert (idle["paid"], idle["change"]) == (None, None) and len(node.tender_drafts) == 0
    with pytest.raises(SessionExpired) as locked:  # the till still learns why, as before
        ann("cart_get", cart_id=cart)
    assert locked.value.details["reason"] == "idle"


def test_drafts_are_one_per_cart_and_only_the_newest_few_carts_keep_one(node, ann):
    carts = [_cart(ann, BOOK) for _ in range(MAX_TENDER_DRAFTS + 3)]
    for amount in ("10", "20", "30"):
        ann("cart_tender_draft", cart_id=carts[0], payments=_cash(amount))
    assert len(node.tender_drafts) == 1
    for cart in carts[1:]:
        ann("cart_tender_draft", cart_id=cart, payments=_cash("20"))
    assert len(node.tender_drafts) == MAX_TENDER_DRAFTS  # bounded: an app may stop mid-payment
    assert node.tender_drafts.get(carts[0]) == ()  # the oldest forgotten first
    assert node.tender_drafts.get(carts[-1])
    assert _display(node)["paid"] == "20.00"  # the newest cart, the one at the till


def test_only_the_cart_at_the_till_shows_its_draft(node, ann):
    first = _cart(ann, WINE)
    ann("cart_tender_draft", cart_id=first, payments=_cash("50"))
    _cart(ann, BOOK)  # another cart saved after it: that one is at the till
    shown = _display(node)
    assert shown["total"] == "12.95" and shown["paid"] is None


@pytest.fixture(scope="module")
def till(tmp_path_factory: pytest.TempPathFactory) -> Till:
    """One counter for every example of a Hypothesis test (a node per example is slow)."""
    till = Till(make_node(tmp_path_factory.mktemp("display")), "ann")
    till("shift_open", opening={"Cash": "100.00", "Card": "0"})
    return till


cents = st.decimals(min_value=0, max_value=Decimal("200"), places=2)


@settings(max_examples=40, deadline=None)
@given(codes=st.lists(st.sampled_from([WINE, BOOK]), min_size=1, max_size=4), cash=cents,
       card=cents)
def test_paid_and_change_shown_while_typing_are_the_apps_and_what_the_sale_books(
        till: Till, codes: list[str], cash: Decimal, card: Decimal):
    """Whatever is typed (sent as it is, even what the app would not send), the display
    shows the paid amount the cashier's payment screen shows, and change exactly when the
    screen would let the sale go: that sale books it to the cent, and one without change
    shown is refused."""
    cart = _cart(till, *codes)
    due = Decimal(till("cart_get", cart_id=cart)["due"])
    screen = Payment(due, MODES).set("Cash", cash).set("Card", card)
    tender = screen.payments()
    till("cart_tender_draft", cart_id=cart, payments=tender)
    shown = _display(till.node)
    assert Decimal(shown["total"]) == due
    if not tender:  # nothing typed yet: nothing paid shows
        assert shown["paid"] is None and shown["change"] is None
        return
    assert Decimal(shown["paid"]) == screen.paid
    if screen.ready:
        assert Decimal(shown["change"]) == screen.change
        sale = till("sale_submit", cart_id=cart, payments=tender)
        assert Decimal(sale["change"]) == Decimal(shown["change"])
    else:
        assert shown["change"] is None
        with pytest.raises(PaymentError):
            till("sale_submit", cart_id=cart, payments=tender)
        till("cart_void", cart_id=cart, approver=approver("sup"))
