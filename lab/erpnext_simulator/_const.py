"""Every number and name the simulator depends on, with its unit and the reason for it."""

from __future__ import annotations

from decimal import Decimal

# The default, and the only address but one inside a network namespace a test made (the
# fault suite's ERPNext host): the simulator is a test double, not a service.
HOST = "127.0.0.1"
SITE_TIMEZONE = "Europe/Berlin"  # ERPNext answers `modified` etc. in site-local time

DEFAULT_PAGE_LENGTH = 20  # rows; Frappe's get_list default when no limit is sent
BACKGROUND_CONSOLIDATION_FROM = 10  # invoices; ERPNext enqueues the merge from this many on
JOB_DELAY_S = 0.2  # seconds a queued consolidation waits before the timer runs it
HANG_S = 5.0  # seconds an answer is withheld by timeout_after_commit_next by default
RETRY_AFTER_S = 1  # seconds announced in Retry-After by rate_limit_next by default

CONNECTION_IDLE_S = 30.0  # seconds a keep-alive connection may idle before its thread ends
STOP_JOIN_S = 5.0  # seconds stop() waits for each server or job thread to end
MAX_BODY_BYTES = 64 * 1024 * 1024  # a request body larger than this is refused (413)
# bytes of "METHOD path?query HTTP/1.1": gunicorn's default limit_request_line, which a
# stock ERPNext runs with (a longer line is refused with 400 before Frappe sees it)
MAX_REQUEST_LINE = 4094
# bytes gunicorn reads at once: a longer request line is reported as this long
GUNICORN_READ_BYTES = 8192

HASH_NAME_LENGTH = 10  # characters of a Frappe hash name ("ud0tdkl7bh")
SERIES_DIGITS = 5  # digits of a naming-series counter ("ACC-PSINV-2026-00001")
EXC_ID_HEX = 56  # characters of the __frappe_exc_id Frappe puts in fatal messages

MONEY = Decimal("0.01")  # EUR precision of every amount the simulator computes
QTY = Decimal("0.001")  # precision of quantities (System Settings' float precision, 3)
QTY_EPSILON = 1e-9  # float slack when comparing quantities read from JSON

OPENING_STOCK_QTY = 100.0  # units of every demo item in the demo warehouse
# The demo's opening stock is posted long before any sale a test may backdate, so a
# consolidation never fails for want of stock that "arrives later" in the ledger.
OPENING_STOCK_AT = "2000-01-01 00:00:00"

DEMO_USER = "pos@example.com"  # the demo site's API user, owner of what it creates
RECORDED_USER = "Administrator"  # the user of the recorded ERPNext session
