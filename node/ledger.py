"""The sales ledger projection: shifts, sales, returns, cash movements, stock deltas.

Built only from events (``shift.opened``, ``shift.closed``, ``sale.submitted``,
``sale.returned``, ``cash.moved``), in any order across origins:

- a shift row is upserted by its opening and by its closing, whichever comes first;
- a sale belongs to its shift; it is *late* when its shift's closing does not cover it
  (the closing's ``covers`` vector has a lower seq for the sale's origin);
- returned quantities accumulate per original invoice row, so a return may arrive
  before the sale it returns;
- stock is a PN-counter: one delta per (item, warehouse, origin), summed on read.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Index, LargeBinary, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from node.events import Event, pack_body, unpack_body
from node.money import ZERO
from node.projections import projector
from node.shift import CashMove, Direction, Payment, SaleSummary, ShiftStatus
from node.store.base import PROJECTION, Base
from node.store.types import UtcDateTime


class ShiftRow(Base):
    __tablename__ = "shifts"
    __table_args__ = {"info": PROJECTION}
    shift: Mapped[str] = mapped_column(String(40), primary_key=True)
    counter: Mapped[str | None] = mapped_column(String(32))
    pos_profile: Mapped[str | None] = mapped_column(String(140))
    cashier: Mapped[str | None] = mapped_column(String(140))
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    opening: Mapped[bytes] = mapped_column(LargeBinary, default=b"\x80")  # {mode: amount}
    status: Mapped[str] = mapped_column(String(16), default=ShiftStatus.OPEN.value)
    closed_by: Mapped[str | None] = mapped_column(String(140))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    covers: Mapped[bytes | None] = mapped_column(LargeBinary)  # {origin: seq}
    closing: Mapped[bytes | None] = mapped_column(LargeBinary)  # the shift.closed body


class SaleRow(Base):
    __tablename__ = "sales"
    invoice: Mapped[str] = mapped_column(String(40), primary_key=True)
    origin: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    hlc: Mapped[int] = mapped_column(BigInteger)
    shift: Mapped[str] = mapped_column(String(40))
    is_return: Mapped[bool]
    return_against: Mapped[str | None] = mapped_column(String(40))
    posted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    customer: Mapped[str] = mapped_column(String(140))
    cashier: Mapped[str] = mapped_column(String(140))
    grand_total: Mapped[Decimal]
    late: Mapped[bool] = mapped_column(default=False)
    summary: Mapped[bytes] = mapped_column(LargeBinary)  # SaleSummary fields, msgpack
    __table_args__ = (
        Index("ix_sales_shift", "shift"),
        Index("ix_sales_hlc", "hlc"),
        {"info": PROJECTION},
    )


class SaleItemRow(Base):
    __tablename__ = "sale_items"
    row: Mapped[str] = mapped_column(String(48), primary_key=True)  # e.g. C01-2026-000042-1
    invoice: Mapped[str] = mapped_column(String(40), index=True)
    item_code: Mapped[str] = mapped_column(String(140))
    qty: Mapped[Decimal]
    stock_qty: Mapped[Decimal]
    uom: Mapped[str] = mapped_column(String(40))
    __table_args__ = {"info": PROJECTION}


class ReturnedRow(Base):
    """Quantity returned so far against one original invoice row (accumulates)."""

    __tablename__ = "returned_qty"
    row: Mapped[str] = mapped_column(String(48), primary_key=True)
    qty: Mapped[Decimal]
    __table_args__ = {"info": PROJECTION}


class CashMoveRow(Base):
    __tablename__ = "cash_moves"
    event: Mapped[str] = mapped_column(String(48), primary_key=True)
    shift: Mapped[str] = mapped_column(String(40), index=True)
    origin: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    direction: Mapped[str] = mapped_column(String(8))
    mode_of_payment: Mapped[str] = mapped_column(String(140))
    amount: Mapped[Decimal]
    reason: Mapped[str] = mapped_column(String(280))
    user: Mapped[str] = mapped_column(String(140))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    __table_args__ = {"info": PROJECTION}


class StockDeltaRow(Base):
    """One PN-counter slot: what ``origin``'s sales and returns moved for an item."""

    __tablename__ = "stock_deltas"
    item_code: Mapped[str] = mapped_column(String(140), primary_key=True)
    warehouse: Mapped[str] = mapped_column(String(140), primary_key=True)
    origin: Mapped[str] = mapped_column(String(32), primary_key=True)
    qty: Mapped[Decimal]
    __table_args__ = {"info": PROJECTION}


def _shift_row(session: Session, shift: str) -> ShiftRow:
    row = session.get(ShiftRow, shift)
    if row is None:
        row = ShiftRow(shift=shift, opening=pack_body({}), status=ShiftStatus.OPEN.value)
        session.add(row)
    return row


@projector("shift.opened")
def _opened(session: Session, event: Event, body: dict[str, Any]) -> None:
    row = _shift_row(session, body["shift"])
    row.counter, row.pos_profile = event.origin, body["pos_profile"]
    row.cashier, row.opened_at = body["cashier"], datetime.fromisoformat(body["opened_at"])
    row.opening = pack_body(body["opening"])
    session.flush()


@projector("shift.closed")
def _closed(session: Session, event: Event, body: dict[str, Any]) -> None:
    shift = body["shift"]
    row = _shift_row(session, shift)
    row.status = ShiftStatus.CLOSED.value
    row.closed_by, row.closed_at = body["closed_by"], datetime.fromisoformat(body["closed_at"])
    row.covers, row.closing = pack_body(body["covers"]), pack_body(body)
    session.flush()
    covers: dict[str, int] = body["covers"]
    for origin, seq in session.execute(
        select(SaleRow.origin, SaleRow.seq).where(SaleRow.shift == shift)
    ).all():
        if seq > covers.get(origin, 0):
            session.execute(
                update(SaleRow)
                .where(SaleRow.origin == origin, SaleRow.seq == seq)
                .values(late=True)
            )


def _is_late(session: Session, shift: str, origin: str, seq: int) -> bool:
    covers = session.scalar(select(ShiftRow.covers).where(ShiftRow.shift == shift))
    return covers is not None and seq > unpack_body(covers).get(origin, 0)


@projector("sale.submitted", "sale.returned")
def _sale(session: Session, event: Event, body: dict[str, Any]) -> None:
    is_return = event.kind == "sale.returned"
    t = body["totals"]
    summary = {
        "invoice": body["invoice"],
        "is_return": is_return,
        "grand_total": t["rounded_total"] if Decimal(t["rounded_total"]) else t["grand_total"],
        "net_total": t["net_total"],
        "total_taxes": t["total_taxes_and_charges"],
        "discount": t["discount_amount"],
        "qty": t["total_qty"],
        "payments": [[p["mode_of_payment"], p["amount"]] for p in body["payments"]],
        "change_amount": t["change_amount"],
        "cash_mode": body["cash_mode"],
        "taxes": [
            [x["account_head"], x["tax_amount_after_discount_amount"]] for x in body["taxes"]
        ],
    }
    session.add(
        SaleRow(
            invoice=body["invoice"],
            origin=event.origin,
            seq=event.seq,
            hlc=event.hlc,
            shift=body["shift"],
            is_return=is_return,
            return_against=body.get("return_against"),
            posted_at=datetime.fromisoformat(body["posted_at"]),
            customer=body["customer"],
            cashier=body["cashier"],
            grand_total=Decimal(summary["grand_total"]),
            late=_is_late(session, body["shift"], event.origin, event.seq),
            summary=pack_body(summary),
        )
    )
    warehouse = body["warehouse"]
    for item in body["items"]:
        stock_qty = Decimal(item["stock_qty"])
        session.add(
            SaleItemRow(
                row=item["name"],
                invoice=body["invoice"],
                item_code=item["item_code"],
                qty=Decimal(item["qty"]),
                stock_qty=stock_qty,
                uom=item["uom"],
            )
        )
        _add_stock(session, item["item_code"], warehouse, event.origin, -stock_qty)
        if is_return:
            _add_returned(session, item["pos_invoice_item"], -Decimal(item["qty"]))
    session.flush()


@projector("cash.moved")
def _cash(session: Session, event: Event, body: dict[str, Any]) -> None:
    session.add(
        CashMoveRow(
            event=event.id,
            shift=body["shift"],
            origin=event.origin,
            seq=event.seq,
            direction=body["direction"],
            mode_of_payment=body["mode_of_payment"],
            amount=Decimal(body["amount"]),
            reason=body["reason"],
            user=body["user"],
            at=event.wall,
        )
    )
    session.flush()


def _add_stock(session: Session, item: str, warehouse: str, origin: str, qty: Decimal) -> None:
    row = session.get(StockDeltaRow, (item, warehouse, origin))
    if row is None:
        session.add(StockDeltaRow(item_code=item, warehouse=warehouse, origin=origin, qty=qty))
    else:
        row.qty += qty


def _add_returned(session: Session, row_name: str, qty: Decimal) -> None:
    row = session.get(ReturnedRow, row_name)
    if row is None:
        session.add(ReturnedRow(row=row_name, qty=qty))
    else:
        row.qty += qty


# --- reads -------------------------------------------------------------------------


def summary_of(raw: bytes) -> SaleSummary:
    d = unpack_body(raw)
    return SaleSummary(
        invoice=d["invoice"],
        is_return=d["is_return"],
        grand_total=Decimal(d["grand_total"]),
        net_total=Decimal(d["net_total"]),
        total_taxes=Decimal(d["total_taxes"]),
        discount=Decimal(d["discount"]),
        qty=Decimal(d["qty"]),
        payments=tuple(Payment(m, Decimal(a)) for m, a in d["payments"]),
        change_amount=Decimal(d["change_amount"]),
        cash_mode=d["cash_mode"],
        taxes=tuple((a, Decimal(v)) for a, v in d["taxes"]),
    )


def shift_sales(session: Session, shift: str, *, late: bool | None = None) -> list[SaleSummary]:
    q = select(SaleRow.summary).where(SaleRow.shift == shift).order_by(SaleRow.hlc)
    if late is not None:
        q = q.where(SaleRow.late.is_(late))
    return [summary_of(raw) for raw in session.scalars(q)]


def shift_moves(session: Session, shift: str) -> list[CashMove]:
    rows = session.scalars(select(CashMoveRow).where(CashMoveRow.shift == shift))
    return [
        CashMove(Direction(r.direction), r.mode_of_payment, r.amount, r.reason) for r in rows
    ]


def opening_of(row: ShiftRow) -> dict[str, Decimal]:
    return {m: Decimal(a) for m, a in unpack_body(row.opening).items()}


def returned_qty(session: Session, row: str) -> Decimal:
    return session.scalar(select(ReturnedRow.qty).where(ReturnedRow.row == row)) or ZERO


def stock_delta(session: Session, item_code: str, warehouse: str) -> Decimal:
    rows = session.scalars(
        select(StockDeltaRow.qty).where(
            StockDeltaRow.item_code == item_code, StockDeltaRow.warehouse == warehouse
        )
    )
    return sum(rows, ZERO)
