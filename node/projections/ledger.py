"""The sales ledger projection: shifts, sales, returns, cash movements, stock deltas.

Built only from events (``shift.opened``, ``shift.closed``, ``sale.submitted``,
``sale.returned``, ``cash.moved``), in any order across origins:

- a shift row is upserted by its opening and by its closing, whichever comes first;
- a sale belongs to its shift; it is *late* when its shift's closing does not cover it
  (the closing's ``covers`` vector has a lower seq for the sale's origin); a supervisor's
  ``shift.late_reconciled`` gives late sales an ERPNext entry pair of their own
  (``reconciliation_name``);
- returned quantities accumulate per original invoice row, so a return may arrive
  before the sale it returns;
- stock is a PN-counter: one delta per (item, warehouse, origin, slot), and per item
  the sum of the slots its stock base does not include (``stock_pending``, read by
  ``stock``), so on-hand is read from one row however long the item's history.
  The slot is the ERPNext entry whose consolidation moves Bin for the sale: its shift, its
  late sales' entry pair once reconciled, or ``<shift>-L`` while it waits for that
  (never consolidated), or another shift's closing that carried it along with its return
  there (``forward.acked``, ERPNext rule B). A sale found late, reconciled or carried
  moves to its new slot, so the
  slots are a function of the events whatever order they came in; empty slots are
  dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Index, LargeBinary, String, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillmesh.node.domain.money import FLOAT_PRECISION, ZERO, flt
from tillmesh.node.domain.shift_totals import (
    CashMove,
    Direction,
    Payment,
    SaleSummary,
    ShiftStatus,
    line_discount,
)
from tillmesh.node.domain.totals import (
    RateTotals,
    as_recorded,
    recorded_due,
    vat_per_rate_of,
)
from tillmesh.node.errors import NotFoundError, ShiftError
from tillmesh.node.projections import projector, stock_keys
from tillmesh.node.projections.const import STOCK_MOVES_HELD
from tillmesh.node.projections.deferred import Deferred
from tillmesh.node.projections.deliveries import ACKED
from tillmesh.node.store.archive import SALE_COLUMNS, SLOT_COLUMNS
from tillmesh.node.store.base import PROJECTION, Base
from tillmesh.node.store.event_codec import Event, pack_body, unpack_body
from tillmesh.node.store.raw import Raw, raw
from tillmesh.node.store.types import UtcDateTime, utc_text

SUBMITTED, RETURNED = "sale.submitted", "sale.returned"
_SALE_VALUES = ", ".join("?" for _ in SALE_COLUMNS.split(","))

_EMPTY = pack_body({})
# Counters are integers of 1e-9 units, so SQLite adds them exactly in one upsert; ERPNext
# keeps quantities to at most 9 decimals, and 2**63 nano-units is 9.2 billion units.
NANO = Decimal(10) ** 9


class ShiftRow(Base):
    __tablename__ = "shifts"
    # Open shifts (a counter's, or every counter's for the supervisor's list) are found
    # among the open ones, not among every shift the store ever had.
    __table_args__ = (Index("ix_shifts_status", "status", "counter"), {"info": PROJECTION})
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
    # The closing that counts when two supervisors closed it at once (partitioned): the
    # earliest by (hlc, origin), the same on every counter.
    closed_hlc: Mapped[int | None] = mapped_column(BigInteger)
    closed_origin: Mapped[str | None] = mapped_column(String(32))
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
        Index("ix_sales_event", "origin", "seq"),  # by event: a closing's late ones, ``compact``
        Index("ix_sales_hlc", "hlc", "origin", "invoice"),  # the latest first: invoice_list
        # A shift's returns (the outbox's crossings) among its sales, indexing returns only.
        Index("ix_sales_returns", "shift", sqlite_where=text("return_against IS NOT NULL")),
        # Bump "format" when ``_sale`` writes a summary an earlier release's lacks or reads
        # otherwise (the columns stay): a store it built is rebuilt at the first start.
        # 2: vat and line_discount.
        {"info": {**PROJECTION, "format": 2}},
    )


class CarriedRow(Base):
    """A sale that another shift's closing consolidated along with its return there
    (ERPNext rule B, ``outbox.consolidation_order``), named by that closing's
    ``forward.acked``: its own shift's closing leaves it out."""

    __tablename__ = "carried"
    __table_args__ = {"info": PROJECTION}
    invoice: Mapped[str] = mapped_column(String(40), primary_key=True)
    closing: Mapped[str] = mapped_column(String(140))


class DeliveredClosingRow(Base):
    """The ``shift.closed`` event that the POS Closing Entry ERPNext holds was made from
    (named by its ``forward.acked``): of two closings of one shift, that one stands."""

    __tablename__ = "delivered_closings"
    __table_args__ = {"info": PROJECTION}
    closing: Mapped[str] = mapped_column(String(140), primary_key=True)
    event: Mapped[str] = mapped_column(String(48))


class LateReconciledRow(Base):
    """A late sale a supervisor has reconciled (named by a ``shift.late_reconciled``)."""

    __tablename__ = "late_reconciled"
    __table_args__ = {"info": PROJECTION}
    invoice: Mapped[str] = mapped_column(String(40), primary_key=True)
    reconciliation: Mapped[str] = mapped_column(String(48))  # the event id
    hlc: Mapped[int] = mapped_column(BigInteger)  # of that event: two supervisors who
    origin: Mapped[str] = mapped_column(String(32))  # reconciled it apart: earliest stands


class ReturnedRow(Base):
    """Quantity returned so far against one original invoice row (accumulates)."""

    __tablename__ = "returned_qty"
    row: Mapped[str] = mapped_column(String(48), primary_key=True)
    qty_nano: Mapped[int] = mapped_column(BigInteger)  # see NANO
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
    """One PN-counter slot: what ``origin``'s sales and returns carried by one ERPNext
    entry moved (``shift`` names the entry: see the module docstring).

    Slots are per entry too, because ERPNext's stock base includes sales only once the
    closing that lists them has consolidated them (see projections/stock.py).
    """

    __tablename__ = "stock_deltas"
    item_code: Mapped[str] = mapped_column(String(140), primary_key=True)
    warehouse: Mapped[str] = mapped_column(String(140), primary_key=True)
    origin: Mapped[str] = mapped_column(String(32), primary_key=True)
    shift: Mapped[str] = mapped_column(String(40), primary_key=True)
    qty_nano: Mapped[int] = mapped_column(BigInteger)  # see NANO
    # A new stock reading reads the slots of the entries it adds to (or drops from) the
    # base, not every slot of its items (``stock._base``).
    __table_args__ = (Index("ix_stock_deltas_slot", "warehouse", "shift"),
                      {"info": PROJECTION})


class StockPendingRow(Base):
    """Per item and warehouse, the sum of the slots its current base reading does not
    include (``stock``): on-hand is the base plus this, one row however many shifts the
    item sold in. Kept up to date by every slot's change here and by every reading that
    replaces an item's base (``stock._base``); no row when it is zero."""

    __tablename__ = "stock_pending"
    item_code: Mapped[str] = mapped_column(String(140), primary_key=True)
    warehouse: Mapped[str] = mapped_column(String(140), primary_key=True)
    qty_nano: Mapped[int] = mapped_column(BigInteger)  # see NANO
    __table_args__ = {"info": PROJECTION}


_ENSURE_SHIFT = "INSERT OR IGNORE INTO shifts (shift, opening, status) VALUES (?, ?, ?)"
_LATE = "-L-"  # between a shift's id and its reconciliation's in an entry pair's name
_AWAITING = "-L"  # after a shift's id: the stock slot of late sales not yet reconciled


def reconciliation_name(shift: str, event_id: str) -> str:
    """The ERPNext name of the opening and closing entries that carry a shift's late
    sales: one pair per ``shift.late_reconciled`` event, the same on every counter."""
    return f"{shift}{_LATE}{event_id.replace(':', '-')}"


def shift_of(entry: str) -> str:
    """The shift an opening or closing entry belongs to (itself, or the one whose late
    sales a reconciliation pair carries)."""
    return entry.split(_LATE, 1)[0]


@projector("shift.opened")
def _opened(session: Session, event: Event, body: dict[str, Any]) -> None:
    sql = raw(session)
    sql.run(_ENSURE_SHIFT, (body["shift"], _EMPTY, ShiftStatus.OPEN.value))
    sql.run(
        "UPDATE shifts SET counter = ?, pos_profile = ?, cashier = ?, opened_at = ?, opening = ?"
        " WHERE shift = ?",
        (event.origin, body["pos_profile"], body["cashier"],
         utc_text(datetime.fromisoformat(body["opened_at"])), pack_body(body["opening"]),
         body["shift"]),
    )


@projector("shift.closed")
def _closed(session: Session, event: Event, body: dict[str, Any]) -> None:
    sql = raw(session)
    delivered = sql.one("SELECT event FROM delivered_closings WHERE closing = ?",
                        (body["shift"],))
    if delivered is not None and delivered[0] != event.id:
        return  # ERPNext holds another closing of this shift: that one stands
    _close(session, (event.hlc, event.origin), event.body, body, delivered is not None)


def _close(session: Session, stamp: tuple[int, str], packed: bytes, body: dict[str, Any],
           delivered: bool) -> None:
    """The ``shift.closed`` ``body`` (``packed``, stamped (hlc, origin)) becomes the
    shift's closing if it is the earliest of two made while cut apart, or the one that
    ERPNext holds (``delivered``); the sales it does not cover are late."""
    sql = raw(session)
    shift, covers = body["shift"], body["covers"]
    sql.run(_ENSURE_SHIFT, (shift, _EMPTY, ShiftStatus.OPEN.value))
    current = sql.one("SELECT closed_hlc, closed_origin FROM shifts WHERE shift = ?", (shift,))
    if not delivered and current[0] is not None and (current[0], current[1]) <= stamp:
        return  # an earlier closing of this shift stands
    sql.run(
        "UPDATE shifts SET status = ?, closed_by = ?, closed_at = ?, covers = ?, closing = ?,"
        " closed_hlc = ?, closed_origin = ? WHERE shift = ?",
        (ShiftStatus.CLOSED.value, body["closed_by"],
         utc_text(datetime.fromisoformat(body["closed_at"])), pack_body(covers), packed,
         *stamp, shift),
    )
    for invoice, origin, seq, late in sql.run(
            "SELECT invoice, origin, seq, late FROM sales WHERE shift = ?", (shift,)):
        now_late = seq > covers.get(origin, 0)
        if now_late != bool(late):
            sql.run("UPDATE sales SET late = ? WHERE origin = ? AND seq = ?",
                    (int(now_late), origin, seq))
            _move(session, origin, seq, _slot(sql, shift, invoice, bool(late)),
                  _slot(sql, shift, invoice, now_late))


def _is_late(sql: Raw, shift: str, origin: str, seq: int) -> bool:
    row = sql.one("SELECT covers FROM shifts WHERE shift = ?", (shift,))
    return row is not None and row[0] is not None and seq > unpack_body(row[0]).get(origin, 0)


@projector("shift.late_reconciled")
def _late_reconciled(session: Session, event: Event, body: dict[str, Any]) -> None:
    sql = raw(session)
    for invoice in body["invoices"]:
        now = sql.one("SELECT hlc, origin FROM late_reconciled WHERE invoice = ?", (invoice,))
        if now is None or (event.hlc, event.origin) < (now[0], now[1]):
            _reslot(session, invoice, "INSERT OR REPLACE INTO late_reconciled (invoice,"
                    " reconciliation, hlc, origin) VALUES (?, ?, ?, ?)",
                    event.id, event.hlc, event.origin)


@projector(ACKED)
def _carried(session: Session, event: Event, body: dict[str, Any]) -> None:
    """A closing that consolidated other shifts' sales along with their returns in it
    (ERPNext rule B): ERPNext's Bin moves for them with that closing, so their stock
    counts under it from now on. And the closing ERPNext holds is the shift's closing,
    even if an earlier one (by HLC) from a supervisor cut off at the time comes in after
    it was delivered: which sales are late follows what ERPNext consolidated."""
    sql = raw(session)
    if body.get("event") and body["doctype"] == "POS Closing Entry" and not sql.one(
            "SELECT 1 FROM delivered_closings WHERE closing = ?", (body["name"],)):
        sql.run("INSERT INTO delivered_closings (closing, event) VALUES (?, ?)",
                (body["name"], body["event"]))
        origin, _, seq = str(body["event"]).rpartition(":")
        row = sql.one("SELECT hlc, body FROM every_event WHERE origin = ? AND seq = ?",
                      (origin, int(seq)))
        if row is not None and (closed := unpack_body(row[1])).get("covers") is not None:
            _close(session, (int(row[0]), origin), row[1], closed, True)  # it came first
    for invoice in body.get("carried") or ():  # ERPNext consolidates a sale only once
        if not sql.one("SELECT 1 FROM carried WHERE invoice = ?", (invoice,)):
            _reslot(session, str(invoice), "INSERT INTO carried (invoice, closing) VALUES (?, ?)",
                    str(body["name"]))


def _reslot(session: Session, invoice: str, record: str, *values: Any) -> None:
    """Record where ``invoice`` is consolidated now (``record`` with (invoice, *values)),
    and move its stock there if the sale is held (else its own projector counts it
    where it now belongs)."""
    sql = raw(session)
    sale = sql.one("SELECT shift, late, origin, seq FROM sales WHERE invoice = ?", (invoice,))
    before = None if sale is None else _slot(sql, sale[0], invoice, bool(sale[1]))
    sql.run(record, (invoice, *values))
    if sale is not None:
        _move(session, sale[2], sale[3], before, _slot(sql, sale[0], invoice, bool(sale[1])))


@projector(SUBMITTED, RETURNED)
def _sale(session: Session, event: Event, body: dict[str, Any]) -> None:
    sql = raw(session)
    late = _is_late(sql, body["shift"], event.origin, event.seq)
    sql.run(f"INSERT INTO sales ({SALE_COLUMNS}) VALUES ({_SALE_VALUES})",
            _sale_row(event, body, late))
    _count_stock(session, body, event.origin, _slot(sql, body["shift"], body["invoice"], late))
    if event.kind == RETURNED:
        sql.many(_RETURNED, [(i["pos_invoice_item"], -nano(Decimal(i["qty"])))
                             for i in body["items"]])


def _sale_row(event: Event, body: dict[str, Any], late: bool) -> tuple[Any, ...]:
    """The ledger's row of a sale or return (``SALE_COLUMNS``), its summary included."""
    is_return = event.kind == RETURNED
    t = body["totals"]
    grand = recorded_due(t)
    summary = {
        "invoice": body["invoice"],
        "is_return": is_return,
        "grand_total": grand,
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
        "line_discount": str(sum((line_discount(
            Decimal(i["qty"]), Decimal(i.get("price_list_rate") or 0), Decimal(i["rate"]),
            Decimal(i["amount"])) for i in body["items"]), Decimal(0))),
        "vat": as_recorded(vat_per_rate_of(body)),
    }
    row = sale_fields(event, body)
    return (*(row[k] for k in ("invoice", "origin", "seq", "hlc", "shift")), int(is_return),
            row["return_against"], utc_text(row["posted_at"]), row["customer"],
            row["cashier"], str(grand), int(late), pack_body(summary))


def from_history(cursor: Any, events: Iterable[Event]) -> None:
    """The ledger's rows of the sales and returns among ``events`` (history fetched by a
    counter that joined from a checkpoint: the ones its ledger lacks left with their
    events before it joined, so none is late) into the archive's ``sales``, where every
    sale looks them up (a return of one, an old shift's report) as on the counters that
    were there then."""
    sold = [(e, unpack_body(e.body)) for e in events if e.kind in (SUBMITTED, RETURNED)]
    held = {str(i) for (i,) in cursor.execute(
        "SELECT invoice FROM main.sales WHERE invoice IN (SELECT value FROM json_each(?))",
        (json.dumps([body["invoice"] for _, body in sold]),))}
    cursor.executemany(
        f"INSERT OR IGNORE INTO archive.sales ({SALE_COLUMNS}) VALUES ({_SALE_VALUES})",
        [_sale_row(e, body, False) for e, body in sold if body["invoice"] not in held])


def sale_fields(event: Event, body: dict[str, Any]) -> dict[str, Any]:
    """The ledger's columns of a sale or return as its event gives them (``late`` and the
    summary apart): what ``_sale`` records, and what a sale fetched from its counter is
    read as."""
    return {"invoice": body["invoice"], "origin": event.origin, "seq": event.seq,
            "hlc": event.hlc, "shift": body["shift"], "is_return": event.kind == RETURNED,
            "return_against": body.get("return_against"),
            "posted_at": datetime.fromisoformat(body["posted_at"]),
            "customer": body["customer"], "cashier": body["cashier"],
            "grand_total": recorded_due(body["totals"])}


@projector("cash.moved")
def _cash(session: Session, event: Event, body: dict[str, Any]) -> None:
    raw(session).run(
        "INSERT INTO cash_moves (event, shift, origin, seq, direction, mode_of_payment, amount,"
        " reason, user, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (event.id, body["shift"], event.origin, event.seq, body["direction"],
         body["mode_of_payment"], str(Decimal(body["amount"])), body["reason"], body["user"],
         utc_text(event.wall)),
    )


_STOCK = ("INSERT INTO stock_deltas (item_code, warehouse, origin, shift, qty_nano)"
          " VALUES (?, ?, ?, ?, ?)"
          " ON CONFLICT DO UPDATE SET qty_nano = qty_nano + excluded.qty_nano")
# A slot's change counts in its item's pending sum unless the item's current base
# reading (``stock``) includes the slot's entry.
_PENDING = ("INSERT INTO stock_pending (item_code, warehouse, qty_nano) SELECT ?1, ?2, ?3"
            " WHERE NOT EXISTS (SELECT 1 FROM stock_base b JOIN stock_base_shifts s"
            " ON s.reading = b.reading AND s.shift = ?4"
            " WHERE b.item_code = ?1 AND b.warehouse = ?2)"
            " ON CONFLICT DO UPDATE SET qty_nano = qty_nano + excluded.qty_nano")
ADD_PENDING = ("INSERT INTO stock_pending (item_code, warehouse, qty_nano) VALUES (?, ?, ?)"
               " ON CONFLICT DO UPDATE SET qty_nano = qty_nano + excluded.qty_nano")
DROP_PENDING = ("DELETE FROM stock_pending WHERE item_code = ? AND warehouse = ?"
                " AND qty_nano = 0")
_RETURNED = ("INSERT INTO returned_qty (row, qty_nano) VALUES (?, ?)"
             " ON CONFLICT DO UPDATE SET qty_nano = qty_nano + excluded.qty_nano")


def nano(qty: Decimal) -> int:
    return int((qty * NANO).to_integral_value())


def _slot(sql: Raw, shift: str, invoice: str, late: bool) -> str:
    """The stock slot of a sale: the ERPNext entry whose consolidation moves Bin for it."""
    carried = sql.one("SELECT closing FROM carried WHERE invoice = ?", (invoice,))
    if carried is not None:
        return str(carried[0])
    if not late:  # also a sale reconciled as late before the closing ERPNext holds came
        return shift
    reconciled = sql.one("SELECT reconciliation FROM late_reconciled WHERE invoice = ?",
                         (invoice,))
    if reconciled is not None:
        return reconciliation_name(shift, reconciled[0])
    return f"{shift}{_AWAITING}"


def _count_stock(session: Session, body: dict[str, Any], origin: str, slot: str,
                 sign: int = 1) -> None:
    """Count what a sale or return moved in ``slot`` (``sign`` -1 takes it out again).
    Held until the run of sales and returns ends (``_MOVES``): they only add up."""
    moved = _MOVES.rows(session)
    warehouse = body["warehouse"]
    for name, qty in taken(body):
        key = (name, warehouse, origin, slot)
        moved[key] = moved.get(key, 0) - sign * nano(qty)
    _MOVES.check(session)


def taken(body: Mapping[str, Any]) -> Iterator[tuple[str, Decimal]]:
    """What each row of a sale (or, negative, of a return) takes from its warehouse's
    on-hand, per stock key, as this ledger counts it: returns give batches and serial
    numbers back only once consolidated (``stock``), so they are left out of those
    keys."""
    for i in body["items"]:
        stock_qty = Decimal(i["stock_qty"])
        yield from {i["item_code"]: stock_qty,
                    **(stock_keys.sold(i) if stock_qty > 0 else {})}.items()


def booked_unclosed(session: Session, invoices: Iterable[str], warehouse: str
                    ) -> dict[str, Decimal]:
    """What ``invoices`` (sales and returns ERPNext booked the stock of, though no closing
    ERPNext holds lists them yet: ERPNext 16 in Sales Invoice mode books each as it
    arrives) took from ``warehouse``, as this ledger counts it, per stock key. Their slots
    are not in a Bin reading's watermark, so a reading adds this back to Bin: on-hand is
    then Bin less only what ERPNext has not booked (``erpnext._pull``). Invoices not held
    here are left out."""
    out: dict[str, Decimal] = {}
    for (body,) in raw(session).run(
            "SELECT e.body FROM every_sale s JOIN every_event e ON e.origin = s.origin"
            " AND e.seq = s.seq WHERE s.invoice IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(invoices)),)):
        sale = unpack_body(body)
        if sale["warehouse"] == warehouse:
            for name, qty in taken(sale):
                out[name] = out.get(name, ZERO) + qty
    return out


def _write_moves(session: Session, moved: dict[tuple[str, str, str, str], int]) -> None:
    """The slots' changes, and the items' pending sums unless their base already includes
    the slot. Only the rows moved can have come to zero: each is dropped by its key,
    never by a scan."""
    sql = raw(session)
    rows = [(*key, qty) for key, qty in moved.items() if qty]
    sql.many(_STOCK, rows)
    sql.many(_PENDING, [(item, warehouse, qty, shift)
                        for item, warehouse, _, shift, qty in rows])
    sql.many("DELETE FROM stock_deltas WHERE item_code = ? AND warehouse = ? AND origin = ?"
             " AND shift = ? AND qty_nano = 0", [r[:4] for r in rows])
    sql.many(DROP_PENDING, list({r[:2] for r in rows}))


# No handler of a sale or return reads the stock tables; every other kind's may.
_MOVES = Deferred("ledger.stock", _write_moves, STOCK_MOVES_HELD,
                  kept_across=(SUBMITTED, RETURNED))


def _move(session: Session, origin: str, seq: int, old: str | None, new: str) -> None:
    """A sale's stock from slot ``old`` to ``new`` (found late, or reconciled)."""
    if old is None or old == new:
        return
    body = unpack_body(_body_of(raw(session), origin, seq))
    _count_stock(session, body, origin, old, sign=-1)
    _count_stock(session, body, origin, new)


# --- reads -------------------------------------------------------------------------


def open_shift(session: Session, counter: str) -> str:
    """The id of the counter's open shift; ShiftError when none is open."""
    shift = open_shift_or_none(session, counter)
    if shift is None:
        raise ShiftError("No open shift on this counter: open a shift first")
    return shift


def open_shift_or_none(session: Session, counter: str) -> str | None:
    """The id of the counter's open shift, or None."""
    row = raw(session).one(
        "SELECT shift FROM shifts WHERE counter = ? AND status = ? LIMIT 1",
        (counter, ShiftStatus.OPEN.value))
    return None if row is None else str(row[0])


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
        # Every summary has both: a store an earlier release built without them is
        # rebuilt when this one opens it (SaleRow's format).
        line_discount=Decimal(d["line_discount"]),
        vat=tuple(RateTotals(*(Decimal(v) for v in r)) for r in d["vat"]),
    )


def shift_sales(session: Session, shift: str, *, late: bool | None = None) -> list[SaleSummary]:
    """A shift's sales in stamp order, live or archived (``compact``); ``late=True``: only
    those its closing missed."""
    rows = raw(session).run(
        "SELECT summary FROM every_sale WHERE shift = ?"
        + ("" if late is None else f" AND late = {int(late)}") + " ORDER BY hlc", (shift,))
    return [summary_of(row[0]) for row in rows]


def unreconciled_late(session: Session, shift: str) -> list[SaleSummary]:
    """Late sales of a closed shift that no supervisor has reconciled yet."""
    done = {r[0] for r in raw(session).run(
        "SELECT l.invoice FROM late_reconciled l JOIN sales s ON s.invoice = l.invoice"
        " WHERE s.shift = ?", (shift,))}
    return [s for s in shift_sales(session, shift, late=True) if s.invoice not in done]


def shift_moves(session: Session, shift: str) -> list[CashMove]:
    rows = session.scalars(select(CashMoveRow).where(CashMoveRow.shift == shift))
    return [
        CashMove(Direction(r.direction), r.mode_of_payment, r.amount, r.reason) for r in rows
    ]


def opening_of(row: ShiftRow) -> dict[str, Decimal]:
    return {m: Decimal(a) for m, a in unpack_body(row.opening).items()}


def returned_qty(session: Session, row: str) -> Decimal:
    nano = session.scalar(select(ReturnedRow.qty_nano).where(ReturnedRow.row == row)) or 0
    return flt(Decimal(nano) / NANO, FLOAT_PRECISION)  # sold quantities have 3 decimals


def recorded_sale(session: Session, invoice: str) -> tuple[SaleRow, dict[str, Any]]:
    """A recorded sale or return: its ledger row and the body of the event behind it
    (live, or in the archive)."""
    row = session.get(SaleRow, invoice) or session.scalars(
        select(SaleRow).from_statement(text("SELECT * FROM every_sale WHERE invoice = :i")),
        {"i": invoice}).first()
    if row is None:
        raise NotFoundError(f"No invoice {invoice!r} on this counter")
    return row, unpack_body(_body_of(raw(session), row.origin, row.seq))


def _body_of(sql: Raw, origin: str, seq: int) -> bytes:
    found = sql.one("SELECT body FROM every_event WHERE origin = ? AND seq = ?", (origin, seq))
    if found is None:  # a projection row always has its event, live or archived
        raise NotFoundError(f"event {origin}:{seq} is not held on this counter")
    return bytes(found[0])


def first_unconsolidated(session: Session, within: Mapping[str, tuple[int, int]]
                         ) -> dict[str, int]:
    """Per origin, the first sale or return with seq in ``within`` (after, upto] whose
    ERPNext entry (``_slot``) has not consolidated yet by the latest stock readings: Bin
    does not include it, so its events stay live."""
    sql = raw(session)
    done = {str(row[0]) for row in sql.run("SELECT DISTINCT shift FROM stock_base_shifts")}
    first: dict[str, int] = {}
    for origin, seq, shift, invoice, late in sql.run(
            "SELECT origin, seq, shift, invoice, late FROM sales ORDER BY origin, seq"):
        after, upto = within.get(origin, (0, 0))
        if after < seq <= upto and origin not in first and (
                _slot(sql, shift, invoice, bool(late)) not in done):
            first[origin] = int(seq)
    return first


def compact(session: Session, batch: int = 5000) -> list[str]:
    """Move the rows of sales that left with their events into the archive's ``sales``
    (read through ``every_sale``), and the stock slots of the shifts they emptied into
    its ``stock_deltas`` (``every_stock_delta``); the invoices moved. A row leaves when
    its sale is at or below this store's floor, not late, and its shift's closing that
    ERPNext holds is below the floor too, and so is the closing that carried it if
    another did: no event still to come changes it (that closing stands, and ERPNext
    consolidates a sale once); a slot,
    when ``_slot_final``. So a checkpoint that let them go, plus the live events, equals
    the live tables that let them go."""
    sql = raw(session)
    floor = _floor(sql)
    settled = _held_below(sql, floor)
    leaving = [str(invoice) for origin, upto in sorted(floor.items())
               for invoice, shift, late in sql.run(
                   "SELECT invoice, shift, late FROM sales WHERE origin = ? AND seq <= ?",
                   (origin, upto))
               if not late and shift in settled]
    carried = {str(i): str(by) for i, by in sql.run(
        "SELECT invoice, closing FROM carried WHERE invoice IN (SELECT value FROM json_each(?))",
        (json.dumps(leaving),))}
    # A carried sale is final once the closing that carried it is below the floor too
    # (ERPNext consolidates a sale once): most sales, where each closing lists every
    # invoice delivered since the last one (ERPNext 16, ``outbox.by_session``).
    leaving = [i for i in leaving if i not in carried or carried[i] in settled]
    for at in range(0, len(leaving), batch):
        chunk = json.dumps(leaving[at:at + batch])
        sql.run(f"INSERT OR REPLACE INTO archive.sales ({SALE_COLUMNS}) SELECT {SALE_COLUMNS}"
                " FROM main.sales WHERE invoice IN (SELECT value FROM json_each(?))", (chunk,))
        sql.run("DELETE FROM main.sales WHERE invoice IN (SELECT value FROM json_each(?))",
                (chunk,))
    emptied = json.dumps(sorted(
        str(s) for (s,) in sql.run("SELECT DISTINCT shift FROM main.stock_deltas")
        if s in settled and _slot_final(sql, str(s), floor)))
    sql.run(f"INSERT OR REPLACE INTO archive.stock_deltas ({SLOT_COLUMNS}) SELECT"
            f" {SLOT_COLUMNS} FROM main.stock_deltas WHERE shift IN"
            " (SELECT value FROM json_each(?))", (emptied,))
    sql.run("DELETE FROM main.stock_deltas WHERE shift IN (SELECT value FROM json_each(?))",
            (emptied,))
    return leaving


def final_shifts(session: Session, candidates: Iterable[str]) -> list[str]:
    """Those of ``candidates`` that no event still to come changes (``_slot_final``),
    their closing that ERPNext holds below the floor: nothing is owed for them any more."""
    sql = raw(session)
    floor = _floor(sql)
    held = _held_below(sql, floor, sorted(set(candidates)))
    return sorted(s for s in held if _slot_final(sql, s, floor))


def _floor(sql: Raw) -> dict[str, int]:
    return {str(o): int(s) for o, s in sql.run("SELECT origin, seq FROM event_floor")}


def _held_below(sql: Raw, floor: Mapping[str, int], among: list[str] | None = None
                ) -> set[str]:
    """The shifts (of ``among``, else of every closing ever delivered) whose closing
    ERPNext holds, delivered by an event at or below the floor."""
    rows = sql.run("SELECT closing, event FROM delivered_closings") if among is None else \
        sql.run("SELECT closing, event FROM delivered_closings WHERE closing IN"
                " (SELECT value FROM json_each(?))", (json.dumps(among),))
    held = set()
    for closing, event in rows:
        origin, _, seq = str(event).rpartition(":")
        if int(seq) <= floor.get(origin, 0):
            held.add(str(closing))
    return held


def _slot_final(sql: Raw, shift: str, floor: Mapping[str, int]) -> bool:
    """Whether no event still to come moves the stock slot of ``shift``, whose closing
    ERPNext holds and consolidated: every sale that closing covers is held and left the
    ledger, and so did every sale of another shift it carried. A late sale counts in
    its own entry and a return in its own shift's; a shift with a late sale keeps it live."""
    row = sql.one("SELECT covers FROM shifts WHERE shift = ?", (shift,))
    if row is None or row[0] is None:
        return False
    if any(seq > floor.get(origin, 0) for origin, seq in unpack_body(row[0]).items()):
        return False
    if sql.one("SELECT 1 FROM main.sales WHERE shift = ? LIMIT 1", (shift,)) is not None:
        return False
    return sql.one("SELECT 1 FROM carried c WHERE c.closing = ? AND NOT EXISTS (SELECT 1"
                   " FROM archive.sales a WHERE a.invoice = c.invoice)", (shift,)) is None


def carried(session: Session, invoices: Iterable[str]) -> dict[str, str]:
    """Which of ``invoices`` an acked closing carried: invoice -> that closing (looked up
    by invoice: the table keeps every such sale the store ever had)."""
    return {str(invoice): str(closing) for invoice, closing in raw(session).run(
        "SELECT invoice, closing FROM carried WHERE invoice IN"
        " (SELECT value FROM json_each(?))", (json.dumps(sorted(set(invoices))),))}


def is_late(session: Session, invoice: str) -> bool:
    """Whether the shift's closing (the one ERPNext holds, once delivered) leaves it out."""
    row = raw(session).one("SELECT late FROM sales WHERE invoice = ?", (invoice,))
    return row is not None and bool(row[0])


def reconciled_by(session: Session, invoice: str) -> str | None:
    """The ``shift.late_reconciled`` event that reconciles a late sale (the earliest,
    when two supervisors reconciled it apart); None if none does."""
    row = raw(session).one("SELECT reconciliation FROM late_reconciled WHERE invoice = ?",
                           (invoice,))
    return None if row is None else str(row[0])
