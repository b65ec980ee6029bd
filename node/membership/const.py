"""Every timing, size and limit of joining the store and replicating, with its unit and
the reason for it (the replication protocol's own are in ``tillmesh.replication.const``)."""

from __future__ import annotations

# --- invite codes -------------------------------------------------------------------------

INVITE_SECRET_BYTES = 16  # bytes; a 128-bit one-time secret
INVITE_DEFAULT_MINUTES = 15  # minutes a code is valid when the admin names no time: long
#                              enough to walk to the new counter and type it
INVITE_MAX_MINUTES = 24 * 60  # minutes; a code lying around for days is a leaked code
SHORT_TOKEN_BYTES = 5  # bytes; the secret half of a short code (40 bits): guessed only
#   online, at the inviting counter, SHORT_MISSES_ALLOWED times at most
SHORT_TAG_BYTES = 5  # bytes; the half that names the inviting counter's key (40 bits)
SHORT_MISSES_ALLOWED = 10  # wrong short codes a counter takes before its open short codes
#   stop working (the full code still works): a guesser's odds stay below 1 in 10^11
FIND_INVITER_S = 10.0  # seconds a joining counter listens on mDNS for the counter its
#   short code names; a live counter answers a query within a second or two

# --- the join handshake -------------------------------------------------------------------

MAX_JOIN_REQUEST_BYTES = 4096  # bytes; a join request is a few hundred bytes: a bigger
#   one is refused (and logged) unread
MAX_JOIN_RECEIVE_BYTES = 64 * 1024  # bytes; libzmq cuts the connection of a sender above
#   this, so the listener never buffers a huge frame (nor sees it: nothing to log)
MAX_CLUSTER_CHARS = 64  # characters of a cluster id; `init` makes 12 (hex)
MAX_ENDPOINT_CHARS = 200  # characters of the endpoint a joining counter reports (a hint)
JOIN_HANDSHAKE_S = 5.0  # seconds a connection to the join port may take for its CurveZMQ
#   handshake before libzmq drops it: a LAN handshake takes ms, a half-open connection
#   would otherwise hold a file descriptor of the node for 30 s (libzmq's default)
JOIN_REQUEST_SPACING_S = 0.02  # seconds at least between two join requests handled: an
#   honest join sends one enrolment and a few snapshot parts, while a flood costs the
#   node's event loop at most ~1 % (a request takes ~0.2 ms) and a guesser gets at most
#   50 answers a second (a 128-bit secret valid for minutes: hopeless either way)
JOIN_TIMEOUT_S = 10.0  # seconds; the inviting counter answers in milliseconds when reachable
SNAPSHOT_FIRST_TIMEOUT_S = 300.0  # seconds; the first answer waits for the export of a big store

# --- the replication loop -----------------------------------------------------------------

TICK_S = 0.05  # seconds; how often the engine's timers run (heartbeats, pull timeouts)
PULL_EVENTS = 50  # events asked of a peer at once, and pushed or served in one message
#   (the protocol allows 1000): a counter catching up applies such a run in one go, on
#   the loop that answers its cashier: 1,000 one-line sales held it ~0.3 s, 50 ~15-30 ms
DRAIN_SLICE_S = 0.010  # seconds of applying what peers sent before the drain commits it
#   and lets the cashier's calls go first (``ApiServer.lull``), when more is waiting
STORE_FAILURE_LOG_S = 60.0  # seconds between log lines of a store that fails every drain
#   (a full disk), or of a replication tick that fails every tick: once a minute, with
#   how often, not one line per drain or tick
REDIAL_S = 5.0  # seconds; how often members we are not connected to are dialled afresh
PARTING_S = 30.0  # seconds a counter revoked while linked here is still heard and served,
#   until it holds its revocation: the push that tells it can be lost (its link down a
#   moment, a gap before it), and once cut off it can never ask for it again
REDIAL_HEARD_S = 1.0  # seconds; a member that talks to us while our link to it is down is
#   dialled afresh at once, but not again within this (a handshake on a LAN takes ms)
ASK_WAIT_MARGIN_S = 1.0  # seconds a return waits for the sale's counter beyond the
#   replication engine's ASK_TIMEOUT_MS, after which the engine settles every ask itself:
#   this bound only keeps a wait whose settling was lost (a stopped replication loop)
#   from holding an API worker for good

# --- where this counter stands (``standing``) -----------------------------------------------

CUT_OFF_S = 30.0  # seconds without hearing any other counter, while some are known, before
#   this one says it is cut off: a peer's restart or a LAN hiccup (a few seconds) must not
#   flash a banner at the cashier, half a minute is an outage worth telling
