"""A Tillmesh counter node: store, selling, shifts, users, local API and CLI.

What other packages (the UI, scripts) use is re-exported here; everything else is
reached through the local API.
"""

from node.client import AsyncClient, Client
from node.config import Config
from node.errors import TillmeshError

__all__ = ["AsyncClient", "Client", "Config", "TillmeshError"]
