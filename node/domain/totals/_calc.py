"""Cart pricing and taxes exactly as ERPNext 15 computes a POS Invoice.

A port of ``erpnext/controllers/taxes_and_totals.py`` (``calculate_taxes_and_totals``,
version-15 branch as run by ERPNext 15.71) for the one case Tillmesh needs: a POS Invoice
(a sale, or a return with negative quantities) in the company currency (conversion rate
1), no pricing rules, no shipping rule. What ERPNext refuses, before and after pricing,
is in ``_checks``. ``compute_totals`` is pure: same cart and settings, same result, no I/O.

What mirrors what (ERPNext method -> here):

- ``calculate_item_values`` + ``calculate_margin`` -> ``_Calc.calculate_item_values``:
  list price and counter rate, line discount, "rate above list price" as margin type
  Amount with a negative ``discount_amount``, ``amount = rate x qty``.
- ``initialize_taxes`` (+ ``validate_taxes_and_charges`` / ``validate_inclusive_tax``).
- ``determine_exclusive_rate`` / ``get_current_tax_fraction``: net amount of lines whose
  price includes tax (an included "On Item Quantity" row is a fixed amount per unit).
- ``calculate_net_total``.
- ``calculate_taxes`` with ``get_current_tax_amount``, ``set_item_wise_tax``,
  ``round_off_totals`` and ``set_cumulative_total``; Actual charges spread by net amount
  with the remainder on the last line.
- ``adjust_grand_total_for_inclusive_tax``: the few-cent ``grand_total_diff`` that goes
  into ``grand_total`` only; with an included tax it replaces the difference a Grand Total
  discount left, and is reset to 0 when it exceeds five cents.
- ``calculate_totals`` + ``set_rounded_total`` (``round_based_on_smallest_currency_fraction``).
- ``set_discount_amount`` / ``apply_discount_amount`` / ``get_total_for_discount_amount``:
  discount on Grand Total or Net Total spread over line net amounts, then a second pass.
- POS Invoice ``validate_change_amount``.

Rounding policy: every place ERPNext calls ``flt(x, precision)`` is ``_round`` here, which
is Frappe's "Banker's Rounding" (``frappe.utils.data._bankers_rounding``): the value is
first rounded to 12 more decimals (Frappe does this to scrub float noise, which turns a
value within 1e-12 of a half into a half) and then half to even. Every place ERPNext
keeps a float unrounded (``flt(x)`` without precision, running sums, per-item tax in
``item_wise_tax_detail``) stays an exact Decimal here. Money fields have
``currency_precision`` decimals; qty, conversion factor, tax rate and additional discount
percentage ``float_precision``; a line's ``discount_percentage`` 2 (fixed in the doctype).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from tillmesh.node.domain.money import CURRENCY_PRECISION, QUANTUM
from tillmesh.node.domain.totals._checks import (
    check_discount,
    check_quantities,
    check_settings,
    number,
    validate_invoice,
    validate_payments,
    validate_taxes,
)
from tillmesh.node.domain.totals._model import (
    DISCOUNT_PERCENTAGE_PRECISION,
    GRAND_TOTAL,
    HUNDRED,
    NEGATIVE_RATE,
    NET_TOTAL,
    ZERO,
    Cart,
    CartLine,
    ChargeType,
    InvoiceTotals,
    LineTotals,
    TaxRow,
    TaxTotals,
    TotalsSettings,
    amount_due,
)
from tillmesh.node.errors import TotalsError

_DEFAULT_SETTINGS = TotalsSettings()


def compute_totals(cart: Cart, settings: TotalsSettings = _DEFAULT_SETTINGS) -> InvoiceTotals:
    """Price ``cart`` as ERPNext 15 prices a POS Invoice.

    Raises where ERPNext refuses the invoice, with its message: TotalsError (prices, taxes,
    quantities), ReturnError (a return against its original), PaymentError (payments).
    """
    _check_cart(cart, settings)
    with localcontext() as ctx:
        # Enough digits that exact Decimal arithmetic never rounds before ERPNext does.
        ctx.prec = 50
        calc = _Calc(cart, settings)
        calc.calculate()
        totals = calc.result()
    validate_invoice(cart, totals, settings)
    return totals


@dataclass(frozen=True)
class Subtotals:
    """A cart priced before any invoice discount: what the rules on the whole sale are
    judged on (its quantity and total) and take a percentage of (its net or grand total)."""

    total_qty: Decimal
    total: Decimal
    net_total: Decimal
    grand_total: Decimal


# (additional_discount_percentage, discount_amount, apply_discount_on), or None
InvoiceDiscountOf = Callable[[Subtotals], tuple[Decimal, Decimal, str] | None]


def compute_totals_discounted(cart: Cart, settings: TotalsSettings,
                              discount_of: InvoiceDiscountOf) -> InvoiceTotals | None:
    """``compute_totals`` of ``cart`` with the invoice discount that ``discount_of`` gives
    for its subtotals before any invoice discount (the cart's own is replaced), as ERPNext
    prices an invoice, applies the rules on the whole sale, and goes on pricing it. The
    lines are priced once: a first pass does not depend on the invoice discount. None
    when ``discount_of`` gives None (the rules change the lines: price those instead)."""
    _check_cart(cart, settings)
    with localcontext() as ctx:
        ctx.prec = 50
        calc = _Calc(cart, settings)
        calc._calculate()  # the first pass, before any invoice discount
        decided = discount_of(Subtotals(calc.total_qty, calc.total, calc.net_total,
                                        calc.grand_total))
        if decided is None:
            return None
        percentage, amount, on = decided
        calc.set_invoice_discount(percentage, amount, on)
        calc.set_discount_amount()
        calc.apply_discount_amount()
        totals = calc.result()
    validate_invoice(replace(cart, additional_discount_percentage=percentage,
                             discount_amount=amount, apply_discount_on=on), totals, settings)
    return totals


def _check_cart(cart: Cart, settings: TotalsSettings) -> None:
    check_settings(settings)
    if not cart.lines:
        raise TotalsError("the cart has no lines")
    if cart.return_against is not None and not cart.is_return:
        raise TotalsError("return_against is set on a cart that is not a return")


def with_payments(cart: Cart, unpaid: InvoiceTotals,
                  settings: TotalsSettings = _DEFAULT_SETTINGS) -> InvoiceTotals:
    """``compute_totals(cart, settings)`` from ``unpaid``, the same cart's totals without
    payments: only the paid amount and the change depend on them, so a sale is priced
    once to learn what is due and not again once the customer has paid it."""
    money = settings.currency_precision
    paid, change = _paid_and_change(amount_due(unpaid), cart.payments, money,
                                    cart.loyalty_amount)
    totals = replace(unpaid, paid_amount=_round(paid, money),
                     change_amount=_round(change, money))
    validate_payments(cart, totals, settings)
    return totals


def _paid_and_change(due: Decimal, payments: Sequence[Decimal] | None,
                     money: int, loyalty: Decimal = ZERO) -> tuple[Decimal, Decimal]:
    paid = due if payments is None else sum(payments, ZERO) + loyalty
    # POS Invoice.validate_change_amount: change only when more than the due was paid.
    return paid, _round(paid - due, money) if paid > due else ZERO


# --------------------------------------------------------------------------- helpers


_SCRUB = {p: Decimal(1).scaleb(-(p + 12)) for p in range(10)}


def _round(value: Decimal, precision: int) -> Decimal:
    """``frappe.utils.flt(value, precision)`` under Banker's Rounding (see module doc)."""
    # ``flt``'s quantize inlined: a 30-line cart is rounded ~500 times per pricing. The
    # rounding is passed by position: as a keyword, the C decimal parses it at 3x the
    # cost of the quantize itself (272 against 90 ns).
    return value.quantize(_SCRUB[precision], ROUND_HALF_EVEN).quantize(
        QUANTUM[precision], ROUND_HALF_EVEN)


def percentage_discount(base: Decimal, percentage: Decimal,
                        precision: int = CURRENCY_PRECISION) -> Decimal:
    """The invoice discount ERPNext sets for ``percentage`` off ``base`` (the grand or net
    total before it: ``set_discount_amount``)."""
    return _round(base * percentage / HUNDRED, precision)


# --------------------------------------------------------------------------- working rows


@dataclass
class _Item:
    idx: int
    item_code: str
    qty: Decimal
    uom: str
    stock_uom: str
    conversion_factor: Decimal
    price_list_rate: Decimal
    rate: Decimal
    discount_percentage: Decimal
    discount_amount: Decimal
    item_tax_template: str | None
    tax_map: dict[str, Decimal]
    pricing_rules: tuple[str, ...] = ()
    margin_type: str = ""
    margin_rate_or_amount: Decimal = ZERO
    is_free_item: bool = False
    rate_with_margin: Decimal = ZERO
    amount: Decimal = ZERO
    net_rate: Decimal = ZERO
    net_amount: Decimal = ZERO
    distributed_discount_amount: Decimal = ZERO


@dataclass
class _Tax:
    idx: int
    charge_type: ChargeType
    account_head: str
    description: str
    rate: Decimal
    row_id: int | None
    included: bool
    tax_amount: Decimal
    tax_amount_after_discount_amount: Decimal = ZERO
    total: Decimal = ZERO
    item_wise: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    tax_amount_for_current_item: Decimal = ZERO
    grand_total_for_current_item: Decimal = ZERO
    tax_fraction_for_current_item: Decimal = ZERO
    grand_total_fraction_for_current_item: Decimal = ZERO


class _Calc:
    """The ``calculate_taxes_and_totals`` object: mutable state, one instance per cart."""

    def __init__(self, cart: Cart, settings: TotalsSettings) -> None:
        self.settings = settings
        self.money = settings.currency_precision
        self.floats = settings.float_precision
        self.is_return = cart.is_return
        self.items = [self._item(i, line) for i, line in enumerate(cart.lines, start=1)]
        check_quantities([(item.item_code, item.qty) for item in self.items], self.is_return,
                         self.settings.release)
        self.taxes = [self._tax(i, row) for i, row in enumerate(cart.taxes, start=1)]
        validate_taxes(self.taxes)

        self.set_invoice_discount(cart.additional_discount_percentage, cart.discount_amount,
                                  cart.apply_discount_on)
        self.payments = (
            None
            if cart.payments is None
            else [
                _round(number(amount, f"payment {i}", allow_negative=True), self.money)
                for i, amount in enumerate(cart.payments, start=1)
            ]
        )

        self.loyalty_amount = _round(number(cart.loyalty_amount, "loyalty_amount"), self.money)
        self.discount_amount_applied = False
        self.total_qty = self.total = self.net_total = ZERO
        self.grand_total = self.total_taxes_and_charges = ZERO
        self.rounding_adjustment = self.rounded_total = ZERO
        self.grand_total_diff = ZERO
        self.grand_total_for_distributing_discount = ZERO

    # ----------------------------------------------------------------- input

    def set_invoice_discount(self, percentage: Decimal, amount: Decimal, on: str) -> None:
        if on not in (GRAND_TOTAL, NET_TOTAL):
            raise TotalsError(
                f"apply_discount_on must be {GRAND_TOTAL!r} or {NET_TOTAL!r}, not {on!r}")
        self.apply_discount_on = on
        self.additional_discount_percentage = _round(
            number(percentage, "additional_discount_percentage"), self.floats)
        # A return's discount is negative, like its quantities.
        self.discount_amount = _round(
            number(amount, "discount_amount", allow_negative=self.is_return), self.money)

    def _item(self, idx: int, line: CartLine) -> _Item:
        where = f"line {idx} ({line.item_code})"
        if not line.item_code:
            raise TotalsError(f"line {idx} has no item_code")
        # round_floats_in(item): every numeric field to its own precision first. A return's
        # quantities are negative (a positive one is refused with ERPNext's message later).
        qty = _round(number(line.qty, f"{where} qty", allow_negative=self.is_return), self.floats)
        factor = _round(number(line.conversion_factor, f"{where} conversion_factor"), self.floats)
        if not factor:
            raise TotalsError(f"Row {idx}: Conversion Factor is mandatory")
        percentage = _round(
            number(line.discount_percentage, f"{where} discount_percentage"),
            DISCOUNT_PERCENTAGE_PRECISION,
        )
        if percentage > HUNDRED:
            raise TotalsError(f"{where}: discount_percentage must not exceed 100: {percentage}")
        # A rule's amount off may take a line below zero. ERPNext takes such a POS
        # Invoice, but its consolidation then fails for the whole shift (NEGATIVE_RATE,
        # seen on ERPNext 15.71): the line is refused here instead, naming the rules.
        if line.rate is not None and line.rate < 0 and line.pricing_rules:
            raise TotalsError(NEGATIVE_RATE.format(item=line.item_code, rate=line.rate,
                                                   rules=", ".join(line.pricing_rules)))
        rate = ZERO if line.rate is None else number(
            line.rate, f"{where} rate", allow_negative=self.settings.allow_negative_rate)
        tax_map = {
            str(account): number(value, f"{where} item tax rate for {account}")
            for account, value in line.item_tax_rates.items()
        }
        return _Item(
            idx=idx,
            item_code=line.item_code,
            qty=qty,
            uom=line.uom,
            stock_uom=line.stock_uom,
            conversion_factor=factor,
            price_list_rate=_round(
                number(line.price_list_rate, f"{where} price_list_rate"), self.money
            ),
            rate=_round(rate, self.money),
            discount_percentage=percentage,
            discount_amount=_round(
                number(line.discount_amount, f"{where} discount_amount"), self.money
            ),
            item_tax_template=line.item_tax_template,
            tax_map=tax_map,
            pricing_rules=tuple(line.pricing_rules),
            margin_type=line.margin_type if line.pricing_rules else "",
            margin_rate_or_amount=_round(
                number(line.margin_rate_or_amount, f"{where} margin_rate_or_amount"),
                self.floats) if line.pricing_rules else ZERO,
            is_free_item=line.is_free_item,
        )

    def _tax(self, idx: int, row: TaxRow) -> _Tax:
        try:
            charge_type = ChargeType(row.charge_type)
        except ValueError as exc:
            raise TotalsError(f"tax row {idx}: unknown charge type {row.charge_type!r}") from exc
        rate = number(row.rate, f"tax row {idx} rate", allow_negative=True)
        amount = number(row.tax_amount, f"tax row {idx} tax_amount", allow_negative=True)
        return _Tax(
            idx=idx,
            charge_type=charge_type,
            account_head=row.account_head,
            description=row.description,
            # validate_taxes_and_charges sets the rate of an Actual charge to None.
            rate=ZERO if charge_type is ChargeType.ACTUAL else _round(rate, self.floats),
            row_id=row.row_id,
            included=bool(row.included_in_print_rate),
            tax_amount=_round(amount, self.money),
        )

    # ----------------------------------------------------------------- driver

    def calculate(self) -> None:
        self._calculate()
        self.set_discount_amount()
        self.apply_discount_amount()

    def _calculate(self) -> None:
        if not self.discount_amount_applied:
            self.calculate_item_values()
        self.initialize_taxes()
        self.determine_exclusive_rate()
        self.calculate_net_total()
        self.calculate_taxes()
        self.adjust_grand_total_for_inclusive_tax()
        self.calculate_totals()

    # ----------------------------------------------------------------- items

    def calculate_item_values(self) -> None:
        for item in self.items:
            percentage, listed = item.discount_percentage, item.price_list_rate
            if percentage == HUNDRED:
                item.rate = ZERO
            elif listed and (not item.rate or (item.pricing_rules and percentage > 0)):
                # No counter price (0 counts as none, as in ERPNext), or a rule's percentage:
                # list price less discount.
                item.rate = _round(listed * (1 - percentage / HUNDRED), self.money)
            elif listed and item.discount_amount and item.pricing_rules:
                item.rate = listed - item.discount_amount  # a rule's amount off: unrounded
            margined = self._rate_with_margin(item)
            if margined > 0:
                item.rate_with_margin = margined
                item.rate = _round(margined * (1 - percentage / HUNDRED), self.money)
                if item.discount_amount and not percentage:
                    item.rate = margined - item.discount_amount
                else:
                    item.discount_amount = margined - item.rate
            elif listed > 0:
                # Overwrites any discount_amount sent: it is always list price minus rate.
                item.discount_amount = listed - item.rate
            item.net_rate = item.rate
            item.amount = _round(item.rate * item.qty, self.money)
            item.net_amount = item.amount

    def _rate_with_margin(self, item: _Item) -> Decimal:
        """``calculate_margin``: a rule's margin on the list price; without rules, a
        counter price above the list price is a margin of type Amount, whose
        rate_with_margin is never returned, so it stays 0."""
        listed = item.price_list_rate
        if not listed:
            return ZERO
        if not item.pricing_rules and item.rate > listed:
            item.margin_type = "Amount"
            item.margin_rate_or_amount = _round(item.rate - listed, self.floats)
            return ZERO
        if item.margin_type and item.margin_rate_or_amount:
            return listed + (item.margin_rate_or_amount if item.margin_type == "Amount"
                             else listed * item.margin_rate_or_amount / HUNDRED)
        return ZERO

    # ----------------------------------------------------------------- taxes

    def initialize_taxes(self) -> None:
        keep_tax_amount = self.discount_amount_applied and self.apply_discount_on == GRAND_TOTAL
        for tax in self.taxes:
            tax.item_wise = {}
            tax.total = tax.tax_amount_after_discount_amount = ZERO
            tax.tax_amount_for_current_item = tax.grand_total_for_current_item = ZERO
            tax.tax_fraction_for_current_item = tax.grand_total_fraction_for_current_item = ZERO
            # Actual keeps its fixed amount; a discount on Grand Total keeps the pre-discount
            # tax_amount of every row.
            if tax.charge_type is not ChargeType.ACTUAL and not keep_tax_amount:
                tax.tax_amount = ZERO

    def _tax_rate(self, tax: _Tax, item: _Item) -> Decimal:
        # An item tax template overrides the rate only of rows whose account it names.
        if tax.account_head in item.tax_map:
            return _round(item.tax_map[tax.account_head], self.floats)
        return tax.rate

    def determine_exclusive_rate(self) -> None:
        if not any(tax.included for tax in self.taxes):
            return
        for item in self.items:
            cumulated_tax_fraction = total_inclusive_tax_amount = ZERO
            for i, tax in enumerate(self.taxes):
                fraction, amount_per_qty = self._current_tax_fraction(tax, item)
                tax.tax_fraction_for_current_item = fraction
                previous = 1 if i == 0 else self.taxes[i - 1].grand_total_fraction_for_current_item
                tax.grand_total_fraction_for_current_item = previous + fraction
                cumulated_tax_fraction += fraction
                total_inclusive_tax_amount += amount_per_qty * item.qty
            if (
                not self.discount_amount_applied
                and item.qty
                and (cumulated_tax_fraction or total_inclusive_tax_amount)
            ):
                amount = item.amount - total_inclusive_tax_amount
                item.net_amount = _round(amount / (1 + cumulated_tax_fraction), self.money)
                item.net_rate = _round(item.net_amount / item.qty, self.money)

    def _current_tax_fraction(self, tax: _Tax, item: _Item) -> tuple[Decimal, Decimal]:
        """get_current_tax_fraction: (fraction of the net amount, fixed amount per qty)."""
        if not tax.included:
            return ZERO, ZERO
        rate = self._tax_rate(tax, item)
        if tax.charge_type is ChargeType.ON_ITEM_QUANTITY:
            return ZERO, rate
        if tax.charge_type is ChargeType.ON_NET_TOTAL:
            return rate / HUNDRED, ZERO
        base = self.taxes[(tax.row_id or 0) - 1]
        if tax.charge_type is ChargeType.ON_PREVIOUS_ROW_AMOUNT:
            return rate / HUNDRED * base.tax_fraction_for_current_item, ZERO
        # On Previous Row Total (an included Actual row is refused by validate_taxes).
        return rate / HUNDRED * base.grand_total_fraction_for_current_item, ZERO

    def calculate_net_total(self) -> None:
        self.total_qty = sum((item.qty for item in self.items), ZERO)
        self.total = _round(sum((item.amount for item in self.items), ZERO), self.money)
        self.net_total = _round(sum((item.net_amount for item in self.items), ZERO), self.money)

    def calculate_taxes(self) -> None:
        self.grand_total_diff = ZERO
        if not self.taxes:
            return
        keep_tax_amount = self.discount_amount_applied and self.apply_discount_on == GRAND_TOTAL
        actual_left = {
            tax.idx: tax.tax_amount for tax in self.taxes if tax.charge_type is ChargeType.ACTUAL
        }
        last_item = len(self.items) - 1
        for n, item in enumerate(self.items):
            for i, tax in enumerate(self.taxes):
                current = self._current_tax_amount(item, tax)
                if tax.charge_type is ChargeType.ACTUAL:
                    # The rounding remainder of the spread goes to the last line.
                    actual_left[tax.idx] -= current
                    if n == last_item:
                        current += actual_left[tax.idx]
                elif not keep_tax_amount:
                    tax.tax_amount += current
                tax.tax_amount_for_current_item = current
                tax.tax_amount_after_discount_amount += current
                previous = (
                    item.net_amount if i == 0 else self.taxes[i - 1].grand_total_for_current_item
                )
                tax.grand_total_for_current_item = previous + current

        if not self.discount_amount_applied:
            # The base a Grand Total discount is spread on: the grand total before the
            # inclusive-tax adjustment, with the per-row amounts not yet rounded. ERPNext
            # works it out on the first pass of a cart with such a discount; here on every
            # first pass, which the discount may be decided after
            # (``compute_totals_discounted``). The totals are worked out again below.
            for i, tax in enumerate(self.taxes):
                self._set_cumulative_total(i, tax)
            self.grand_total_for_distributing_discount = self.taxes[-1].total
        elif self.apply_discount_on == GRAND_TOTAL:
            for i, tax in enumerate(self.taxes):
                tax.tax_amount_after_discount_amount = _round(
                    tax.tax_amount_after_discount_amount, self.money
                )
                self._set_cumulative_total(i, tax)
            # The cents lost spreading a Grand Total discount go into grand_total.
            self.grand_total_diff = _round(
                self.grand_total_for_distributing_discount
                - self.discount_amount
                - self.taxes[-1].total,
                self.money,
            )

        for i, tax in enumerate(self.taxes):
            # round_off_totals
            tax.tax_amount = _round(tax.tax_amount, self.money)
            tax.tax_amount_after_discount_amount = _round(
                tax.tax_amount_after_discount_amount, self.money
            )
            self._set_cumulative_total(i, tax)

    def _set_cumulative_total(self, i: int, tax: _Tax) -> None:
        previous = self.net_total if i == 0 else self.taxes[i - 1].total
        tax.total = _round(previous + tax.tax_amount_after_discount_amount, self.money)

    def _current_tax_amount(self, item: _Item, tax: _Tax) -> Decimal:
        rate = self._tax_rate(tax, item)
        if tax.charge_type is ChargeType.ACTUAL:
            # Spread by net amount.
            current = item.net_amount * tax.tax_amount / self.net_total if self.net_total else ZERO
        elif tax.charge_type is ChargeType.ON_NET_TOTAL:
            current = rate / HUNDRED * item.net_amount
        elif tax.charge_type is ChargeType.ON_PREVIOUS_ROW_AMOUNT:
            base = self.taxes[(tax.row_id or 0) - 1]
            current = rate / HUNDRED * base.tax_amount_for_current_item
        elif tax.charge_type is ChargeType.ON_ITEM_QUANTITY:
            current = rate * item.qty
        else:
            base = self.taxes[(tax.row_id or 0) - 1]
            current = rate / HUNDRED * base.grand_total_for_current_item
        # set_item_wise_tax: keyed by item code, so a repeated item adds up; before the
        # Actual remainder is added.
        _, so_far = tax.item_wise.get(item.item_code, (rate, ZERO))
        tax.item_wise[item.item_code] = (rate, so_far + current)
        return current

    def adjust_grand_total_for_inclusive_tax(self) -> None:
        if not any(tax.included for tax in self.taxes):
            return
        last_tax = self.taxes[-1]
        non_inclusive_tax_amount = sum(
            (tax.tax_amount_after_discount_amount for tax in self.taxes if not tax.included),
            ZERO,
        )
        diff = self.total + non_inclusive_tax_amount - _round(last_tax.total, self.money)
        if self.discount_amount_applied and self.discount_amount:
            # total is before the discount, last_tax.total after it.
            diff -= self.discount_amount
        diff = _round(diff, self.money)
        # ERPNext sets grand_total_diff either way: a difference beyond five cents (or none)
        # also drops what a Grand Total discount left in calculate_taxes.
        self.grand_total_diff = diff if abs(diff) <= 5 / Decimal(10) ** self.money else ZERO
        if self.settings.release >= 16 and not self.discount_amount_applied:
            # 16 spreads a Grand Total discount over the total with this difference in it
            self.grand_total_for_distributing_discount += self.grand_total_diff

    # ----------------------------------------------------------------- totals

    def calculate_totals(self) -> None:
        if self.taxes:
            self.grand_total = self.taxes[-1].total + self.grand_total_diff
            self.total_taxes_and_charges = _round(
                self.grand_total - self.net_total - self.grand_total_diff, self.money
            )
        else:
            self.grand_total = self.net_total
            self.total_taxes_and_charges = ZERO
        self.grand_total = _round(self.grand_total, self.money)
        self.set_rounded_total()

    def set_rounded_total(self) -> None:
        if self.settings.disable_rounded_total:
            self.rounded_total = self.rounding_adjustment = ZERO
            return
        self.rounded_total = self._round_to_smallest_fraction(self.grand_total)
        self.rounding_adjustment = _round(self.rounded_total - self.grand_total, self.money)

    def _round_to_smallest_fraction(self, value: Decimal) -> Decimal:
        """frappe.utils.round_based_on_smallest_currency_fraction."""
        fraction = self.settings.smallest_currency_fraction
        if fraction:
            scale = Decimal(10) ** self.money
            remainder = (value * scale) % (fraction * scale)
            if remainder and (remainder < 0) != (fraction < 0):
                remainder += fraction * scale  # Python's float % takes the divisor's sign
            remainder = _round(remainder / scale, self.money)
            if remainder > fraction / 2:
                value += fraction - remainder
            else:
                value -= remainder
        else:
            value = _round(value, 0)
        return _round(value, self.money)

    # ----------------------------------------------------------------- discount

    def set_discount_amount(self) -> None:
        if self.additional_discount_percentage:
            base = self.grand_total if self.apply_discount_on == GRAND_TOTAL else self.net_total
            self.discount_amount = percentage_discount(
                base, self.additional_discount_percentage, self.money)
        check_discount(self.discount_amount, self.grand_total, self.settings)

    def apply_discount_amount(self) -> None:
        if not self.discount_amount:
            return
        total_for_discount_amount = self._total_for_discount_amount()
        if not total_for_discount_amount:
            return
        net_total = expected_net_total = ZERO
        for item in self.items:
            distributed = self.discount_amount * item.net_amount / total_for_discount_amount
            adjusted = item.net_amount - distributed
            expected_net_total += adjusted
            item.net_amount = _round(adjusted, self.money)
            item.distributed_discount_amount = _round(distributed, self.money)
            net_total += item.net_amount
            # Rounding drift is folded into the current line as it appears.
            difference = _round(expected_net_total - net_total, self.money)
            if difference:
                item.net_amount = _round(item.net_amount + difference, self.money)
                item.distributed_discount_amount = _round(distributed + difference, self.money)
                net_total += difference
            item.net_rate = _round(item.net_amount / item.qty, self.money)
        self.discount_amount_applied = True
        self._calculate()

    def _total_for_discount_amount(self) -> Decimal:
        if self.apply_discount_on == NET_TOTAL or not self.taxes:
            return self.net_total
        # Fixed charges (Actual, and per-unit On Item Quantity) do not shrink with the
        # discount: take them, and rows computed on them, out of the base.
        total_actual_tax = ZERO
        actual: dict[int, tuple[Decimal, Decimal]] = {}  # idx -> (amount, cumulative)
        for tax in self.taxes:
            if tax.charge_type in (ChargeType.ACTUAL, ChargeType.ON_ITEM_QUANTITY):
                amount = tax.tax_amount
            elif tax.row_id in actual:
                base_amount, cumulative = actual[tax.row_id]
                base = (
                    base_amount
                    if tax.charge_type is ChargeType.ON_PREVIOUS_ROW_AMOUNT
                    else cumulative
                )
                amount = base * tax.rate / HUNDRED
            else:
                continue
            total_actual_tax += amount
            actual[tax.idx] = (amount, total_actual_tax)
        # Always set here: with taxes, the first pass of a Grand Total discount sets it.
        return self.grand_total_for_distributing_discount - total_actual_tax

    # ----------------------------------------------------------------- result

    def result(self) -> InvoiceTotals:
        paid, change = _paid_and_change(self.rounded_total or self.grand_total,
                                        self.payments, self.money, self.loyalty_amount)
        m = self._money
        return InvoiceTotals(
            lines=tuple(self._line(item) for item in self.items),
            taxes=tuple(self._tax_result(tax) for tax in self.taxes),
            total_qty=self.total_qty,
            total=m(self.total),
            net_total=m(self.net_total),
            total_taxes_and_charges=m(self.total_taxes_and_charges),
            discount_amount=m(self.discount_amount),
            additional_discount_percentage=self.additional_discount_percentage,
            apply_discount_on=self.apply_discount_on,
            grand_total=m(self.grand_total),
            rounding_adjustment=m(self.rounding_adjustment),
            rounded_total=m(self.rounded_total),
            paid_amount=m(paid),
            change_amount=m(change),
            outstanding_amount=m(ZERO),
        )

    def _money(self, value: Decimal) -> Decimal:
        # Stored Currency fields: every value already has at most this many decimals.
        return _round(value, self.money)

    def _line(self, item: _Item) -> LineTotals:
        m = self._money
        return LineTotals(
            item_code=item.item_code,
            qty=item.qty,
            stock_qty=item.qty * item.conversion_factor,
            uom=item.uom,
            stock_uom=item.stock_uom,
            conversion_factor=item.conversion_factor,
            price_list_rate=m(item.price_list_rate),
            discount_percentage=item.discount_percentage,
            discount_amount=m(item.discount_amount),
            margin_type=item.margin_type,
            margin_rate_or_amount=item.margin_rate_or_amount,
            rate_with_margin=m(item.rate_with_margin),
            rate=m(item.rate),
            amount=m(item.amount),
            net_rate=m(item.net_rate),
            net_amount=m(item.net_amount),
            distributed_discount_amount=m(item.distributed_discount_amount),
            item_tax_template=item.item_tax_template,
            item_tax_rate=dict(item.tax_map),
            pricing_rules=item.pricing_rules,
            is_free_item=item.is_free_item,
        )

    def _tax_result(self, tax: _Tax) -> TaxTotals:
        m = self._money
        return TaxTotals(
            charge_type=tax.charge_type,
            account_head=tax.account_head,
            description=tax.description,
            rate=tax.rate,
            row_id=tax.row_id,
            included_in_print_rate=tax.included,
            tax_amount=m(tax.tax_amount),
            tax_amount_after_discount_amount=m(tax.tax_amount_after_discount_amount),
            total=m(tax.total),
            item_wise_tax_detail=dict(tax.item_wise),
        )
