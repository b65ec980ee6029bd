"""Batches with expiry dates and serial numbers at the till: which batch a scan sells,
whether a batch or a serial number may be sold, and the refusals a cashier reads. Pure.

A batch-tracked item is sold from one batch per cart line (a POS Invoice row carries one
``batch_no``); the till picks first-expiry-first-out among the batches this warehouse
holds, never an expired one (ERPNext refuses it: ``BatchExpiredError``, recorded in
``tests/lab/recorded/batch-cases.json``), and never more than a batch holds (ERPNext:
``BatchNegativeStockError``). A serial-tracked item is sold by its serial numbers, one
per unit, each once across the store (ERPNext: ``SerialNoWarehouseError``).

What "holds" means follows ERPNext 15: its stock ledger per batch and its Serial Nos
move when a closing consolidates, and until then the sales of submitted POS Invoices
count against them but their returns do not (a returned serial number is sold again only
once its return is consolidated). ``projections.stock`` keeps that count per batch and
serial number; this module judges with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tillmesh.node.errors import BatchError


@dataclass(frozen=True)
class Batch:
    name: str
    item_code: str
    expiry: date | None  # None: the batch never expires
    disabled: bool
    available: Decimal  # in the stock UOM, as the store knows it (``projections.stock``)

    def expired(self, on: date) -> bool:
        """ERPNext's rule: expired when its expiry date is before the posting date."""
        return self.expiry is not None and self.expiry < on


def expiry_order(batch: Batch) -> tuple[date, str]:
    """First expiry first (a batch that never expires last), ties by name."""
    return batch.expiry or date.max, batch.name


def _shown(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def check(batch: Batch, stock_qty: Decimal, on: date) -> Batch:
    """``batch`` if it may sell ``stock_qty`` on ``on``, else BatchError saying why."""
    if batch.disabled:
        raise BatchError(f"Batch {batch.name} of {batch.item_code} is disabled in ERPNext:"
                         " take one from another batch", batch_no=batch.name)
    if batch.expired(on) and batch.expiry is not None:
        raise BatchError(f"Batch {batch.name} of {batch.item_code} expired on"
                         f" {_shown(batch.expiry)}: do not sell it, take one from another"
                         " batch", batch_no=batch.name, expiry=batch.expiry.isoformat())
    if stock_qty > batch.available:
        raise BatchError(f"Batch {batch.name} of {batch.item_code} has only"
                         f" {_qty(batch.available)} left: sell the rest from another batch",
                         batch_no=batch.name, available=str(batch.available))
    return batch


def pick(batches: Iterable[Batch], stock_qty: Decimal, on: date) -> Batch:
    """The batch to sell ``stock_qty`` from: first expiry first out among those that may
    sell it (a batch without expiry last; ties by name); BatchError when none may."""
    usable = [b for b in batches if not b.disabled and not b.expired(on)]
    held = sorted((b for b in usable if b.available >= stock_qty), key=expiry_order)
    if held:
        return held[0]
    item = next(iter(b.item_code for b in batches), "")
    if not usable:
        raise BatchError(f"No batch of {item} in this store may be sold: every one has"
                         " expired or is disabled", item_code=item)
    most = max(b.available for b in usable)
    if most <= 0:
        raise BatchError(f"No batch of {item} is left in this store's stock",
                         item_code=item)
    raise BatchError(f"No batch of {item} holds {_qty(stock_qty)}: the most one holds is"
                     f" {_qty(most)}; sell the rest from another batch", item_code=item)


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f")


# --- serial numbers ---------------------------------------------------------------------


def serial_numbers(text: str) -> tuple[str, ...]:
    """A row's serial numbers as ERPNext reads its ``serial_no`` text: one per line (or
    separated by commas), blanks dropped."""
    if not text:  # most rows: every sale's projection asks of each
        return ()
    return tuple(s.strip() for s in text.replace(",", "\n").splitlines() if s.strip())


def serial_text(serials: Sequence[str]) -> str:
    """``serial_no`` as a POS Invoice row carries it."""
    return "\n".join(serials)


def check_serials(item_code: str, serials: Sequence[str], qty: Decimal,
                  held: dict[str, Decimal], owner: dict[str, str]) -> tuple[str, ...]:
    """``serials`` if they may be sold as ``qty`` units of ``item_code``: as many as the
    units, none twice, each this item's and in this store's stock once (``held``: the
    store's count of each, 1 in stock; ``owner``: the item each belongs to)."""
    if len(set(serials)) != len(serials):
        raise BatchError(f"A serial number of {item_code} is given twice")
    if Decimal(len(serials)) != qty:
        raise BatchError(f"{_qty(qty)} of {item_code} need {_qty(qty)} serial numbers, not"
                         f" {len(serials)}: scan one for each unit", item_code=item_code)
    for serial in serials:
        if serial not in owner:
            raise BatchError(f"Serial number {serial} is not known in this store",
                             serial_no=serial)
        if owner[serial] != item_code:
            raise BatchError(f"Serial number {serial} belongs to {owner[serial]}, not to"
                             f" {item_code}", serial_no=serial)
        if held.get(serial, Decimal(0)) < 1:
            raise BatchError(f"Serial number {serial} is not in this store's stock: it was"
                             " sold (a returned one sells again once its return reaches"
                             " ERPNext with the shift's closing)", serial_no=serial)
    return tuple(serials)
