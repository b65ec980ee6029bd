"""The encrypted local store: one SQLCipher database per counter.

    _engine      the engine and the database key file
    sealing      the counter's secrets at rest: plain, or sealed to the machine (systemd)
                 or to a passphrase, and reading them however they are held
    ownership    a file a root-run command creates belongs to the data dir's owner
    tables       projection tables copied between stores and digested
    snapshot_check  the tables a snapshot brought, checked against its events in the
                 background (a tampered one is reported and rebuilt)
    const        sizes, timeouts and batches, with units and reasons
    base         the declarative base, the ``events`` and ``meta`` tables
    types        column types (Decimal as text, UTC datetimes)
    raw          a thin raw-SQL helper for hot paths
    event_log    ``EventLog``: appends, transactions, group commit, replay, listeners
    wal          SQLite's WAL copied into the database file by a thread of its own
    reader       long reads of what was committed, on a connection and a thread of
                 their own (the forwarder's plan), off the event loop
    event_codec  event bodies as msgpack (money as strings)
    archive      events that left the live store, sealed per month; the floor; the
                 ``every_event`` view over both
    checkpoint   the projection tables at the floor, signed: where a rebuild or a
                 joining counter starts
    snapshot     a whole store in one encrypted file, for a joining counter
    backup_file  a consistent online copy of the live store, and the encrypted backup
                 file carrying it with the counter's settings and secrets
    backup_restored  a restored counter records nothing until it has its later events back
    cart_store   carts in progress and held carts (local, never replicated)
    schema       imports every module that declares tables (before create_all)

May import ``tillmesh.node.domain``, ``tillmesh.node.errors`` and
``tillmesh.replication`` (the event envelope, clocks, vectors); ``event_log`` applies
``tillmesh.node.projections`` in the same transaction as each event.
"""

from tillmesh.node.store._engine import create_key_file, open_engine, read_key_file
from tillmesh.node.store.base import PROJECTION, Base, EventRow, Meta
from tillmesh.node.store.types import DecimalText, UtcDateTime

__all__ = [
    "PROJECTION",
    "Base",
    "DecimalText",
    "EventRow",
    "Meta",
    "UtcDateTime",
    "create_key_file",
    "open_engine",
    "read_key_file",
]
