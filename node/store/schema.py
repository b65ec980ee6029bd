"""Imports every module that declares tables or projection handlers, and numbers the
store's schema.

Importing this module is what makes ``Base.metadata`` complete and every event kind
handled; the event log imports it before creating tables or replaying.
"""

from __future__ import annotations

from tillmesh.node.membership import invite  # noqa: F401
from tillmesh.node.projections import (  # noqa: F401  (tables and handlers register on import)
    audit,
    awaiting_closing,
    catalog,
    counters,
    coupon_uses,
    deliveries,
    ledger,
    logins,
    loyalty_ledger,
    master_data,
    membership,
    outbox,
    pos_profile,
    refunds,
    stock,
    tracking,
    users,
)
from tillmesh.node.store import cart_store  # noqa: F401

# The layout of the store's own tables (events, meta and the local ones: carts, invites,
# login counters), as this release writes it, shown beside the release and the protocol
# (``tillmesh peers``, ``status``). Counted from 1, the layout of the first release that
# says it; a release that changes one of these tables so that the release before cannot
# read it any more bumps it. Projection tables are not part of it: every release rebuilds
# them from the events when their shape differs (``projections.shape``).
SCHEMA_VERSION = 1
