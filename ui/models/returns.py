"""Finding an invoice from a receipt and choosing what comes back. Qt-free.

A receipt's QR code or barcode carries the invoice number (``C03-2026-000042``), possibly
inside a longer text (a URL, a prefix); :func:`invoice_from_scan` finds it. What can still
be returned of a row is what was sold minus what earlier returns took (``invoice_get``'s
``returned_qty``); the node checks it again, with the counter that made the sale.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tillmesh.ui.models.money import ZERO, dec, qty

# The node's permission that accepts refunding what the sale's counter could not confirm.
RISK_PERMISSION = "return_unconfirmed"
# COUNTER-YEAR-NNNNNN, as the node numbers invoices (a counter id is 1-8 alphanumerics)
INVOICE_RE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z0-9]{1,8}-\d{4}-\d{6})(?![0-9])")


def invoice_from_scan(text: str) -> str | None:
    """The invoice number in what was typed or scanned, upper-cased; None if there is none."""
    found = INVOICE_RE.search(text.strip())
    return found.group(1).upper() if found else None


@dataclass(frozen=True)
class ReturnLine:
    row: str  # the original item row name, what return_create's lines[].row takes
    item_name: str
    uom: str
    sold: Decimal
    returned: Decimal
    rate: Decimal

    @property
    def returnable(self) -> Decimal:
        return max(self.sold - self.returned, ZERO)


@dataclass(frozen=True)
class Invoice:
    number: str
    customer: str
    posted_at: str
    grand_total: Decimal
    is_return: bool
    lines: tuple[ReturnLine, ...]
    flags: tuple[str, ...] = ()  # why a supervisor should look at this return


    @classmethod
    def from_api(cls, doc: Mapping[str, Any]) -> Invoice:
        totals = doc.get("totals") or {}
        return cls(
            number=str(doc.get("invoice", "")),
            customer=str(doc.get("customer") or ""),
            posted_at=str(doc.get("posted_at") or ""),
            grand_total=dec(totals.get("rounded_total") or totals.get("grand_total")),
            is_return=bool(doc.get("is_return")),
            lines=tuple(
                ReturnLine(
                    row=str(item.get("name", "")),
                    item_name=str(item.get("item_name") or item.get("item_code", "")),
                    uom=str(item.get("uom", "")),
                    sold=dec(item.get("qty")),
                    returned=dec(item.get("returned_qty")),
                    rate=dec(item.get("rate")),
                )
                for item in doc.get("items") or ()
            ),
            flags=review_flags(doc),
        )

    @property
    def fully_returned(self) -> bool:
        return all(line.returnable <= 0 for line in self.lines)


def review_flags(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """What ``invoice_get`` says a supervisor should review about a return, in words."""
    flags = []
    if doc.get("unconfirmed"):
        flags.append("not confirmed by the sale's counter")
    if doc.get("over_returns"):
        flags.append("over-return: more given back than sold")
    return tuple(flags)


def return_lines(invoice: Invoice, chosen: Mapping[str, Decimal]) -> list[dict[str, str]]:
    """``return_create``'s ``lines`` for the quantities chosen per row (0 rows left out).

    Raises ValueError when a quantity is more than what is left to return, so the screen
    can say so before asking the node.
    """
    by_row = {line.row: line for line in invoice.lines}
    out = []
    for row, amount in chosen.items():
        if amount <= 0:
            continue
        line = by_row.get(row)
        if line is None:
            raise ValueError(f"{invoice.number} has no row {row}")
        if amount > line.returnable:
            raise ValueError(f"{line.item_name}: only {qty(line.returnable)} left to return")
        out.append({"row": row, "qty": str(amount)})
    if not out:
        raise ValueError("Choose what comes back: a quantity on at least one line")
    return out


@dataclass(frozen=True)
class Review:
    """A return a supervisor should look at (``returns_flagged``), in words."""

    invoice: str
    against: str
    counter: str
    why: str


def reviews(flagged: Mapping[str, Any]) -> list[Review]:
    """Over-returns first (money paid out twice), then returns not confirmed."""
    over = [Review(str(o.get("invoice")), str(o.get("return_against")),
                   str(o.get("counter")), str(o.get("reason")))
            for o in flagged.get("over_returns") or ()]
    unconfirmed = [Review(str(u.get("invoice")), str(u.get("return_against")),
                          str(u.get("counter")), str(u.get("reason")))
                   for u in flagged.get("unconfirmed") or ()]
    return over + unconfirmed
