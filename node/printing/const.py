"""Timings, sizes and limits of printing, each with its unit and the reason for it."""

from __future__ import annotations

# --- layout -----------------------------------------------------------------------------

MIN_WIDTH = 24  # characters; the narrowest line a label and an amount still share
AMOUNT_GAP = 1  # spaces at least between a label and its right-aligned amount
BIG_FACTOR = 2  # double-size text takes two columns per character
INDENT = "  "  # under an item's name: its quantity, price and discount lines
RULE = "-"  # the separator character, drawn across the whole width
# The VAT per rate under the total: the rate's column, then three amount columns that
# share the rest of the width equally.
VAT_HEADINGS = ("VAT", "Net", "Tax", "Gross")

# --- the queue --------------------------------------------------------------------------

SPOOL_DIR = "print-spool"  # under the data directory: pending receipts survive a restart
# A receipt names the customer, the items and the amounts: the spool is sealed with a
# key of its own, derived from the database key for this one use (never that key itself).
SPOOL_KEY_CONTEXT = b"tillmesh print spool v1"
SPOOL_MAGIC = b"TMSPOOL1"  # starts a sealed spool file; anything else is not one
SEALED = ".job"  # a sealed pending receipt
LEGACY = ".json"  # a plain one, spooled by a release before the seal: read once
SPOOL_DIR_MODE = 0o700  # set explicitly: a umask must not open the spool to others
SPOOL_FILE_MODE = 0o600
RETRY_FIRST_S = 1.0  # seconds to the first retry: a printer just switched on needs ~1 s
RETRY_MAX_S = 60.0  # seconds; longest wait between tries, so a fixed printer prints soon
RETRY_FACTOR = 2.0  # backoff growth per failed try
IDLE_WAIT_S = 30.0  # seconds an idle worker sleeps before it looks again (no busy loop)
# A job may take one connect, one status query and one write, each bounded by the
# configured timeout; past this many timeouts the driver is stuck, not slow.
ATTEMPT_TIMEOUTS = 3
# Seconds a drawer kick may wait for the printer: later, the customer has gone and a
# drawer springing open unattended is a loss, so the kick is dropped (and reported).
KICK_MAX_AGE_S = 15.0
# Seconds after which a sale of this counter is not printed or kicked automatically:
# such an event is this counter's own history coming back from peers (after a restore),
# not a customer at the till.
AUTO_PRINT_MAX_AGE_S = 300.0
# Pending jobs kept at most; past it the oldest receipt is dropped (the sale itself is in
# the event log and `receipt_print` prints it again), so a printer that stays off all
# week cannot fill the disk.
MAX_PENDING_JOBS = 500
PAPER_KEPT = 50  # jobs a "dummy" printer keeps in memory (tests, demo)
DROPS_KEPT = 20  # jobs given up on that the status lists, so the UI can say which
CLOSE_TIMEOUT_S = 5.0  # seconds to let a job in flight finish at shutdown
# Seconds the printer helper process may take to start (Python, python-escpos, PIL: about
# 0.4 s here); a try waits this much longer than the printer's own timeouts allow.
HELPER_START_S = 10.0
MAX_FRAME_BYTES = 16 * 1024 * 1024  # bytes; a frame from the helper is a short answer

# --- ESC/POS ----------------------------------------------------------------------------

QR_DOT_SIZE = 6  # dots per QR module: ~25 mm for an invoice number, easy for a phone
LOGO_MAX_PX = (384, 240)  # width, height in dots when the profile does not say: 58 mm
MS_PER_S = 1000  # pyusb takes its timeout in milliseconds
