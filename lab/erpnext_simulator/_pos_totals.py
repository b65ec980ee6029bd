"""A POS Invoice's amounts as ERPNext computes them, whatever amounts the client sent.

ERPNext's ``calculate_taxes_and_totals`` recomputes every line amount, tax amount and
header total of a POS Invoice from its inputs, and so does :func:`recompute`: the list
price and rate of each line (a rate of 0 or none: the list price less the line discount),
its UOM and conversion factor, its item tax template (the item's own when none is sent:
ERPNext's ``set_missing_item_details``), the tax rows (charge type, rate, inclusion; an
Actual row's amount), the invoice discount and the rounding settings. The arithmetic is the
counter's port of ERPNext's (``tillmesh.node.domain.totals``, checked against ERPNext's
answers to real carts), so a counter and the simulator agree to the cent exactly where the
counter and ERPNext do.

A return is priced as the same cart with its quantities, invoice discount amount and Actual
charges negated, and the results negated back: each step of ERPNext's arithmetic is odd in
those inputs (half-to-even rounding is symmetric; cash rounding to 0.01 or 0.05 never meets
a tie), and the port takes positive quantities only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tillmesh.lab.erpnext_simulator._const import MONEY
from tillmesh.lab.erpnext_simulator._errors import ValidationError
from tillmesh.lab.erpnext_simulator._meta import cint, flt
from tillmesh.lab.erpnext_simulator._money import dec, quantity
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn
from tillmesh.node.domain.totals import (
    Cart,
    CartLine,
    ChargeType,
    InvoiceTotals,
    TaxRow,
    TotalsSettings,
    compute_totals,
)
from tillmesh.node.errors import TotalsError

# Header totals ERPNext computes, each also kept as base_<name> (the company currency is
# the invoice currency here). Those proportional to the quantities change sign on a return.
_HEADER = ("total_qty", "total", "net_total", "total_taxes_and_charges", "discount_amount",
           "grand_total", "rounding_adjustment", "rounded_total")
_LINE_BY_QTY = ("amount", "net_amount", "distributed_discount_amount")
_LINE_PER_UNIT = ("price_list_rate", "discount_percentage", "discount_amount",
                  "margin_rate_or_amount", "rate_with_margin", "rate", "net_rate")
_TAX_BY_QTY = ("tax_amount", "tax_amount_after_discount_amount", "total")


def recompute(txn: Txn, doc: Doc) -> None:
    """Set every amount of ``doc`` (a POS Invoice, its rows filled) as ERPNext would.

    Left as it is when the lines' quantities are not all of the invoice's sign (a return
    row sold, a sale row of 0): validation refuses those with ERPNext's own message.
    """
    rows = doc.get("items") or []
    sign = -1 if cint(doc.get("is_return")) else 1
    if not rows or any(sign * flt(row.get("qty")) <= 0 for row in rows):
        return
    cart = Cart(
        lines=[_line(txn, row, sign) for row in rows],
        taxes=[_tax(row, sign) for row in doc.get("taxes") or []],
        additional_discount_percentage=dec(doc.get("additional_discount_percentage")),
        discount_amount=sign * dec(doc.get("discount_amount")),
        apply_discount_on=str(doc.get("apply_discount_on") or "Grand Total"))
    try:
        totals = compute_totals(cart, _settings(txn, doc))
    except TotalsError as exc:  # the port words ERPNext's refusals of a priced cart
        raise ValidationError(str(exc)) from exc
    if txn.registry.release.major >= 16:
        check_item_wise_tax(totals)
    _write_back(doc, totals, sign)
    if txn.registry.release.major >= 16:  # ``validate_taxes_and_charges``: kept as 0, so a
        for row in doc.get("taxes") or []:  # later save rates items without a template 0
            if row.get("charge_type") == ChargeType.ACTUAL:
                row["rate"] = 0.0


def check_item_wise_tax(totals: InvoiceTotals) -> None:
    """ERPNext 16's ``adjust_rounding_in_item_wise_tax_details``: each tax row's per-item
    amounts must come within 0.5 of the row's amount after the discount. An item at rate
    0 of an Actual row is left out of that sum, so an Actual row over items of which only
    some have a rate for its account (their item tax template) is refused."""
    wrong = []
    for idx, tax in enumerate(totals.taxes, start=1):
        counted = [amount for rate, amount in tax.item_wise_tax_detail.values()
                   if not (tax.charge_type == ChargeType.ACTUAL and rate == 0)]
        if not counted:
            continue
        diff = tax.tax_amount_after_discount_amount - sum(counted, Decimal(0))
        if abs(diff) > Decimal("0.5"):
            wrong.append(f"Row {idx} (Difference: {float(diff)})")
    if wrong:
        raise ValidationError("Item Wise Tax Details do not match with Taxes and Charges at"
                              " the following rows:<br>" + "<br>".join(wrong))


def _line(txn: Txn, row: Doc, sign: int) -> CartLine:
    template = row.get("item_tax_template") or _item_template(txn, row.get("item_code"))
    row["item_tax_template"] = template
    rates = _template_rates(txn, template)
    row["item_tax_rate"] = json.dumps({account: float(rate) for account, rate in rates.items()})
    rate = dec(row.get("rate"))
    return CartLine(
        item_code=str(row["item_code"]), qty=sign * dec(row.get("qty")),
        price_list_rate=dec(row.get("price_list_rate")), uom=str(row.get("uom")),
        stock_uom=str(row.get("stock_uom")), conversion_factor=dec(row.get("conversion_factor")),
        rate=rate or None, discount_percentage=dec(row.get("discount_percentage")),
        discount_amount=dec(row.get("discount_amount")), item_tax_template=template,
        item_tax_rates=rates)


def _tax(row: Doc, sign: int) -> TaxRow:
    try:
        charge = ChargeType(str(row.get("charge_type") or ChargeType.ON_NET_TOTAL))
    except ValueError as exc:  # Frappe's check of a Select field
        options = '", "'.join(ChargeType)
        raise ValidationError(f'Type cannot be "{row.get("charge_type")}". It should be one '
                              f'of "{options}"') from exc
    row_id = cint(row.get("row_id")) or None
    return TaxRow(
        charge_type=charge, account_head=str(row.get("account_head")),
        description=str(row.get("description") or row.get("account_head")),
        rate=dec(row.get("rate")), row_id=row_id,
        included_in_print_rate=bool(cint(row.get("included_in_print_rate"))),
        tax_amount=sign * dec(row.get("tax_amount")) if charge is ChargeType.ACTUAL
        else Decimal(0))


def _item_template(txn: Txn, item_code: Any) -> str | None:
    item = txn.get("Item", item_code) or {}
    for row in item.get("taxes") or []:
        if row.get("item_tax_template"):
            return str(row["item_tax_template"])
    return None


def _template_rates(txn: Txn, template: str | None) -> dict[str, Decimal]:
    found = txn.get("Item Tax Template", template) or {}
    return {str(r.get("tax_type")): dec(r.get("tax_rate")) for r in found.get("taxes") or []}


def _settings(txn: Txn, doc: Doc) -> TotalsSettings:
    defaults = txn.get("Global Defaults", "Global Defaults") or {}
    currency = txn.get("Currency", doc.get("currency"))
    fraction = MONEY if currency is None else dec(
        currency.get("smallest_currency_fraction_value"))
    return TotalsSettings(disable_rounded_total=bool(cint(defaults.get(
        "disable_rounded_total"))), smallest_currency_fraction=fraction,
        allow_negative_rate=True)  # refused by the consolidation (_consolidation.py)


def _write_back(doc: Doc, totals: InvoiceTotals, sign: int) -> None:
    for row, line in zip(doc.get("items") or [], totals.lines, strict=True):
        computed = _fields(vars(line), _LINE_BY_QTY, _LINE_PER_UNIT, sign)
        # round_floats_in: quantities are kept to the float precision
        row.update(computed, margin_type=line.margin_type, qty=quantity(sign * line.qty),
                   stock_qty=quantity(sign * line.stock_qty))
        row.update({f"base_{k}": v for k, v in computed.items()
                    if k in ("price_list_rate", "rate", "amount", "net_rate", "net_amount")})
    for row, tax in zip(doc.get("taxes") or [], totals.taxes, strict=True):
        computed = _fields(vars(tax), _TAX_BY_QTY, ("rate",), sign)
        row.update(computed, charge_type=str(tax.charge_type), item_wise_tax_detail=json.dumps(
            {code: [float(rate), float(sign * amount)]
             for code, (rate, amount) in tax.item_wise_tax_detail.items()},
            separators=(",", ":")))
        row.update({f"base_{k}": v for k, v in computed.items() if k != "rate"})
    header = _fields(vars(totals), _HEADER, ("additional_discount_percentage",), sign)
    doc.update(header)
    doc.update({f"base_{k}": v for k, v in header.items() if k in _HEADER})


def _fields(values: Mapping[str, Any], by_qty: tuple[str, ...], per_unit: tuple[str, ...],
            sign: int) -> dict[str, float]:
    out = {k: float(sign * values[k]) + 0.0 for k in by_qty}  # + 0.0: no "-0.0"
    out.update({k: float(values[k]) for k in per_unit})
    return out
