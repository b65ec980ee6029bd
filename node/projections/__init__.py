"""Tables that are pure functions of the replicated events, one module per subject.

    _registry    ``@projector(kind)``, ``apply_all``, ``reset``, the table shape
    deferred     rows that only add up, written many events at once
    const        search and batch sizes, list limits, with units and reasons
    cached       reads kept until the projector of their tables says they changed
    ledger       shifts, sales and returns, cash movements
    refunds      promises made to returns on other counters, over-returns flagged
    coupon_uses  the store's uses of each Coupon Code, by what their delivery made of it
    loyalty_ledger  every customer's loyalty points: ERPNext's entries and the sales' own
    catalog      items, barcodes, prices, the search index
    master_data  ERPNext's documents as replicated, last writer by ``modified``
    pos_profile  the POS Profile and its modes of payment, taxes and settings
    users        users and their PIN hashes
    logins       failed logins across the store, for one lockout on every counter
    counters     the store's counters: enrolled and revoked keys
    stock        on-hand per item, batch and serial number: ERPNext's Bin plus what was
                 sold since (``stock_keys``: the keys of batches and serial numbers)
    tracking     items sold by batch or serial number, their batches and serial numbers
    outbox       what the store owes ERPNext, in delivery order
    deliveries   what reached ERPNext or was refused (the exceptions queue)
    awaiting_closing  invoices ERPNext holds that no closing consolidated yet, where
                 each closing lists all of them (ERPNext 16)
    audit        the audit trail of sensitive actions

Every handler gives the same tables whatever order events of different origins arrive in.
May import ``tillmesh.node.domain``, ``tillmesh.node.store`` (tables, codec) and
``tillmesh.replication`` (the event type); never ``api`` or anything above it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tillmesh.node.projections._registry import (
        apply_all,
        projection_tables,
        projector,
        reset,
        shape,
    )

__all__ = ["apply_all", "projection_tables", "projector", "reset", "shape"]


def __getattr__(name: str) -> Any:
    # The registry imports every projection (and SQLAlchemy): loaded when first asked for,
    # so that a module needing only ``projections.const`` (the API client) stays light.
    if name in __all__:
        from tillmesh.node.projections import _registry
        return getattr(_registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
