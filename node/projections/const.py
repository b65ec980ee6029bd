"""Every size and limit of the projections, with its unit and the reason for it.

The page sizes are also the local API's defaults (``search_items``, ``audit_list``):
its methods and its client take them from here.
"""

from __future__ import annotations

# --- the catalog's search -----------------------------------------------------------------

# FTS5 writes its in-memory index out to disk whenever a row comes with a lower rowid than
# the one before (ids are hashes: half the time) or another statement opens a savepoint.
# Written one by one, search rows cost 3x more: they are queued in the session and written
# sorted by id, in batches and before every commit.
FTS_BATCH = 5000  # search rows queued before they are written
SEARCH_WINDOW = 50  # candidates ranked per query: bounds the work of "b" over 100k items
MAX_SEARCH_WORDS = 6  # words of a query used; more only cost time
MAX_SEARCH_CHARS = 100  # characters; longer input is not something a cashier typed
MIN_BARCODE_PREFIX = 4  # digits typed before barcodes are searched by prefix
DEFAULT_SEARCH_HITS = 20  # hits of an item or customer search when the caller names no
#                           limit: a screenful, the cashier types on rather than scrolls

# --- the stock counters -------------------------------------------------------------------

# A run of sales and returns (a rebuild, a peer's batch) adds its stock moves up per
# (item, warehouse, counter, slot) and writes each sum once: 4 statements per run instead
# of 4 per sale. At most this many sums are held before they are written.
STOCK_MOVES_HELD = 5000  # (item, warehouse, counter, slot) sums, a few hundred KiB

# --- lists --------------------------------------------------------------------------------

DEFAULT_AUDIT_ROWS = 100  # entries of the audit trail (newest first) when the caller names
#                           no limit: a reply of a few KiB
