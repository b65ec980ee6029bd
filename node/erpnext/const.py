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
# Refusals that say two requests saved one document at once, rolled back and worth
# trying again: two sales naming one coupon, delivered side by side, both save the
# Coupon Code's count (recorded on ERPNext 15.71: coupon-cases.json "concurrent").
RETRIED_CONFLICTS = frozenset({"TimestampMismatchError"})
ERROR_TEXT_CHARS = 300  # of a non-Frappe error page (a proxy's HTML) kept in a message
USER_AGENT = "tillmesh-erpnext/1"

# --- what one ERPNext may cost the counter (a hostile or broken one included) ----------
# Bytes of one answer, read as it streams and never further: the largest real answer is
# a list page of PAGE_LENGTH items (~1.5 MB of JSON; ~4 MB were every name 140
# characters), so 16 MiB is four times the worst page, while an answer of 300 MB once
# took a counter to 1.67 GB. Counted after gzip is undone; a broken answer costs at most
# this, its parsed rows a few times more.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
# Seconds one call of the client may take, every try, wait and byte of the answer
# included: a page of 5,000 items answers in seconds and a POS Closing Entry
# consolidated in the request in ~1.3 s, while READ_TIMEOUT_S alone bounds only the
# silence between two reads (a byte every 20 s once kept a pull running for minutes).
REQUEST_DEADLINE_S = 120.0
# Seconds one master-data pull may take: a first pull of 100,000 items with prices and
# barcodes (about 60 list pages) took ~47 s (README, Benchmarks); fifteen minutes leaves
# a slow site and link many times that, and a pull still running then is stuck. It ends
# as failed, and the next one resumes from the doctypes already written.
PULL_DEADLINE_S = 900.0

# --- master-data pull ------------------------------------------------------------------
# Rows per list request: 20 requests for 100,000 items, ~1.5 MB of JSON each, answered by
# ERPNext well within READ_TIMEOUT_S. Child rows are a few short fields (~100 bytes).
PAGE_LENGTH = 5000
CHILD_PAGE_LENGTH = 10_000
# Child rows are read per batch of parents with a `parent in (...)` filter while the
# delta is small; a bigger delta (a first pull) scans the child table in pages instead.
# A stock gunicorn (ERPNext's web server) refuses a request line over 4,094 bytes with a
# bare 400, before Frappe sees it; every GET stays under this, with a margin.
MAX_REQUEST_LINE_BYTES = 4000
# Room kept for the keyset filter each page adds to a list request: a name of up to 140
# characters, URL-encoded (up to 9 bytes each as UTF-8), with its operator.
PAGING_FILTER_RESERVE_BYTES = 1300
CHILD_SCAN_THRESHOLD = 2000  # changed parents above which the whole child table is paged
# Each pull starts this long before the stored watermark. `modified` is set when a save
# starts, not when it commits, so a long transaction can commit a doc older than one we
# have already seen; and `modified` is site-local wall time, which repeats an hour when
# daylight saving time ends. Docs seen again are not re-emitted (same `modified`).
OVERLAP_MINUTES = 70
EVENTS_PER_TRANSACTION = 2000  # events per store transaction: ~0.2 s of writing each
# On a running counter each transaction of a pull holds the event loop, and every call of
# a cashier waits behind the one running: 2000 events held it ~0.3 s, and a sale of 7
# calls took up to 2 s while 100,000 items were pulled; 100 hold it ~15 ms.
EVENTS_PER_STEP_ON_LOOP = 100
# Each of those steps, and each the forwarder takes on the loop (reading what is due,
# recording what ERPNext answered), first waits for the cashier (``ApiServer.lull``):
# until no call was answered for this long (a sale's next call comes within a
# millisecond or two) ...
LULL_QUIET_S = 0.003
# ... but never longer than this, so that a till selling back to back still lets the
# pull and the forwarder work (the pull wrote about two thirds of the time).
LULL_WAITS_AT_MOST_S = 0.010
BIN_ITEMS_PER_EVENT = 5000  # items per stock.base body: ~150 kB, far below the 1 MiB bound
# Bin is read between two readings of the consolidated shifts; if they differ a POS
# Closing Entry consolidated meanwhile, and the read is repeated up to this many times.
BIN_READ_ATTEMPTS = 3
PROGRESS_EVERY_S = 0.5  # seconds between progress lines of `tillmesh erpnext pull`
# A store step of a pull in the daemon (a transaction of EVENTS_PER_TRANSACTION events)
# waits behind the requests already queued on the loop; far longer means a hung node.
STORE_STEP_TIMEOUT_S = 120.0

# --- the forwarder ---------------------------------------------------------------------
FORWARD_BATCH = 50  # documents per cycle: the plan is read again after each batch
FORWARD_IN_FLIGHT = 4  # requests at once: a real ERPNext 15 (4 web workers) takes about
#                        twice the invoices/s it takes one at a time (tests/bench)
FORWARD_CYCLE_S = 30.0  # seconds a cycle goes on planning more while still elected: the
#                         forwarder's pull and its look at the election come between cycles
RECORD_SLICE = 10  # documents whose outcome one transaction records (~0.2 ms each): the
#                   requests of the till run between slices
FORWARD_IDLE_S = 1.0  # seconds between cycles with nothing to send (or while not elected)
FORWARD_BACKOFF_S = (2.0, 5.0, 15.0, 30.0, 60.0)  # seconds to wait after ERPNext was
#                     unreachable, by attempt (the last one repeats)
CLOSING_RECHECK_S = 2.0  # seconds; a Queued consolidation is looked at again this often
PULL_EVERY_S = 300.0  # seconds; master data and stock are pulled this often by the forwarder
RELEASE_RECHECK_S = 600.0  # seconds; the forwarder asks the site's release this often
PROBE_EVERY_S = 15.0  # seconds; a standby counter checks it still reaches ERPNext this often:
#                       every counter calling every second would be a load of its own

# --- commands --------------------------------------------------------------------------
STATUS_TIMEOUT_S = 5.0  # seconds; `status` asks ERPNext once, briefly: reachable or not
MAX_REPORTED_ERRORS = 20  # messages kept in a pull's report; the counts are complete

# --- setup -----------------------------------------------------------------------------
SETTINGS_FILE = "erpnext.toml"  # in the node's secrets directory, mode 0600
# How sales reach ERPNext (``delivery`` in erpnext.toml, ``erpnext setup --delivery``): a POS
# Invoice per sale and a POS Closing Entry per shift (ERPNext's own POS flow), or one
# consolidated Sales Invoice (and credit note) per shift and customer (``_per_shift``).
PER_SALE, PER_SHIFT = "per-sale", "per-shift"
DELIVERIES = (PER_SALE, PER_SHIFT)
