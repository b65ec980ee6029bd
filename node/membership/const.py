"""Every timing, size and limit of joining the store and replicating, with its unit and
the reason for it (the replication protocol's own are in ``tillmesh.replication.const``)."""

from __future__ import annotations

# --- invite codes -------------------------------------------------------------------------

INVITE_SECRET_BYTES = 16  # bytes; a 128-bit one-time secret
INVITE_DEFAULT_MINUTES = 15  # minutes a code is valid when the admin names no time: long
#                              enough to walk to the new counter and type it
INVITE_MAX_MINUTES = 24 * 60  # minutes; a code lying around for days is a leaked code

# --- the join handshake -------------------------------------------------------------------

MAX_JOIN_REQUEST_BYTES = 4096  # bytes; a join request is a few hundred bytes
JOIN_TIMEOUT_S = 10.0  # seconds; the inviting counter answers in milliseconds when reachable
SNAPSHOT_FIRST_TIMEOUT_S = 300.0  # seconds; the first answer waits for the export of a big store

# --- the replication loop -----------------------------------------------------------------

TICK_S = 0.05  # seconds; how often the engine's timers run (heartbeats, pull timeouts)
REDIAL_S = 5.0  # seconds; how often members we are not connected to are dialled afresh
REDIAL_HEARD_S = 1.0  # seconds; a member that talks to us while our link to it is down is
#   dialled afresh at once, but not again within this (a handshake on a LAN takes ms)
ASK_WAIT_MARGIN_S = 1.0  # seconds a return waits for the sale's counter beyond the
#   replication engine's ASK_TIMEOUT_MS, after which the engine settles every ask itself:
#   this bound only keeps a wait whose settling was lost (a stopped replication loop)
#   from holding an API worker for good
