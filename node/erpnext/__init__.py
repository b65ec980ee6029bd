"""The link to ERPNext 15: HTTP client, setup checks, master-data pull, forwarder, simulator.

    _client    ErpNextClient: REST calls with retries, typed errors, Decimal numbers
    _settings  ErpNextSettings: URL, key, secret, POS Profile in secrets/erpnext.toml
    _setup     setup(): one Check per requirement, the custom fields Tillmesh needs
    _paging    keyset paging by (modified, name) and the pull's watermark (pure)
    _mapping   what is pulled and how rows become events (pure)
    _pull      pull(): ERPNext's master data and Bin into master.* / stock.base events
    _state     the puller's local watermarks; what the store already holds
    desk       the local API methods erpnext_pull and erpnext_status
    _cli       `tillmesh erpnext setup | status | pull`
"""

from node.erpnext._cli import add_commands
from node.erpnext._client import ClientState, ErpNextClient, Verify
from node.erpnext._mapping import PULLED_DOCTYPES, SPECS
from node.erpnext._pull import (
    Consolidated,
    Direct,
    PullReport,
    StoreAccess,
    no_consolidated_shifts,
    pull,
)
from node.erpnext._settings import ErpNextSettings, settings_path
from node.erpnext._settings import load as load_settings
from node.erpnext._settings import save as save_settings
from node.erpnext._setup import CUSTOM_FIELDS, Check, check_all, setup
from node.erpnext._state import ScopeState
from node.errors import (
    ErpNextAuthError,
    ErpNextDuplicate,
    ErpNextError,
    ErpNextNotFound,
    ErpNextServerError,
    ErpNextUnreachable,
    ErpNextValidation,
)

__all__ = [
    "CUSTOM_FIELDS",
    "Check",
    "ClientState",
    "Consolidated",
    "Direct",
    "ErpNextAuthError",
    "ErpNextClient",
    "ErpNextDuplicate",
    "ErpNextError",
    "ErpNextNotFound",
    "ErpNextServerError",
    "ErpNextSettings",
    "ErpNextUnreachable",
    "ErpNextValidation",
    "PULLED_DOCTYPES",
    "PullReport",
    "SPECS",
    "ScopeState",
    "StoreAccess",
    "Verify",
    "add_commands",
    "check_all",
    "load_settings",
    "no_consolidated_shifts",
    "pull",
    "save_settings",
    "settings_path",
    "setup",
]
