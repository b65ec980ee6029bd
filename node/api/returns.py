"""API methods for returns: find any counter's sale, give back some or all of it, refund."""


from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tillmesh.node.api import _inputs as inputs
from tillmesh.node.api._methods import api_method
from tillmesh.node.api.const import DEFAULT_INVOICE_ROWS, MAX_LIST_ROWS
from tillmesh.node.domain.cart import Cart, Line
from tillmesh.node.domain.money import ZERO, flt
from tillmesh.node.domain.pos_context import PosContext
from tillmesh.node.domain.roles import Action
from tillmesh.node.domain.sale import (
    Tender,
    as_return,
    price,
    returnable,
    sale_body,
)
from tillmesh.node.domain.totals import amount_due
from tillmesh.node.errors import ReturnError, ValidationError
from tillmesh.node.projections import ledger

if TYPE_CHECKING:
    from tillmesh.node.api import Caller, Node


@api_method()
def invoice_get(node: Node, caller: Caller, invoice: str) -> dict[str, Any]:
    """A sale or return as recorded, with what has been returned of each row."""
    with node.read() as s:
        row, body = ledger.recorded_sale(s, str(invoice))
        for item in body["items"]:
            item["returned_qty"] = str(ledger.returned_qty(s, item["name"]))
        return {**body, "is_return": row.is_return, "late": row.late,
                "origin": row.origin, "event": f"{row.origin}:{row.seq}"}


@api_method()
def invoice_list(node: Node, caller: Caller,
                 limit: int = DEFAULT_INVOICE_ROWS) -> list[dict[str, Any]]:
    """The latest sales and returns of every counter held here, newest first."""
    with node.read() as s:
        rows = s.scalars(select(ledger.SaleRow).order_by(ledger.SaleRow.hlc.desc())
                         .limit(max(1, min(int(limit), MAX_LIST_ROWS))))
        return [{"invoice": r.invoice, "is_return": r.is_return, "posted_at": r.posted_at,
                 "customer": r.customer, "cashier": r.cashier,
                 "grand_total": str(r.grand_total), "shift": r.shift, "late": r.late}
                for r in rows]


@api_method(action=Action.RETURN)
def return_create(node: Node, caller: Caller, invoice: str,
                  lines: list[dict[str, Any]] | None = None,
                  payments: list[dict[str, Any]] | None = None,
                  approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return some or all rows of an earlier sale of any counter, and refund."""
    with node.write() as tx:
        s = tx.session
        auth = node.authorize(s, caller, Action.RETURN, approver=approver)
        row, original = ledger.recorded_sale(s, str(invoice))
        if row.is_return:
            raise ReturnError(f"{invoice} is itself a return")
        ctx = node.context(s)
        shift = ledger.open_shift(s, node.node_id)
        cart, rows = _return_cart(node, s, original, lines, caller.user)
        due = amount_due(price(cart, ctx))
        tenders = (inputs.tenders(payments) if payments is not None
                   else [Tender(_refund_mode(original, ctx), due)])
        if sum((t.amount for t in tenders), ZERO) != due:
            raise ValidationError(f"Refund payments must add up to {due}")
        for t in tenders:
            ctx.mode(t.mode_of_payment)
        totals = price(cart, ctx, due)
        now = node.clock().astimezone(node.config.tz)
        number = inputs.invoice_number(node, s, now)
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
        qty = inputs.quantity(node, w.get("qty"), f"qty of {name}")
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
