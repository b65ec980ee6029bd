"""Every timing, size and limit of the local store, with its unit and the reason for it."""

from __future__ import annotations

# --- the database -------------------------------------------------------------------------

KEY_BYTES = 32  # bytes; AES-256 raw key, no passphrase derivation needed (the file is
#                 the secret)
BUSY_TIMEOUT_MS = 5000  # ms; a CLI reading while the node writes waits this long, then fails
CACHE_KIB = 65536  # KiB (64 MiB) of page cache: a 100,000-item catalog stays in memory
# Prepared statements a connection keeps. The driver's 128 are fewer than a counter's
# statements: once full, it keeps its most used ones for good and prepares every other
# one again at each use (a rebuild ran at half speed, tests/bench: 5,200 against 10,400
# events/s on 20,000 events).
STATEMENT_CACHE = 1024

# --- the event log ------------------------------------------------------------------------

MAX_DRIFT_MS = 60_000  # ms; a peer's stamp further ahead than this is not followed (bad clock)
REBUILD_BATCH = 5000  # events read per query during rebuild (bounded memory)

# --- snapshots for a joining counter ------------------------------------------------------

CHUNK_BYTES = 4 * 1024 * 1024  # bytes per answer: a 300 MB store is 75 round trips
TICKET_S = 600  # seconds a snapshot is served after the enrolment that asked for it
TICKET_BYTES = 16  # random bytes of a ticket: unguessable, like the invite secret

# --- carts --------------------------------------------------------------------------------

CART_DIGEST_BYTES = 8  # bytes of a cart's content digest (cart_store.newest_open): tells a
#   cart's versions apart for a poller, not a seal against anyone
FULL_BELOW_BYTES = 1024 * 1024  # a disk with less free is full: SQLite grows files by pages
SQLITE_FULL = 13  # SQLite's result code for "database or disk is full" (sqlite3.h)

# --- the WAL (``wal``) --------------------------------------------------------------------

WAL_LOOK_EVERY_S = 0.2  # seconds between looks at the WAL: a checkpoint copies at most
#   what was written meanwhile (a pull writes ~5 MB a second)
WAL_BACKSTOP_PAGES = 10_000  # pages (40 MB) past which the writer checkpoints itself, as
#   SQLite does at 1,000 pages: only if the WAL thread fell behind or failed
SQLITE_AUTOCHECKPOINT_PAGES = 1000  # SQLite's own default
WAL_CHECKPOINT_CACHE_KIB = 256  # KiB of page cache for the WAL thread's connection
# KiB of page cache for a reader's connection (``reader``): what one read reads again. In
# WAL mode a connection drops its cache whenever another wrote, so a bigger one would
# only hold memory between reads at a counter that sells.
READER_CACHE_KIB = 8192
