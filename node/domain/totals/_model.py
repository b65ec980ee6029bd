"""The data of ERPNext's POS totals: the cart going in and the totals coming out.

Frozen dataclasses, all money ``Decimal``; see ``node.domain.totals`` for how they are
computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tillmesh.node.domain.money import CURRENCY_PRECISION, FLOAT_PRECISION

ZERO = Decimal(0)
HUNDRED = Decimal(100)
# POS Invoice Item.discount_percentage is a Percent field with precision "2".
DISCOUNT_PERCENTAGE_PRECISION = 2
GRAND_TOTAL = "Grand Total"
NET_TOTAL = "Net Total"
NEGATIVE_GRAND_TOTAL = "Incorrect value:Grand Total (Company Currency) must be >= 0.0"
# The ERPNext majors whose answers were recorded and are copied (shared/erpnext, tests/lab)
ERPNEXT_RELEASES = (15, 16)


def nearest_release(major: int) -> int:
    """The recorded ERPNext release a site of ``major`` is taken for: older than 15 as 15,
    newer than 16 as 16."""
    return min(max(major, ERPNEXT_RELEASES[0]), ERPNEXT_RELEASES[-1])
NEGATIVE_RATE = ("{item}: Pricing Rule {rules} takes its price below zero ({rate}). ERPNext "
                 "cannot consolidate a shift with a negative rate ('For item {item}, rate must "
                 "be a positive number'): the rule must be corrected in ERPNext")


class ChargeType(StrEnum):
    ON_NET_TOTAL = "On Net Total"
    ACTUAL = "Actual"
    ON_PREVIOUS_ROW_AMOUNT = "On Previous Row Amount"
    ON_PREVIOUS_ROW_TOTAL = "On Previous Row Total"
    ON_ITEM_QUANTITY = "On Item Quantity"  # rate is an amount per unit of qty


@dataclass(frozen=True)
class TaxRow:
    """A row of Sales Taxes and Charges, in invoice order (idx = position + 1)."""

    charge_type: ChargeType
    account_head: str
    description: str
    rate: Decimal
    row_id: int | None = None
    included_in_print_rate: bool = False
    tax_amount: Decimal = ZERO  # the fixed amount of an Actual charge


@dataclass(frozen=True)
class CartLine:
    item_code: str
    qty: Decimal
    price_list_rate: Decimal  # for this line's UOM, already resolved by the caller
    uom: str = "Nos"
    stock_uom: str = "Nos"
    conversion_factor: Decimal = Decimal(1)
    rate: Decimal | None = None  # counter price override; None (or 0) = from the list price
    discount_percentage: Decimal = ZERO
    discount_amount: Decimal = ZERO
    item_tax_template: str | None = None
    item_tax_rates: Mapping[str, Decimal] = field(default_factory=dict)  # account -> rate
    whole_number_uom: bool = False  # uom must be a whole number (UOM.must_be_whole_number)
    whole_number_stock_uom: bool = False  # the same for stock_uom, checked on stock_qty
    return_row: str | None = None  # a return's line: the original row (pos_invoice_item)
    # Priced by Pricing Rules (``pricing_rules``): the rules' names, and the margin they
    # set; ERPNext then derives the rate from the discount (and margin) as such a line's.
    pricing_rules: tuple[str, ...] = ()
    margin_type: str = ""  # Percentage, Amount
    margin_rate_or_amount: Decimal = ZERO
    is_free_item: bool = False  # added by a product rule (ERPNext's is_free_item)


@dataclass(frozen=True)
class OriginalRow:
    """A row of the submitted invoice a return gives back, as ERPNext checks returns."""

    item_code: str
    stock_qty: Decimal
    returned_stock_qty: Decimal = ZERO  # given back already by submitted returns


@dataclass(frozen=True)
class ReturnAgainst:
    """The submitted invoice a return is against (``return_against``) and its rows by name."""

    name: str
    rows: Mapping[str, OriginalRow]


@dataclass(frozen=True)
class Cart:
    """A POS Invoice to price: a sale, or with ``is_return`` a return (negative qty)."""

    lines: Sequence[CartLine]
    taxes: Sequence[TaxRow] = ()
    additional_discount_percentage: Decimal = ZERO
    discount_amount: Decimal = ZERO  # a return's is negative, as ERPNext's return mapper sets it
    apply_discount_on: str = GRAND_TOTAL
    # The amount of each payment row (negative on a return); None = one row paying exactly
    # the amount due.
    payments: Sequence[Decimal] | None = None
    # The worth of the loyalty points redeemed: paid, beside the rows (calculate_paid_amount).
    loyalty_amount: Decimal = ZERO
    is_return: bool = False
    return_against: ReturnAgainst | None = None
    # ERPNext checks full payment only when the invoice is submitted, never on a draft,
    # and not at all when the POS Profile allows partial payment.
    draft: bool = False
    allow_partial_payment: bool = False


@dataclass(frozen=True)
class TotalsSettings:
    currency_precision: int = CURRENCY_PRECISION
    float_precision: int = FLOAT_PRECISION
    disable_rounded_total: bool = False
    smallest_currency_fraction: Decimal = Decimal("0.01")
    # ERPNext takes a POS Invoice row below zero (its consolidation then fails); a
    # counter never prices one. Only the ERPNext simulator says yes.
    allow_negative_rate: bool = False
    # The ERPNext major release whose arithmetic and words are copied (ERPNEXT_RELEASES)
    release: int = 15
    # How ERPNext 16 writes an amount into its discount refusal: the currency's symbol and
    # the site's number format (System Settings)
    currency_symbol: str = ""
    number_format: str = "#,###.##"


@dataclass(frozen=True)
class LineTotals:
    """An invoice item row as ERPNext stores it."""

    item_code: str
    qty: Decimal
    stock_qty: Decimal
    uom: str
    stock_uom: str
    conversion_factor: Decimal
    price_list_rate: Decimal
    discount_percentage: Decimal
    discount_amount: Decimal
    margin_type: str  # "" or "Amount"
    margin_rate_or_amount: Decimal
    rate_with_margin: Decimal
    rate: Decimal
    amount: Decimal
    net_rate: Decimal
    net_amount: Decimal
    distributed_discount_amount: Decimal
    item_tax_template: str | None
    item_tax_rate: dict[str, Decimal]
    pricing_rules: tuple[str, ...] = ()  # the Pricing Rules that priced it
    is_free_item: bool = False


@dataclass(frozen=True)
class TaxTotals:
    """A tax row as ERPNext stores it (base_* equal these: conversion rate is 1)."""

    charge_type: ChargeType
    account_head: str
    description: str
    rate: Decimal
    row_id: int | None
    included_in_print_rate: bool
    tax_amount: Decimal
    tax_amount_after_discount_amount: Decimal
    total: Decimal
    # item_code -> (rate applied, tax amount unrounded); repeated items are merged.
    item_wise_tax_detail: dict[str, tuple[Decimal, Decimal]]


@dataclass(frozen=True)
class InvoiceTotals:
    lines: tuple[LineTotals, ...]
    taxes: tuple[TaxTotals, ...]
    total_qty: Decimal
    total: Decimal
    net_total: Decimal
    total_taxes_and_charges: Decimal
    discount_amount: Decimal
    additional_discount_percentage: Decimal
    apply_discount_on: str
    grand_total: Decimal
    rounding_adjustment: Decimal
    rounded_total: Decimal  # 0 when rounding is disabled
    paid_amount: Decimal
    change_amount: Decimal
    # A POS Invoice never computes it (it must be paid in full to submit): always 0.
    outstanding_amount: Decimal
    # The Pricing Rules on the whole transaction that gave the invoice discount, and
    # those that only check it and found it short: ERPNext keeps no record of either,
    # the cashier (and the receipt) are told. Set by the caller that applied them.
    invoice_pricing_rules: tuple[str, ...] = ()
    invoice_rules_short_of: tuple[str, ...] = ()


def amount_due(totals: InvoiceTotals) -> Decimal:
    """What the customer pays: ``rounded_total or grand_total``, as ERPNext decides it."""
    return totals.rounded_total or totals.grand_total


def recorded_due(totals: Mapping[str, Any]) -> str:
    """:func:`amount_due` of a recorded sale, from its ``totals`` as the event holds them
    (money as text): ``rounded_total`` unless 0 (rounding off), else ``grand_total``."""
    rounded = str(totals.get("rounded_total") or "0")
    return rounded if Decimal(rounded) else str(totals.get("grand_total") or "0")
