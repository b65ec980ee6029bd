"""API methods for returns: find any counter's sale, give back some or all of it, refund.

A return of another counter's sale is agreed with that counter first (``_agreement``),
and a sale this counter does not hold (it joined from a later checkpoint) is fetched from
that counter (``_agreement.sale_of``).
"""


from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tillmesh.node.api import _agreement as agreement
from tillmesh.node.api import _inputs as inputs
from tillmesh.node.api._methods import api_method
from tillmesh.node.api.const import DEFAULT_INVOICE_ROWS, MAX_LIST_ROWS
from tillmesh.node.domain.batches import serial_numbers, serial_text
from tillmesh.node.domain.cart import Cart, Line
from tillmesh.node.domain.money import ZERO, flt
from tillmesh.node.domain.pos_context import PosContext
from tillmesh.node.domain.roles import Action, Authorization, Role
from tillmesh.node.domain.sale import (
    Tender,
    as_return,
    price,
    returnable,
    sale_body,
)
from tillmesh.node.domain.totals import amount_due
from tillmesh.node.errors import ReturnError, ValidationError
from tillmesh.node.projections import ledger, refunds

if TYPE_CHECKING:
    from tillmesh.node.api import Caller, Node

Sale = tuple[ledger.SaleRow, dict[str, Any]]  # as recorded: its ledger row and body


@api_method()
async def invoice_get(node: Node, caller: Caller, invoice: str) -> dict[str, Any]:
    """A sale or return as recorded, with what has been returned of each row.

    One this counter does not hold (it joined later) is fetched from the counter that
    made it; NotFoundError says why when it cannot be.
    """
    row, body = await agreement.sale_of(node, str(invoice))
    with node.read() as s:
        for item in body["items"]:
            item["returned_qty"] = str(ledger.returned_qty(s, item["name"]))
        # A return's own over-return rows; for a sale, those of its returns.
        over = [_over(o) for o in refunds.over_returns(s)
                if row.invoice in (o.invoice, o.against)]
        return {**body, "is_return": row.is_return, "late": row.late,
                "origin": row.origin, "event": f"{row.origin}:{row.seq}",
                "unconfirmed": body.get("unconfirmed"), "over_returns": over}


def _over(o: refunds.OverReturn) -> dict[str, Any]:
    return {"invoice": o.invoice, "return_against": o.against, "row": o.row,
            "sold": str(o.sold), "returned": str(o.returned), "qty": str(o.qty),
            "counter": o.origin, "reason": o.reason}


@api_method()
def invoice_list(node: Node, caller: Caller,
                 limit: int = DEFAULT_INVOICE_ROWS) -> list[dict[str, Any]]:
    """The latest sales and returns of every counter held here, newest first."""
    with node.read() as s:
        # Two counters can stamp the same HLC: (origin, invoice) breaks the tie the same
        # way on every counter.
        rows = s.scalars(select(ledger.SaleRow).order_by(
            ledger.SaleRow.hlc.desc(), ledger.SaleRow.origin.desc(),
            ledger.SaleRow.invoice.desc()).limit(max(1, min(int(limit), MAX_LIST_ROWS))))
        return [{"invoice": r.invoice, "is_return": r.is_return, "posted_at": r.posted_at,
                 "customer": r.customer, "cashier": r.cashier,
                 "grand_total": str(r.grand_total), "shift": r.shift, "late": r.late}
                for r in rows]


@api_method(action=Action.RETURN)
async def return_create(node: Node, caller: Caller, invoice: str,
                        lines: list[dict[str, Any]] | None = None,
                        payments: list[dict[str, Any]] | None = None,
                        approver: dict[str, Any] | None = None,
                        unconfirmed: bool = False) -> dict[str, Any]:
    """Return some or all rows of an earlier sale of any counter, and refund.

    Another counter's sale is agreed with that counter first, so it is refunded once.
    When that counter cannot confirm, ReturnUnconfirmed says why; the same call with
    ``unconfirmed: true`` and a supervisor (``return_unconfirmed``) records it flagged.
    A sale this counter does not hold is fetched from that counter first; when it cannot
    be, NotFoundError says why (nothing to return it against here).
    """
    invoice = str(invoice)
    if lines is not None:
        lines = inputs.lines(lines, "lines", '{"row": ..., "qty": ...}')
    with node.read() as s:
        node.check_selling(s)  # before a PIN or an ask (and again when recording)
    sale = await agreement.sale_of(node, invoice)
    owner = sale[0].origin
    with node.read() as s:
        if owner == node.node_id:  # its own sale: the write transaction decides
            auth = node.authorize(s, caller, Action.RETURN, approver=approver)
        else:
            draft = _draft(node, s, sale, lines, payments, caller.user)
    if owner == node.node_id:
        return _record(node, caller, sale, lines, payments, auth, {}, None)
    why = node.owners.unreachable(owner)
    if why is not None and not unconfirmed:  # before the PIN: one prompt approves both
        raise agreement.unconfirmed_error(owner, invoice, why)
    with node.read() as s:  # before asking: a refused caller must not cost a promise
        auth = node.authorize(s, caller, Action.RETURN, approver=approver)
    with agreement.one_ask(node, invoice):
        said, risk = await agreement.agree(node, caller, owner, invoice, draft.quantities,
                                           unconfirmed=unconfirmed, approver=approver)
        # Exactly the rows agreed, checked again against this counter's view.
        return _record(node, caller, sale, draft.lines, payments, auth, said, risk)


@api_method(roles=(Role.SUPERVISOR, Role.ADMIN))
def returns_flagged(node: Node, caller: Caller) -> dict[str, Any]:
    """Returns to review: more given back than sold, or not confirmed by the sale's counter."""
    with node.read() as s:
        return {"over_returns": [_over(o) for o in refunds.over_returns(s)],
                "unconfirmed": [{"invoice": u.invoice, "return_against": u.against,
                                 "counter": u.origin, "reason": u.reason}
                                for u in refunds.unconfirmed_returns(s)]}


def _record(node: Node, caller: Caller, sale: Sale, lines: list[dict[str, Any]] | None,
            payments: list[dict[str, Any]] | None, auth: Authorization,
            said: dict[str, Any], risk: Authorization | None) -> dict[str, Any]:
    """Check the return again in the write transaction and record it with its audit."""
    invoice = sale[0].invoice
    with node.write() as tx:
        s = tx.session
        node.check_selling(s)
        d = _draft(node, s, sale, lines, payments, caller.user)
        totals = price(d.cart, d.ctx, d.due)
        now = node.clock().astimezone(node.config.tz)
        number = inputs.invoice_number(node, s, now)
        body = as_return(sale_body(cart=d.cart, totals=totals, tenders=d.tenders, ctx=d.ctx,
                                   invoice=number, shift=d.shift, cashier=caller.user,
                                   posted_at=now), invoice)
        for item, original_row, sold in zip(body["items"], d.rows, d.sold, strict=True):
            item["pos_invoice_item"] = original_row
            # What the row sold and at what net rate: every counter judges over-returns
            # by the one and the forwarder restates the return at the other, whether or
            # not it holds the sale (archived, or older than its history).
            item["sold_qty"], item["sold_net_rate"] = str(sold["qty"]), str(sold["net_rate"])
        body.update(said)
        if sale[1].get("loyalty") or sale[1].get("redeem_loyalty_points"):
            body["member_return"] = 1  # delivered per shift, it goes against the sale's own
        event = tx.append("sale.returned", body)
        node.audit(tx, "return", auth, invoice=number, return_against=invoice,
                   amount=str(d.due))
        if risk is not None:
            node.audit(tx, "return_unconfirmed", risk, invoice=number, return_against=invoice,
                       owner=d.owner, reason=said["unconfirmed"])
    return {"invoice": number, "event": event.id, "return_against": invoice,
            "refund": str(d.due), "totals": body["totals"], "payments": body["payments"],
            "unconfirmed": said.get("unconfirmed")}


@dataclass(frozen=True)
class _Draft:
    """A return as it would be recorded now: checked, priced, its refund split."""

    owner: str  # the counter that made the sale
    cart: Cart
    rows: list[str]  # the sold row of each cart line
    sold: list[dict[str, Any]]  # each of those rows as sold
    ctx: PosContext
    shift: str
    due: Decimal
    tenders: list[Tender]

    @property
    def quantities(self) -> dict[str, Decimal]:
        return {row: line.qty for row, line in zip(self.rows, self.cart.lines, strict=True)}

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [{"row": row, "qty": str(line.qty),
                 **({"serial_no": line.serial_no} if line.serial_no else {})}
                for row, line in zip(self.rows, self.cart.lines, strict=True)]


def _draft(node: Node, s: Session, sale: Sale, lines: list[dict[str, Any]] | None,
           payments: list[dict[str, Any]] | None, cashier: str) -> _Draft:
    row, original = sale
    if row.is_return:
        raise ReturnError(f"{row.invoice} is itself a return")
    ctx = node.context(s)
    shift = ledger.open_shift(s, node.node_id)
    now = node.clock()

    def promised(name: str) -> Decimal:
        """Only the sale's counter counts its promises to other counters' returns."""
        return refunds.reserved(s, name, now) if row.origin == node.node_id else ZERO

    cart, rows = _return_cart(node, s, original, lines, cashier, promised)
    due = amount_due(price(cart, ctx))
    tenders = (inputs.tenders(node, payments) if payments is not None
               else [Tender(_refund_mode(original, ctx), due)])
    if sum((t.amount for t in tenders), ZERO) != due:
        raise ValidationError(f"Refund payments must add up to {due}")
    for t in tenders:
        ctx.mode(t.mode_of_payment)
    sold = {item["name"]: item for item in original["items"]}
    return _Draft(row.origin, cart, rows, [sold[r] for r in rows], ctx, shift, due, tenders)


def _refund_mode(original: dict[str, Any], ctx: PosContext) -> str:
    """Refund in cash if the customer paid any cash, else in their first mode."""
    modes = [p["mode_of_payment"] for p in original["payments"]]
    return ctx.cash_mode if ctx.cash_mode in modes else modes[0]


def _serials_back(item: dict[str, Any], qty: Decimal, named: Any) -> str:
    """The serial numbers a return of ``qty`` units of a sold row gives back: those named
    (each sold on the row), or all of the row's when the whole row comes back."""
    sold = serial_numbers(str(item.get("serial_no") or ""))
    if not sold:
        return ""
    back = serial_numbers(str(named or "")) or (sold if qty == len(sold) else ())
    if not back:
        raise ReturnError(f"Name the serial numbers of {item['item_name']} given back"
                          f" ({', '.join(sold)} were sold)")
    if len(back) != qty or not set(back) <= set(sold) or len(set(back)) != len(back):
        raise ReturnError(f"{qty} of {item['item_name']} come back with {qty} of the serial"
                          f" numbers sold on the row ({', '.join(sold)}), once each")
    return serial_text(back)


def _return_cart(node: Node, s: Session, original: dict[str, Any],
                 wanted: list[dict[str, Any]] | None, cashier: str,
                 promised: Callable[[str], Decimal]) -> tuple[Cart, list[str]]:
    """A cart of the rows to give back, priced as they were sold."""
    by_row = {item["name"]: item for item in original["items"]}
    if wanted is None:
        left = {name: Decimal(item["qty"]) - ledger.returned_qty(s, name) - promised(name)
                for name, item in by_row.items()}
        wanted = [{"row": name, "qty": str(qty)} for name, qty in left.items() if qty > 0]
        if not wanted:
            raise ReturnError(f"Everything on {original['invoice']} has been returned already")
    lines, rows, seen = [], [], set()
    returned_amount = ZERO
    for w in wanted:
        name = w.get("row")
        if not isinstance(name, str) or name not in by_row:
            raise ReturnError(f"{original['invoice']} has no row {name!r}")
        if name in seen:
            raise ValidationError(f"Row {name} is listed twice")
        seen.add(name)
        item = by_row[name]
        qty = inputs.quantity(node, w.get("qty"), f"qty of {name}")
        returnable(Decimal(item["qty"]), ledger.returned_qty(s, name), qty, name,
                   promised(name))
        rate = Decimal(item["rate"])
        returned_amount += qty * rate
        lines.append(Line(
            item_code=item["item_code"], item_name=item["item_name"], qty=qty, uom=item["uom"],
            stock_uom=item["stock_uom"], conversion_factor=Decimal(item["conversion_factor"]),
            price_list_rate=Decimal(item["price_list_rate"]), rate=rate,
            item_tax_template=item.get("item_tax_template"),
            item_tax_rates={a: Decimal(r) for a, r in (item.get("item_tax_rate") or {}).items()},
            batch_no=item.get("batch_no") or "", batch_expiry=item.get("batch_expiry") or "",
            serial_no=_serials_back(item, qty, w.get("serial_no")),
        ))
        rows.append(name)
    cart = Cart(cart_id="return", cashier=cashier, customer=original["customer"],
                lines=tuple(lines),
                additional_discount_percentage=Decimal(original["additional_discount_percentage"]),
                sold_discount_on=original["apply_discount_on"])
    discount = Decimal(original["discount_amount_input"])
    if discount and not cart.additional_discount_percentage:
        total = Decimal(original["totals"]["total"])
        share = flt(discount * returned_amount / total) if total else ZERO
        cart = replace(cart, discount_amount=share)
    return cart, rows
