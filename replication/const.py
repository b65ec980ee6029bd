"""Every timing, size and limit of replication, with its unit and the reason for it.

Times are milliseconds of the wall clock the node passes in (``now_ms``); sizes are bytes
or counts. The wire bounds are part of the protocol: a peer that exceeds one is refused
message by message, so changing one that shrinks is a protocol version change.
"""

from __future__ import annotations

# --- protocol versions ------------------------------------------------------------------

PROTOCOL_VERSION = 5  # the wire format this code speaks (2: Vector says whether the
#                       sender reaches ERPNext, for the forwarder's election; 3: and
#                       whether it forwards now, so two forwarders see each other; and
#                       ReturnAsk / ReturnAnswer, so a sale is refunded at most once;
#                       4: every event carries its origin's signature; 5: Hello says the
#                       sender's release and store schema, so every counter shows what
#                       each of the others runs; and SaleAsk / SaleAnswer, so a counter
#                       that does not hold a sale gets it from the counter that made it)
SIGNED_PROTOCOL_VERSION = 4  # the first version whose events carry a signature
RELEASE_PROTOCOL_VERSION = 5  # the first version whose Hello says release and schema
ASK_PROTOCOL_VERSION = 3  # the first version that answers a ReturnAsk: an older peer drops
#                       the frame unread, so it is never asked (it counts as unreachable)
SALE_PROTOCOL_VERSION = 5  # the first version that answers a SaleAsk (likewise never
#                       sent to an older peer). 5 had not reached a store when SaleAsk joined
#                       it (the last release speaks 4), so it needed no version of its own,
#                       which would have cut this release off from that one (VERSION_WINDOW)
FIRST_PROTOCOL_VERSION = 1  # no peer can speak an older one: version 0 never existed
VERSION_WINDOW = 1  # talk to peers this many versions older or newer (staged rollouts)
MAX_VERSION_NUMBER = 2**16 - 1  # a version field above this is garbage, not a future release

# --- wire bounds (so a malicious or broken LAN peer cannot make us allocate without end) ---

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # bytes per frame; 1000 typical events are ~1-2 MiB
MAX_BATCH_EVENTS = 1000  # events per Events message and per Pull span: one SQLite
#                          transaction of this size applies in well under a second
MAX_EVENT_BODY_BYTES = 1024 * 1024  # bytes of one event body; a shift.closed listing a
#                          thousand invoices is ~50 KiB, so 1 MiB leaves room and still
#                          lets ANSWER_BUDGET_BYTES hold at least one event
EVENT_OVERHEAD_BYTES = 256  # upper bound of an event's msgpack size besides its body
#                          (ids, three int64s, the kind, two hashes and the headers)
ENVELOPE_BYTES = 64 * 1024  # headroom for the message header and the batch array header
ANSWER_BUDGET_BYTES = MAX_MESSAGE_BYTES - ENVELOPE_BYTES  # events of one answer, in bytes
MAX_ORIGINS = 1024  # entries of a version vector: every counter a store ever enrolled;
#                     a real store has tens, this only stops a hostile 10^6-entry map
MAX_CONTAINERS = MAX_BATCH_EVENTS + 16  # arrays and maps in one frame (a full Events has
#                     1002): nested empty arrays cost 64 bytes of memory per byte of frame
MAX_KIND_CHARS = 64  # characters of an event kind such as "forward.resolved"
MAX_CLUSTER_CHARS = 64  # characters of a cluster id
MAX_REASON_CHARS = 512  # characters of a Bye reason (a log line, not a document)
MAX_STR_BYTES = 4 * MAX_REASON_CHARS  # longest UTF-8 string any message holds
MAX_NAME_CHARS = 140  # characters of an invoice or row name in a ReturnAsk: ERPNext's own
#                       limit for a document name
MAX_ASK_ID_CHARS = 64  # characters of a ReturnAsk's id (the asker's id and a random part)
MAX_ASK_ROWS = 500  # rows of one ReturnAsk: a cart of a few hundred lines, returned whole
MAX_RELEASE_CHARS = 64  # characters of a release such as 0.2.0 or 1.4.0rc1+deb12 in a Hello
SIGNATURE_BYTES = 64  # an Ed25519 signature (empty: an event recorded before signatures)
MAX_INT64 = 2**63 - 1  # seq, hlc, wall times: SQLite INTEGER is a signed 64-bit value

# --- timings (milliseconds) ---------------------------------------------------------------

HEARTBEAT_MS = 1_000  # a Vector to every peer at least this often: it is also how a peer
#                       learns that it is behind when a push was lost
RELAY_VECTOR_MS = 50  # at most one Vector per peer this often after receiving events:
#                       lets a peer pull through us (relay) without a Vector per push
HELLO_RETRY_MS = 1_000  # resend Hello to a peer that has not answered it (lost frames)
PULL_TIMEOUT_MS = 5_000  # an unanswered Pull is given up and asked again, from another
#                          peer if one has the range; a 1000-event answer takes ~100 ms
REGREET_MS = 30_000  # a refused peer (or one that said Bye) is greeted again this often:
#                     it may have been upgraded or reconfigured without reconnecting
HISTORY_BATCH_EVENTS = 250  # events per Pull of history (a counter joined from a checkpoint
#                          fetching what came before it): each answer is stored in one
#                          transaction on the node's loop, so a sale never waits long behind one
HISTORY_RETRY_MS = 60_000  # a peer that did not serve an origin's history (it joined from
#                          a checkpoint too, or lost its archive) is asked again this late
SUSPECT_MS = 10_000  # after a Pull to a peer timed out, ask others first for this long
ELECTION_SETTLE_MS = 3_000  # a counter that just started hears the store's Vectors this
#   long (three heartbeats) before it may take the forwarder's role: a restarted counter
#   must not take it from one that forwards already
ASK_TIMEOUT_MS = 2_000  # a ReturnAsk without an answer is given up after this long: the
#   owner answers in one round trip and one group commit (a few ms on a LAN), and 2 s is
#   what a customer at the till can wait before the cashier is told it did not answer
PEER_TIMEOUT_MS = 5_000  # a peer silent this long (five heartbeats) is shown as not live
#                          and no longer asked for ranges until it is heard again

# --- flow control -------------------------------------------------------------------------

MAX_INFLIGHT_PULLS = 4  # origins pulled from one peer at once: keeps a catching-up node
#                         from flooding one peer while still fetching several origins
MAX_PULLS_PER_ORIGIN = 4  # consecutive batches of one origin asked at once: a new counter
#                           pulling 200,000 events is not paced by 200 round trips
