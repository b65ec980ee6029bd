"""From a cart to a ``sale.submitted`` body, and from a sale to a ``sale.returned`` body.

Pure: prices the cart with ``node.totals`` exactly as ERPNext will, checks the payments,
and lays out everything the forwarder will need for a POS Invoice (items with their
client-chosen row names, taxes, totals, payments with accounts, posting time) so that
nothing has to be looked up again when the counter is back online.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from tillmesh.node.domain.cart import Cart, Line
from tillmesh.node.domain.const import MAX_PAYMENT_ROWS, PRICED_KEPT
from tillmesh.node.domain.loyalty import Member
from tillmesh.node.domain.money import ZERO, flt
from tillmesh.node.domain.pos_context import PosContext
from tillmesh.node.domain.pricing_rules import (
    FreeItem,
    InvoiceDiscount,
    ItemDetails,
    Priced,
    Selling,
    StorePricing,
    ancestors,
    price_line,
    price_transaction,
)
from tillmesh.node.domain.pricing_rules import Line as RulesLine
from tillmesh.node.domain.totals import (
    GRAND_TOTAL,
    NEGATIVE_GRAND_TOTAL,
    CartLine,
    InvoiceTotals,
    Subtotals,
    as_recorded,
    compute_totals,
    compute_totals_discounted,
    percentage_discount,
    vat_per_rate,
    with_payments,
)
from tillmesh.node.domain.totals import Cart as TotalsCart
from tillmesh.node.errors import PaymentError, ReturnError, TotalsError, ValidationError

T = TypeVar("T")
_AS_IS = frozenset({str, int, bool, type(None)})


def plain(value: Any) -> Any:
    """Decimals to strings, enums to values, dataclasses to maps, recursively.

    Event bodies and API answers are plain data; unlike ``dataclasses.asdict`` this
    copies nothing it does not convert. It runs over every line's totals at every scan
    and sale (~200 values a 5-line cart), so a value's type is told once: the common
    types by their exact type first, any other by the converter found for its type.
    """
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is Decimal:
        return str(value)
    convert = _CONVERTERS.get(kind)
    if convert is None:
        convert = _CONVERTERS[kind] = _converter(kind)
    return convert(value)


def _converter(kind: type) -> Callable[[Any], Any]:
    """How ``plain`` converts a value of ``kind``."""
    if issubclass(kind, Decimal):
        return str
    if issubclass(kind, Enum):
        return _enum_value
    if is_dataclass(kind) and not issubclass(kind, type):
        names = tuple(f.name for f in fields(kind))
        return lambda value: {name: plain(getattr(value, name)) for name in names}
    if issubclass(kind, Mapping):
        return lambda value: {str(k): plain(v) for k, v in value.items()}
    if issubclass(kind, list | tuple):
        return lambda value: [plain(v) for v in value]
    return _as_is


def _enum_value(value: Enum) -> Any:
    return value.value


def _as_is(value: Any) -> Any:
    return value


_CONVERTERS: dict[type, Callable[[Any], Any]] = {}  # by exact type, found once each


# The carts priced last, with what they were priced in: a cart is priced for its view at
# each scan, then again for its payment and by the customer display. Both are immutable,
# so the same two objects price the same; kept here, their ids are never reused.
_PRICED: deque[tuple[Cart, PosContext, InvoiceTotals]] = deque(maxlen=PRICED_KEPT)


def price(cart: Cart, ctx: PosContext, paid: Decimal | None = None) -> InvoiceTotals:
    if paid is not None:
        return _computed(cart, ctx, paid)
    for known, known_ctx, totals in tuple(_PRICED):  # a copy: the pricing thread appends
        if known is cart and known_ctx is ctx:
            return totals
    totals = _computed(cart, ctx, None)
    _PRICED.append((cart, ctx, totals))
    return totals


def price_paid(cart: Cart, ctx: PosContext, unpaid: InvoiceTotals,
               paid: Decimal, loyalty_amount: Decimal = ZERO) -> InvoiceTotals:
    """``price(cart, ctx, paid)`` from ``unpaid = price(cart, ctx)``, without pricing the
    cart again; ``loyalty_amount``: the worth of the points redeemed, paid beside."""
    return with_payments(_totals_cart(cart, ctx, paid, loyalty_amount)[0], unpaid,
                         ctx.settings)


def _computed(cart: Cart, ctx: PosContext, paid: Decimal | None) -> InvoiceTotals:
    """The cart priced by its lines' rules, then by the rules on the whole sale, judged
    on its quantity and total as the lines leave them (ERPNext prices the invoice,
    applies them, and prices it again)."""
    priced, selling = _totals_cart(cart, ctx, paid)
    if selling is None or not ctx.pricing.transaction or cart.sold_discount_on:
        return _compute(lambda: compute_totals(priced, ctx.settings), ctx)
    judged: list[InvoiceDiscount] = []

    def discount_of(subtotals: Subtotals) -> tuple[Decimal, Decimal, str] | None:
        got = _on_transaction(subtotals, priced, ctx, selling)
        judged.append(got)
        if got.free or (got.drops_free_items and any(ln.is_free_item for ln in priced.lines)):
            return None  # other rows: priced below
        return got.additional_discount_percentage, got.discount_amount, got.apply_discount_on

    totals = _compute(lambda: compute_totals_discounted(priced, ctx.settings, discount_of),
                      ctx, judged)
    got = judged[0]
    if totals is None:
        rows = [ln for ln in priced.lines if not (got.drops_free_items and ln.is_free_item)]
        rows += [_free_line(item, ctx.pricing) for item in got.free]
        totals = _compute(lambda: compute_totals(replace(
            priced, lines=rows, additional_discount_percentage=got.additional_discount_percentage,
            discount_amount=got.discount_amount, apply_discount_on=got.apply_discount_on),
            ctx.settings), ctx, judged)
    return replace(totals, invoice_pricing_rules=got.rules, invoice_rules_short_of=got.short_of)


def _compute(work: Callable[[], T], ctx: PosContext, judged: Sequence[InvoiceDiscount] = (),
             ) -> T:
    """``work()``, a pricing; a grand total below zero because of the rules on the whole
    sale (``judged``) is refused naming them."""
    try:
        return work()
    except TotalsError as exc:  # ERPNext's words, and the promotion that caused them
        by_rules = judged[0] if judged else None
        if exc.message != NEGATIVE_GRAND_TOTAL or by_rules is None or not by_rules.rules:
            raise
        promotion = ", ".join(ctx.pricing.titles(by_rules.rules))
        raise TotalsError(f"{exc.message}: the promotion {promotion} takes "
                          f"{by_rules.discount_amount} off the whole sale, more than it"
                          " comes to. Add to the sale, or have the promotion changed in"
                          " ERPNext") from exc


def _totals_cart(cart: Cart, ctx: PosContext, paid: Decimal | None,
                 loyalty_amount: Decimal = ZERO) -> tuple[TotalsCart, Selling | None]:
    """The cart's lines priced by their rules (free rows after them), the cashier's
    invoice discount; and what the store's rules judge the sale on (None: no rules)."""
    selling = _selling(cart, ctx)
    # A product rule's free items follow the cart's lines, as in ERPNext.
    lines: list[CartLine] = []
    free: dict[tuple[str, tuple[str, ...]], CartLine] = {}
    # every line as the rules see it, where a rule with mixed conditions judges them all
    basket = tuple(_rules_line(ln, ctx.pricing) for ln in cart.lines) \
        if selling is not None and ctx.pricing.mixed else ()
    for i, ln in enumerate(cart.lines):
        priced = None if selling is None or ln.priced_by_hand else _by_rules(
            basket[i] if basket else _rules_line(ln, ctx.pricing), ctx, selling, basket)
        lines.append(CartLine(
            item_code=ln.item_code,
            qty=ln.qty,
            price_list_rate=ln.price_list_rate if priced is None else priced.price_list_rate,
            uom=ln.uom,
            stock_uom=ln.stock_uom,
            conversion_factor=ln.conversion_factor,
            rate=ln.rate if priced is None else priced.rate,
            discount_percentage=ln.discount_percentage if priced is None
            else priced.discount_percentage,
            discount_amount=ln.discount_amount if priced is None else priced.discount_amount,
            item_tax_template=ln.item_tax_template,
            item_tax_rates=dict(ln.item_tax_rates),
            whole_number_uom=ln.whole_number,
            whole_number_stock_uom=ln.stock_whole_number,
            pricing_rules=() if priced is None else priced.pricing_rules,
            margin_type="" if priced is None else priced.margin_type,
            margin_rate_or_amount=ZERO if priced is None else priced.margin_rate_or_amount,
        ))
        for item in () if priced is None else priced.free:
            row = _free_line(item, ctx.pricing, ln)
            # one row per free item and rule, as ERPNext keeps it (the last line's
            # quantity): a rule with mixed conditions gives it once for all its lines
            free[(row.item_code, row.pricing_rules)] = row
    return TotalsCart(
        lines=lines + list(free.values()),
        taxes=ctx.taxes,
        additional_discount_percentage=cart.additional_discount_percentage,
        discount_amount=cart.discount_amount,
        apply_discount_on=cart.sold_discount_on or ctx.apply_discount_on,
        payments=None if paid is None else (paid,),
        loyalty_amount=loyalty_amount,
        allow_partial_payment=ctx.allow_partial_payment,
    ), selling


def _on_transaction(subtotals: Subtotals, priced: TotalsCart, ctx: PosContext,
                    selling: Selling) -> InvoiceDiscount:
    """The store's rules on the whole transaction over the cashier's discount, judged on
    the sale as its lines price it (``subtotals``: before any invoice discount)."""
    def discount_of(on: str, percentage: Decimal) -> Decimal:
        base = subtotals.grand_total if on == GRAND_TOTAL else subtotals.net_total
        return percentage_discount(base, percentage, ctx.settings.currency_precision)

    given = InvoiceDiscount(priced.additional_discount_percentage, priced.discount_amount,
                            priced.apply_discount_on)
    return price_transaction(ctx.pricing.transaction, selling, total_qty=subtotals.total_qty,
                             total=subtotals.total, given=given, discount_of=discount_of)


def _free_line(item: FreeItem, pricing: StorePricing, bought: Line | None = None) -> CartLine:
    """The row of a rule's free item (``get_product_discount_rule``): the bought line's
    own item, or the item the rule names, in the rule's UOM (else the stock UOM), at the
    rule's rate (else 0)."""
    details = _details(bought) if bought is not None and item.item_code == bought.item_code \
        else pricing.free_items.get(item.item_code)
    if details is None:
        raise ValidationError(f"Pricing Rule {item.rule} gives {item.item_code}, which is not"
                              " in this counter's catalog: pull master data, or correct the"
                              " rule in ERPNext")
    uom = item.uom or details.stock_uom
    if uom not in details.factors:
        raise ValidationError(f"Pricing Rule {item.rule} gives {item.item_code} in {uom}, "
                              "a UOM this counter does not know for it")
    return CartLine(
        item_code=item.item_code, qty=item.qty, price_list_rate=item.rate, uom=uom,
        stock_uom=details.stock_uom, conversion_factor=details.factors[uom],
        item_tax_template=details.item_tax_template,
        item_tax_rates=dict(details.item_tax_rates), whole_number_uom=uom in details.whole,
        whole_number_stock_uom=details.stock_uom in details.whole,
        pricing_rules=(item.rule,), is_free_item=True)


def _details(line: Line) -> ItemDetails:
    """What a cart line knows of its item, as a free row of the same item needs it."""
    return ItemDetails(
        line.item_name, line.stock_uom,
        {line.uom: line.conversion_factor, line.stock_uom: Decimal(1)},
        frozenset(u for u, whole in ((line.uom, line.whole_number),
                                     (line.stock_uom, line.stock_whole_number)) if whole),
        line.item_tax_template, line.item_tax_rates)


def not_applied(line: Line, ctx: PosContext) -> list[str]:
    """Promotions on the line's item this counter cannot apply, for the cashier to see."""
    if not ctx.pricing.beyond:
        return []
    return ctx.pricing.not_applied(_rules_line(line, ctx.pricing))


def row_names(cart: Cart, totals: InvoiceTotals, ctx: PosContext) -> list[str]:
    """The item name of every row of the priced cart: its lines, then the free items
    rules added (the item a rule names, or the bought one)."""
    names = [ln.item_name for ln in cart.lines]
    bought = dict(zip((ln.item_code for ln in cart.lines), names, strict=True))
    for t in totals.lines[len(cart.lines):]:
        details = ctx.pricing.free_items.get(t.item_code)
        names.append(details.item_name if details else bought.get(t.item_code, t.item_code))
    return names


def _selling(cart: Cart, ctx: PosContext) -> Selling | None:
    """What the store's Pricing Rules judge the cart on; None when none apply."""
    if not (ctx.pricing.rules or ctx.pricing.transaction) or ctx.today is None:
        return None
    pricing = ctx.pricing
    coupon = ctx.coupons.get(cart.coupon) if cart.coupon else None
    return Selling(company=ctx.company, price_list=ctx.price_list, currency=ctx.currency,
                   on=ctx.today, customer=cart.customer,
                   customer_groups=ancestors(pricing.customer_groups, cart.customer_group),
                   territories=ancestors(pricing.territories, cart.territory),
                   warehouses=(ctx.warehouse,),
                   coupon_rules=frozenset((coupon.pricing_rule,)) if coupon else frozenset())


def _by_rules(seen: RulesLine, ctx: PosContext, selling: Selling,
              basket: tuple[RulesLine, ...]) -> Priced | None:
    """The line as the store's rules price it; None when no rule names its item."""
    candidates = ctx.pricing.candidates(seen)
    return price_line(candidates, seen, selling, basket) if candidates else None


def _rules_line(line: Line, pricing: StorePricing) -> RulesLine:
    return RulesLine(item_code=line.item_code, qty=line.qty, uom=line.uom,
                     conversion_factor=line.conversion_factor,
                     price_list_rate=line.price_list_rate,
                     item_groups=ancestors(pricing.item_groups, line.item_group),
                     brand=line.brand, variant_of=line.variant_of)


@dataclass(frozen=True)
class Tender:
    mode_of_payment: str
    amount: Decimal


def check_payments(tenders: Sequence[Tender], ctx: PosContext, due: Decimal) -> Decimal:
    """Validate what the customer handed over; returns the total paid.

    Change can only come out of cash: a card paying more than is due is a typo.
    """
    if not tenders:
        raise PaymentError("No payment given")
    if len(tenders) > MAX_PAYMENT_ROWS:
        raise PaymentError(f"At most {MAX_PAYMENT_ROWS} payments per sale")
    paid = ZERO
    non_cash = ZERO
    for t in tenders:
        mode = ctx.mode(t.mode_of_payment)
        if t.amount <= 0:
            raise PaymentError(f"Payment of {t.amount} by {mode.name} must be positive")
        if flt(t.amount) != t.amount:
            raise PaymentError(f"Payment {t.amount} has more than 2 decimals")
        paid += t.amount
        if not mode.is_cash:
            non_cash += t.amount
    if paid < due and not ctx.allow_partial_payment:
        raise PaymentError(f"Paid {paid} is less than the {due} due", due=str(due),
                           paid=str(paid))
    if non_cash > due:
        raise PaymentError(f"Non-cash payments ({non_cash}) exceed the {due} due: "
                           "change can only be given in cash")
    return paid


def _items(cart: Cart, totals: InvoiceTotals, invoice: str, ctx: PosContext) -> list[dict]:
    """The invoice's rows: the cart's lines, then the free items rules added."""
    items = []
    names = row_names(cart, totals, ctx)
    for idx, t in enumerate(totals.lines, start=1):
        row = plain(t)
        row.update(name=f"{invoice}-{idx}", idx=idx, warehouse=ctx.warehouse,
                   item_name=names[idx - 1], barcode=None)
        if idx <= len(cart.lines):
            line = cart.lines[idx - 1]
            row.update(item_code=line.item_code, uom=line.uom, stock_uom=line.stock_uom,
                       item_tax_template=line.item_tax_template, barcode=line.barcode)
            if line.batch_no:
                row.update(batch_no=line.batch_no, batch_expiry=line.batch_expiry or None)
            if line.serial_no:
                row["serial_no"] = line.serial_no
        if t.pricing_rules:  # what the receipt names (the forwarder leaves it out)
            row["promotions"] = ctx.pricing.titles(t.pricing_rules)
        items.append(row)
    return items


def _totals(totals: InvoiceTotals) -> dict[str, Any]:
    data = plain(replace(totals, lines=(), taxes=()))  # they are laid out on their own
    del data["lines"], data["taxes"]
    return data


def sale_body(
    *,
    cart: Cart,
    totals: InvoiceTotals,
    tenders: Sequence[Tender],
    ctx: PosContext,
    invoice: str,
    shift: str,
    cashier: str,
    posted_at: datetime,
    member: Member | None = None,
    redeemed: int = 0,
) -> dict[str, Any]:
    """The ``sale.submitted`` body: a POS Invoice as ERPNext will receive it; a
    ``member``'s sale says what it earns (ERPNext enters the points itself) and the
    points it ``redeemed`` (``totals`` counts their worth as paid)."""
    return {
        "invoice": invoice,
        "shift": shift,
        "cashier": cashier,
        "posted_at": posted_at.isoformat(),
        # ERPNext's posting fields, in the store's local time (set_posting_time: 1)
        "posting_date": posted_at.date().isoformat(),
        "posting_time": posted_at.time().isoformat(timespec="microseconds"),
        "pos_profile": ctx.profile,
        "company": ctx.company,
        "currency": ctx.currency,
        "customer": cart.customer,
        "warehouse": ctx.warehouse,
        "selling_price_list": ctx.price_list,
        "taxes_and_charges": ctx.taxes_and_charges,
        # the invoice discount as ERPNext keeps it: the cashier's, or a rule's on the
        # whole transaction (a return gives the same back)
        "apply_discount_on": totals.apply_discount_on,
        "additional_discount_percentage": str(totals.additional_discount_percentage),
        "discount_amount_input": str(totals.discount_amount if not
                                     totals.additional_discount_percentage
                                     else cart.discount_amount),
        "items": _items(cart, totals, invoice, ctx),
        "invoice_promotions": ctx.pricing.titles(totals.invoice_pricing_rules),
        "taxes": [plain(t) for t in totals.taxes],
        # VAT per rate as the receipt prints it: every counter's reports read it from
        # here rather than working it out again (``totals.vat_per_rate_of``)
        "vat": as_recorded(vat_per_rate(totals)),
        "totals": _totals(totals),
        "payments": [
            {
                "mode_of_payment": t.mode_of_payment,
                "amount": str(t.amount),
                "type": ctx.mode(t.mode_of_payment).type,
                "account": ctx.mode(t.mode_of_payment).account,
            }
            for t in tenders
        ],
        "cash_mode": ctx.cash_mode,
        **_coupon(cart, ctx),
        **_loyalty(member, totals, posted_at, redeemed),
    }


def _loyalty(member: Member | None, totals: InvoiceTotals, posted_at: datetime,
             redeemed: int) -> dict[str, Any]:
    if member is None:
        return {}
    worth = member.program.worth(redeemed)
    return {"loyalty": member.on_sale(totals.grand_total, posted_at.date(), redeemed),
            **({"redeem_loyalty_points": 1, "loyalty_points": redeemed,
                "loyalty_amount": str(worth)} if redeemed else {})}


def _coupon(cart: Cart, ctx: PosContext) -> dict[str, Any]:
    """The coupon the sale took: its name for ERPNext, its code for the receipt."""
    coupon = ctx.coupons.get(cart.coupon) if cart.coupon else None
    if coupon is None:
        return {}
    return {"coupon_code": coupon.name, "coupon": coupon.code}


# --- returns ---------------------------------------------------------------------------


def returnable(sold: Decimal, returned: Decimal, wanted: Decimal, row: str,
               reserved: Decimal = ZERO) -> None:
    """A row can give back at most what was sold minus what earlier returns took and
    what the sale's counter promised to returns being made on other counters."""
    if wanted <= 0:
        raise ValidationError(f"Return quantity for {row} must be positive")
    left = sold - returned - reserved
    if wanted > left:
        promised = (f", {reserved} promised to a return in progress on another counter"
                    if reserved else "")
        raise ReturnError(f"Cannot return {wanted} of row {row}: sold {sold}, "
                          f"already returned {returned}{promised}, {left} left")


_NEG_LINE = ("qty", "stock_qty", "amount", "net_amount", "distributed_discount_amount")
_NEG_TAX = ("tax_amount", "tax_amount_after_discount_amount", "total")
_NEG_HEAD = ("total_qty", "total", "net_total", "total_taxes_and_charges", "discount_amount",
             "grand_total", "rounding_adjustment", "rounded_total", "paid_amount",
             "change_amount", "outstanding_amount", "write_off_amount")


def _neg(data: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    out = dict(data)
    for name in names:
        if out.get(name) not in (None, ""):
            out[name] = _negated(out[name])
    return out


def _negated(text: str) -> str:
    value = -Decimal(text)
    return str(value if value else abs(value))  # no "-0.00"


def as_return(body: dict[str, Any], return_against: str) -> dict[str, Any]:
    """Turn a priced positive body into ERPNext's negative return invoice."""
    out = dict(body)
    out["is_return"] = 1
    # ERPNext gives a coupon's use back only when its sale is cancelled, not on a return
    # (recorded); a return naming it would count a use more.
    out.pop("coupon_code", None)
    out.pop("loyalty", None)  # ERPNext enters the sale's points again, less the return
    out["return_against"] = return_against
    out["items"] = [_neg(i, _NEG_LINE) for i in body["items"]]
    taxes = []
    for t in body["taxes"]:
        row = _neg(t, _NEG_TAX)
        detail = row.get("item_wise_tax_detail") or {}
        row["item_wise_tax_detail"] = {
            k: [v[0], str(-Decimal(v[1]))] if isinstance(v, list) else v for k, v in detail.items()
        }
        taxes.append(row)
    out["taxes"] = taxes
    out["totals"] = _neg(body["totals"], _NEG_HEAD)
    out["payments"] = [_neg(p, ("amount",)) for p in body["payments"]]
    if "vat" in body:  # each rate's amounts negated, as worked out from the rows
        out["vat"] = [[rate, *map(_negated, amounts)] for rate, *amounts in body["vat"]]
    return out
