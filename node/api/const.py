"""The local API's limits and timings, each with its unit and reason."""

from __future__ import annotations

import re

PROTOCOL_VERSION = 1  # bumped on any incompatible change of the maps below
MAX_REQUEST_BYTES = 64 << 10  # bytes; the largest honest request (a sale or return of
#   MAX_CART_LINES lines) is ~20-30 KiB, and decoding is ~1 us a msgpack value, in C that
#   holds the GIL: 64 KiB bound it to ~25 ms, where 1 MiB of empty arrays took 0.7 s
MAX_RECEIVE_BYTES = 16 << 20  # bytes; libzmq drops the connection above this, so a
#   runaway client cannot make the node buffer unbounded memory; between the two limits
#   the client gets a clear MalformedRequest instead
INLINE_DECODE_BYTES = 8 << 10  # bytes; a request up to this size is decoded on the event
#   loop (~1 us a msgpack value: a few ms at most, and every request of the app is
#   smaller), a bigger one in a thread (a sale of hundreds of lines is tens of KiB)
MAX_REPLY_BYTES = 16 << 20  # bytes; a result larger than this is a node bug (unpaged list)
MAX_REQUEST_ID = (1 << 63) - 1  # ids fit a signed 64-bit int in every msgpack library
MAX_TOKEN_CHARS = 512  # characters; session tokens are ~43 (32 random bytes, base64)
MAX_PARAMS_DEPTH = 32  # nesting levels; real params are <= 4 deep, and the check recurses
MAX_QUEUED_REQUESTS = 1000  # requests; a till has a handful of clients, a full queue means
#   the node is stuck, and answering "busy" at once beats growing memory
SLOW_HANDLER_S = 1.0  # seconds; a handler slower than this is logged (it delays the queue)
DEFAULT_TIMEOUT_S = 5.0  # seconds a client waits for an answer; the node answers in ms, so
#   5 s means it is down or hung
UNKNOWN_FIELDS_CHARS = 200  # characters of unknown request fields quoted in an error:
#   enough to spot a typo, bounded for a request that sends thousands

# --- what the methods accept and answer (search and audit defaults: projections.const) ---
DEFAULT_INVOICE_ROWS = 50  # invoices of `invoice_list` when the caller names no limit
MAX_SEARCH_HITS = 200  # items one search may ask for; more is paging nobody reads
MAX_LIST_ROWS = 1000  # rows one `invoice_list` or `audit_list` may ask for (bounds a reply)
MAX_REASON = 140  # characters of a cash movement or drawer-open reason (a receipt line,
#   not an essay)
MAX_HOLD_NOTE = 140  # characters of a held cart's note: a label on the list of held carts
MAX_NOTE = 500  # characters of a resolution note of the exceptions queue
CART_ID_BYTES = 8  # random bytes of a cart id (16 hex characters): unique among a
#   counter's open carts
LOOP_SLICE_LINES = 25  # cart lines one stretch of the event loop may look up or price:
#   ~0.2 ms a line on a busy 2-core till, so ~5 ms, which replication and the other tills
#   do not notice; a bigger cart is looked up in slices with the loop free in between and
#   priced in the pricing thread (the store itself is written on the loop only)

METHOD_RE = re.compile(r"[a-z_][a-z0-9_.]{0,63}")

# --- returns agreed with the sale's counter (returns.py, _agreement.py) -------------------
ASK_ID_BYTES = 8  # random bytes of a ReturnAsk's id (16 hex characters after the counter's
#   id): unique among the asks of every counter of a store
PROMISE_MINUTES = 5  # minutes after which a sale's counter may free rows promised to a
#   return on another counter when no return names the promise: that counter records its
#   return at once (milliseconds), so this frees rows whose return never came (the
#   asking counter stopped, or its answer was lost and it was not asked again), and only
#   once the sale's counter holds an event the asking counter recorded after that time
#   (or it was revoked): one cut off right after the promise may have refunded it, and a
#   second refund would follow (``refunds.reserved``)

# --- the customer display (display.py) -----------------------------------------------------
DISPLAY_LINES = 12  # the cart's last lines one answer carries: a customer display fits
#   ~9 lines large enough to read from 1.5 m, and a 500-line cart's answer stays small
DISPLAY_SALE_LOOKBACK = 64  # own events looked through for a sale just recorded: between
#   two polls of a display (~0.15 s) a counter records a sale and a few audit events; a
#   display that was away longer shows no stale sale
DISPLAY_VERSION_CHARS = 64  # characters of `since`; a version is "<seq>-<16 hex>-<16 hex>"
TENDER_DIGEST_BYTES = 8  # bytes of a tender draft's digest in a display's version: tells a
#   poller the draft changed (as CART_DIGEST_BYTES does for the cart)
MAX_TENDER_DRAFTS = 8  # carts whose typed tender the node keeps in memory (one a cart, for
#   the display): a counter takes one payment at a time; a draft whose cart went another way
#   (an app that stopped mid-payment) is forgotten, oldest first, beyond this
