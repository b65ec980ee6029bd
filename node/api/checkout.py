"""API methods for selling: catalog look-ups, the cart, payment, returns, the drawer."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from tillmesh.node.api import _batch_lines as batch_lines
from tillmesh.node.api import _inputs as inputs
from tillmesh.node.api._methods import api_method
from tillmesh.node.api.const import (
    CART_ID_BYTES,
    LOOP_SLICE_LINES,
    MAX_HOLD_NOTE,
    MAX_SEARCH_HITS,
)
from tillmesh.node.domain import coupons, discount
from tillmesh.node.domain.cart import Cart, CartStatus, Line
from tillmesh.node.domain.const import MAX_NAME_CHARS
from tillmesh.node.domain.loyalty import LoyaltyError, Member, check_redemption
from tillmesh.node.domain.money import FLOAT_PRECISION, ZERO, flt, to_decimal
from tillmesh.node.domain.pos_context import PosContext
from tillmesh.node.domain.roles import Action, Authorization, Role
from tillmesh.node.domain.sale import (
    Tender,
    check_payments,
    not_applied,
    plain,
    price,
    price_paid,
    row_names,
    sale_body,
)
from tillmesh.node.domain.totals import InvoiceTotals, amount_due, vat_per_rate
from tillmesh.node.errors import BarcodeError, NotFoundError, PaymentError, ValidationError
from tillmesh.node.projections import catalog, coupon_uses, ledger, loyalty_ledger, stock, tracking
from tillmesh.node.projections.const import DEFAULT_SEARCH_HITS
from tillmesh.node.projections.master_data import get_doc
from tillmesh.node.store import cart_store
from tillmesh.node.store.event_log import Transaction

if TYPE_CHECKING:
    from tillmesh.node.api import Caller, Node

HUNDRED = Decimal(100)


def _make_line(session: Session, ctx: PosContext, item_code: str, qty: Decimal,
               uom: str | None, barcode: str | None = None, weighed: bool = False) -> Line:
    info = catalog.get_item(session, item_code)
    uom = uom or info.stock_uom
    factor, whole = info.uom(uom)
    # Brand and template only matter to Pricing Rules: read only in a store that has some.
    item = (get_doc(session, "Item", info.item_code) or {}) if ctx.pricing.rules else {}
    return Line(
        item_code=info.item_code,
        item_name=info.item_name,
        qty=qty,
        uom=uom,
        stock_uom=info.stock_uom,
        conversion_factor=factor,
        price_list_rate=catalog.price_for(session, info, uom, ctx.price_list,
                                          on=_priced_on(ctx)),
        whole_number=whole,
        stock_whole_number=info.uom(info.stock_uom)[1],
        item_tax_template=info.item_tax_template,
        item_tax_rates=ctx.item_tax_rates(info.item_tax_template),
        barcode=barcode,
        weighed=weighed,
        item_group=info.item_group,
        brand=str(item.get("brand") or ""),
        variant_of=str(item.get("variant_of") or ""),
    )


def _today(node: Node) -> date:
    """The store's date now: batches expire by it."""
    return node.clock().astimezone(node.config.tz).date()


def _priced_on(ctx: PosContext) -> date:
    """The store's date a line's list price must be valid on: the context's, which
    ``node.context`` dates by the node's clock in the store's zone, as ERPNext's site
    dates a sale (not this machine's own date)."""
    if ctx.today is None:  # not reachable at the till: each context it prices in is dated
        raise ValidationError("The store's date is not known: no price can be chosen")
    return ctx.today


def _new_cart(session: Session, ctx: PosContext, cart_id: str, cashier: str,
              customer: object) -> Cart:
    """An empty cart for ``customer``, else the profile's (walk-in) customer."""
    cart = Cart(cart_id=cart_id, cashier=cashier, customer=ctx.customer)
    if customer:
        return _with_customer(session, cart, str(customer))
    if ctx.pricing.rules:  # a rule may be for the walk-in customer's group
        with contextlib.suppress(NotFoundError):  # the profile's customer not pulled (yet)
            return _with_customer(session, cart, ctx.customer)
    return cart


def _with_customer(session: Session, cart: Cart, name: str) -> Cart:
    """The cart sold to an enabled customer, with what Pricing Rules judge them on."""
    info = catalog.get_customer(session, name)
    return cart.with_customer(info.name, info.customer_group or "", info.territory or "")


def _price_embedded(line: Line, amount: Decimal) -> Line:
    """A label price: the qty that gives exactly that amount at the list price, or a rate."""
    if line.price_list_rate <= 0:
        raise ValidationError(f"{line.item_code} has no list price to weigh a label against")
    qty = flt(amount / line.price_list_rate, FLOAT_PRECISION)
    for q in (qty, qty + Decimal("0.001"), qty - Decimal("0.001")):
        if q > 0 and flt(q * line.price_list_rate) == amount:
            return replace(line, qty=q, weighed=True)
    return replace(line, qty=qty, rate=flt(amount / qty), weighed=True)


_EMPTY_TOTALS = {"total_qty": "0", "total": "0.00", "net_total": "0.00",
                 "total_taxes_and_charges": "0.00", "discount_amount": "0.00",
                 "grand_total": "0.00", "rounding_adjustment": "0.00", "rounded_total": "0.00"}


def _view(cart: Cart, ctx: PosContext, points: dict[str, Any] | None = None,
          ) -> dict[str, Any]:
    """The cart as the till shows it; ``points``: the customer's (``_points``)."""
    base = {"cart_id": cart.cart_id, "status": cart.status.value, "customer": cart.customer,
            "cashier": cart.cashier, "note": cart.note, "coupon": _coupon_view(cart, ctx),
            "loyalty": points}
    if not cart.lines:
        return {**base, "lines": [], "taxes": [], "vat": [], "totals": _EMPTY_TOTALS,
                "due": "0.00"}
    totals = price(cart, ctx)
    lines = [{**plain(t), "item_name": name, "promotions": ctx.pricing.titles(t.pricing_rules),
              "line": None, "barcode": None}  # a product rule's free item: none to edit
             for t, name in zip(totals.lines, row_names(cart, totals, ctx), strict=True)]
    for i, (ln, row) in enumerate(zip(cart.lines, lines, strict=False)):
        row.update(line=i, item_code=ln.item_code, uom=ln.uom, barcode=ln.barcode,
                   not_applied=not_applied(ln, ctx), batch_no=ln.batch_no or None,
                   batch_expiry=ln.batch_expiry or None, serial_no=ln.serial_no or None)
    head = plain(replace(totals, lines=(), taxes=()))  # the lines are plain above
    del head["lines"], head["taxes"]
    return {**base, "lines": lines, "taxes": plain(totals.taxes),
            "vat": plain(vat_per_rate(totals)), "totals": head,
            "due": str(amount_due(totals)),
            # rules on the whole sale: the one that gave its discount, those that only
            # check the cashier gave theirs (ERPNext: "User has not applied rule"), and
            # those this counter cannot apply (with why)
            "invoice_promotions": ctx.pricing.titles(totals.invoice_pricing_rules),
            "not_applied": [*(f"{title} (give its discount on the whole sale by hand)"
                              for title in ctx.pricing.titles(totals.invoice_rules_short_of)),
                            *ctx.pricing.not_applied_to_sales()]}


def _points(session: Session, ctx: PosContext, customer: str) -> dict[str, Any] | None:
    """The customer's loyalty program and points today, if they are enrolled."""
    member = loyalty_ledger.member(session, customer, ctx.loyalty_programs)
    if member is None or ctx.today is None:
        return None
    return {"program": member.program.name, "points": member.balance(ctx.today),
            "point_value": str(member.program.conversion_factor)}


def _coupon_view(cart: Cart, ctx: PosContext) -> dict[str, Any] | None:
    """The coupon on the cart: its code, and the promotion it is for."""
    coupon = ctx.coupons.get(cart.coupon) if cart.coupon else None
    if coupon is None:
        return None
    return {"name": coupon.name, "code": coupon.code,
            "promotion": ctx.pricing.titles([coupon.pricing_rule])[0]}


def _with_coupon(session: Session, ctx: PosContext, cart: Cart, typed: str) -> Cart:
    """The cart with the coupon the cashier typed or scanned, if the till takes it."""
    if ctx.ignores_pricing_rules:  # ERPNext's POS says so too
        raise coupons.CouponError("Ignore Pricing Rule is enabled. Cannot apply coupon code.")
    coupon = coupons.find(ctx.coupons, typed)
    if coupon is None:
        raise NotFoundError(f"No coupon {typed!r} at this store (one made in ERPNext just "
                            "now arrives with the next pull)")
    _check_coupon(session, ctx, replace(cart, coupon=coupon.name))
    return cart.with_coupon(coupon.name)


def _check_coupon(session: Session, ctx: PosContext, cart: Cart) -> None:
    """Refuse the cart's coupon when the till would not take it now: before or after its
    validity, used up across the store, someone else's gift card, its promotion gone."""
    coupon = ctx.coupons.get(cart.coupon) if cart.coupon else None
    if cart.coupon and coupon is None:
        raise coupons.CouponError(f"Coupon {cart.coupon} is no longer at this store: remove "
                                  "it from the cart")
    if coupon is not None and ctx.today is not None:
        coupons.check(coupon, on=ctx.today, uses=coupon_uses.uses(session, coupon).total,
                      customer=cart.customer, pricing=ctx.pricing)


async def _shown(node: Node, cart: Cart, ctx: PosContext,
                 points: dict[str, Any] | None) -> dict[str, Any]:
    """The cart's view, priced off the loop when it is big."""
    return await node.off_loop(lambda: _view(cart, ctx, points), len(cart.lines))


def _still(session: Session, cart: Cart) -> None:
    """Refuse to write over a cart that another request changed, sold or voided while
    this one was pricing it (off the loop: other requests run meanwhile)."""
    if cart_store.load(session, cart.cart_id) != cart:
        raise ValidationError("The cart was changed by another request meanwhile: look at "
                              "it again and retry")


async def edit(node: Node, caller: Caller, cart_id: str, change: Any, *,
               approver: dict[str, Any] | None = None, stated: Decimal = ZERO,
               audit: tuple[str, Authorization] | None = None, held_too: bool = False,
               selling: bool = False) -> dict[str, Any]:
    """Load, change, re-price (refusing what ERPNext would refuse), allow the discount
    the change leaves for the caller (``discount.settle``: ``stated`` is the percentage a
    discount change names), save. Only an open cart changes, unless ``held_too``
    (holding and resuming); a change that adds to the cart (``selling``) not on a counter
    that may not sell."""
    def settled(s: Session, new: Cart, given: discount.Discount | None,
                ) -> tuple[Cart, tuple[Authorization, discount.Discount] | None]:
        if given is None:
            return new, None
        new, granted = discount.settle(new, given, _grant(node, s, caller, approver),
                                       stated, common=node.matrix.common_discount_percent)
        return new, (granted, given) if granted is not None and granted.override else None

    with node.read() as s:
        if selling:
            node.check_selling(s)
        cart = cart_store.load(s, cart_id)
        if cart.status is not CartStatus.OPEN and not held_too:
            raise ValidationError("This cart is held: resume it first")
        ctx = node.context(s)
        new = change(s, ctx, cart)
        batch_lines.check(s, ctx.warehouse, new, _today(node))
        points = _points(s, ctx, new.customer)

        def priced() -> tuple[dict[str, Any], discount.Discount | None]:
            return _view(new, ctx, points), _judged(cart, new, ctx, stated)
        small = len(new.lines) <= LOOP_SLICE_LINES
        if small:  # priced here at once: one read for all of it
            view, given = priced()
            new, approved = settled(s, new, given)
    if not small:
        view, given = await node.off_loop(priced, len(new.lines))
        with node.read() as s:
            new, approved = settled(s, new, given)
    with node.write(durable=audit is not None or approved is not None) as tx:
        if not small:  # a small cart went from its read to here without a pause
            _still(tx.session, cart)
        cart_store.save(tx.session, new, node.clock())
        if audit is not None:
            what, auth = audit
            node.audit(tx, what, auth, cart_id=cart.cart_id)
        if approved is not None:
            _audit_discount(node, tx, *approved, new)
    node.tender_drafts.drop(cart.cart_id)  # typed for what the cart was (the display's)
    return view


def _judged(old: Cart, new: Cart, ctx: PosContext, stated: Decimal) -> discount.Discount | None:
    """The effective discount a change leaves, or None for a change of the customer, the
    note or the status, which leaves it as it was. Pure."""
    # a line more or fewer changes the digest: most scans need neither fingerprint
    if stated or len(new.lines) != len(old.lines) or discount.digest(new) != discount.digest(old):
        return discount.effective(new, ctx)
    return None


def _grant(node: Node, s: Session, caller: Caller, approver: dict[str, Any] | None,
           ) -> Callable[[Decimal], Authorization]:
    """How ``discount.settle`` authorises a discount: the caller's role, or the PIN of
    the ``approver`` sent with the call."""
    return lambda percent: node.authorize(s, caller, Action.DISCOUNT, approver=approver,
                                          discount_percent=percent)


def _audit_discount(node: Node, tx: Transaction, auth: Authorization,
                    given: discount.Discount, cart: Cart, **detail: Any) -> None:
    """An approved discount, with what it was approved on."""
    node.audit(tx, "discount", auth, cart_id=cart.cart_id,
               effective_percent=str(given.percent), list_total=str(flt(given.listed)),
               off=str(given.off), digest=discount.digest(cart), **detail)


@api_method()
def scan(node: Node, caller: Caller, code: str) -> dict[str, Any]:
    """What a barcode is: item, UOM, weight or label price."""
    with node.read() as s:
        return plain(catalog.scan(s, str(code), node.barcode_rules))


@api_method()
def search_items(node: Node, caller: Caller, text: str,
                 limit: int = DEFAULT_SEARCH_HITS) -> list[dict[str, Any]]:
    """Items by code, name or barcode, as the cashier types."""
    with node.read() as s:
        hits = catalog.search(s, str(text), max(1, min(int(limit), MAX_SEARCH_HITS)))
        return [plain(h) for h in hits]


@api_method()
def item(node: Node, caller: Caller, item_code: str) -> dict[str, Any]:
    """One item with its UOMs, list prices and stock moved by sales."""
    with node.read() as s:
        info = catalog.get_item(s, str(item_code))
        ctx = node.context(s)
        prices = {}
        for uom in info.uom_names():
            try:
                prices[uom] = str(catalog.price_for(s, info, uom, ctx.price_list,
                                                    on=_priced_on(ctx)))
            except NotFoundError:
                continue
        stock_now = stock.on_hand(s, info.item_code, ctx.warehouse)
        return {**plain(info), "barcodes": list(catalog.barcodes_of(s, info.item_code)),
                "prices": prices, "stock": plain(stock_now),
                "negative_stock": stock_now.negative}


@api_method()
def search_customers(node: Node, caller: Caller, text: str,
                     limit: int = DEFAULT_SEARCH_HITS) -> list[dict[str, Any]]:
    """Customers by name or phone."""
    with node.read() as s:
        return [plain(c) for c in catalog.search_customers(s, str(text), int(limit))]


@api_method()
def create_customer(node: Node, caller: Caller, customer_name: str, mobile_no: str | None = None,
                    email_id: str | None = None) -> dict[str, Any]:
    """Create a customer offline; it reaches ERPNext with the next delivery."""
    name = str(customer_name).strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise ValidationError(f"customer_name must be 1-{MAX_NAME_CHARS} characters")
    with node.write() as tx:
        ctx = node.context(tx.session)
        n = node.next_number(tx.session, "customer_seq")
        doc = {"name": f"{node.node_id}-CUST-{n:05d}", "customer_name": name,
               "customer_type": "Individual", "customer_group": "Individual",
               "territory": "All Territories", "mobile_no": mobile_no, "email_id": email_id,
               "company": ctx.company, "created_by": caller.user}
        now = node.clock()
        tx.append("customer.created", {"doctype": "Customer", "name": doc["name"],
                                       "modified": now.strftime("%Y-%m-%d %H:%M:%S.%f"),
                                       "doc": doc})
    return doc


@api_method()
def cart_new(node: Node, caller: Caller, customer: str | None = None) -> dict[str, Any]:
    """Start an empty cart for the walk-in customer (or the one given)."""
    with node.write(durable=False) as tx:
        node.check_selling(tx.session)  # a revoked counter sells no more
        ctx = node.context(tx.session)
        cart = _new_cart(tx.session, ctx, secrets.token_hex(CART_ID_BYTES), caller.user,
                         customer)
        cart_store.save(tx.session, cart, node.clock())
        return _view(cart, ctx, _points(tx.session, ctx, cart.customer))


@api_method()
async def cart_get(node: Node, caller: Caller, cart_id: str) -> dict[str, Any]:
    """A cart with its lines, taxes and totals as ERPNext will book them."""
    with node.read() as s:
        cart, ctx = cart_store.load(s, cart_id), node.context(s)
        points = _points(s, ctx, cart.customer)
    return await _shown(node, cart, ctx, points)


@api_method()
async def cart_scan(node: Node, caller: Caller, cart_id: str, code: str,
                    approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Add what a barcode names (1 unit, the weighed qty, or the label price).

    Not on a revoked counter. Like every change of a cart's lines, refused (or approved
    with ``approver``) when it takes the cart's effective discount above the caller's
    limit (``domain.discount``).
    """
    def change(s: Session, ctx: PosContext, cart: Cart) -> Cart:
        try:
            return cart.add(_scanned(node, s, ctx, cart, str(code)))
        except BarcodeError:
            item = tracking.serial_item(s, str(code).strip())
            if item is not None:  # a serial number's label: that unit
                return cart.add(batch_lines.tracked(
                    s, ctx.warehouse, cart, _make_line(s, ctx, item, Decimal(1), None),
                    _today(node), serial_no=str(code).strip()))
            if coupons.find(ctx.coupons, str(code)) is None:
                raise
            return _with_coupon(s, ctx, cart, str(code))  # the customer's coupon, scanned

    return await edit(node, caller, cart_id, change, approver=approver, selling=True)


@api_method()
async def cart_add(node: Node, caller: Caller, cart_id: str, item_code: str, qty: Any = "1",
                   uom: str | None = None, approver: dict[str, Any] | None = None,
                   batch_no: str | None = None, serial_no: str | None = None,
                   ) -> dict[str, Any]:
    """Add an item by code (from search), with qty and UOM; not on a revoked counter. A
    batch-tracked item sells from ``batch_no`` if given, else from the batch that expires
    first; a serial-tracked item needs ``serial_no`` (one per line for several units)."""
    amount = inputs.quantity(node, qty)
    return await edit(node, caller, cart_id, lambda s, ctx, cart: cart.add(batch_lines.tracked(
        s, ctx.warehouse, cart, _make_line(s, ctx, str(item_code), amount, uom), _today(node),
        batch_no=_text(batch_no), serial_no=_text(serial_no))), approver=approver,
        selling=True)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@api_method()
async def cart_set_batch(node: Node, caller: Caller, cart_id: str, line: int,
                         batch_no: str) -> dict[str, Any]:
    """Sell a line from another batch (the one in the customer's hand, say)."""
    def change(s: Session, ctx: PosContext, cart: Cart) -> Cart:
        old = cart.line(line)
        if not old.batch_no:
            raise ValidationError(f"Line {line} ({old.item_name}) is not sold by batch")
        others = replace(cart, lines=cart.lines[:line] + cart.lines[line + 1:])
        chosen = batch_lines.tracked(s, ctx.warehouse, others, replace(old, batch_no=""),
                                     _today(node), batch_no=str(batch_no))
        return cart.set_batch(line, chosen.batch_no, chosen.batch_expiry)

    return await edit(node, caller, cart_id, change, selling=True)


@api_method(roles=(Role.SUPERVISOR, Role.ADMIN))
def stock_flagged(node: Node, caller: Caller) -> dict[str, Any]:
    """What the store sold beyond its stock, for a supervisor to settle in ERPNext: serial
    numbers sold more often than taken back (with the sales; ERPNext may have taken both),
    and batches sold beyond what they held (until ERPNext's next reading)."""
    with node.read() as s:
        over = stock.oversold(s, node.context(s).warehouse)
        return {"serial_numbers": tracking.sold_twice(s), "batches": over["batches"]}


@api_method()
def item_tracking(node: Node, caller: Caller, item_code: str) -> dict[str, Any]:
    """An item's batches (expiry, what is left, whether it may be sold) first expiry
    first, and its serial numbers in stock (at most ``MAX_SEARCH_HITS``)."""
    with node.read() as s:
        return batch_lines.options(s, str(item_code), node.context(s).warehouse,
                                   _today(node), MAX_SEARCH_HITS)


@api_method()
async def cart_set_qty(node: Node, caller: Caller, cart_id: str, line: int, qty: Any,
                       approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Change a line's quantity."""
    amount = inputs.quantity(node, qty)
    return await edit(node, caller, cart_id, lambda s, ctx, cart: cart.set_qty(line, amount),
                      approver=approver)


@api_method()
async def cart_set_uom(node: Node, caller: Caller, cart_id: str, line: int, uom: str,
                       approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sell a line in another UOM (Box instead of Nos): price and factor follow."""

    def change(s: Session, ctx: PosContext, cart: Cart) -> Cart:
        old = cart.line(line)
        fresh = _make_line(s, ctx, old.item_code, old.qty, str(uom))
        return cart.set_uom(line, fresh.uom, fresh.conversion_factor,
                            fresh.price_list_rate, fresh.whole_number)

    return await edit(node, caller, cart_id, change, approver=approver)


@api_method(action=Action.DISCOUNT)
async def cart_line_discount(node: Node, caller: Caller, cart_id: str, line: int,
                             percent: Any = None, amount: Any = None,
                             approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Discount one line by a percentage or an amount per unit (role limit applies).

    ERPNext ignores a line discount amount sent without a rate, so an amount becomes
    the rate (list price - amount), which ERPNext books as that discount.
    """
    if (percent is None) == (amount is None):
        raise ValidationError("Give either percent or amount")
    with node.read() as s:
        target = cart_store.load(s, cart_id).line(line)
        list_price = target.price_list_rate
        if percent is not None:
            pct = to_decimal(percent, "percent")
            if flt(pct) != pct:
                raise ValidationError(f"Discount {pct}% has more than 2 decimals")
        else:
            amt = inputs.money(node, amount, "amount")
            if list_price <= 0 or amt > list_price:
                raise ValidationError(f"Discount {amt} is more than the price {list_price}")
            pct = amt / list_price * HUNDRED
        if not ZERO <= pct <= HUNDRED:
            raise ValidationError(f"Discount {pct}% must be between 0 and 100")

    def change(s: Session, ctx: PosContext, cart: Cart) -> Cart:
        if percent is not None:
            return cart.line_discount(line, pct, ZERO)
        return cart.line_discount(line, ZERO, amt).set_rate(line, list_price - amt)

    return await edit(node, caller, cart_id, change, approver=approver,
                      stated=flt(pct, FLOAT_PRECISION))


@api_method(action=Action.PRICE_OVERRIDE)
async def cart_set_rate(node: Node, caller: Caller, cart_id: str, line: int, rate: Any,
                        approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sell a line at another price (price override)."""
    new_rate = inputs.money(node, rate, "rate")
    with node.read() as s:
        auth = node.authorize(s, caller, Action.PRICE_OVERRIDE, approver=approver)
    return await edit(node, caller, cart_id, lambda s, ctx, c: c.set_rate(line, new_rate),
                      approver=approver, audit=("price_override", auth))


@api_method(action=Action.DISCOUNT)
async def cart_discount(node: Node, caller: Caller, cart_id: str, percent: Any = None,
                        amount: Any = None, approver: dict[str, Any] | None = None,
                        ) -> dict[str, Any]:
    """Discount the whole invoice by a percentage or an amount (role limit applies)."""
    if percent is not None and amount is not None:
        raise ValidationError("Give either percent or amount")
    pct = to_decimal(percent if percent is not None else 0, "percent")
    amt = inputs.money(node, amount, "amount") if amount is not None else ZERO
    with node.read() as s:
        cart, ctx = cart_store.load(s, cart_id), node.context(s)
    base = await node.off_loop(lambda: discount.invoice_base(cart, ctx), len(cart.lines))
    stated = pct if amount is None else (amt / base * HUNDRED if base else HUNDRED)
    if not ZERO <= stated <= HUNDRED:
        raise ValidationError(f"Discount {stated}% must be between 0 and 100")
    return await edit(node, caller, cart_id, lambda s, ctx, c: c.invoice_discount(pct, amt),
                      approver=approver, stated=flt(stated, FLOAT_PRECISION))


@api_method(action=Action.VOID)
async def cart_remove(node: Node, caller: Caller, cart_id: str, line: int,
                      approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Remove a scanned line (a void, audited)."""
    with node.read() as s:
        auth = node.authorize(s, caller, Action.VOID, approver=approver)
    return await edit(node, caller, cart_id, lambda s, ctx, c: c.remove(line),
                      approver=approver, audit=("void", auth))


@api_method()
async def cart_set_customer(node: Node, caller: Caller, cart_id: str, customer: str,
                            ) -> dict[str, Any]:
    """Sell to a known customer."""
    return await edit(node, caller, cart_id, lambda s, ctx, c: _with_customer(
        s, c, str(customer)))


@api_method()
async def cart_set_coupon(node: Node, caller: Caller, cart_id: str, code: str,
                          ) -> dict[str, Any]:
    """Take the customer's coupon (its code, as printed): the cart is priced with its
    promotion. One per sale; a second replaces the first. Refused, in ERPNext's words,
    before or after its validity or once used up across the store."""
    return await edit(node, caller, cart_id,
                      lambda s, ctx, c: _with_coupon(s, ctx, c, str(code)))


@api_method()
async def cart_remove_coupon(node: Node, caller: Caller, cart_id: str) -> dict[str, Any]:
    """Take the coupon off the cart."""
    return await edit(node, caller, cart_id, lambda s, ctx, c: c.with_coupon(""))


@api_method()
async def cart_hold(node: Node, caller: Caller, cart_id: str, note: str = "") -> dict[str, Any]:
    """Park the cart (customer fetches something); resume it later on this counter."""
    return await edit(node, caller, cart_id, lambda s, ctx, c: c.hold(str(note)[:MAX_HOLD_NOTE]),
                      held_too=True)


@api_method()
async def cart_held(node: Node, caller: Caller) -> list[dict[str, Any]]:
    """Held carts, oldest first."""
    with node.read() as s:
        ctx, carts = node.context(s), cart_store.held(s)
    return await node.off_loop(lambda: [_view(c, ctx) for c in carts],
                               sum(len(c.lines) for c in carts))


@api_method()
async def cart_resume(node: Node, caller: Caller, cart_id: str) -> dict[str, Any]:
    """Take a held cart back to the till."""
    return await edit(node, caller, cart_id,
                      lambda s, ctx, c: replace(c.resume(), cashier=caller.user), held_too=True)


@api_method(action=Action.VOID)
def cart_void(node: Node, caller: Caller, cart_id: str,
              approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Abandon a whole cart (audited)."""
    with node.write() as tx:
        auth = node.authorize(tx.session, caller, Action.VOID, approver=approver)
        cart = cart_store.load(tx.session, cart_id)
        cart_store.drop(tx.session, cart.cart_id)
        node.audit(tx, "void", auth, cart_id=cart.cart_id, lines=len(cart.lines))
    node.tender_drafts.drop(cart.cart_id)
    return {"voided": cart.cart_id}


def _priced(cart: Cart, ctx: PosContext, tenders: list[Tender], member: Member | None,
            redeem: int) -> InvoiceTotals:
    """The cart priced with what the customer handed over and the points they redeem,
    once both are checked. Pure."""
    unpaid = price(cart, ctx)
    due = amount_due(unpaid)
    worth = _redeemable(cart, ctx, member, redeem, due)
    if worth and worth == due:  # ERPNext takes it with a payment row of 0 (loyalty-10)
        if tenders:
            raise PaymentError("The points pay the whole sale: take no other payment")
        return price_paid(cart, ctx, unpaid, ZERO, worth)
    return price_paid(cart, ctx, unpaid, check_payments(tenders, ctx, due - worth), worth)


def _redeemable(cart: Cart, ctx: PosContext, member: Member | None, points: int,
                due: Decimal) -> Decimal:
    """The worth of ``points`` redeemed on a sale of ``due``, within the member's
    balance as the store knows it."""
    if not points:
        return ZERO
    if member is None or ctx.today is None:
        raise LoyaltyError(f"{cart.customer} has no loyalty points at this store")
    return check_redemption(member.program, points, available=member.balance(ctx.today),
                            due=due)


async def submit(node: Node, caller: Caller, cart: Cart, tenders: list[Tender], *,
                 kept: bool, approver: dict[str, Any] | None = None,
                 redeem: int = 0) -> dict[str, Any]:
    """Price and check a sale (off the loop when big), then number and record it; a
    ``kept`` cart (one of the store's) goes, unless another request changed it meanwhile.

    Its effective discount is allowed once more for the one who takes the payment: within
    their limit, covered by the cart's approval, or approved now by ``approver``."""
    if not cart.lines:
        raise ValidationError("The cart is empty")
    if cart.status is not CartStatus.OPEN:
        raise ValidationError("This cart is held: resume it first")
    def settled(s: Session) -> Authorization | None:
        return discount.settle(cart, given, _grant(node, s, caller, approver),
                               common=node.matrix.common_discount_percent)[1]

    small = len(cart.lines) <= LOOP_SLICE_LINES
    if small:  # priced here at once: one read for all of it
        with node.read() as s:
            ctx = node.context(s)
            member = loyalty_ledger.member(s, cart.customer, ctx.loyalty_programs)
            totals = _priced(cart, ctx, tenders, member, redeem)
            given = discount.effective(cart, ctx)
            granted = settled(s)
    else:
        with node.read() as s:
            ctx = node.context(s)
            member = loyalty_ledger.member(s, cart.customer, ctx.loyalty_programs)
        totals, given = await node.off_loop(
            lambda: (_priced(cart, ctx, tenders, member, redeem), discount.effective(cart, ctx)),
            len(cart.lines))
        with node.read() as s:
            granted = settled(s)
    with node.write() as tx:
        s = tx.session
        node.check_selling(s)
        if kept:
            if not small:  # a small one came from its read to here without a pause
                _still(s, cart)
            cart_store.drop(s, cart.cart_id)
        _check_coupon(s, ctx, cart)  # here: the sales of this counter count one by one
        batch_lines.check(s, ctx.warehouse, cart, _today(node))  # another till's sale too
        member = loyalty_ledger.member(s, cart.customer, ctx.loyalty_programs)  # and redeem so
        _redeemable(cart, ctx, member, redeem, amount_due(totals))
        shift = ledger.open_shift(s, node.node_id)
        now = node.clock().astimezone(node.config.tz)
        invoice = inputs.invoice_number(node, s, now)
        # paid in points alone: a row of 0 in cash, as ERPNext wants one row
        body = sale_body(cart=cart, totals=totals, ctx=ctx,
                         tenders=tenders or [Tender(ctx.cash_mode, ZERO)],
                         invoice=invoice, shift=shift, cashier=caller.user, posted_at=now,
                         member=member, redeemed=redeem)
        event = tx.append("sale.submitted", body)
        if granted is not None and granted.override:
            _audit_discount(node, tx, granted, given, cart, invoice=invoice)
        # Allowed offline, but the cashier and the supervisor must see it.
        short = [plain(level) for level in stock.on_hand_of(
            s, sorted({ln.item_code for ln in cart.lines}), ctx.warehouse) if level.negative]
    node.tender_drafts.drop(cart.cart_id)  # paid now: the display shows the sale
    return {"invoice": invoice, "event": event.id, "totals": body["totals"],
            "payments": body["payments"], "change": body["totals"]["change_amount"],
            "negative_stock": short, "loyalty": body.get("loyalty")}


@api_method()
async def sale_submit(node: Node, caller: Caller, cart_id: str, payments: list[dict[str, Any]],
                      approver: dict[str, Any] | None = None,
                      loyalty_points: Any = 0) -> dict[str, Any]:
    """Take payment and record the sale durably; returns the invoice and the change. A
    member may pay part with ``loyalty_points`` (their worth counts as paid), within the
    balance the store knows."""
    tenders = inputs.tenders(node, payments)
    redeem = inputs.points(loyalty_points, "loyalty_points")
    with node.read() as s:
        cart = cart_store.load(s, cart_id)
    return await submit(node, caller, cart, tenders, kept=True, approver=approver,
                        redeem=redeem)


@api_method()
async def sale_create(node: Node, caller: Caller, items: list[dict[str, Any]],
                      payments: list[dict[str, Any]], customer: str | None = None,
                      ) -> dict[str, Any]:
    """A whole sale in one call (self-checkout, scripts): items by ``code`` (barcode)
    or ``item_code`` with ``qty`` and ``uom``; priced and checked as a cart would be."""
    wanted = inputs.lines(items, "items", '{"code"} or {"item_code", "qty"}')
    tenders = inputs.tenders(node, payments)
    return await submit(node, caller, await _direct_cart(node, caller, wanted, customer),
                        tenders, kept=False)


async def _direct_cart(node: Node, caller: Caller, items: list[dict[str, Any]],
                       customer: str | None) -> Cart:
    """The cart of ``sale_create``: its items are looked up in the store, on the loop, a
    slice at a time with the loop free in between (replication, the other tills)."""
    with node.read() as s:
        ctx = node.context(s)
        cart = _new_cart(s, ctx, "direct", caller.user, customer)
        for item in items[:LOOP_SLICE_LINES]:
            cart = cart.add(_line_from(node, s, ctx, cart, item))
    for start in range(LOOP_SLICE_LINES, len(items), LOOP_SLICE_LINES):
        await asyncio.sleep(0)
        with node.read() as s:
            for item in items[start:start + LOOP_SLICE_LINES]:
                cart = cart.add(_line_from(node, s, ctx, cart, item))
    return cart


def _line_from(node: Node, s: Session, ctx: PosContext, cart: Cart,
               item: dict[str, Any]) -> Line:
    if "code" in item:
        return _scanned(node, s, ctx, cart, str(item["code"]))
    return batch_lines.tracked(
        s, ctx.warehouse, cart, _make_line(s, ctx, str(item.get("item_code")),
                                           inputs.quantity(node, item.get("qty", "1")),
                                           item.get("uom")),
        _today(node), batch_no=_text(item.get("batch_no")), serial_no=_text(item.get("serial_no")))


def _scanned(node: Node, s: Session, ctx: PosContext, cart: Cart, code: str) -> Line:
    hit = catalog.scan(s, code, node.barcode_rules)
    line = _make_line(s, ctx, hit.item_code, hit.qty or Decimal(1), hit.uom, hit.barcode,
                      weighed=hit.qty is not None)
    line = _price_embedded(line, hit.amount) if hit.amount is not None else line
    return batch_lines.tracked(s, ctx.warehouse, cart, line, _today(node))
