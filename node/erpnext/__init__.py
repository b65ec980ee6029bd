"""The link to ERPNext (Frappe 15 and 16): HTTP client, setup checks, master-data pull,
forwarder.

    const      timeouts, retries, page sizes, caps, deadlines and the forwarder's pace
    _text      printable(): ERPNext's words without control characters, escapes or
               bidi overrides, before they reach a log, a screen or the exceptions list
    _limits    Limits: the byte cap of an answer and the deadlines of a request and a
               pull, held to on every socket operation (a trickle fails at the deadline)
    _site_release which ERPNext (15, 16) and POS invoice mode a site runs, and what that
               changes in what is sent: the one place release differences live (pure)
    _rest      ErpNextClient: REST calls with retries, typed errors, Decimal numbers;
               documents created through API v2 where the site has it, names checked;
               the site's release (``release()``)
    _settings  ErpNextSettings: URL, key, secret, POS Profile in secrets/erpnext.toml;
               plain http only with --insecure
    _setup     setup(): one Check per requirement, the custom fields Tillmesh needs
               (the origin event unique, so ERPNext refuses a second copy)
    _paging    keyset paging by (modified, name) and the pull's watermark (pure)
    _mapping   what is pulled and how rows become events (pure)
    _pull      pull(): ERPNext's master data and Bin into master.* / stock.base events
    _booking   StockBooking: sales being booked and the pull's reading of Bin kept apart
    _pull_job  the running counter's pull: one at a time, in a worker thread, with progress
    _state     the puller's local watermarks; what the store already holds
    _documents what the forwarder sends: events -> ERPNext documents (pure)
    _per_shift per-shift delivery: a shift's sales -> consolidated Sales Invoices (pure)
    _delivery  what the forwarder does in ERPNext with one document: once, under its name
    _forwarder the forwarder: the outbox to ERPNext, exactly once, in order
    _link      the running counter's forwarder, restarted when `setup` saves new settings
    _commands  `tillmesh erpnext setup | status | pull`

The API methods (``erpnext_pull``, ``erpnext_status``, the exceptions queue) are in
``tillmesh.node.api.erpnext``; the simulator is ``tillmesh.lab.erpnext_simulator``.
May import ``tillmesh.node.domain``, ``store``, ``projections``, ``ops.config`` and
``ops.const``.
"""

from tillmesh.node.erpnext._commands import add_commands
from tillmesh.node.erpnext._limits import Limits
from tillmesh.node.erpnext._mapping import PULLED_DOCTYPES, SPECS
from tillmesh.node.erpnext._pull import (
    Consolidated,
    Direct,
    PullReport,
    StoreAccess,
    no_consolidated_shifts,
    pull,
)
from tillmesh.node.erpnext._rest import ClientState, ErpNextClient, Verify
from tillmesh.node.erpnext._settings import ErpNextSettings, settings_path
from tillmesh.node.erpnext._settings import load as load_settings
from tillmesh.node.erpnext._settings import save as save_settings
from tillmesh.node.erpnext._setup import CUSTOM_FIELDS, Check, CustomField, check_all, setup
from tillmesh.node.erpnext._state import ScopeState
from tillmesh.node.erpnext._text import printable
from tillmesh.node.errors import (
    ErpNextAuthError,
    ErpNextDuplicate,
    ErpNextError,
    ErpNextNameNotKept,
    ErpNextNotFound,
    ErpNextServerError,
    ErpNextUnreachable,
    ErpNextValidation,
)

__all__ = [
    "CUSTOM_FIELDS",
    "PULLED_DOCTYPES",
    "SPECS",
    "Check",
    "ClientState",
    "Consolidated",
    "CustomField",
    "Direct",
    "ErpNextAuthError",
    "ErpNextClient",
    "ErpNextDuplicate",
    "ErpNextError",
    "ErpNextNameNotKept",
    "ErpNextNotFound",
    "ErpNextServerError",
    "ErpNextSettings",
    "ErpNextUnreachable",
    "ErpNextValidation",
    "Limits",
    "PullReport",
    "ScopeState",
    "StoreAccess",
    "Verify",
    "add_commands",
    "check_all",
    "load_settings",
    "no_consolidated_shifts",
    "printable",
    "pull",
    "save_settings",
    "settings_path",
    "setup",
]
