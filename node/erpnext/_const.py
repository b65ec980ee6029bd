"""Every timing, size and limit of the ERPNext link, with its unit and the reason for it."""

from __future__ import annotations

# --- HTTP client -----------------------------------------------------------------------
CONNECT_TIMEOUT_S = 5.0  # a server on the LAN or the internet accepts within this or is down
# A list page of 2,000 items or a POS Closing Entry of 9 invoices (consolidated in the
# request, ~1.3 s measured) answers well within this; longer means a hung worker.
READ_TIMEOUT_S = 30.0
WRITE_TIMEOUT_S = 30.0  # sending a request body of a few hundred kB
POOL_TIMEOUT_S = 5.0  # waiting for a free connection of our own pool
MAX_ATTEMPTS = 5  # tries of one request (network error, 5xx, 429) before giving up
BACKOFF_BASE_S = 0.5  # first retry waits up to this (full jitter: uniform 0..cap)
BACKOFF_CAP_S = 8.0  # no single wait grows beyond this; 5 tries give up within ~15 s
# A Retry-After longer than this is not waited for inside one call: the call fails with
# ErpNextServerError (``retry_after`` in its details) and the caller schedules the retry.
MAX_RETRY_AFTER_S = 60.0
ERROR_TEXT_CHARS = 300  # of a non-Frappe error page (a proxy's HTML) kept in a message
USER_AGENT = "tillmesh-erpnext/1"

# --- master-data pull ------------------------------------------------------------------
# Rows per list request: 20 requests for 100,000 items, ~1.5 MB of JSON each, answered by
# ERPNext well within READ_TIMEOUT_S. Child rows are a few short fields (~100 bytes).
PAGE_LENGTH = 5000
CHILD_PAGE_LENGTH = 10_000
# Child rows are read per batch of parents with a `parent in (...)` filter while the
# delta is small; a bigger delta (a first pull) scans the child table in pages instead.
CHILD_IN_URL_CHARS = 4000  # of parent names per `in` filter: proxies refuse URLs over 8 kB
CHILD_SCAN_THRESHOLD = 2000  # changed parents above which the whole child table is paged
# Each pull starts this long before the stored watermark. `modified` is set when a save
# starts, not when it commits, so a long transaction can commit a doc older than one we
# have already seen; and `modified` is site-local wall time, which repeats an hour when
# daylight saving time ends. Docs seen again are not re-emitted (same `modified`).
OVERLAP_MINUTES = 70
EVENTS_PER_TRANSACTION = 2000  # events per store transaction: ~0.2 s of writing each
BIN_ITEMS_PER_EVENT = 5000  # items per stock.base body: ~150 kB, far below the 1 MiB bound
# Bin is read between two readings of the consolidated shifts; if they differ a POS
# Closing Entry consolidated meanwhile, and the read is repeated up to this many times.
BIN_READ_ATTEMPTS = 3
MAX_NAME_CHARS = 140  # Frappe's varchar(140) for `name`: longer is not an ERPNext name
PROGRESS_EVERY_S = 0.5  # seconds between progress lines of `tillmesh erpnext pull`
# A store step of a pull in the daemon (a transaction of EVENTS_PER_TRANSACTION events)
# waits behind the requests already queued on the loop; far longer means a hung node.
STORE_STEP_TIMEOUT_S = 120.0

# --- setup -----------------------------------------------------------------------------
SETTINGS_FILE = "erpnext.toml"  # in the node's secrets directory, mode 0600
