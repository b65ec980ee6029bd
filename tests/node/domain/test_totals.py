"""node.domain.totals against what a real ERPNext 15.71 computed for the same carts.

The cases files hold carts posted as POS Invoices (drafts, and returns against submitted
originals) with everything ERPNext stored. Each accepted case must match every line field,
every tax row field and every header total; each rejected case must raise the error of
``node.errors`` for it with ERPNext's message. ``TILLMESH_TOTALS_CASES`` may name other
files, separated by ``:``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.paths import LAB_RECORDED, SHARED_ERPNEXT
from tillmesh.node.domain.totals import (
    Cart,
    CartLine,
    ChargeType,
    InvoiceTotals,
    OriginalRow,
    ReturnAgainst,
    TaxRow,
    TotalsSettings,
    amount_due,
    compute_totals,
)
from tillmesh.node.errors import PaymentError, ReturnError, TotalsError, ValidationError

DEFAULT_CASES = (
    SHARED_ERPNEXT / "totals-cases.json",
    SHARED_ERPNEXT / "totals-cases-2.json",
    Path(__file__).with_name("totals-cases-lab.json"),  # recorded from the lab's ERPNext
    # the same carts, answered by a real ERPNext 16.12 (tests/lab/recorded/record_totals.py)
    *(LAB_RECORDED / f"{stem}-16.json"
      for stem in ("totals-cases", "totals-cases-2", "totals-cases-lab")),
)
CURRENCY_SYMBOL = "€"  # the cases' currency, EUR, as ERPNext writes it into a message
CASES_PATHS = [
    Path(name)
    for name in (os.environ.get("TILLMESH_TOTALS_CASES") or "").split(":")
    if name
] or list(DEFAULT_CASES)

for _path in CASES_PATHS:
    assert _path.is_file(), f"ERPNext's totals cases are not at {_path}"

# Each case with the file it came from: items, templates and settings are per file.
FILES: list[dict[str, Any]] = [json.loads(p.read_text(encoding="utf-8")) for p in CASES_PATHS]
CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (case, data) for data in FILES for case in data["cases"]
]


def _params(rejected: bool) -> list[Any]:
    return [pytest.param(case, data, id=case["id"]) for case, data in CASES
            if case["rejected"] is rejected]


def dec(value: Any) -> Decimal:
    """A recorded JSON number as the Decimal it was meant to be (its shortest repr)."""
    return Decimal(str(value))


# --------------------------------------------------------------------------- adapter


def _item_tax_rates(data: dict[str, Any], template: str | None) -> dict[str, Decimal]:
    if not template:
        return {}
    return {row["tax_type"]: dec(row["tax_rate"]) for row in data["item_tax_templates"][template]}


def _whole(data: dict[str, Any], uom: str) -> bool:
    return bool(data["uoms"][uom]["must_be_whole_number"])


def _line(data: dict[str, Any], request_item: dict[str, Any]) -> CartLine:
    code = request_item["item_code"]
    item = data["items"][code]
    stock_uom = item["stock_uom"]
    uom = request_item.get("uom") or stock_uom
    factors = {row["uom"]: dec(row["conversion_factor"]) for row in item["uoms"]}
    factor = dec(request_item.get("conversion_factor") or factors[uom])
    prices = {row["uom"]: dec(row["price_list_rate"]) for row in item["prices"]}
    # A UOM without its own Item Price is priced at the stock-UOM price x conversion factor;
    # a price_list_rate sent (a return carries the original's) replaces the list price.
    if "price_list_rate" in request_item:
        price = dec(request_item["price_list_rate"])
    else:
        price = prices[uom] if uom in prices else prices[stock_uom] * factor
    template = item["taxes"][0]["item_tax_template"] if item["taxes"] else None
    return CartLine(
        item_code=code,
        qty=dec(request_item["qty"]),
        price_list_rate=price,
        uom=uom,
        stock_uom=stock_uom,
        conversion_factor=factor,
        rate=dec(request_item["rate"]) if "rate" in request_item else None,
        discount_percentage=dec(request_item.get("discount_percentage", 0)),
        discount_amount=dec(request_item.get("discount_amount", 0)),
        item_tax_template=template,
        item_tax_rates=_item_tax_rates(data, template),
        whole_number_uom=_whole(data, uom),
        whole_number_stock_uom=_whole(data, stock_uom),
        return_row=request_item.get("pos_invoice_item"),
    )


def _tax_row(row: dict[str, Any]) -> TaxRow:
    return TaxRow(
        charge_type=ChargeType(row["charge_type"]),
        account_head=row["account_head"],
        description=row.get("description") or row["account_head"],
        rate=dec(row.get("rate") or 0),
        row_id=int(row["row_id"]) if row.get("row_id") else None,
        included_in_print_rate=bool(row.get("included_in_print_rate")),
        tax_amount=dec(row.get("tax_amount") or 0),
    )


def _return_against(case: dict[str, Any]) -> ReturnAgainst | None:
    """The submitted original a return was priced against, as the case recorded it."""
    if not case["request"].get("return_against"):
        return None
    original = case["original"]
    return ReturnAgainst(
        name=original["name"],
        rows={
            row["name"]: OriginalRow(row["item_code"], dec(row["stock_qty"]))
            for row in original["result"]["items"]
        },
    )


def cart_from_case(case: dict[str, Any], data: dict[str, Any]) -> tuple[Cart, TotalsSettings]:
    request = case["request"]
    # Rows sent with the invoice are kept as sent; otherwise the template's rows.
    if request.get("taxes"):
        rows = request["taxes"]
    elif request.get("taxes_and_charges"):
        rows = data["tax_templates"][request["taxes_and_charges"]]
    else:
        rows = []
    profile = data["settings"]["pos_profile.Lab POS"]
    cart = Cart(
        lines=tuple(_line(data, item) for item in request["items"]),
        taxes=tuple(_tax_row(row) for row in rows),
        additional_discount_percentage=dec(request.get("additional_discount_percentage", 0)),
        discount_amount=dec(request.get("discount_amount", 0)),
        apply_discount_on=request.get("apply_discount_on") or profile["apply_discount_on"],
        payments=tuple(dec(row["amount"]) for row in request["payments"]),
        is_return=bool(request.get("is_return")),
        return_against=_return_against(case),
        draft=not request["docstatus"],
        allow_partial_payment=bool(profile.get("allow_partial_payment")),
    )
    context = case["context"]
    settings = TotalsSettings(
        currency_precision=data["settings"]["effective_currency_precision"],
        float_precision=data["settings"]["effective_float_precision"],
        # POS Invoice has no disable_rounded_total field: the global default decides.
        disable_rounded_total=bool(context["global_disable_rounded_total"]),
        smallest_currency_fraction=dec(context["eur_smallest_currency_fraction_value"]),
        release=release_of(data),
        currency_symbol=CURRENCY_SYMBOL,
        number_format=data["settings"]["system_settings.number_format"],
    )
    return cart, settings


def release_of(data: dict[str, Any]) -> int:
    """The ERPNext major release a cases file was recorded from."""
    return int(str(data["erpnext_version"]["erpnext"]).split(".")[0])


# --------------------------------------------------------------------------- comparison


def _significant(value: Decimal, places: int = 9) -> Decimal:
    """Round to ``places`` significant digits; float noise below 1e-9 counts as 0."""
    if abs(value) < Decimal("1e-9"):
        return Decimal(0)
    return value.quantize(Decimal(1).scaleb(value.adjusted() - places + 1))


LINE_MONEY = {
    "price_list_rate": "price_list_rate",
    "discount_amount": "discount_amount",
    "rate_with_margin": "rate_with_margin",
    "rate": "rate",
    "amount": "amount",
    "net_rate": "net_rate",
    "net_amount": "net_amount",
    "distributed_discount_amount": "distributed_discount_amount",
    # conversion_rate is 1: the company-currency copies equal the invoice-currency ones
    "base_price_list_rate": "price_list_rate",
    "base_rate": "rate",
    "base_amount": "amount",
    "base_net_rate": "net_rate",
    "base_net_amount": "net_amount",
}
LINE_NUMBERS = (
    "qty",
    "stock_qty",
    "conversion_factor",
    "discount_percentage",
    "margin_rate_or_amount",
)
LINE_TEXT = ("item_code", "uom", "stock_uom", "margin_type", "item_tax_template")

TAX_MONEY = {
    "tax_amount": "tax_amount",
    "total": "total",
    "tax_amount_after_discount_amount": "tax_amount_after_discount_amount",
    "base_tax_amount": "tax_amount",
    "base_total": "total",
    "base_tax_amount_after_discount_amount": "tax_amount_after_discount_amount",
}

HEADER = {
    "total_qty": "total_qty",
    "total": "total",
    "net_total": "net_total",
    "total_taxes_and_charges": "total_taxes_and_charges",
    "discount_amount": "discount_amount",
    "additional_discount_percentage": "additional_discount_percentage",
    "grand_total": "grand_total",
    "rounding_adjustment": "rounding_adjustment",
    "rounded_total": "rounded_total",
    "paid_amount": "paid_amount",
    "change_amount": "change_amount",
    "outstanding_amount": "outstanding_amount",
    "base_total": "total",
    "base_net_total": "net_total",
    "base_total_taxes_and_charges": "total_taxes_and_charges",
    "base_discount_amount": "discount_amount",
    "base_grand_total": "grand_total",
    "base_rounding_adjustment": "rounding_adjustment",
    "base_rounded_total": "rounded_total",
    "base_paid_amount": "paid_amount",
    "base_change_amount": "change_amount",
}


def _mismatches(result: InvoiceTotals, recorded: dict[str, Any], release: int = 15
                ) -> list[str]:
    """What differs. ERPNext 16 keeps a line's ``item_tax_rate`` and each tax row's
    per-item detail otherwise (every account of the invoice's taxes; a table of amounts
    rounded per row): neither is sent to it nor changes an amount, so for 16 only the
    money, numbers and texts are held to it."""
    bad: list[str] = []

    def check(where: str, ours: object, theirs: object) -> None:
        if ours != theirs or type(ours) is float:
            bad.append(f"{where}: ours {ours!r} != ERPNext {theirs!r}")

    check("number of lines", len(result.lines), len(recorded["items"]))
    for n, (line, row) in enumerate(zip(result.lines, recorded["items"], strict=False), 1):
        for recorded_field, ours in LINE_MONEY.items():
            check(f"line {n} {recorded_field}", getattr(line, ours), dec(row[recorded_field]))
        for name in LINE_NUMBERS:
            check(f"line {n} {name}", getattr(line, name), dec(row[name]))
        for name in LINE_TEXT:
            check(
                f"line {n} {name}",
                getattr(line, name),
                row[name] or ("" if name == "margin_type" else None),
            )
        if release < 16:
            check(
                f"line {n} item_tax_rate",
                line.item_tax_rate,
                {k: dec(v) for k, v in json.loads(row["item_tax_rate"] or "{}").items()},
            )

    check("number of tax rows", len(result.taxes), len(recorded["taxes"]))
    for n, (tax, row) in enumerate(zip(result.taxes, recorded["taxes"], strict=False), 1):
        check(f"tax {n} charge_type", tax.charge_type, ChargeType(row["charge_type"]))
        check(f"tax {n} account_head", tax.account_head, row["account_head"])
        check(f"tax {n} description", tax.description, row["description"])
        check(f"tax {n} rate", tax.rate, dec(row["rate"] or 0))
        check(f"tax {n} row_id", tax.row_id, int(row["row_id"]) if row["row_id"] else None)
        check(
            f"tax {n} included_in_print_rate",
            tax.included_in_print_rate,
            bool(row["included_in_print_rate"]),
        )
        for recorded_field, ours in TAX_MONEY.items():
            check(f"tax {n} {recorded_field}", getattr(tax, ours), dec(row[recorded_field]))
        if release >= 16:
            continue
        detail = json.loads(row["item_wise_tax_detail"])
        check(
            f"tax {n} item_wise_tax_detail items", sorted(tax.item_wise_tax_detail), sorted(detail)
        )
        for code, (rate, amount) in detail.items():
            if code not in tax.item_wise_tax_detail:
                continue
            our_rate, our_amount = tax.item_wise_tax_detail[code]
            check(f"tax {n} item_wise_tax_detail {code} rate", our_rate, dec(rate))
            # ERPNext keeps this amount as an unrounded float sum: compare 9 significant digits.
            check(
                f"tax {n} item_wise_tax_detail {code} amount",
                _significant(our_amount),
                _significant(dec(amount)),
            )

    for recorded_field, ours in HEADER.items():
        check(recorded_field, getattr(result, ours), dec(recorded[recorded_field]))
    check("apply_discount_on", result.apply_discount_on, recorded["apply_discount_on"])
    # Tillmesh never writes off; neither did any recorded invoice.
    check("write_off_amount", Decimal(0), dec(recorded["write_off_amount"]))
    check("base_write_off_amount", Decimal(0), dec(recorded["base_write_off_amount"]))
    return bad


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize(("case", "data"), _params(rejected=False))
def test_accepted_case_matches_erpnext(case: dict[str, Any], data: dict[str, Any]) -> None:
    cart, settings = cart_from_case(case, data)
    result = compute_totals(cart, settings)
    bad = _mismatches(result, case["result"], settings.release)
    assert not bad, f"{case['id']}:\n" + "\n".join(bad)


def _plain(message: str) -> str:
    """ERPNext's message without frappe.bold's markup: the till shows plain text."""
    return re.sub(r"</?strong>", "", message)


# ERPNext's exception classes that name what failed; a bare ValidationError may be any of ours.
ERROR_CLASS: dict[str, type[ValidationError]] = {
    "UOMMustBeIntegerError": TotalsError,
    "PartialPaymentValidationError": PaymentError,
    "StockOverReturnError": ReturnError,
}


@pytest.mark.parametrize(("case", "data"), _params(rejected=True))
def test_rejected_case_raises(case: dict[str, Any], data: dict[str, Any]) -> None:
    cart, settings = cart_from_case(case, data)
    with pytest.raises(ERROR_CLASS.get(case["error"]["exc_type"], ValidationError)) as caught:
        compute_totals(cart, settings)
    assert caught.value.message in [_plain(m) for m in case["error"]["messages"]]


def test_cases_cover_both_outcomes() -> None:
    assert any(case["rejected"] for case, _ in CASES)
    assert sum(not case["rejected"] for case, _ in CASES) >= 50


# --------------------------------------------------------------------------- unit checks


def _cart(*lines: CartLine, **kwargs: Any) -> Cart:
    return Cart(lines=lines, **kwargs)


def _vat19(included: bool = False) -> TaxRow:
    return TaxRow(
        ChargeType.ON_NET_TOTAL, "VAT 19", "VAT 19%", Decimal(19), included_in_print_rate=included
    )


def test_amount_due_uses_grand_total_when_rounding_disabled() -> None:
    cart = _cart(CartLine("A", Decimal(1), Decimal("1.23")))
    rounded = compute_totals(cart, TotalsSettings(smallest_currency_fraction=Decimal("0.05")))
    assert rounded.rounded_total == Decimal("1.25") and amount_due(rounded) == Decimal("1.25")
    plain = compute_totals(cart, TotalsSettings(disable_rounded_total=True))
    assert plain.rounded_total == 0 and amount_due(plain) == Decimal("1.23")


def test_paid_amount_defaults_to_amount_due() -> None:
    result = compute_totals(_cart(CartLine("A", Decimal(2), Decimal("1.10"))))
    assert result.paid_amount == Decimal("2.20") and result.change_amount == 0


def test_underpaid_draft_has_no_change_and_no_outstanding() -> None:
    line = CartLine("A", Decimal(2), Decimal(5))
    result = compute_totals(_cart(line, payments=(Decimal(4),), draft=True))
    assert result.change_amount == 0 and result.outstanding_amount == 0
    allowed = compute_totals(_cart(line, payments=(Decimal(4),), allow_partial_payment=True))
    assert allowed.paid_amount == Decimal(4)
    with pytest.raises(PaymentError, match="Partial Payment"):
        compute_totals(_cart(line, payments=(Decimal(4),)))


@pytest.mark.parametrize(
    "line",
    [
        CartLine("A", Decimal(0), Decimal(1)),
        CartLine("A", Decimal(-1), Decimal(1)),
        CartLine("A", Decimal("NaN"), Decimal(1)),
        CartLine("A", Decimal(1), Decimal("Infinity")),
        CartLine("A", Decimal(1), Decimal(-1)),
        CartLine("A", Decimal(1), Decimal(1), rate=Decimal(-2)),
        CartLine("A", Decimal(1), Decimal(1), discount_percentage=Decimal(101)),
        CartLine("A", Decimal(1), Decimal(1), conversion_factor=Decimal(0)),
        CartLine("A", 1.5, Decimal(1)),  # type: ignore[arg-type]
        CartLine("", Decimal(1), Decimal(1)),
    ],
)
def test_bad_lines_are_refused(line: CartLine) -> None:
    with pytest.raises(TotalsError):
        compute_totals(_cart(line))


def test_empty_cart_is_refused() -> None:
    with pytest.raises(TotalsError):
        compute_totals(Cart(lines=()))


def test_fractional_qty_of_whole_number_uom_is_refused() -> None:
    line = CartLine("A", Decimal("1.5"), Decimal(1), whole_number_uom=True)
    with pytest.raises(TotalsError, match=r"Row 1: Quantity \(1.5\) cannot be a fraction"):
        compute_totals(_cart(line))
    ok = CartLine("A", Decimal("2.000"), Decimal(1), whole_number_uom=True)
    assert compute_totals(_cart(ok)).total == Decimal("2.00")
    # ERPNext checks every stock qty first: 1 Pack of 2.5 is 2.5 Nos.
    pack = CartLine("A", Decimal(1), Decimal(5), uom="Pack", conversion_factor=Decimal("2.5"),
                    whole_number_stock_uom=True)
    with pytest.raises(TotalsError, match=r"Quantity \(2.5\) .* in UOM Nos\.$"):
        compute_totals(_cart(ok, pack))


def _return_of(*lines: CartLine, sold: Decimal, returned: Decimal = Decimal(0)) -> Cart:
    rows = {"ORIG-1": OriginalRow("A", sold, returned)}
    return _cart(*lines, is_return=True, return_against=ReturnAgainst("ORIG", rows))


def test_a_return_gives_back_at_most_what_is_left_of_its_row() -> None:
    back = CartLine("A", Decimal(-2), Decimal(5), return_row="ORIG-1")
    refund = compute_totals(_return_of(back, sold=Decimal(3), returned=Decimal(1)))
    assert refund.grand_total == Decimal("-10.00") and refund.paid_amount == Decimal("-10.00")
    with pytest.raises(ReturnError, match=r"^Row # 1: Cannot return more than 1\.0 for Item A$"):
        compute_totals(_return_of(back, sold=Decimal(3), returned=Decimal(2)))
    elsewhere = CartLine("A", Decimal(-1), Decimal(5), return_row="ORIG-9")
    with pytest.raises(ReturnError, match="Returned Item A does not exist in POS Invoice ORIG"):
        compute_totals(_return_of(elsewhere, sold=Decimal(3)))
    with pytest.raises(TotalsError, match="not a return"):
        compute_totals(dataclasses.replace(_return_of(back, sold=Decimal(3)), is_return=False))


def test_payments_are_checked_as_erpnext_checks_them() -> None:
    line = CartLine("A", Decimal(1), Decimal(5))
    with pytest.raises(PaymentError, match="At least one mode of payment"):
        compute_totals(_cart(line, payments=()))
    split = compute_totals(_cart(line, payments=(Decimal(3), Decimal(4))))
    assert split.paid_amount == Decimal(7) and split.change_amount == Decimal(2)
    back = CartLine("A", Decimal(-1), Decimal(5))
    with pytest.raises(PaymentError, match="Partial Payment"):
        compute_totals(_cart(back, is_return=True, payments=(Decimal("-4.99"),)))
    draft = compute_totals(_cart(back, is_return=True, payments=(Decimal(-4),), draft=True))
    assert draft.change_amount == Decimal(1)  # ERPNext's change_amount of a short refund


def test_invalid_tax_rows_are_refused() -> None:
    line = CartLine("A", Decimal(1), Decimal(10))
    first_previous = TaxRow(ChargeType.ON_PREVIOUS_ROW_TOTAL, "X", "x", Decimal(1), row_id=1)
    with pytest.raises(TotalsError, match="for first row"):
        compute_totals(_cart(line, taxes=(first_previous,)))
    forward = TaxRow(ChargeType.ON_PREVIOUS_ROW_AMOUNT, "X", "x", Decimal(1), row_id=2)
    with pytest.raises(TotalsError, match="greater than or equal"):
        compute_totals(_cart(line, taxes=(_vat19(), forward)))
    actual_inclusive = TaxRow(
        ChargeType.ACTUAL, "X", "x", Decimal(0), included_in_print_rate=True, tax_amount=Decimal(1)
    )
    with pytest.raises(TotalsError, match="cannot be included"):
        compute_totals(_cart(line, taxes=(actual_inclusive,)))
    mixed = TaxRow(
        ChargeType.ON_PREVIOUS_ROW_AMOUNT,
        "X",
        "x",
        Decimal(5),
        row_id=1,
        included_in_print_rate=True,
    )
    with pytest.raises(TotalsError, match="must also be included"):
        compute_totals(_cart(line, taxes=(_vat19(), mixed)))
    with pytest.raises(TotalsError, match="apply_discount_on"):
        compute_totals(_cart(line, apply_discount_on="Total"))


def test_discount_larger_than_total_is_refused_with_erpnext_message() -> None:
    cart = _cart(CartLine("A", Decimal(1), Decimal(1)), discount_amount=Decimal(2))
    with pytest.raises(TotalsError, match=r"must be >= 0\.0"):
        compute_totals(cart)


def test_inclusive_tax_with_grand_total_discount_by_hand() -> None:
    cart = _cart(
        CartLine("A", Decimal(3), Decimal("3.333")),
        taxes=(_vat19(True),),
        additional_discount_percentage=Decimal("12.5"),
    )
    result = compute_totals(cart)
    with pytest.raises(AttributeError):
        result.grand_total = Decimal(0)  # type: ignore[misc]
    # 3 x 3.33 = 9.99 incl. 19%: net 8.39, VAT 1.59, row total 9.98, grand total 9.99.
    # Discount 12.5% of 9.99 = 1.24875 -> 1.25, spread on 9.98: net 8.39 - 1.05 = 7.34,
    # VAT 1.39, row total 8.73; 9.99 - 1.25 - 8.73 = 0.01 goes into the grand total only.
    assert result.lines[0].price_list_rate == Decimal("3.33")
    assert result.discount_amount == Decimal("1.25")
    assert result.lines[0].net_amount == Decimal("7.34")
    assert result.lines[0].distributed_discount_amount == Decimal("1.05")
    assert result.taxes[0].tax_amount == Decimal("1.59")  # before the discount
    assert result.taxes[0].tax_amount_after_discount_amount == Decimal("1.39")
    assert result.taxes[0].total == Decimal("8.73")
    assert result.grand_total == Decimal("8.74")
    assert result.total_taxes_and_charges == Decimal("1.39")
