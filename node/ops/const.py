"""Every timing, size and limit of the ``tillmesh`` command and the daemon, with its unit
and the reason for it. The login defaults of ``tillmesh.toml`` are the rules' own
(``tillmesh.node.domain.const``)."""

from __future__ import annotations

# --- the daemon ---------------------------------------------------------------------------

# Requests handled at once. A call runs to completion before the next one starts (the
# store has one writer); the workers only overlap in waiting for the shared fsync.
API_WORKERS = 8
REPLICATION_PORT = 7610  # TCP port peers reach a counter on (``listen``)
JOIN_PORT = 7611  # TCP port a new counter presents its invite code on (``join_listen``)
# Seconds a thread running Python keeps the interpreter while another waits for it
# (Python's default: 0.005). Each SQLite statement of a cashier's call lets go of it, and
# a busy thread of the counter (an ERPNext pull reading its pages, the printer's) could
# then keep it for the whole interval, each time: a whole sale during a pull took a
# median 38 ms with the default, 22 ms with this (tests/bench/erpnext_pull).
SWITCH_INTERVAL_S = 0.0005

# --- tillmesh.toml ------------------------------------------------------------------------

RECEIPT_WIDTHS = (32, 42, 48)  # characters per line: 58 mm paper, 80 mm font A, 80 mm font B
MAX_PRINTER_TIMEOUT_S = 60  # seconds; longer only hides a dead printer from the cashier
MAX_CLOCK_AHEAD_S = 60  # seconds a peer's event may be stamped ahead of this counter's clock:
#   NTP keeps tills within a second; a minute forgives a till that lost its time source
REFUSED_STOP_S = 60  # seconds every other counter must go on refusing this one's key before
#   it stops selling: by then it was revoked (or never let in), and what it sells could
#   never reach the store; a peer that has not yet heard of a new counter lets it in sooner
REFUSED_STOP_LIMIT_S = 3600  # the longest a store may let a refused counter sell on
MAX_CLOCK_AHEAD_LIMIT_S = 3600  # the most a store may allow: beyond an hour a stamp is wrong

# --- commands -----------------------------------------------------------------------------

API_TIMEOUT_S = 10.0  # seconds a scripted call (`tillmesh api`, `tillmesh erpnext pull`, …)
#                       waits for the running node; a long pull itself runs in the background
PING_TIMEOUT_S = 0.5  # seconds; enough for a live node on the same machine to answer
PEERS_TIMEOUT_S = 4 * PING_TIMEOUT_S  # seconds `tillmesh status` waits for the peer list
BOOTSTRAP_TIMEOUT_S = 300.0  # seconds; a 100,000-item store arrives in well under a minute
BOOTSTRAP_POLL_S = 0.1  # seconds between looks at a joining counter's progress
PROGRESS_BAR_CHARS = 30  # characters of the `tillmesh join` progress bar
PROGRESS_STEP = 0.01  # share of the whole between two redraws of that bar (every 1 %)
CLUSTER_ID_BYTES = 6  # random bytes, 12 hex characters: unique among a retailer's stores
DEMO_STOCK = 40  # units (or kg) of every demo item in the demo warehouse
SIMULATOR_PORT = 8765  # TCP port of the ERPNext simulator `tillmesh demo` starts
