"""API methods describing the node itself: status and the method list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from node import ledger
from node.errors import ShiftError
from node.store.base import EventRow

if TYPE_CHECKING:
    from node.service import Caller, Node


def register(node: Node) -> None:
    def status(caller: Caller) -> dict[str, Any]:
        """Node id, events held per origin, open shift, database file."""

        with node.read() as s:
            count = s.scalar(select(func.count()).select_from(EventRow)) or 0
            try:
                shift: str | None = ledger.open_shift(s, node.node_id)
            except ShiftError:
                shift = None
        return {"node": node.node_id, "pos_profile": node.config.pos_profile,
                "events": count, "vector": dict(node.log.vector()), "open_shift": shift,
                "database": str(node.config.db_path), "sessions": len(node.sessions)}

    def methods() -> dict[str, str]:
        """Every API method with a one-line description."""
        return node.methods()

    node.expose("status", status)
    node.expose("methods", methods, auth="none")
