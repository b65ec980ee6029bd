"""Every timing, size, limit and colour of the app in one place, each with its unit and reason."""

from __future__ import annotations

from decimal import Decimal

# --- talking to the node -------------------------------------------------------------------
CALL_TIMEOUT_S = 5.0  # seconds for an ordinary call; the node answers in ms, 5 s means down
SEARCH_TIMEOUT_S = 2.0  # seconds for a search; a stale answer is useless to a typing cashier
PING_TIMEOUT_S = 1.5  # seconds for a health ping (`methods`, no login needed)
PING_INTERVAL_MS = 1000  # ms between health pings: the banner appears within ~2 intervals
PING_FAILURES_OFFLINE = 2  # failed pings in a row before the banner; one may be a busy node
LANE_JOIN_S = 0.2  # seconds to wait for a worker thread on exit; it is a daemon anyway

# --- interaction ---------------------------------------------------------------------------
SEARCH_DEBOUNCE_MS = 150  # ms after the last keystroke before searching (typing is ~5 keys/s)
SEARCH_LIMIT = 30  # hits shown as the cashier types; more is scrolling nobody does
MIN_SEARCH_CHARS = 2  # one letter matches a tenth of 100,000 items: not a useful search
BARCODE_LENGTHS = range(8, 15)  # EAN-8 .. GTIN-14: digits of this length typed into the
#   search field are a scan, not a search
PIN_MAX_DIGITS = 12  # digits; the node's longest PIN: more digits in the PIN field are a scan
SCAN_KEY_S = 0.025  # seconds a digit, on average from the first to Enter, under which 8+
#   digits in the PIN field are a scan: scanners type 100-300 characters/s, the fastest
#   hands on a keypad about 15 (a test's "person" types at 30 ms a key)
IDLE_LOCK_S = 600  # seconds without input before the app locks itself; the node's default
#   idle_lock_minutes (10), so the lock screen shows up without waiting for the next call
#   (the app may not import the node's const: tests/ui/test_const.py checks they agree)
RECHECK_MS = 1000  # ms between asks whether an unanswered sale was recorded
MESSAGE_MS = 8000  # ms a message line stays; long enough to read twice, then out of the way
STATUS_REFRESH_MS = 3000  # ms between refreshes of the store status screen while shown
COUNTER_STATE_MS = 2000  # ms between asks where this counter stands (revoked, paused, cut
#   off): the banner follows within ~2 s, and an answer costs the node one small query
INVOICE_LIST_LIMIT = 30  # recent invoices offered on the returns screen
PRINT_METHOD = "receipt_print"  # reprint a receipt (node.printing); optional on older nodes
REPORT_PRINT_METHOD = "report_print"  # print a shift's X or Z report (node.printing)
PRINTER_CHECK_MS = 2500  # ms after a sale (and while jobs wait) before asking the printer's
#   state: the node prints off the sale's path, a failed try shows up within its timeout

MAX_PIECES = 9999  # of one denomination in one drawer count; more is a typo

# --- money ---------------------------------------------------------------------------------
CURRENCY_SYMBOL = "€"  # the demo store's currency; amounts come from the node as strings
QUICK_CASH_NOTES = tuple(Decimal(n) for n in (5, 10, 20, 50, 100))  # offered above the due
QUICK_CASH_COLUMNS = 3  # quick-cash buttons per row
EUR_NOTES = tuple(Decimal(n) for n in ("500", "200", "100", "50", "20", "10", "5"))
EUR_COINS = tuple(Decimal(n) for n in ("2", "1", "0.50", "0.20", "0.10", "0.05", "0.02", "0.01"))
EUR_DENOMINATIONS = EUR_NOTES + EUR_COINS  # what a cashier counts a drawer in, largest first
CASH_MODE = "Cash"  # the mode of payment that gives change, when the node names no type
FALLBACK_MODES = ("Cash", "Card")  # the demo profile's modes, used only when the node does
#   not report the profile's modes itself (see ui.models.payment.modes_from)

# --- layout (touch screens: a finger needs ~9 mm, 48 px at 96-140 dpi) ---------------------
TOUCH_PX = 48  # minimum height of every button
KEYPAD_PX = 60  # PIN pad and keypad keys: used all day, bigger than the minimum
BIG_BUTTON_PX = 64  # Pay, Complete sale, Next customer: the buttons pressed most
TABLE_ROW_PX = 44  # a table row a finger can pick
CART_ROW_PX = 46  # a cart line, picked by finger all day to change or remove it
COMPACT_ROW_PX = 32  # the shift comparison is read, not touched: rows need not be finger-sized
SCROLL_GAP_PX = 8  # between a scrolling report's right-aligned amounts and its scroll bar
POINTS_FIELD_PX = 110  # the loyalty points typed on the payment screen: five digits
DIALOG_PX = 620  # width of a prompt: a node's reason (a sentence or three) in a few lines
APPROVAL_PX = 900  # a supervisor's approval: the reason beside the PIN pad
DIALOG_MARGIN_PX = 40  # a prompt never touches the screen's edges
STATUS_TWO_COLUMNS_PX = 1400  # the store status in two columns of cards from this width;
#   narrower, one column (its tables need the width: six columns of peers, ERPNext's words)
COUNT_GRID_ROWS = 5  # denominations per column: three columns fit a till screen's height
USER_BUTTON_COLUMNS = 3  # user buttons per row on the login screen
USER_BUTTONS_MAX = 12  # user buttons on the login screen: four rows fit beside the PIN pad
#   on a 768-px till; anyone else types their name
NOTICE_PX = 52  # the strip of banners: two lines of a message, always reserved (nothing
#   moves when a message comes or goes)
TOTAL_FONT_PX = 44  # the grand total and the change: read from a metre away
BASE_FONT_PX = 17
WINDOW_SIZE = (1280, 800)  # the --windowed size and the screenshots: a common 15" till
WINDOW_FRAME_PX = 64  # room for a window manager's title bar and borders: a screen with
#   less room than WINDOW_SIZE and this gets the window maximised instead
BANNER_OFFLINE = "#b00020"  # red: nothing can be sold until the node is back
BANNER_WARN = "#a15c00"  # amber: a problem that does not stop selling (printer)
BANNER_INFO = "#0b5394"  # blue: what just happened
BANNER_OK = "#1b7a34"  # green: done (sale recorded, shift closed)
ACCENT = "#0b5394"
SURFACE = "#ffffff"
BACKGROUND = "#eef1f5"
TEXT = "#111111"
MUTED = "#555b66"

# --- F-keys: (key name, action, label shown on screen) -------------------------------------
FKEYS = (
    ("F1", "help", "Help"),
    ("F2", "search", "Search"),
    ("F3", "qty", "Qty"),
    ("F4", "discount", "Discount"),
    ("F5", "customer", "Customer"),
    ("F6", "hold", "Hold"),
    ("F7", "resume", "Resume"),
    ("F8", "returns", "Return"),
    ("F9", "cash", "Cash in/out"),
    ("F10", "pay", "Pay"),
    ("F11", "lock", "Lock"),
    ("F12", "shift", "Shift"),
)

# --- the customer display (tillmesh ui --customer-display) ---------------------------------
DISPLAY_METHOD = "customer_display"  # the node's read-only, no-login answer for displays
DISPLAY_POLL_MS = 120  # ms from one answer to the next poll: a change shows within ~0.15 s
#   (poll + answer + paint), well inside the 0.3 s a customer notices; an unchanged poll
#   costs the node ~0.3 ms (nothing priced), ~0.3 % of its loop
DISPLAY_RETRY_MS = 1000  # ms between polls while the node does not answer (the health
#   ping brings the link back; polling faster would only fail faster)
DISPLAY_PAID_IDLE_S = 120.0  # s the sale's change stays with nothing new at the till: long
#   enough to count the change and pack, short enough that the next customer, served
#   later, is welcomed rather than shown the last one's money
TENDER_DRAFT_METHOD = "cart_tender_draft"  # the node keeps what the cashier types as the
#   customer's tender, so the display shows paid and change before the sale is recorded
TENDER_DRAFT_DEBOUNCE_MS = 150  # ms after the last change of the tender before the app
#   tells the node: typing "50.00" sends one draft, and the display still follows within
#   ~0.3 s (debounce + one display poll)
DISPLAY_TITLE = "Tillmesh customer display"  # its window's title (a WM's list, xdotool)
DISPLAY_WINDOW_SIZE = (800, 600)  # --windowed: a common 10-12" customer display panel
# Sizes follow the window's height, so a 7" 800x480 pole display and a 22" 1920x1080 screen
# both fill: text must be read from 1.5 m, where a comfortable glyph is ~9 mm tall
# (20 arc minutes), ~36 px on a 15" 1024x768 panel.
DISPLAY_LINE_SHARE = 18  # window height / a cart line's font px (768 -> 42 px)
DISPLAY_TOTAL_SHARE = 8  # window height / the total's font px (768 -> 96 px)
DISPLAY_CHANGE_SHARE = 6  # window height / the change's font px: the figure that matters
DISPLAY_MIN_FONT_PX = 24  # never smaller, whatever the window (a tiny --windowed one)
DISPLAY_ROW_FACTOR = 1.5  # a cart line's height / its font px: readable gaps between lines
DISPLAY_MARGIN_SHARE = 40  # window height / the margin around everything
DISPLAY_BACKGROUND = "#1d2733"  # the till's header colour: dark, so the text carries far
DISPLAY_TEXT = "#ffffff"
DISPLAY_MUTED = "#b8c2cf"  # labels ("Total", "Paid"): lighter than the figures they name
DISPLAY_CHANGE = "#8fe3a0"  # green, as on the till's change screen; 10:1 on the background
WELCOME_TEXT = "Welcome"
THANKS_TEXT = "Thank you!"
