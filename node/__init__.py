"""A Tillmesh counter: everything that runs on a till except the app's widgets.

    domain/       pure rules: money, barcodes, ERPNext's totals, carts, sales, shift
                  arithmetic, roles and permissions, PINs and lockout
    store/        the encrypted SQLite store: engine, event log, event bodies, snapshots,
                  carts in progress
    projections/  tables rebuilt from the replicated events: ledger, catalog, master data,
                  users, counters, stock, outbox, deliveries, audit, POS profile
    api/          the local API: wire codec, server, typed client, and the methods by area
    membership/   joining and leaving the store: invites, join, keys, replication wiring
    erpnext/      the link to ERPNext: client, setup, pull, forwarder
    printing/     receipts, reports and the cash drawer
    ops/          what IT runs: the ``tillmesh`` command, the daemon, init/join, config
    errors        the one exception tree (``TillmeshError``)

Layers, bottom up: ``domain`` imports nothing of the node but ``errors``; ``store`` and
``projections`` may import ``domain``; ``api``, ``membership``, ``erpnext`` and
``printing`` may import those; ``ops`` may import everything. The app (``tillmesh.ui``)
imports only what this package re-exports for it: the clients and the error tree.
"""

from tillmesh.node.api.client import AsyncClient, Client
from tillmesh.node.errors import TillmeshError
from tillmesh.node.ops.config import Config

__all__ = ["AsyncClient", "Client", "Config", "TillmeshError"]
