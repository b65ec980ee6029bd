"""API methods for shifts: open with a float, cash in / out, X report, close with a Z report."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tillmesh.node.api._methods import api_method
from tillmesh.node.api.const import MAX_REASON
from tillmesh.node.domain.money import ZERO, flt, to_decimal
from tillmesh.node.domain.roles import Action
from tillmesh.node.domain.sale import plain
from tillmesh.node.domain.shift_totals import (
    Direction,
    ShiftReport,
    ShiftStatus,
    close,
    report,
)
from tillmesh.node.errors import (
    CashOutBeyondDrawer,
    NotFoundError,
    PermissionDenied,
    ShiftError,
    UncountedModes,
    ValidationError,
)
from tillmesh.node.projections import ledger

if TYPE_CHECKING:
    from tillmesh.node.api import Caller, Node
    from tillmesh.node.store.event_log import Transaction

def _amounts(node: Node, session: Session, value: object, what: str,
             expected: Iterable[str] = ()) -> dict[str, Any]:
    """``{mode_of_payment: amount}`` with modes of this POS profile (or ``expected`` in
    the drawer: one the profile lost since, or another counter's), amounts >= 0."""
    if not isinstance(value, dict):
        raise ValidationError(f"{what} must be a map of mode of payment to amount")
    ctx = node.context(session)
    expected = set(expected)
    out = {}
    for mode, raw in value.items():
        if str(mode) not in expected:
            ctx.mode(str(mode))
        amount = to_decimal(raw, f"{what} for {mode}")
        if amount < 0 or flt(amount) != amount:
            raise ValidationError(f"{what} for {mode} must be >= 0 with at most 2 decimals")
        out[str(mode)] = amount
    return out


def _shift(session: Session, shift: str) -> ledger.ShiftRow:
    row = session.get(ledger.ShiftRow, shift)
    if row is None or row.opened_at is None:
        raise NotFoundError(f"No shift {shift!r}")
    return row


def _report(session: Session, row: ledger.ShiftRow) -> ShiftReport:
    return report(ledger.opening_of(row), ledger.shift_sales(session, row.shift),
                  ledger.shift_moves(session, row.shift))


def _shift_view(row: ledger.ShiftRow, session: Session | None = None) -> dict[str, Any]:
    view = {"shift": row.shift, "counter": row.counter, "cashier": row.cashier,
            "pos_profile": row.pos_profile, "opened_at": row.opened_at, "status": row.status,
            "closed_by": row.closed_by, "closed_at": row.closed_at,
            "opening": plain(ledger.opening_of(row))}
    if session is not None and row.status == ShiftStatus.CLOSED.value:
        view["late_unreconciled"] = len(ledger.unreconciled_late(session, row.shift))
    return view


def _report_view(rep: ShiftReport) -> dict[str, Any]:
    data: dict[str, Any] = plain(rep.__dict__)
    data["grand_total"] = str(rep.grand_total)
    return data


@api_method(action=Action.SHIFT_OPEN)
def shift_open(node: Node, caller: Caller, opening: dict[str, Any]) -> dict[str, Any]:
    """Open this counter's shift with the float counted into the drawer per mode."""
    with node.write() as tx:
        s = tx.session
        node.check_selling(s)
        float_ = _amounts(node, s, opening, "opening")
        current = ledger.open_shift_or_none(s, node.node_id)
        if current is not None:
            raise ShiftError(f"Shift {current} is already open on this counter")
        node.authorize(s, caller, Action.SHIFT_OPEN)
        n = node.next_number(s, "shift_seq")
        shift = f"{node.node_id}-SH-{n:06d}"
        now = node.clock()
        tx.append("shift.opened", {"shift": shift, "pos_profile": node.config.pos_profile,
                                   "cashier": caller.user, "opened_at": now.isoformat(),
                                   "opening": plain(float_)})
        return _shift_view(_shift(s, shift))


@api_method()
def shift_current(node: Node, caller: Caller) -> dict[str, Any] | None:
    """This counter's open shift, or nothing."""
    with node.read() as s:
        try:
            return _shift_view(_shift(s, ledger.open_shift(s, node.node_id)))
        except ShiftError:
            return None


@api_method()
def shift_list(node: Node, caller: Caller, status: str | None = None) -> list[dict[str, Any]]:
    """Shifts of every counter held here (status "open" or "closed" to filter)."""
    with node.read() as s:
        q = select(ledger.ShiftRow).where(ledger.ShiftRow.opened_at.is_not(None))
        if status is not None:
            q = q.where(ledger.ShiftRow.status == ShiftStatus(status).value)
        return [_shift_view(r, s) for r in s.scalars(q.order_by(ledger.ShiftRow.opened_at))]


@api_method(action=(Action.CASH_IN, Action.CASH_OUT))
def cash_move(node: Node, caller: Caller, direction: str, amount: Any, reason: str,
              mode_of_payment: str = "Cash", approver: dict[str, Any] | None = None,
              beyond_drawer: bool = False) -> dict[str, Any]:
    """Put cash into the drawer or take it out, with a reason (cash out is audited).

    Taking out more than the drawer should hold in that mode is refused with
    CashOutBeyondDrawer (a typo, or money that is not there); the same call with
    ``beyond_drawer: true`` and a supervisor (``cash_out_beyond_drawer``) goes ahead."""
    try:
        way = Direction(direction)
    except ValueError as exc:
        raise ValidationError('direction must be "in" or "out"') from exc
    text = str(reason).strip()
    if not text or len(text) > MAX_REASON:
        raise ValidationError(f"A reason of 1-{MAX_REASON} characters is required")
    with node.write() as tx:
        s = tx.session
        node.check_selling(s)
        value = _amounts(node, s, {mode_of_payment: amount}, "amount")[mode_of_payment]
        if value <= 0:
            raise ValidationError("amount must be more than 0")
        shift = ledger.open_shift(s, node.node_id)
        holds = ZERO
        if way is Direction.OUT:
            holds = _report(s, _shift(s, shift)).expected.get(mode_of_payment, ZERO)
        beyond = way is Direction.OUT and value > holds
        if beyond and beyond_drawer is not True:  # before the PIN: one prompt approves both
            raise _beyond_error(mode_of_payment, holds, flt(value))
        action = Action.CASH_IN if way is Direction.IN else Action.CASH_OUT
        auth = node.authorize(s, caller, action, approver=approver)
        if beyond:
            _authorize_beyond(node, tx, caller, approver, shift=shift, mode=mode_of_payment,
                              holds=holds, value=flt(value))
        event = tx.append("cash.moved", {"shift": shift, "direction": way.value,
                                         "mode_of_payment": mode_of_payment,
                                         "amount": str(value), "reason": text,
                                         "user": caller.user})
        node.audit(tx, "cash_moved", auth, shift=shift, direction=way.value,
                   amount=str(value), reason=text)
        return {"event": event.id, "shift": shift, "direction": way.value,
                "amount": str(value)}


def _beyond_words(mode: str, holds: Decimal, value: Decimal) -> str:
    return (f"The drawer should hold {holds} {mode}; paying out {value} is more than that"
            " and needs a supervisor")


def _beyond_error(mode: str, holds: Decimal, value: Decimal) -> CashOutBeyondDrawer:
    return CashOutBeyondDrawer(_beyond_words(mode, holds, value), expected=str(holds),
                               amount=str(value), mode_of_payment=mode)


def _authorize_beyond(node: Node, tx: Transaction, caller: Caller,
                      approver: dict[str, Any] | None, *, shift: str, mode: str,
                      holds: Decimal, value: Decimal) -> None:
    """A supervisor's yes to paying out beyond the drawer, audited on its own."""
    try:
        risk = node.authorize(tx.session, caller, Action.CASH_OUT_BEYOND_DRAWER,
                              approver=approver)
    except PermissionDenied as exc:  # say what is asked, not only whose PIN
        raise PermissionDenied(f"{_beyond_words(mode, holds, value)}. {exc.message}",
                               **exc.details) from exc
    node.audit(tx, "cash_out_beyond_drawer", risk, shift=shift, mode_of_payment=mode,
               expected=str(holds), amount=str(value))


def _uncounted(modes: Iterable[str], counts: dict[str, Any]) -> None:
    """Every one of ``modes`` is counted, 0 included: a blank is no count."""
    missing = [m for m in dict.fromkeys(modes) if m not in counts]
    if missing:
        raise UncountedModes(
            f"Count every mode of payment before closing: {', '.join(missing)} not counted"
            " (enter 0 for a mode with nothing in it); nothing was recorded", modes=missing)


@api_method()
def shift_report(node: Node, caller: Caller, shift_id: str | None = None) -> dict[str, Any]:
    """The X report of a shift (this counter's open shift by default)."""
    with node.read() as s:
        row = _shift(s, shift_id or ledger.open_shift(s, node.node_id))
        rep = _report(s, row)
        if row.closing is not None:
            from tillmesh.node.store.event_codec import unpack_body

            return {**_shift_view(row), "report": unpack_body(row.closing)["report"]}
        return {**_shift_view(row), "report": _report_view(rep)}


@api_method(action=(Action.SHIFT_CLOSE, Action.SHIFT_CLOSE_OTHER))
def shift_close(node: Node, caller: Caller, shift_id: str, counted: dict[str, Any],
                approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Close a shift with the counted amounts; returns the Z report.

    Every mode of payment of the profile, and every mode the drawer expects, must be
    counted (0 is a count, a missing mode is not): UncountedModes names the ones left out,
    and nothing is recorded."""
    with node.write() as tx:
        s = tx.session
        row = _shift(s, str(shift_id))
        if row.status == ShiftStatus.CLOSED.value:
            raise ShiftError(f"Shift {row.shift} is already closed (by {row.closed_by})")
        base = _report(s, row)
        counts = _amounts(node, s, counted, "counted", base.expected)
        _uncounted([*node.context(s).modes, *base.expected], counts)
        action = Action.SHIFT_CLOSE if row.cashier == caller.user else Action.SHIFT_CLOSE_OTHER
        auth = node.authorize(s, caller, action, approver=approver)
        z = close(base, counts)
        covers = dict(node.log.vector())
        invoices = [sale.invoice for sale in ledger.shift_sales(s, row.shift)]
        now = node.clock()
        tx.append("shift.closed", {
            "shift": row.shift, "closed_by": caller.user, "closed_at": now.isoformat(),
            "covers": covers, "invoices": invoices, "counted": plain(counts),
            "expected": plain(z.expected), "difference": plain(z.difference),
            "report": _report_view(z)})
        node.audit(tx, "shift_closed", auth, shift=row.shift, cashier=row.cashier,
                   difference=plain(z.difference))
        return {**_shift_view(row), "covers": covers, "invoices": invoices,
                "report": _report_view(z)}


@api_method(action=Action.SHIFT_CLOSE_OTHER)
def shift_reconcile(node: Node, caller: Caller, shift_id: str, counted: dict[str, Any],
                    approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Reconcile the late sales of a closed shift (a counter that was cut off).

    Every mode they were paid in must be counted (UncountedModes otherwise, and nothing
    is recorded)."""
    with node.write() as tx:
        s = tx.session
        row = _shift(s, str(shift_id))
        if row.status != ShiftStatus.CLOSED.value:
            raise ShiftError(f"Shift {row.shift} is open: close it, late sales come after")
        late = ledger.unreconciled_late(s, row.shift)
        if not late:
            raise ShiftError(f"Shift {row.shift} has no late sales to reconcile")
        late_report = report({}, late, [])
        counts = _amounts(node, s, counted, "counted", late_report.expected)
        _uncounted(late_report.expected, counts)  # the modes the late sales were paid in
        auth = node.authorize(s, caller, Action.SHIFT_CLOSE_OTHER, approver=approver)
        z = close(late_report, counts)
        invoices = [sale.invoice for sale in late]
        tx.append("shift.late_reconciled", {
            "shift": row.shift, "by": caller.user, "at": node.clock().isoformat(),
            "invoices": invoices, "counted": plain(counts),
            "expected": plain(z.expected), "difference": plain(z.difference)})
        node.audit(tx, "late_reconciled", auth, shift=row.shift, invoices=invoices,
                   difference=plain(z.difference))
        return {"shift": row.shift, "invoices": invoices, "report": _report_view(z)}


@api_method(action=Action.DRAWER_OPEN)
def drawer_open(node: Node, caller: Caller, approver: dict[str, Any] | None = None,
                reason: str = "") -> dict[str, Any]:
    """Open the cash drawer without a sale (audited)."""
    with node.write() as tx:
        node.check_selling(tx.session)
        auth = node.authorize(tx.session, caller, Action.DRAWER_OPEN, approver=approver)
        node.audit(tx, "drawer_opened", auth, reason=str(reason)[:MAX_REASON])
    return {"opened": True}
