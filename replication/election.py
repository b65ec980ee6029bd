"""Which counter forwards the store's records to ERPNext: pure, no I/O.

Every counter decides on its own from what it knows: itself, and the live peers whose
last Vector said they reach ERPNext. The lowest node id among those candidates wins, and
the current forwarder keeps the role while it stays a candidate (sticky: a counter that
comes back does not take over a working forwarder). Views can differ for a moment (a
partition, a Vector in flight), so two counters may forward at once; exactly-once never
depends on the election, only throughput does.
"""

from __future__ import annotations

from collections.abc import Iterable


def elect(me: str, i_reach_erpnext: bool, peers: Iterable[tuple[str, bool]],
          current: str | None) -> str | None:
    """The forwarder: ``peers`` are (node, live and reaching ERPNext); None if nobody can."""
    candidates = {node for node, ok in peers if ok}
    if i_reach_erpnext:
        candidates.add(me)
    if current in candidates:
        return current
    return min(candidates, default=None)
