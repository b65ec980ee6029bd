"""Selling on one counter through the node's API methods (in process)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.node.erpnext.test_forwarder import demo_node
from tests.nodekit import (
    MASTER,
    PROFILE,
    FakeClock,
    Till,
    approver,
    make_node,
    price,
    pull_newer,
)
from tillmesh.lab.demo_data import demo_master_docs
from tillmesh.node.api.const import LOOP_SLICE_LINES
from tillmesh.node.errors import (
    BarcodeError,
    MalformedRequest,
    NotFoundError,
    PaymentError,
    PermissionDenied,
    ShiftError,
    TotalsError,
    UnknownMethod,
    ValidationError,
)
from tillmesh.node.projections.master_data import upserted_body

D = Decimal




def test_a_sale_is_priced_as_erpnext_books_it_and_recorded(ann):
    cart = ann("cart_new")["cart_id"]
    ann("cart_scan", cart_id=cart, code="4000000000044")  # wine 19.99 incl. 19% VAT
    ann("cart_scan", cart_id=cart, code="4000000000044")  # a repeat scan adds to the line
    view = ann("cart_add", cart_id=cart, item_code="BOOK", qty="1")  # 12.95, 7% VAT
    assert [ln["qty"] for ln in view["lines"]] == ["2.000", "1.000"]
    assert view["totals"]["grand_total"] == "52.93"
    taxes = view["taxes"][0]
    assert taxes["tax_amount"] == str(D("6.38") + D("0.85"))  # 39.98/1.19*.19 + 12.95/1.07*.07
    sale = ann("sale_submit", cart_id=cart,
               payments=[{"mode_of_payment": "Cash", "amount": "60.00"}])
    assert sale["invoice"] == "C01-2026-000001"
    assert sale["change"] == "7.07"
    got = ann("invoice_get", invoice=sale["invoice"])
    assert got["items"][1]["item_tax_rate"] == {"VAT 19%": "7"}
    assert got["payments"][0]["account"] == "Cash - T"
    assert got["posted_at"].endswith("+01:00")  # store time, Europe/Berlin in November
    with pytest.raises(NotFoundError):
        ann("cart_get", cart_id=cart)  # a sold cart is gone


def test_invoice_numbers_count_up_per_counter(ann):
    numbers = [ann.sell("4000000000082")["invoice"] for _ in range(3)]
    assert numbers == ["C01-2026-000001", "C01-2026-000002", "C01-2026-000003"]


def test_split_payment_card_and_cash_with_change_only_from_cash(ann):
    cart = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=cart, item_code="WINE", qty="3")  # 59.97
    with pytest.raises(PaymentError, match="change can only be given in cash"):
        ann("sale_submit", cart_id=cart, payments=[{"mode_of_payment": "Card", "amount": "70"}])
    sale = ann("sale_submit", cart_id=cart, payments=[
        {"mode_of_payment": "Card", "amount": "40.00"},
        {"mode_of_payment": "Cash", "amount": "20.00"}])
    assert sale["change"] == "0.03"


def test_paying_short_is_refused_and_the_cart_survives(ann):
    cart = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=cart, item_code="WINE")
    with pytest.raises(PaymentError, match="less than the 19.99 due"):
        ann("sale_submit", cart_id=cart, payments=[{"mode_of_payment": "Cash", "amount": "10"}])
    with pytest.raises(PaymentError, match="not in this POS profile"):
        ann("sale_submit", cart_id=cart, payments=[{"mode_of_payment": "Gold", "amount": "20"}])
    assert ann("cart_get", cart_id=cart)["due"] == "19.99"


@pytest.mark.parametrize("amount", ["4250100000011", "1e999999", 1e300])
def test_a_barcode_or_an_absurd_number_is_never_taken_as_payment(ann, amount):
    """A scan into an amount field would pay 4,250,100,000,011.00 and give it back as
    change; beyond the counter's limit a payment is refused and the cart stays."""
    cart = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=cart, item_code="WINE")
    with pytest.raises(PaymentError, match="above the limit of 1000000"):
        ann("sale_submit", cart_id=cart, payments=[{"mode_of_payment": "Cash",
                                                    "amount": amount}])
    assert ann("cart_get", cart_id=cart)["due"] == "19.99"
    assert ann("invoice_list") == []


def test_weighed_item_and_uom_change(ann):
    cart = ann("cart_new")["cart_id"]
    view = ann("cart_add", cart_id=cart, item_code="APPLE", qty="0.735")
    assert view["lines"][0]["amount"] == "1.83"  # 0.735 kg x 2.49
    view = ann("cart_add", cart_id=cart, item_code="WINE")
    view = ann("cart_set_uom", cart_id=cart, line=1, uom="Box")
    assert view["lines"][1]["price_list_rate"] == "119.94"  # no Box price: 6 x 19.99
    with pytest.raises(TotalsError):
        ann("cart_set_qty", cart_id=cart, line=1, qty="1.5")  # half a box
    with pytest.raises(NotFoundError):
        ann("cart_set_uom", cart_id=cart, line=1, uom="Pallet")


@pytest.mark.parametrize(("code", "error", "text"), [
    ("4000000000045", BarcodeError, "check digit"),
    ("4006381333931", BarcodeError, "Unknown barcode"),
])
def test_bad_scans_are_clear_errors(ann, code, error, text):
    cart = ann("cart_new")["cart_id"]
    with pytest.raises(error, match=text):
        ann("cart_scan", cart_id=cart, code=code)
    assert ann("cart_get", cart_id=cart)["lines"] == []


@pytest.mark.parametrize(("qty", "text"), [
    ("0", "more than 0"), ("-1", "more than 0"), ("1000000", "above the limit"),
    ("1.0001", "decimals"), ("abc", "not a number"), ("NaN", "finite"),
])
def test_absurd_quantities_are_refused(ann, qty, text):
    cart = ann("cart_new")["cart_id"]
    with pytest.raises(ValidationError, match=text):
        ann("cart_add", cart_id=cart, item_code="WINE", qty=qty)


def test_disabled_and_unknown_items_cannot_be_sold(ann):
    cart = ann("cart_new")["cart_id"]
    with pytest.raises(NotFoundError, match="disabled"):
        ann("cart_add", cart_id=cart, item_code="GONE")
    with pytest.raises(NotFoundError):
        ann("cart_add", cart_id=cart, item_code="NOPE")


def test_cashier_discount_limit_and_supervisor_override_is_audited(node, ann):
    cart = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=cart, item_code="WINE", qty="2")
    view = ann("cart_line_discount", cart_id=cart, line=0, percent="10")
    assert view["lines"][0]["rate"] == "17.99"
    with pytest.raises(PermissionDenied, match="above your limit of 10%"):
        ann("cart_line_discount", cart_id=cart, line=0, percent="25")
    with pytest.raises(PermissionDenied):  # another cashier cannot approve
        ann("cart_line_discount", cart_id=cart, line=0, percent="25", approver=approver("bob"))
    view = ann("cart_line_discount", cart_id=cart, line=0, percent="25",
               approver=approver("sup"))
    assert view["lines"][0]["rate"] == "14.99"
    view = ann("cart_discount", cart_id=cart, amount="1.98", approver=approver("sup"))
    assert view["totals"]["grand_total"] == "28.00"
    sup = Till(node, "sup")
    kinds = [(a["kind"], a["approver"]) for a in sup("audit_list")]
    assert ("audit.discount", "sup") in kinds


def test_line_discount_by_amount_becomes_the_rate(ann):
    cart = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=cart, item_code="BOOK")
    view = ann("cart_line_discount", cart_id=cart, line=0, amount="0.95")
    assert (view["lines"][0]["rate"], view["totals"]["grand_total"]) == ("12.00", "12.00")


def test_price_override_needs_a_supervisor(ann):
    cart = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=cart, item_code="BOOK")
    with pytest.raises(PermissionDenied, match="supervisor PIN"):
        ann("cart_set_rate", cart_id=cart, line=0, rate="9.99")
    view = ann("cart_set_rate", cart_id=cart, line=0, rate="9.99", approver=approver("sup"))
    assert view["totals"]["grand_total"] == "9.99"


def test_a_discount_beyond_the_total_is_refused_as_erpnext_does(ann):
    cart = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=cart, item_code="BOOK")
    with pytest.raises(ValidationError):
        ann("cart_discount", cart_id=cart, amount="20.00", approver=approver("admin"))


def test_hold_and_resume_and_void(node, ann):
    first = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=first, item_code="WINE")
    ann("cart_hold", cart_id=first, note="forgot milk")
    with pytest.raises(ValidationError, match="held"):
        ann("cart_add", cart_id=first, item_code="BOOK")
    second = ann.sell("4000000000082")
    assert second["invoice"].endswith("000001")
    assert [c["note"] for c in ann("cart_held")] == ["forgot milk"]
    ann("cart_resume", cart_id=first)
    assert ann("cart_held") == []
    assert ann("sale_submit", cart_id=first, payments=[
        {"mode_of_payment": "Card", "amount": "19.99"}])["change"] == "0.00"
    third = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=third, item_code="WINE")
    ann("cart_remove", cart_id=third, line=0)
    ann("cart_void", cart_id=third)
    kinds = [a["kind"] for a in Till(node, "sup")("audit_list")]
    assert kinds.count("audit.void") == 2


def test_offline_customer_creation_and_selection(ann):
    customer = ann("create_customer", customer_name="Erika Mustermann", mobile_no="0151 234")
    assert customer["name"] == "C01-CUST-00001"
    found = ann("search_customers", text="erika")
    assert [c["name"] for c in found] == ["C01-CUST-00001"]
    cart = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=cart, item_code="BOOK")
    assert ann("cart_set_customer", cart_id=cart,
               customer="C01-CUST-00001")["customer"] == "C01-CUST-00001"
    with pytest.raises(NotFoundError):
        ann("cart_set_customer", cart_id=cart, customer="Nobody")


def test_selling_needs_an_open_shift(node):
    bob = Till(node, "bob")
    cart = bob("cart_new")["cart_id"]
    bob("cart_add", cart_id=cart, item_code="BOOK")
    with pytest.raises(ShiftError, match="open a shift"):
        bob("sale_submit", cart_id=cart, payments=[{"mode_of_payment": "Cash", "amount": "20"}])
    bob("shift_open", opening={"Cash": "50"})
    with pytest.raises(ShiftError, match="already open"):
        bob("shift_open", opening={"Cash": "50"})
    bob("sale_submit", cart_id=cart, payments=[{"mode_of_payment": "Cash", "amount": "20"}])


def test_malformed_calls_are_clear(ann):
    with pytest.raises(UnknownMethod):
        ann("cart_fly")
    with pytest.raises(MalformedRequest, match="qyt"):
        ann("cart_add", cart_id="x", item_code="BOOK", qyt="1")
    with pytest.raises(MalformedRequest):
        ann("cart_add")
    with pytest.raises(ValidationError, match="payments"):
        ann("sale_submit", cart_id="x", payments="lots")


def test_the_list_price_is_the_one_valid_on_the_stores_date(tmp_path):
    """A new Item Price valid from 1 December applies from midnight in the store's zone
    (Europe/Berlin), as ERPNext's site dates the sale, by the counter's clock: not by this
    machine's date or zone."""
    clock = FakeClock()
    clock.now = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)  # 23:30 in Berlin: 30 November
    node = make_node(tmp_path, clock=clock)
    pull_newer(node, [("Item Price", {**price("BOOK", "12.95"), "valid_from": "2026-01-01"}),
                      ("Item Price", {**price("BOOK", "13.50"), "name": "P-BOOK-DEC",
                                      "valid_from": "2026-12-01"})])
    ann = Till(node, "ann")
    ann("shift_open", opening={"Cash": "0"})
    cart = ann("cart_new")["cart_id"]
    assert ann("cart_add", cart_id=cart, item_code="BOOK")["lines"][0]["rate"] == "12.95"
    assert ann("item", item_code="BOOK")["prices"] == {"Nos": "12.95"}
    clock.advance(hours=1)  # 00:30 in Berlin, 23:30 UTC: 1 December in the store
    ann = Till(node, "ann")  # her session locked meanwhile
    cart = ann("cart_new")["cart_id"]
    assert ann("cart_add", cart_id=cart, item_code="BOOK")["lines"][0]["rate"] == "13.50"
    assert ann("item", item_code="BOOK")["prices"] == {"Nos": "13.50"}


def test_the_item_call_shows_its_uoms_list_prices_barcodes_and_stock(ann):
    """What the cashier's item look-up shows: the stock UOM first, a Box of 6 priced at six
    bottles (no Box price of its own), the barcode, the stock sales moved."""
    cart = ann("cart_new")["cart_id"]
    ann("cart_scan", cart_id=cart, code="4000000000044")
    ann("sale_submit", cart_id=cart, payments=[{"mode_of_payment": "Cash", "amount": "19.99"}])
    wine = ann("item", item_code="WINE")
    assert [(u["uom"], u["conversion_factor"]) for u in wine["uoms"]] == [("Nos", "1"),
                                                                          ("Box", "6")]
    assert wine["prices"] == {"Nos": "19.99", "Box": "119.94"}
    assert wine["barcodes"] == ["4000000000044"]
    assert wine["stock"]["pending"] == "-1"  # the sale, not yet in ERPNext's count
    with pytest.raises(NotFoundError, match="disabled"):
        ann("item", item_code="GONE")


def test_partial_payment_only_where_the_pos_profile_allows_it(node, ann):
    cart = ann("cart_new")["cart_id"]
    ann("cart_add", cart_id=cart, item_code="WINE")
    with pytest.raises(PaymentError):
        ann("sale_submit", cart_id=cart, payments=[{"mode_of_payment": "Cash", "amount": "5"}])
    profile = next(doc for doctype, doc in MASTER if doctype == "POS Profile")
    with node.log.transaction() as tx:
        tx.append("master.upserted", upserted_body(
            "POS Profile", {**profile, "allow_partial_payment": 1}, "2026-11-02 09:00:00.0"))
    assert node.context_cache.profile == PROFILE
    sale = ann("sale_submit", cart_id=cart,
               payments=[{"mode_of_payment": "Cash", "amount": "5"}])
    assert sale["totals"]["paid_amount"] == "5.00"


def test_drawer_open_without_sale_needs_a_supervisor_and_is_audited(node, ann):
    with pytest.raises(PermissionDenied):
        ann("drawer_open", reason="change for a customer")
    assert ann("drawer_open", reason="change", approver=approver("sup")) == {"opened": True}
    audit = [a for a in Till(node, "sup")("audit_list") if a["kind"] == "audit.drawer_opened"]
    assert (audit[0]["user"], audit[0]["approver"]) == ("ann", "sup")


def test_scale_labels_from_the_demo_catalog(tmp_path):
    """Weighed and price labels as a German scale prints them (lab/demo_data.py)."""
    node = make_node(tmp_path, profile="Demo POS")
    with node.log.transaction() as tx:
        for doctype, doc in demo_master_docs():
            tx.append("master.upserted", upserted_body(doctype, doc))
    till = Till(node, "ann")
    till("shift_open", opening={"Cash": "0"})
    cart = till("cart_new")["cart_id"]
    view = till("cart_scan", cart_id=cart, code="2100101012501")  # 1.250 kg apples
    assert (view["lines"][0]["qty"], view["lines"][0]["uom"]) == ("1.250", "Kg")
    assert view["lines"][0]["amount"] == "3.11"  # 1.25 x 2.49, half to even
    view = till("cart_scan", cart_id=cart, code="2100101012501")  # a second pack: new line
    assert len(view["lines"]) == 2
    view = till("cart_scan", cart_id=cart, code="2800201004993")  # price label 4.99
    assert view["lines"][2]["amount"] == "4.99"
    view = till("cart_scan", cart_id=cart, code="4250200001222")  # a Box of 12 water
    assert view["lines"][3]["uom"] == "Box"


def test_a_whole_sale_in_one_call_is_priced_like_a_cart(ann):
    sale = ann("sale_create", items=[{"code": "4000000000044"}, {"code": "4000000000044"},
                                     {"item_code": "BOOK", "qty": "1"}],
               payments=[{"mode_of_payment": "Cash", "amount": "60.00"}])
    assert (sale["totals"]["grand_total"], sale["change"]) == ("52.93", "7.07")
    got = ann("invoice_get", invoice=sale["invoice"])
    assert [i["qty"] for i in got["items"]] == ["2.000", "1.000"]
    with pytest.raises(BarcodeError):
        ann("sale_create", items=[{"code": "4000000000045"}],
            payments=[{"mode_of_payment": "Cash", "amount": "20"}])
    with pytest.raises(ValidationError, match="items"):
        ann("sale_create", items=[], payments=[{"mode_of_payment": "Cash", "amount": "1"}])


def test_two_changes_at_once_to_a_big_cart_one_is_refused_and_nothing_is_lost(tmp_path):
    """A big cart is priced off the loop, so another request may change it meanwhile: the
    change that comes second is refused with a clear message (look again, retry), never
    written over the first."""
    node = demo_node(tmp_path)
    ann = Till(node, "ann")
    ann("shift_open", opening={"Cash": "0"})
    codes = [doc["barcodes"][0]["barcode"] for doctype, doc in demo_master_docs()
             if doctype == "Item" and doc.get("barcodes") and not doc.get("disabled")
             and doc["stock_uom"] == "Nos"][:LOOP_SLICE_LINES + 2]
    cart = ann("cart_new")["cart_id"]
    for code in codes[:LOOP_SLICE_LINES]:  # small so far: priced on the loop
        ann("cart_scan", cart_id=cart, code=code)

    async def both() -> list[object]:
        scans = [node.call("cart_scan", {"cart_id": cart, "code": code}, ann.token)
                 for code in codes[LOOP_SLICE_LINES:]]
        return await asyncio.gather(*scans, return_exceptions=True)

    first, second = asyncio.run(both())
    assert isinstance(first, dict) and len(first["lines"]) == LOOP_SLICE_LINES + 1
    assert isinstance(second, ValidationError)
    assert "changed by another request meanwhile" in second.message
    now = asyncio.run(node.call("cart_get", {"cart_id": cart}, ann.token))
    assert [ln["barcode"] for ln in now["lines"]] == codes[:LOOP_SLICE_LINES + 1]
