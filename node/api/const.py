"""The local API's limits and timings, each with its unit and reason."""

from __future__ import annotations

import re

PROTOCOL_VERSION = 1  # bumped on any incompatible change of the maps below
MAX_REQUEST_BYTES = 1 << 20  # bytes; the largest honest request (a cart of a few hundred
#   lines with payments) is a few KiB, so 1 MiB is generous yet bounds decode work
MAX_RECEIVE_BYTES = 16 << 20  # bytes; libzmq drops the connection above this, so a
#   runaway client cannot make the node buffer unbounded memory; between the two limits
#   the client gets a clear MalformedRequest instead
MAX_REPLY_BYTES = 16 << 20  # bytes; a result larger than this is a node bug (unpaged list)
MAX_REQUEST_ID = (1 << 63) - 1  # ids fit a signed 64-bit int in every msgpack library
MAX_TOKEN_CHARS = 512  # characters; session tokens are ~43 (32 random bytes, base64)
MAX_PARAMS_DEPTH = 32  # nesting levels; real params are <= 4 deep, and the check recurses
MAX_QUEUED_REQUESTS = 1000  # requests; a till has a handful of clients, a full queue means
#   the node is stuck, and answering "busy" at once beats growing memory
SLOW_HANDLER_S = 1.0  # seconds; a handler slower than this is logged (it delays the queue)
METHOD_RE = re.compile(r"[a-z_][a-z0-9_.]{0,63}")
