"""The stock keys of batches and serial numbers (``projections.stock``): they are counted
beside items, in the item column, under names no item code can have (an item code never
starts with a control character: Frappe strips names)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tillmesh.node.domain.batches import serial_numbers

TRACKED = "\x1f"  # what every batch and serial key starts with
BATCH, SERIAL = f"{TRACKED}batch{TRACKED}", f"{TRACKED}serial{TRACKED}"


def batch_key(batch_no: str) -> str:
    """The stock key of a batch (its quantity in the stock UOM)."""
    return BATCH + batch_no


def serial_key(serial_no: str) -> str:
    """The stock key of a serial number (1 in stock, 0 sold)."""
    return SERIAL + serial_no


def sold(row: Mapping[str, Any]) -> dict[str, Decimal]:
    """What a sold POS Invoice row takes from its batch and serial numbers."""
    out = {serial_key(s): Decimal(1) for s in serial_numbers(str(row.get("serial_no") or ""))}
    if row.get("batch_no"):
        out[batch_key(str(row["batch_no"]))] = Decimal(row["stock_qty"])
    return out
