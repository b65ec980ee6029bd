"""Imports every module that declares tables or projection handlers.

Importing this module is what makes ``Base.metadata`` complete and every event kind
handled; the event log imports it before creating tables or replaying.
"""

from __future__ import annotations

from node import (  # noqa: F401  (tables and handlers register on import)
    audit,
    carts,
    catalog,
    cluster,
    deliveries,
    invite,
    ledger,
    masterdata,
    outbox,
    profile,
    stock,
    users,
)
