"""API methods for selling: catalog look-ups, the cart, payment, returns, the drawer."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tillmesh.node.domain.cart import Cart, CartStatus, Line
from tillmesh.node.domain.money import FLOAT_PRECISION, ZERO, flt, to_decimal
from tillmesh.node.domain.roles import Action
from tillmesh.node.domain.sale import (
    Tender,
    as_return,
    check_payments,
    plain,
    price,
    returnable,
    sale_body,
)
from tillmesh.node.domain.totals import amount_due
from tillmesh.node.errors import NotFoundError, ReturnError, ValidationError
from tillmesh.node.projections import catalog, ledger, stock
from tillmesh.node.projections.pos_profile import PosContext, item_tax_rates
from tillmesh.node.store import cart_store
from tillmesh.node.store.base import EventRow
from tillmesh.node.store.event_codec import unpack_body
from tillmesh.node.store.event_log import Transaction

if TYPE_CHECKING:
    from tillmesh.node.api._service import Caller, Node

HUNDRED = Decimal(100)


def _qty(node: Node, value: object, field: str = "qty") -> Decimal:
    qty = to_decimal(value, field)
    if qty <= 0:
        raise ValidationError(f"{field} must be more than 0 (got {qty}); use a return to "
                              "give money back")
    if qty > Decimal(node.config.max_line_qty):
        raise ValidationError(f"{field} {qty} is above the limit of {node.config.max_line_qty}")
    if flt(qty, FLOAT_PRECISION) != qty:
        raise ValidationError(f"{field} {qty} has more than {FLOAT_PRECISION} decimals")
    return qty


def _money(node: Node, value: object, field: str) -> Decimal:
    amount = to_decimal(value, field)
    if amount < 0:
        raise ValidationError(f"{field} cannot be negative (got {amount})")
    if amount > Decimal(node.config.max_line_amount):
        raise ValidationError(f"{field} {amount} is above the limit of "
                              f"{node.config.max_line_amount}")
    if flt(amount) != amount:
        raise ValidationError(f"{field} {amount} has more than 2 decimals")
    return amount


def _invoice_number(node: Node, session: Session, when: datetime) -> str:
    """Per counter, never colliding across counters: ``C01-2026-000042``."""
    n = node.next_number(session, "invoice_seq")
    return f"{node.node_id}-{when.year}-{n:06d}"


def _make_line(session: Session, ctx: PosContext, item_code: str, qty: Decimal,
               uom: str | None, barcode: str | None = None, weighed: bool = False) -> Line:
    info = catalog.get_item(session, item_code)
    uom = uom or info.stock_uom
    factor, whole = info.uom(uom)
    return Line(
        item_code=info.item_code,
        item_name=info.item_name,
        qty=qty,
        uom=uom,
        stock_uom=info.stock_uom,
        conversion_factor=factor,
        price_list_rate=catalog.price_for(session, info.item_code, uom, ctx.price_list),
        whole_number=whole,
        item_tax_template=info.item_tax_template,
        item_tax_rates=item_tax_rates(session, info.item_tax_template),
        barcode=barcode,
        weighed=weighed,
    )


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


def _view(cart: Cart, ctx: PosContext) -> dict[str, Any]:
    base = {"cart_id": cart.cart_id, "status": cart.status.value, "customer": cart.customer,
            "cashier": cart.cashier, "note": cart.note}
    if not cart.lines:
        return {**base, "lines": [], "taxes": [], "totals": _EMPTY_TOTALS, "due": "0.00"}
    totals = price(cart, ctx)
    lines = [
        {**plain(t), "line": i, "item_code": ln.item_code, "item_name": ln.item_name,
         "uom": ln.uom, "barcode": ln.barcode}
        for i, (ln, t) in enumerate(zip(cart.lines, totals.lines, strict=True))
    ]
    head = plain(totals)
    head.pop("lines")
    taxes = head.pop("taxes")
    return {**base, "lines": lines, "taxes": taxes, "totals": head,
            "due": str(amount_due(totals))}


def sale_event(session: Session, invoice: str) -> tuple[ledger.SaleRow, dict[str, Any]]:
    row = session.get(ledger.SaleRow, invoice)
    if row is None:
        raise NotFoundError(f"No invoice {invoice!r} on this counter")
    raw = session.scalar(select(EventRow.body).where(EventRow.origin == row.origin,
                                                      EventRow.seq == row.seq))
    assert raw is not None  # a projection row always has its event
    return row, unpack_body(raw)


def register(node: Node) -> None:  # noqa: C901  (one closure per API method)
    def edit(caller: Caller, cart_id: str, change: Any, *, audit: tuple[str, Any] | None = None,
             ) -> dict[str, Any]:
        """Load, change, re-price (refusing what ERPNext would refuse), save."""
        with node.write(durable=audit is not None) as tx:
            s = tx.session
            cart = cart_store.load(s, cart_id)
            if cart.status is not CartStatus.OPEN:
                raise ValidationError("This cart is held: resume it first")
            ctx = node.context(s)
            new = change(s, ctx, cart)
            view = _view(new, ctx)
            cart_store.save(s, new, node.clock())
            if audit is not None:
                what, auth = audit
                node.audit(tx, what, auth, cart_id=cart.cart_id)
        return view

    def scan(caller: Caller, code: str) -> dict[str, Any]:
        """What a barcode is: item, UOM, weight or label price."""
        with node.read() as s:
            return plain(catalog.scan(s, str(code), node.barcode_rules))

    def search_items(caller: Caller, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """Items by code, name or barcode, as the cashier types."""
        with node.read() as s:
            hits = catalog.search(s, str(text), max(1, min(int(limit), 200)))
            return [plain(h) for h in hits]

    def item(caller: Caller, item_code: str) -> dict[str, Any]:
        """One item with its UOMs, list prices and stock moved by sales."""
        with node.read() as s:
            info = catalog.get_item(s, str(item_code))
            ctx = node.context(s)
            prices = {}
            for uom in info.uom_names():
                try:
                    prices[uom] = str(catalog.price_for(s, info.item_code, uom, ctx.price_list))
                except NotFoundError:
                    continue
            stock_now = stock.on_hand(s, info.item_code, ctx.warehouse)
            return {**plain(info), "prices": prices, "stock": plain(stock_now),
                    "negative_stock": stock_now.negative}

    def search_customers(caller: Caller, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """Customers by name or phone."""
        with node.read() as s:
            return [plain(c) for c in catalog.search_customers(s, str(text), int(limit))]

    def create_customer(caller: Caller, customer_name: str, mobile_no: str | None = None,
                        email_id: str | None = None) -> dict[str, Any]:
        """Create a customer offline; it reaches ERPNext with the next delivery."""
        name = str(customer_name).strip()
        if not name or len(name) > 140:
            raise ValidationError("customer_name must be 1-140 characters")
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

    def cart_new(caller: Caller, customer: str | None = None) -> dict[str, Any]:
        """Start an empty cart for the walk-in customer (or the one given)."""
        with node.write(durable=False) as tx:
            ctx = node.context(tx.session)
            cart = Cart(cart_id=secrets.token_hex(8), cashier=caller.user,
                        customer=ctx.customer)
            if customer:
                cart = cart.with_customer(catalog.get_customer(tx.session, str(customer)).name)
            cart_store.save(tx.session, cart, node.clock())
            return _view(cart, ctx)

    def cart_get(caller: Caller, cart_id: str) -> dict[str, Any]:
        """A cart with its lines, taxes and totals as ERPNext will book them."""
        with node.read() as s:
            return _view(cart_store.load(s, cart_id), node.context(s))

    def cart_scan(caller: Caller, cart_id: str, code: str) -> dict[str, Any]:
        """Add what a barcode names (1 unit, the weighed qty, or the label price)."""

        return edit(caller, cart_id, lambda s, ctx, cart: cart.add(_scanned(s, ctx, str(code))))

    def cart_add(caller: Caller, cart_id: str, item_code: str, qty: Any = "1",
                 uom: str | None = None) -> dict[str, Any]:
        """Add an item by code (from search), with qty and UOM."""
        amount = _qty(node, qty)
        return edit(caller, cart_id, lambda s, ctx, cart: cart.add(
            _make_line(s, ctx, str(item_code), amount, uom)))

    def cart_set_qty(caller: Caller, cart_id: str, line: int, qty: Any) -> dict[str, Any]:
        """Change a line's quantity."""
        amount = _qty(node, qty)
        return edit(caller, cart_id, lambda s, ctx, cart: cart.set_qty(line, amount))

    def cart_set_uom(caller: Caller, cart_id: str, line: int, uom: str) -> dict[str, Any]:
        """Sell a line in another UOM (Box instead of Nos): price and factor follow."""

        def change(s: Session, ctx: PosContext, cart: Cart) -> Cart:
            old = cart.line(line)
            fresh = _make_line(s, ctx, old.item_code, old.qty, str(uom))
            return cart.set_uom(line, fresh.uom, fresh.conversion_factor,
                                fresh.price_list_rate, fresh.whole_number)

        return edit(caller, cart_id, change)

    def cart_line_discount(caller: Caller, cart_id: str, line: int, percent: Any = None,
                           amount: Any = None, approver: dict[str, Any] | None = None,
                           ) -> dict[str, Any]:
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
                amt = _money(node, amount, "amount")
                if list_price <= 0 or amt > list_price:
                    raise ValidationError(f"Discount {amt} is more than the price {list_price}")
                pct = amt / list_price * HUNDRED
            if not ZERO <= pct <= HUNDRED:
                raise ValidationError(f"Discount {pct}% must be between 0 and 100")
            auth = node.authorize(s, caller, Action.DISCOUNT, approver=approver,
                                  discount_percent=flt(pct, FLOAT_PRECISION))

        def change(s: Session, ctx: PosContext, cart: Cart) -> Cart:
            if percent is not None:
                return cart.line_discount(line, pct, ZERO)
            return cart.line_discount(line, ZERO, amt).set_rate(line, list_price - amt)

        return edit(caller, cart_id, change,
                    audit=("discount", auth) if auth.override else None)

    def cart_set_rate(caller: Caller, cart_id: str, line: int, rate: Any,
                      approver: dict[str, Any] | None = None) -> dict[str, Any]:
        """Sell a line at another price (price override)."""
        new_rate = _money(node, rate, "rate")
        with node.read() as s:
            auth = node.authorize(s, caller, Action.PRICE_OVERRIDE, approver=approver)
        return edit(caller, cart_id, lambda s, ctx, c: c.set_rate(line, new_rate),
                    audit=("price_override", auth))

    def cart_discount(caller: Caller, cart_id: str, percent: Any = None, amount: Any = None,
                      approver: dict[str, Any] | None = None) -> dict[str, Any]:
        """Discount the whole invoice by a percentage or an amount (role limit applies)."""
        if percent is not None and amount is not None:
            raise ValidationError("Give either percent or amount")
        pct = to_decimal(percent if percent is not None else 0, "percent")
        amt = _money(node, amount, "amount") if amount is not None else ZERO
        with node.read() as s:
            cart = cart_store.load(s, cart_id)
            base = Decimal(_view(replace(cart, discount_amount=ZERO,
                                         additional_discount_percentage=ZERO),
                                 node.context(s))["totals"]["grand_total"])
            effective = pct if amount is None else (amt / base * HUNDRED if base else HUNDRED)
            if not ZERO <= effective <= HUNDRED:
                raise ValidationError(f"Discount {effective}% must be between 0 and 100")
            auth = node.authorize(s, caller, Action.DISCOUNT, approver=approver,
                                  discount_percent=flt(effective, FLOAT_PRECISION))
        return edit(caller, cart_id, lambda s, ctx, c: c.invoice_discount(pct, amt),
                    audit=("discount", auth) if auth.override else None)

    def cart_remove(caller: Caller, cart_id: str, line: int,
                    approver: dict[str, Any] | None = None) -> dict[str, Any]:
        """Remove a scanned line (a void, audited)."""
        with node.read() as s:
            auth = node.authorize(s, caller, Action.VOID, approver=approver)
        return edit(caller, cart_id, lambda s, ctx, c: c.remove(line), audit=("void", auth))

    def cart_set_customer(caller: Caller, cart_id: str, customer: str) -> dict[str, Any]:
        """Sell to a known customer."""
        return edit(caller, cart_id, lambda s, ctx, c: c.with_customer(
            catalog.get_customer(s, str(customer)).name))

    def cart_hold(caller: Caller, cart_id: str, note: str = "") -> dict[str, Any]:
        """Park the cart (customer fetches something); resume it later on this counter."""
        with node.write(durable=False) as tx:
            cart = cart_store.load(tx.session, cart_id).hold(str(note)[:140])
            cart_store.save(tx.session, cart, node.clock())
            return _view(cart, node.context(tx.session))

    def cart_held(caller: Caller) -> list[dict[str, Any]]:
        """Held carts, oldest first."""
        with node.read() as s:
            ctx = node.context(s)
            return [_view(c, ctx) for c in cart_store.held(s)]

    def cart_resume(caller: Caller, cart_id: str) -> dict[str, Any]:
        """Take a held cart back to the till."""
        with node.write(durable=False) as tx:
            cart = cart_store.load(tx.session, cart_id).resume()
            cart_store.save(tx.session, replace(cart, cashier=caller.user), node.clock())
            return _view(cart, node.context(tx.session))

    def cart_void(caller: Caller, cart_id: str,
                  approver: dict[str, Any] | None = None) -> dict[str, Any]:
        """Abandon a whole cart (audited)."""
        with node.write() as tx:
            auth = node.authorize(tx.session, caller, Action.VOID, approver=approver)
            cart = cart_store.load(tx.session, cart_id)
            cart_store.drop(tx.session, cart.cart_id)
            node.audit(tx, "void", auth, cart_id=cart.cart_id, lines=len(cart.lines))
        return {"voided": cart.cart_id}

    def submit(tx: Transaction, cart: Cart, tenders: list[Tender], caller: Caller,
               ) -> dict[str, Any]:
        """Price, check the payments, number and record a sale in ``tx``."""
        s = tx.session
        if not cart.lines:
            raise ValidationError("The cart is empty")
        if cart.status is not CartStatus.OPEN:
            raise ValidationError("This cart is held: resume it first")
        ctx = node.context(s)
        shift = ledger.open_shift(s, node.node_id)
        paid = check_payments(tenders, ctx, amount_due(price(cart, ctx)))
        totals = price(cart, ctx, paid)
        now = node.clock().astimezone(node.config.tz)
        invoice = _invoice_number(node, s, now)
        body = sale_body(cart=cart, totals=totals, tenders=tenders, ctx=ctx,
                         invoice=invoice, shift=shift, cashier=caller.user,
                         posted_at=now)
        event = tx.append("sale.submitted", body)
        # Allowed offline, but the cashier and the supervisor must see it.
        short = [plain(level) for code in sorted({ln.item_code for ln in cart.lines})
                 if (level := stock.on_hand(s, code, ctx.warehouse)).negative]
        return {"invoice": invoice, "event": event.id, "totals": body["totals"],
                "payments": body["payments"], "change": body["totals"]["change_amount"],
                "negative_stock": short}

    def sale_submit(caller: Caller, cart_id: str, payments: list[dict[str, Any]],
                    ) -> dict[str, Any]:
        """Take payment and record the sale durably; returns the invoice and the change."""
        tenders = _tenders(payments)
        with node.write() as tx:
            cart = cart_store.load(tx.session, cart_id)
            answer = submit(tx, cart, tenders, caller)
            cart_store.drop(tx.session, cart.cart_id)
        return answer

    def sale_create(caller: Caller, items: list[dict[str, Any]], payments: list[dict[str, Any]],
                    customer: str | None = None) -> dict[str, Any]:
        """A whole sale in one call (self-checkout, scripts): items by ``code`` (barcode)
        or ``item_code`` with ``qty`` and ``uom``; priced and checked as a cart would be."""
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise ValidationError('items must be a list of {"code"} or {"item_code", "qty"}')
        tenders = _tenders(payments)
        with node.write() as tx:
            s = tx.session
            ctx = node.context(s)
            cart = Cart(cart_id="direct", cashier=caller.user, customer=ctx.customer)
            if customer:
                cart = cart.with_customer(catalog.get_customer(s, str(customer)).name)
            for item in items:
                cart = cart.add(_line_from(s, ctx, item))
            return submit(tx, cart, tenders, caller)

    def _line_from(s: Session, ctx: PosContext, item: dict[str, Any]) -> Line:
        if "code" in item:
            return _scanned(s, ctx, str(item["code"]))
        return _make_line(s, ctx, str(item.get("item_code")), _qty(node, item.get("qty", "1")),
                          item.get("uom"))

    def _scanned(s: Session, ctx: PosContext, code: str) -> Line:
        hit = catalog.scan(s, code, node.barcode_rules)
        line = _make_line(s, ctx, hit.item_code, hit.qty or Decimal(1), hit.uom, hit.barcode,
                          weighed=hit.qty is not None)
        return _price_embedded(line, hit.amount) if hit.amount is not None else line

    def invoice_get(caller: Caller, invoice: str) -> dict[str, Any]:
        """A sale or return as recorded, with what has been returned of each row."""
        with node.read() as s:
            row, body = sale_event(s, str(invoice))
            for item in body["items"]:
                item["returned_qty"] = str(ledger.returned_qty(s, item["name"]))
            return {**body, "is_return": row.is_return, "late": row.late,
                    "origin": row.origin, "event": f"{row.origin}:{row.seq}"}

    def invoice_list(caller: Caller, limit: int = 50) -> list[dict[str, Any]]:
        """The latest sales and returns of every counter held here, newest first."""
        with node.read() as s:
            rows = s.scalars(select(ledger.SaleRow).order_by(ledger.SaleRow.hlc.desc())
                             .limit(max(1, min(int(limit), 1000))))
            return [{"invoice": r.invoice, "is_return": r.is_return, "posted_at": r.posted_at,
                     "customer": r.customer, "cashier": r.cashier,
                     "grand_total": str(r.grand_total), "shift": r.shift, "late": r.late}
                    for r in rows]

    def return_create(caller: Caller, invoice: str, lines: list[dict[str, Any]] | None = None,
                      payments: list[dict[str, Any]] | None = None,
                      approver: dict[str, Any] | None = None) -> dict[str, Any]:
        """Return some or all rows of an earlier sale of any counter, and refund."""
        with node.write() as tx:
            s = tx.session
            auth = node.authorize(s, caller, Action.RETURN, approver=approver)
            row, original = sale_event(s, str(invoice))
            if row.is_return:
                raise ReturnError(f"{invoice} is itself a return")
            ctx = node.context(s)
            shift = ledger.open_shift(s, node.node_id)
            cart, rows = _return_cart(node, s, original, lines, caller.user)
            due = amount_due(price(cart, ctx))
            tenders = (_tenders(payments) if payments is not None
                       else [Tender(_refund_mode(original, ctx), due)])
            if sum((t.amount for t in tenders), ZERO) != due:
                raise ValidationError(f"Refund payments must add up to {due}")
            for t in tenders:
                ctx.mode(t.mode_of_payment)
            totals = price(cart, ctx, due)
            now = node.clock().astimezone(node.config.tz)
            number = _invoice_number(node, s, now)
            body = as_return(sale_body(cart=cart, totals=totals, tenders=tenders, ctx=ctx,
                                       invoice=number, shift=shift, cashier=caller.user,
                                       posted_at=now), row.invoice)
            for item, original_row in zip(body["items"], rows, strict=True):
                item["pos_invoice_item"] = original_row
            event = tx.append("sale.returned", body)
            node.audit(tx, "return", auth, invoice=number, return_against=row.invoice,
                       amount=str(due))
        return {"invoice": number, "event": event.id, "return_against": original["invoice"],
                "refund": str(due), "totals": body["totals"], "payments": body["payments"]}

    def drawer_open(caller: Caller, approver: dict[str, Any] | None = None,
                    reason: str = "") -> dict[str, Any]:
        """Open the cash drawer without a sale (audited)."""
        with node.write() as tx:
            auth = node.authorize(tx.session, caller, Action.DRAWER_OPEN, approver=approver)
            node.audit(tx, "drawer_opened", auth, reason=str(reason)[:140])
        return {"opened": True}

    for fn in (scan, search_items, item, search_customers, create_customer, cart_new, cart_get,
               cart_scan, cart_add, cart_set_qty, cart_set_uom, cart_line_discount,
               cart_set_rate, cart_discount, cart_remove, cart_set_customer, cart_hold,
               cart_held, cart_resume, cart_void, sale_submit, sale_create, invoice_get,
               invoice_list,
               return_create, drawer_open):
        node.expose(fn.__name__, fn)


def _tenders(payments: object) -> list[Tender]:
    if not isinstance(payments, list) or not all(isinstance(p, dict) for p in payments):
        raise ValidationError('payments must be a list of {"mode_of_payment", "amount"}')
    out = []
    for p in payments:
        if set(p) - {"mode_of_payment", "amount"} or "amount" not in p:
            raise ValidationError('each payment is {"mode_of_payment": ..., "amount": ...}')
        out.append(Tender(str(p.get("mode_of_payment", "Cash")),
                          to_decimal(p["amount"], "payment amount")))
    return out


def _refund_mode(original: dict[str, Any], ctx: PosContext) -> str:
    """Refund in cash if the customer paid any cash, else in their first mode."""
    modes = [p["mode_of_payment"] for p in original["payments"]]
    return ctx.cash_mode if ctx.cash_mode in modes else modes[0]


def _return_cart(node: Node, s: Session, original: dict[str, Any],
                 wanted: list[dict[str, Any]] | None, cashier: str) -> tuple[Cart, list[str]]:
    """A cart of the rows to give back, priced as they were sold."""
    by_row = {item["name"]: item for item in original["items"]}
    if wanted is None:
        wanted = [{"row": name, "qty": item["qty"]} for name, item in by_row.items()
                  if Decimal(item["qty"]) > ledger.returned_qty(s, name)]
        wanted = [
            {"row": w["row"], "qty": str(Decimal(w["qty"]) - ledger.returned_qty(s, w["row"]))}
            for w in wanted
        ]
        if not wanted:
            raise ReturnError(f"Everything on {original['invoice']} has been returned already")
    if not isinstance(wanted, list) or not wanted:
        raise ValidationError('lines must be a list of {"row": ..., "qty": ...}')
    lines, rows, seen = [], [], set()
    returned_amount = ZERO
    for w in wanted:
        if not isinstance(w, dict) or w.get("row") not in by_row:
            row = w.get("row") if isinstance(w, dict) else w
            raise ReturnError(f"{original['invoice']} has no row {row!r}")
        name = w["row"]
        if name in seen:
            raise ValidationError(f"Row {name} is listed twice")
        seen.add(name)
        item = by_row[name]
        qty = _qty(node, w.get("qty"), f"qty of {name}")
        returnable(Decimal(item["qty"]), ledger.returned_qty(s, name), qty, name)
        rate = Decimal(item["rate"])
        returned_amount += qty * rate
        lines.append(Line(
            item_code=item["item_code"], item_name=item["item_name"], qty=qty, uom=item["uom"],
            stock_uom=item["stock_uom"], conversion_factor=Decimal(item["conversion_factor"]),
            price_list_rate=Decimal(item["price_list_rate"]), rate=rate,
            item_tax_template=item.get("item_tax_template"),
            item_tax_rates={a: Decimal(r) for a, r in (item.get("item_tax_rate") or {}).items()},
        ))
        rows.append(name)
    cart = Cart(cart_id="return", cashier=cashier, customer=original["customer"],
                lines=tuple(lines),
                additional_discount_percentage=Decimal(original["additional_discount_percentage"]))
    discount = Decimal(original["discount_amount_input"])
    if discount and not cart.additional_discount_percentage:
        total = Decimal(original["totals"]["total"])
        share = flt(discount * returned_amount / total) if total else ZERO
        cart = replace(cart, discount_amount=share)
    return cart, rows
