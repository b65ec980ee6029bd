"""The pure receipt layout: what a receipt says, and that it fits the paper."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tillmesh.node.printing._layout import (  # the module under test, public names too
    Logo,
    Qr,
    Receipt,
    ReceiptStyle,
    Text,
    clean,
    from_plain,
    money,
    sale_receipt,
    self_test_receipt,
    shift_receipt,
    to_plain,
    wrap,
)
from tillmesh.node.printing.const import RULE

BERLIN = ZoneInfo("Europe/Berlin")
AMOUNT = re.compile(r"(?:^| )(-?\d+\.\d{2})$")


def style(width: int = 42, **kw: Any) -> ReceiptStyle:
    return ReceiptStyle(width=width, tz=BERLIN, **kw)


def item(name: str, qty: str, rate: str, amount: str, list_rate: str | None = None,
         percent: str = "0.00", uom: str = "Nos", net: str | None = None,
         distributed: str = "0.00") -> dict[str, Any]:
    return {"item_code": name.upper()[:8], "item_name": name, "qty": qty, "uom": uom,
            "rate": rate, "price_list_rate": list_rate or rate, "amount": amount,
            "discount_percentage": percent, "net_amount": net or amount,
            "distributed_discount_amount": distributed}


def tax(description: str, rate: str, amount: str, included: bool = True,
        detail: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"charge_type": "On Net Total", "account_head": "VAT - T", "description": description,
            "rate": rate, "included_in_print_rate": included,
            "tax_amount_after_discount_amount": amount, "item_wise_tax_detail": detail or {}}


def sale(**over: Any) -> dict[str, Any]:
    """A cash sale as recorded (priced by node.domain.totals): wine with 10 % off, apples by
    weight at 7 % through an item tax template on the one 19 % VAT row, 5 % off the total."""
    body: dict[str, Any] = {
        "invoice": "C01-2026-000001", "cashier": "ann", "currency": "EUR",
        "posted_at": "2026-11-26T10:00:00.000040+01:00",
        "items": [item("Red Wine 0.75l", "2.000", "17.99", "35.98", "19.99", "10.00",
                       net="28.73", distributed="1.51"),
                  item("Apples", "0.754", "2.49", "1.88", uom="Kg", net="1.67",
                       distributed="0.09")],
        "taxes": [tax("VAT", "19.000", "5.58", detail={"RED WINE": ["19.000", "5.45870"],
                                                       "APPLES": ["7.000", "0.11690"]})],
        "totals": {"total": "37.86", "discount_amount": "1.89",
                   "additional_discount_percentage": "5.000", "grand_total": "35.97",
                   "rounding_adjustment": "0.00", "rounded_total": "35.97",
                   "change_amount": "14.03"},
        "payments": [{"mode_of_payment": "Cash", "amount": "50", "type": "Cash"}],
    }
    body.update(over)
    return body


def lines(receipt: Receipt) -> list[str]:
    return [b.text for b in receipt.blocks if isinstance(b, Text)]


def test_a_sale_receipt_says_everything_in_order():
    receipt = sale_receipt(sale(), style(32, header=("Tillmesh Store", "Hauptstr. 1"),
                                         footer=("Thank you!",), logo=True), counter="C01")
    assert receipt.title == "C01-2026-000001"
    assert lines(receipt) == [
        "Tillmesh Store",
        "Hauptstr. 1",
        "Invoice   C01-2026-000001",
        "Date      2026-11-26 10:00",
        "Cashier   ann",
        "Counter   C01",
        RULE * 32,
        "Red Wine 0.75l",
        "  2 Nos x 19.99            39.98",
        "  Discount 10%             -4.00",
        "Apples",
        "  0.754 Kg x 2.49           1.88",
        RULE * 32,
        "Subtotal                   37.86",
        "Discount 5%                -1.89",
        "TOTAL EUR  35.97",
        "VAT        Net      Tax    Gross",  # inclusive VAT per rate, not per account row
        "19%      28.72     5.46    34.18",
        "7%        1.67     0.12     1.79",
        RULE * 32,
        "Cash                       50.00",
        "Change                     14.03",
        "Thank you!",
    ]
    blocks = receipt.blocks
    assert blocks[0] == Logo()
    assert Qr("C01-2026-000001") in blocks
    total = next(b for b in blocks if isinstance(b, Text) and b.text.startswith("TOTAL"))
    assert total.big and len(total.text) == 16  # double size: half the width
    assert next(b for b in blocks if isinstance(b, Text) and b.text.startswith("Change")).bold


def test_a_coupon_prints_under_the_items_and_its_promotion_on_the_line():
    wine = {**sale()["items"][0], "promotions": ["Wine week 10%"]}
    text = lines(sale_receipt(sale(items=[wine], coupon="WINE10", coupon_code="Wine week"),
                              style(32), counter="C01"))
    start = text.index("Red Wine 0.75l")
    assert text[start:start + 6] == [
        "Red Wine 0.75l", "  Wine week 10%", "  2 Nos x 19.99            39.98",
        "  Discount 10%             -4.00", "Coupon    WINE10", RULE * 32]


def test_a_batch_with_its_expiry_and_serial_numbers_print_on_their_lines():
    wine = {**sale()["items"][0], "batch_no": "W-2026-11", "batch_expiry": "2027-03-31"}
    phone = {**sale()["items"][0], "item_name": "Phone X1", "serial_no": "P-1\nP-2"}
    text = lines(sale_receipt(sale(items=[wine, phone]), style(32), counter="C01"))
    start = text.index("Red Wine 0.75l")
    assert text[start:start + 3] == ["Red Wine 0.75l", "  Batch W-2026-11", "  Exp. 31.03.2027"]
    start = text.index("Phone X1")
    assert text[start:start + 3] == ["Phone X1", "  S/N P-1", "  S/N P-2"]


def test_a_return_prints_as_a_refund_of_the_original():
    body = sale(invoice="C01-2026-000002", is_return=1, return_against="C01-2026-000001",
                items=[item("Apples", "-0.754", "2.49", "-1.88", uom="Kg", net="-1.76")],
                taxes=[tax("VAT", "19.000", "-0.12", detail={"APPLES": ["7.000", "-0.1232"]})],
                totals={"total": "-1.88", "grand_total": "-1.88", "change_amount": "0.00"},
                payments=[{"mode_of_payment": "Cash", "amount": "-1.88", "type": "Cash"}])
    text = lines(sale_receipt(body, style(), counter="C01"))
    assert text[0] == "REFUND"
    assert "Refund of C01-2026-000001" in text
    assert "  -0.754 Kg x 2.49" + " " * 19 + "-1.88" in text
    assert any(t.startswith("TOTAL EUR") and t.endswith("-1.88") for t in text)
    assert "7%         -1.76        -0.12        -1.88" in text  # a negative sale, per rate
    assert not any(t.startswith("Change") for t in text)


def test_a_reprint_is_marked_copy_at_the_top_and_the_bottom():
    receipt = sale_receipt(sale(), style(), counter="C02", copy=True)
    assert receipt.title == "COPY C01-2026-000001"
    text = lines(receipt)
    assert text[0] == text[-1] == "COPY"
    assert "Counter   C02" in text


def test_rounding_adjustment_exclusive_taxes_and_actual_charges():
    body = sale(taxes=[tax("VAT", "19", "3.00", included=False),
                       {**tax("Deposit", "0", "0.25", included=False), "charge_type": "Actual"}],
                totals={"total": "15.77", "grand_total": "19.02", "rounding_adjustment": "-0.02",
                        "rounded_total": "19.00", "change_amount": "1.00"})
    text = lines(sale_receipt(body, style(48), counter="C01"))
    for label, amount in (("VAT 19%", "3.00"), ("Deposit", "0.25"), ("Grand total", "19.02"),
                          ("Rounding adjustment", "-0.02"), ("TOTAL EUR", "19.00")):
        assert any(t.startswith(label + " ") and t.endswith(" " + amount) for t in text), label
    assert not any("incl." in t for t in text)


def test_long_names_wrap_and_control_characters_never_reach_the_printer():
    name = "Extra long organic\nwhole-grain\x1dV\x00 bread " * 3
    text = lines(sale_receipt(sale(items=[item(name, "1.000", "3.10", "3.10")]), style(32),
                              counter="C01"))
    assert all(len(t) <= 32 for t in text)
    assert all(ch.isprintable() for t in text for ch in t)
    assert sum("bread" in t for t in text) == 3


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=60), width=st.integers(1, 48))
def test_a_line_is_wrapped_as_textwrap_wraps_it(text, width):
    """A line that fits skips textwrap's search: the lines are the same, any text."""
    assert wrap(text, width) == (textwrap.wrap(clean(text), width, break_on_hyphens=False)
                                 or [""])


def report(counted: dict[str, str] | None = None) -> dict[str, Any]:
    expected = {"Card": "20.00", "Cash": "130.00"}
    data: dict[str, Any] = {"opening": {"Cash": "100.00"}, "expected": expected,
            "sales_count": 3, "returns_count": 1, "gross_sales": "60.00",
            "returns_total": "-10.00", "grand_total": "50.00", "net_total": "42.02",
            "total_taxes": "7.04", "discounts": "2.28", "total_qty": "4.000",
            "payments": {"Card": "20.00", "Cash": "45.00"}, "change_given": "5.00",
            "cash_in": "0.00", "cash_out": "10.00", "taxes": {"VAT 19%": "7.04"},
            "counted": None, "difference": None, "line_discounts": "1.59",
            "invoice_discounts": "0.69", "net_sales": "42.96",
            "vat": [{"rate": "19", "net": "33.61", "tax": "6.39", "gross": "40.00"},
                    {"rate": "7", "net": "9.35", "tax": "0.65", "gross": "10.00"}]}
    if counted is not None:
        data["counted"] = counted
        data["difference"] = {m: str(Decimal(counted.get(m, "0")) - Decimal(v))
                              for m, v in expected.items()}
    return {"shift": "C01-SH-000001", "counter": "C01", "cashier": "ann",
            "opened_at": datetime(2026, 11, 26, 8, 0, tzinfo=UTC), "closed_by": "sup",
            "closed_at": "2026-11-26T17:00:00+00:00", "report": data}


def test_the_z_report_shows_expected_counted_and_difference_per_mode():
    receipt = shift_receipt(report({"Cash": "129.50", "Card": "20.00"}), style(),
                            printed_at=datetime(2026, 11, 26, 17, 1, tzinfo=UTC))
    assert receipt.title == "Z C01-SH-000001"
    text = lines(receipt)
    assert text[0] == "Z REPORT"
    assert "Opened    2026-11-26 09:00" in text and "Closed    2026-11-26 18:00" in text
    cash = text.index("Cash", next(i for i, t in enumerate(text) if t.startswith("Cash out")))
    assert [t.split()[-1] for t in text[cash + 1:cash + 4]] == ["130.00", "129.50", "-0.50"]
    for label, amount in (("Sales (3)", "60.00"), ("Returns (1)", "-10.00"),
                          ("Total", "50.00"), ("Net (excl. VAT)", "42.96"), ("VAT", "7.04"),
                          ("Line discounts", "-1.59"), ("Invoice discounts", "-0.69"),
                          ("Discounts", "-2.28"), ("Change given", "5.00"),
                          ("Cash in", "0.00"), ("Cash out", "10.00"), ("Items sold", "4")):
        assert any(t.startswith(label + " ") and t.endswith(" " + amount) for t in text), label
    table = text.index("VAT          Net          Tax        Gross")
    assert text[table + 1:table + 3] == ["19%        33.61         6.39        40.00",
                                         "7%          9.35         0.65        10.00"]


def test_the_x_report_has_no_counted_amounts():
    text = lines(shift_receipt(report(), style(32), printed_at=datetime.now(UTC)))
    assert text[0] == "X REPORT"
    assert not any("Counted" in t or "Difference" in t or t.startswith("Closed") for t in text)
    assert any(t.strip().startswith("Expected") for t in text)


def test_the_test_page_has_a_ruler_of_the_width():
    receipt = self_test_receipt(style(48), counter="C01", printer="dummy",
                                printed_at=datetime.now(UTC))
    assert "1234567890" * 4 + "12345678" in lines(receipt)
    assert Qr("TILLMESH TEST C01") in receipt.blocks


def test_a_receipt_survives_the_spool_as_json():
    receipt = sale_receipt(sale(), style(logo=True), counter="C01", copy=True)
    assert from_plain(json.loads(json.dumps(to_plain(receipt)))) == receipt
    with pytest.raises((ValueError, KeyError)):
        from_plain({"title": "x", "width": 42, "blocks": [{"barcode": "1"}]})


def test_narrow_paper_is_refused_by_the_style():
    with pytest.raises(ValueError, match="at least 24"):
        style(20)


# --- properties ---------------------------------------------------------------------------

MODES = ("Cash", "Card", "Voucher", "Bank Transfer to the store's account")
# No "." in names: the test reads amounts back from the text, and a name such as "0.00"
# on a line of its own would read as one (a cashier would not be fooled by it).
names = st.text(st.characters(codec="utf-8", exclude_characters="-."), max_size=90)
money_values = st.integers(-10**12, 10**12).map(lambda n: Decimal(n) / 100)


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    def m() -> str:
        return str(draw(money_values))

    items = [
        {"item_code": draw(names) or "X", "item_name": draw(names),
         "qty": str(Decimal(draw(st.integers(-10**7, 10**7))) / 1000),
         "uom": draw(st.sampled_from(["Nos", "Kg", "Box of twelve bottles"])),
         "rate": str(abs(draw(money_values))), "price_list_rate": str(abs(draw(money_values))),
         "amount": m(), "discount_percentage": str(draw(st.integers(0, 10000)) / 100)}
        for _ in range(draw(st.integers(1, 6)))
    ]
    taxes = [{"charge_type": "On Net Total", "account_head": draw(names) or "VAT",
              "description": draw(names), "rate": str(draw(st.integers(0, 100))),
              "included_in_print_rate": draw(st.booleans()),
              "tax_amount_after_discount_amount": m()}
             for _ in range(draw(st.integers(0, 3)))]
    modes = draw(st.lists(st.sampled_from(MODES), min_size=1, max_size=4, unique=True))
    totals = {"total": m(), "discount_amount": draw(st.sampled_from(["0", m()])),
              "additional_discount_percentage": draw(st.sampled_from(["0", "12.5"])),
              "grand_total": m(), "rounding_adjustment": draw(st.sampled_from(["0.00", m()])),
              "rounded_total": m(), "change_amount": draw(st.sampled_from(["0.00", m()]))}
    return {"invoice": f"C01-2026-{draw(st.integers(1, 999999)):06d}",
            "cashier": draw(names), "currency": draw(st.sampled_from(["EUR", "CHF", ""])),
            "posted_at": draw(st.datetimes(timezones=st.just(UTC))).isoformat(),
            "is_return": draw(st.booleans()), "return_against": "C01-2026-000001",
            "items": items, "taxes": taxes, "totals": totals,
            "payments": [{"mode_of_payment": mode, "amount": m()} for mode in modes]}


def sections(text: list[str], width: int) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for line in text:
        if line == RULE * width:
            out.append([])
        else:
            out[-1].append(line)
    return out


def pair_amounts(text: list[str], width: int) -> list[Decimal]:
    """The amounts of label/amount pairs: right-aligned at the width. A label line that
    merely ends in a number ("2 Nos x 19.99") is followed by its amount on a line alone."""
    def alone(line: str) -> bool:
        return bool(AMOUNT.search(line)) and not line.split()[:-1]

    found = []
    for i, line in enumerate(text):
        amount = AMOUNT.search(line)
        if amount and len(line) == width and not (i + 1 < len(text) and alone(text[i + 1])):
            found.append(Decimal(amount.group(1)))
    return found


def amount_of(text: list[str], label: str) -> str:
    """The amount on the line that ends ``label``'s (possibly wrapped) pair."""
    for i, line in enumerate(text):
        if line.startswith(label[:10]):
            for tail in text[i:]:
                if found := AMOUNT.search(tail):
                    return found.group(1)
    raise AssertionError(f"{label} not printed")


@settings(max_examples=300, deadline=None)
@given(body=bodies(), width=st.one_of(st.sampled_from([32, 42, 48]), st.integers(24, 80)),
       copy=st.booleans(), header=st.lists(names, max_size=3))
def test_every_line_fits_and_the_printed_totals_are_the_invoices(body, width, copy, header):
    receipt = sale_receipt(body, style(width, header=tuple(header), footer=("Danke",)),
                           counter="C01", copy=copy)
    for block in receipt.blocks:
        if isinstance(block, Text):
            assert len(block.text) <= (width // 2 if block.big else width), block
            assert block.text.isprintable()
    head, items, totals, payments = sections(lines(receipt), width)
    # Each item's lines add up to its recorded amount, so the items add up to theirs.
    assert sum(pair_amounts(items, width)) == sum(Decimal(money(i["amount"]))
                                                  for i in body["items"])
    t = body["totals"]
    assert amount_of(totals, "Subtotal") == money(t["total"])
    due = t["rounded_total"] if Decimal(t["rounding_adjustment"]) else t["grand_total"]
    assert amount_of(totals, "TOTAL") == money(due)
    if Decimal(t["rounding_adjustment"]):
        assert amount_of(totals, "Grand total") == money(t["grand_total"])
        assert amount_of(totals, "Rounding adjustment") == money(t["rounding_adjustment"])
    for payment in body["payments"]:
        assert amount_of(payments, payment["mode_of_payment"]) == money(payment["amount"])
    if Decimal(t["change_amount"]):
        assert amount_of(payments, "Change") == money(t["change_amount"])
    assert any(line.endswith(body["invoice"]) for line in head)
