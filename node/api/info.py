"""API methods describing the node itself: status and the method list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tillmesh.node.api._methods import Auth, api_method
from tillmesh.node.errors import ShiftError, TillmeshError
from tillmesh.node.projections import ledger

if TYPE_CHECKING:
    from tillmesh.node.api import Caller, Node


@api_method()
def status(node: Node, caller: Caller) -> dict[str, Any]:
    """Node id, events held per origin, open shift, the profile's modes of payment."""
    with node.read() as s:
        try:
            shift: str | None = ledger.open_shift(s, node.node_id)
        except ShiftError:
            shift = None
        try:
            modes = [{"name": m.name, "type": m.type, "is_cash": m.is_cash}
                     for m in node.context(s).modes.values()]
        except TillmeshError:  # no POS Profile pulled yet: the node still answers
            modes = []
    vector = dict(node.log.vector())
    # Each origin's events are 1..n, so the vector counts them without a table scan.
    return {"node": node.node_id, "pos_profile": node.config.pos_profile,
            "events": sum(vector.values()), "vector": vector, "open_shift": shift,
            "modes_of_payment": modes, "database": str(node.config.db_path),
            "sessions": len(node.sessions)}


@api_method(auth=Auth.NONE)
def methods(node: Node) -> dict[str, str]:
    """Every API method with a one-line description."""
    return node.methods()
