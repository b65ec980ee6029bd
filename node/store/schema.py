"""Imports every module that declares tables or projection handlers.

Importing this module is what makes ``Base.metadata`` complete and every event kind
handled; the event log imports it before creating tables or replaying.
"""

from __future__ import annotations

from tillmesh.node.membership import invite  # noqa: F401
from tillmesh.node.projections import (  # noqa: F401  (tables and handlers register on import)
    audit,
    catalog,
    counters,
    deliveries,
    ledger,
    logins,
    master_data,
    membership,
    outbox,
    pos_profile,
    refunds,
    stock,
    users,
)
from tillmesh.node.store import cart_store  # noqa: F401
