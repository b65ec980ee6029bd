"""Cart lines of batch- and serial-tracked items: the batch a line sells from (first
expiry first out unless the cashier names one), its serial numbers, and the check every
change of a cart and every sale passes (``domain.batches``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from tillmesh.node.domain import batches
from tillmesh.node.domain.cart import Cart, Line
from tillmesh.node.domain.const import MAX_SERIALS_PER_LINE
from tillmesh.node.errors import BatchError, SerialNeeded
from tillmesh.node.projections import tracking


def _batch_use(lines: tuple[Line, ...]) -> dict[str, Decimal]:
    """Stock UOM units each batch gives to these lines."""
    use: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        if line.batch_no:
            use[line.batch_no] += line.qty * line.conversion_factor
    return use


def _expiry(batch: batches.Batch) -> str:
    return batch.expiry.isoformat() if batch.expiry else ""


def tracked(s: Session, warehouse: str, cart: Cart, line: Line, on: date, *,
            batch_no: str | None = None, serial_no: str | None = None) -> Line:
    """``line`` with its batch (the one named, else first expiry first out among what the
    cart leaves of each) or its serial numbers (one per unit: the qty follows them);
    unchanged for an item tracked by neither."""
    batched, serialised = tracking.tracking(s, line.item_code)
    if batched and serialised:
        raise BatchError(f"{line.item_name} is tracked by batch and by serial number at"
                         " once, which this till does not sell yet: sell it in ERPNext",
                         item_code=line.item_code)
    if serialised:
        serials = batches.serial_numbers(serial_no or "")
        if len(serials) > MAX_SERIALS_PER_LINE:
            raise BatchError(f"At most {MAX_SERIALS_PER_LINE} serial numbers on a line")
        if not serials:
            raise SerialNeeded(f"Scan or type the serial number of {line.item_name}",
                               item_code=line.item_code, item_name=line.item_name)
        if line.conversion_factor != 1:
            raise BatchError(f"{line.item_name} is sold by serial number in {line.stock_uom}")
        return replace(line, qty=Decimal(len(serials)), serial_no=batches.serial_text(serials))
    if not batched:
        if batch_no or serial_no:
            raise BatchError(f"{line.item_name} is sold by neither batch nor serial number")
        return line
    stock_qty = line.qty * line.conversion_factor
    used = _batch_use(cart.lines)
    if batch_no:
        chosen = tracking.batch(s, batch_no, warehouse)
        if chosen is None or chosen.item_code != line.item_code:
            raise BatchError(f"{line.item_name} has no batch {batch_no} in this store",
                             batch_no=batch_no)
        batches.check(replace(chosen, available=chosen.available - used[chosen.name]),
                      stock_qty, on)
    else:
        chosen = batches.pick([replace(b, available=b.available - used[b.name])
                               for b in tracking.batches(s, line.item_code, warehouse)],
                              stock_qty, on)
    return replace(line, batch_no=chosen.name, batch_expiry=_expiry(chosen))


def check(s: Session, warehouse: str, cart: Cart, on: date) -> None:
    """Refuse a cart that sells an expired batch, more of a batch than the store holds, or
    a serial number not in stock, twice, or as a qty other than its count."""
    if not any(line.batch_no or line.serial_no for line in cart.lines):
        return
    for name, qty in _batch_use(cart.lines).items():
        held = tracking.batch(s, name, warehouse)
        if held is None:
            raise BatchError(f"Batch {name} is no longer known in this store", batch_no=name)
        batches.check(held, qty, on)
    by_line = [(line, batches.serial_numbers(line.serial_no))
               for line in cart.lines if line.serial_no]
    for line, mine in by_line:
        if line.qty * line.conversion_factor != len(mine):
            raise BatchError(f"{line.item_name} is sold by serial number: scan each unit"
                             " to sell more, remove the line to sell fewer")
    serials = [serial for _, mine in by_line for serial in mine]
    held_serials, owner = tracking.serials(s, serials, warehouse)
    for line, mine in by_line:
        batches.check_serials(line.item_code, mine, line.qty, held_serials, owner)
    if len(set(serials)) != len(serials):
        raise BatchError("A serial number is on two lines of this cart")


def options(s: Session, item_code: str, warehouse: str, on: date,
            limit: int) -> dict[str, Any]:
    """What the till offers for an item: its batches (expiry, what is left, whether it may
    be sold), first expiry first; and serial numbers in stock."""
    batched, serialised = tracking.tracking(s, item_code)
    found = sorted(tracking.batches(s, item_code, warehouse) if batched else [],
                   key=batches.expiry_order)
    return {"item_code": item_code, "has_batch_no": batched, "has_serial_no": serialised,
            "batches": [{"batch_no": b.name, "expiry_date": _expiry(b) or None,
                         "available": str(b.available), "expired": b.expired(on),
                         "disabled": b.disabled} for b in found],
            "serial_numbers": tracking.in_stock(s, item_code, warehouse, limit)
            if serialised else []}
