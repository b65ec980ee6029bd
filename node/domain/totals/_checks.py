"""What ERPNext refuses in a POS Invoice, with its messages, and the input guards around it.

Before pricing: ``number`` and ``check_settings`` guard the inputs (Tillmesh's own rules:
money is a finite Decimal); ``check_quantities`` is ``validate_qty_is_not_zero`` /
``validate_zero_qty_for_return_invoices_with_stock`` and ``validate_taxes`` is
``validate_taxes_and_charges`` + ``validate_inclusive_tax`` (``controllers/
accounts_controller.py``), row by row as ``initialize_taxes`` runs them.

After pricing, ``validate_invoice`` runs the checks ERPNext runs on the priced invoice, in
ERPNext's order: ``base_grand_total >= 0`` (``AccountsController.validate``, sales only),
``validate_return`` / ``validate_quantity`` (``controllers/sales_and_purchase_return.py``),
then ``POSInvoice.validate``: ``validate_mode_of_payment``, ``validate_uom_is_integer``
(stock UOM first, then the line's UOM), ``validate_return_items_qty``, ``validate_pos``
(from Sales Invoice), ``validate_payment_amount`` and ``validate_full_payment`` (on submit
only).

Messages are ERPNext's word for word, without the ``<strong>`` markup of ``frappe.bold``
(the till shows plain text); a number in a message is printed as Python prints ERPNext's
float (``0.5``, ``2.0``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from tillmesh.node.domain.money import flt
from tillmesh.node.domain.totals._model import (
    ERPNEXT_RELEASES,
    NEGATIVE_GRAND_TOTAL,
    Cart,
    CartLine,
    ChargeType,
    InvoiceTotals,
    LineTotals,
    ReturnAgainst,
    TotalsSettings,
    amount_due,
)
from tillmesh.node.errors import PaymentError, ReturnError, TotalsError

POSITIVE = ("postive", "positive")  # ERPNext 15's spelling, then 16's
_PREVIOUS_ROW = (ChargeType.ON_PREVIOUS_ROW_AMOUNT, ChargeType.ON_PREVIOUS_ROW_TOTAL)
_NO_ROW_ID = (ChargeType.ACTUAL, ChargeType.ON_NET_TOTAL)  # "On Paid Amount" is not a sales type


def number(value: object, what: str, *, allow_negative: bool = False) -> Decimal:
    """A finite Decimal input (int accepted); floats are refused, money is never float."""
    if type(value) is Decimal and value.is_finite() and (allow_negative or value >= 0):
        return value  # the common case at once: pricing checks ~350 inputs a 30-line cart
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TotalsError(f"{what} must be a Decimal, not {type(value).__name__} {value!r}")
    result = Decimal(value)
    if not result.is_finite():
        raise TotalsError(f"{what} must be finite, not {value!r}")
    if result < 0 and not allow_negative:
        raise TotalsError(f"{what} must not be negative: {value}")
    return result


def check_settings(settings: TotalsSettings) -> None:
    for name in ("currency_precision", "float_precision"):
        precision = getattr(settings, name)
        if isinstance(precision, bool) or not isinstance(precision, int):
            raise TotalsError(f"settings.{name} must be an int")
        if not 0 <= precision <= 9:
            raise TotalsError(f"settings.{name} must be between 0 and 9, not {precision}")
    number(settings.smallest_currency_fraction, "settings.smallest_currency_fraction")
    if settings.release not in ERPNEXT_RELEASES:
        raise TotalsError(f"settings.release must be one of {ERPNEXT_RELEASES}, not"
                          f" {settings.release!r}")
    _separators(settings.number_format)


def _float_text(value: Decimal) -> str:
    """``str()`` of the float ERPNext formats into a message: 0.5, 2.0, -1.25."""
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def _comma_and(items: Sequence[str], release: int) -> str:
    """``frappe.utils.comma_and``: one item bare, several quoted and joined with "and";
    Frappe 16 takes the locale's list pattern, English's with a comma before "and"."""
    if len(items) == 1:
        return items[0]
    quoted = [f"'{item}'" for item in items]
    return f"{', '.join(quoted[:-1])}{',' if release >= 16 else ''} and {quoted[-1]}"


@functools.cache  # read at every pricing: a store has one format
def _separators(number_format: str) -> tuple[str, str]:
    """(thousands, decimal) separators of a Frappe number format: "#,###.##" (",", "."),
    "#.###,##" (".", ","), "# ###.##", "#'###.##", "#,###" (",", ""): a single mark
    before three digits groups them, else the last mark is the decimal one."""
    marks = [(at, c) for at, c in enumerate(number_format) if c != "#"]
    if not marks or not number_format.startswith("#") or \
            any(c not in " ,.'" for _, c in marks):
        raise TotalsError(f"settings.number_format {number_format!r} is not a Frappe number"
                          " format such as #,###.##")
    last_at, last = marks[-1]
    if len(marks) == 1 and len(number_format) - last_at == 4:
        return last, ""
    return (marks[0][1] if len(marks) > 1 else ""), last


def formatted_money(amount: Decimal, settings: TotalsSettings) -> str:
    """``doc.get_formatted`` of a currency field: symbol, a space, the amount in the
    site's number format ("€ 2,37")."""
    thousands, decimal = _separators(settings.number_format)
    places = settings.currency_precision if decimal else 0
    whole, _, fraction = f"{abs(amount):.{places}f}".partition(".")
    groups = f"{int(whole):,}".replace(",", thousands)
    text = f"{'-' if amount < 0 else ''}{groups}{decimal + fraction if fraction else ''}"
    return f"{settings.currency_symbol} {text}" if settings.currency_symbol else text


def check_discount(discount: Decimal, grand_total: Decimal, settings: TotalsSettings) -> None:
    """ERPNext 16's ``set_discount_amount``: the invoice discount no larger than the total
    before it (a return's, no smaller; the discounts of the original's earlier returns,
    which ERPNext adds, are not known to a cart)."""
    if settings.release < 16:
        return
    if discount > grand_total >= 0 or discount < grand_total < 0:
        raise TotalsError(
            f"Additional Discount Amount ({formatted_money(discount, settings)}) cannot exceed"
            f" the total before such discount ({formatted_money(grand_total, settings)})")


def check_quantities(codes_and_qtys: Sequence[tuple[str, Decimal]], is_return: bool,
                     release: int) -> None:
    """No line may have a zero quantity (lines numbered from 1)."""
    zero = [idx for idx, (_, qty) in enumerate(codes_and_qtys, start=1) if not qty]
    if not zero:
        return
    if is_return:
        rows = _comma_and([f"#{idx}" for idx in zero], release)
        raise TotalsError(
            "For Return Invoices with Stock effect, '0' qty Items are not allowed. "
            f"Following rows are affected: {rows}"
        )
    code = codes_and_qtys[zero[0] - 1][0]
    raise TotalsError(f"Row #{zero[0]}: Quantity for Item {code} cannot be zero.")


class TaxRowLike(Protocol):
    idx: int
    charge_type: ChargeType
    row_id: int | None
    included: bool


def validate_taxes(taxes: Sequence[TaxRowLike]) -> None:
    """``validate_taxes_and_charges`` and ``validate_inclusive_tax``, same messages."""
    for tax in taxes:
        if tax.charge_type in _NO_ROW_ID and tax.row_id:
            raise TotalsError(
                "Can refer row only if the charge type is 'On Previous Row Amount' or "
                "'Previous Row Total'"
            )
        if tax.charge_type in _PREVIOUS_ROW:
            if tax.idx == 1:
                raise TotalsError(
                    "Cannot select charge type as 'On Previous Row Amount' or "
                    "'On Previous Row Total' for first row"
                )
            # A negative row id would make ERPNext read rows from the end: refused here.
            if not tax.row_id or tax.row_id < 1:
                raise TotalsError(
                    f"Please specify a valid Row ID for row {tax.idx} in table "
                    "Sales Taxes and Charges"
                )
            if tax.row_id >= tax.idx:
                raise TotalsError(
                    "Cannot refer row number greater than or equal to current row number "
                    "for this Charge type"
                )
        if tax.included:
            _validate_inclusive(tax, taxes)


def _validate_inclusive(tax: TaxRowLike, taxes: Sequence[TaxRowLike]) -> None:
    row_id = tax.row_id or 0
    if tax.charge_type is ChargeType.ACTUAL:
        raise TotalsError(
            f"Charge of type 'Actual' in row {tax.idx} cannot be included in Item Rate or "
            "Paid Amount"
        )
    if tax.charge_type is ChargeType.ON_PREVIOUS_ROW_AMOUNT and not taxes[row_id - 1].included:
        rows = str(row_id)
    # ERPNext checks the rows before the referred one (taxes[: row_id - 1]), not the
    # referred row itself.
    elif tax.charge_type is ChargeType.ON_PREVIOUS_ROW_TOTAL and not all(
        t.included for t in taxes[: row_id - 1]
    ):
        rows = f"1 - {row_id}"
    else:
        return
    raise TotalsError(
        f"To include tax in row {tax.idx} in Item rate, taxes in rows {rows} must also be "
        "included"
    )


# --------------------------------------------------------------------------- the invoice


def validate_invoice(cart: Cart, totals: InvoiceTotals, settings: TotalsSettings) -> None:
    """Refuse the priced invoice where ERPNext refuses it, first failure first."""
    if not cart.is_return:
        # base_grand_total is the net total when there is no tax amount at all.
        base = totals.grand_total if totals.total_taxes_and_charges else totals.net_total
        if base < 0:
            raise TotalsError(NEGATIVE_GRAND_TOTAL)
    if cart.is_return and cart.return_against is not None:
        _validate_return(cart.return_against, cart.lines, totals.lines, settings.float_precision)
    _require_payment(cart)
    _validate_whole_numbers(cart.lines, totals.lines, settings.float_precision)
    if cart.is_return:
        for idx, line in enumerate(totals.lines, start=1):
            if line.qty > 0:
                raise ReturnError(
                    f"Row #{idx}: You cannot add {POSITIVE[settings.release >= 16]} quantities"
                    f" in a return invoice. Please remove item {line.item_code} to complete"
                    " the return."
                )
    _validate_payments(cart, totals, settings)


def validate_payments(cart: Cart, totals: InvoiceTotals, settings: TotalsSettings) -> None:
    """Refuse the payments where ERPNext refuses them (the only checks that depend on
    them: the rest hold for the same cart unpaid)."""
    _require_payment(cart)
    _validate_payments(cart, totals, settings)


def _require_payment(cart: Cart) -> None:
    if cart.payments is not None and not cart.payments:
        raise PaymentError("At least one mode of payment is required for POS invoice.")


def _validate_return(
    against: ReturnAgainst,
    lines: Sequence[CartLine],
    results: Sequence[LineTotals],
    precision: int,
) -> None:
    for idx, (line, result) in enumerate(zip(lines, results, strict=True), start=1):
        if line.return_row is None:
            # Without pos_invoice_item ERPNext only warns (it matches rows by name).
            continue
        row = against.rows.get(line.return_row)
        if row is None or row.item_code != line.item_code:
            raise ReturnError(
                f"Row # {idx}: Returned Item {line.item_code} does not exist in POS Invoice "
                f"{against.name}"
            )
        if not row.stock_qty:
            continue
        if result.stock_qty > 0:
            raise ReturnError("Stock Qty must be negative in return document")
        returnable = flt(flt(row.stock_qty, precision) - row.returned_stock_qty, precision)
        if abs(flt(result.stock_qty, precision)) > returnable:
            raise ReturnError(
                f"Row # {idx}: Cannot return more than {_float_text(returnable)} for Item "
                f"{line.item_code}"
            )


def _validate_whole_numbers(
    lines: Sequence[CartLine], results: Sequence[LineTotals], precision: int
) -> None:
    """``validate_uom_is_integer``: first every stock qty, then every qty."""
    pairs = list(zip(lines, results, strict=True))
    for checks in (
        [(line.whole_number_stock_uom, r.stock_uom, r.stock_qty) for line, r in pairs],
        [(line.whole_number_uom, r.uom, r.qty) for line, r in pairs],
    ):
        for idx, (whole, uom, qty) in enumerate(checks, start=1):
            rounded = flt(qty, precision)
            if whole and rounded != int(rounded):
                raise TotalsError(
                    f"Row {idx}: Quantity ({_float_text(rounded)}) cannot be a fraction. To "
                    f"allow this, disable 'Must be Whole Number' in UOM {uom}."
                )


def _validate_payments(cart: Cart, totals: InvoiceTotals, settings: TotalsSettings) -> None:
    due, precision = amount_due(totals), settings.currency_precision
    paid = totals.paid_amount
    # validate_pos tolerates a tenth of the smallest unit (1 / 10 ** (precision + 1)).
    if cart.is_return and abs(paid) - abs(due) > Decimal(1).scaleb(-(precision + 1)):
        raise PaymentError("Paid amount + Write Off Amount can not be greater than Grand Total")
    for idx, amount in enumerate(cart.payments or (), start=1):
        if not cart.is_return and amount < 0:
            raise PaymentError(f"Row #{idx} (Payment Table): Amount must be positive")
        if cart.is_return and amount > 0:
            raise PaymentError(f"Row #{idx} (Payment Table): Amount must be negative")
    # validate_payment_amount's "Total payments amount can't be greater than" never fires:
    # validate_pos above already refused a refund beyond the total.
    if cart.draft or cart.allow_partial_payment:
        return
    if settings.release >= 16:  # validate_full_payment moved to Sales Invoice: not a return
        if not cart.is_return and paid < due:
            raise PaymentError("Partial Payment in POS Transactions are not allowed.",
                               due=str(due), paid=str(paid))
    elif paid < due or (cart.is_return and paid != due):
        raise PaymentError(
            "Partial Payment in POS Invoice is not allowed.", due=str(due), paid=str(paid)
        )
