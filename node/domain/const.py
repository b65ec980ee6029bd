"""Every limit and default of the counter's rules, with its unit and the reason for it.

The login defaults (``LOCKOUT_*``, ``IDLE_LOCK_MINUTES``, ``SESSION_HOURS``,
``PIN_MIN_DIGITS_SUPERVISOR``) are defined
here once: ``tillmesh.toml`` (``node.ops.config``) takes its defaults from them, and so do
:class:`~tillmesh.node.domain.credentials.LockoutPolicy` and ``SessionBook``.
"""

from __future__ import annotations

from decimal import Decimal

# --- hashing PINs and passwords (credentials) ---------------------------------------------

# argon2id at the OWASP minimum (19 MiB, 2 passes, 1 lane): verify takes a median of
# ~19 ms on the 2-core dev machine, so a login stays instant on a till while a stolen
# hash still costs an attacker 19 MiB of memory per guess.
ARGON2_TIME_COST = 2  # passes over memory; OWASP minimum for 19 MiB
ARGON2_MEMORY_COST = 19456  # KiB (19 MiB); OWASP minimum for argon2id
ARGON2_PARALLELISM = 1  # lanes; one core, the till keeps serving while someone logs in
ARGON2_HASH_LEN = 32  # bytes; 256-bit tag
ARGON2_SALT_LEN = 16  # bytes; 128-bit random salt, RFC 9106 recommendation
# Hashes replicate from peers: refuse parameters that would let one peer make every
# login on every node slow or exhaust memory (~64 MiB / ~1 s at most per verify).
MAX_HASH_CHARS = 256  # characters of an encoded hash; ours are ~100
MAX_MEMORY_COST = 65536  # KiB (64 MiB); the RFC 9106 low-memory profile
MAX_TIME_COST = 10  # passes
MAX_PARALLELISM = 8  # lanes

PIN_MIN_DIGITS = 4  # digits; a 4-digit PIN plus lockout is the usual till standard
PIN_MIN_DIGITS_SUPERVISOR = 6  # digits; a supervisor's or admin's PIN approves and
#   administers: a million guesses, not ten thousand, against the store-wide lockout
PIN_MAX_DIGITS = 12  # digits; longer is a password, not something typed on a PIN pad
PASSWORD_MIN_CHARS = 8  # characters; NIST SP 800-63B minimum for a memorised secret
PASSWORD_MAX_CHARS = 128  # characters; bounds the request size, long enough for passphrases

# --- logins and sessions (the defaults of tillmesh.toml) ----------------------------------

LOCKOUT_FAILURES = 5  # failed logins in a row before the account is locked
LOCKOUT_MINUTES = 5  # minutes; long enough to stop guessing a 4-digit PIN
LOCKOUT_MAX_MINUTES = 240  # minutes; each lock in a row doubles, up to this: half a
#   shift for someone who forgot their PIN, and a bound on how long any burst of
#   failures (also one a stolen till makes up) keeps a user out
LOCKOUT_FORGET_HOURS = 24  # hours without a failed login after which the count and
#   the doubling start again (a slip of the finger is not held against you next week)
IDLE_LOCK_MINUTES = 10  # minutes; a session idle this long needs the PIN again (an
#                         unattended till locks itself); the app's IDLE_LOCK_S matches it
SESSION_HOURS = 14  # hours; a session older than this ends (longer than any shift)
TOKEN_BYTES = 32  # random bytes in a session token (43 url-safe characters)

# --- ERPNext's documents ---------------------------------------------------------------

MAX_NAME_CHARS = 140  # Frappe's varchar(140) for `name`: longer is not an ERPNext name
#                       (a user, a customer, a document)

# --- selling ------------------------------------------------------------------------------

MAX_PERCENT = Decimal(100)  # a discount is a share of the price; above 100 % is a payout
CASHIER_MAX_DISCOUNT = Decimal(10)  # percent; usual shop policy for a till without approval
SUPERVISOR_MAX_DISCOUNT = Decimal(50)  # percent; above that is clearance, an admin decision
ADMIN_MAX_DISCOUNT = MAX_PERCENT  # percent; the admin can give anything away
MAX_PAYMENT_ROWS = 10  # payments of one sale; split payments beyond this are a mistake
MAX_CART_LINES = 500  # lines of one cart, sale or return: a big weekly shop is well under
#   100 lines and a cash-and-carry trolley a few hundred (a repeat scan of an item adds to
#   its line), while every change of a cart reprices all of its lines (~0.1 ms a line):
#   this bounds what one request costs the counter
# Serial numbers on one cart line: a pallet of phones scanned one by one, far below
# SQLite's limit of bound values in the one query that checks them.
MAX_SERIALS_PER_LINE = 500
EMBEDDED_ITEM_DIGITS = 5  # digits of the item ref (PLU) in a weighed or priced label, when
#                           a rule names none: the usual layout of German shop scales
PRICED_KEPT = 16  # carts whose last pricing is kept (``sale.price``): a few tills' worth
