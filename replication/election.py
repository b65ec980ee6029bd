"""Which counter forwards the store's records to ERPNext: pure, no I/O.

Every counter decides on its own from what it knows: itself, and the live peers whose
last Vector said whether they reach ERPNext and whether they forward now. The rule, the
same on every counter so that all reach the same answer once they have heard each other:

1. Among the candidates (live, reaching ERPNext) that forward now, the lowest id keeps
   the role. A working forwarder is never replaced by a counter that comes back, and when
   a partition heals, the two sides' forwarders see each other and the higher one stops.
2. When no candidate forwards, the lowest candidate takes the role, but a counter that
   has not yet heard the store since it started (``settled`` false) names nobody: it must
   not take the role from a forwarder whose Vector has not reached it yet.

Views can differ for a moment (a partition, a Vector in flight), so two counters may
forward at once for a heartbeat or two; exactly-once never depends on the election, only
ERPNext's load does.
"""

from __future__ import annotations

from collections.abc import Iterable


def elect(me: str, i_reach_erpnext: bool, peers: Iterable[tuple[str, bool, bool]],
          current: str | None, *, settled: bool = True) -> str | None:
    """The forwarder, or None. ``peers`` are (node, live and reaching ERPNext, forwards
    now as its last Vector said); ``current`` is who this counter chose last time."""
    candidates, forwarding = set(), set()
    for node, ok, forwards in peers:
        if ok:
            candidates.add(node)
            if forwards:
                forwarding.add(node)
    if i_reach_erpnext:
        candidates.add(me)
        if current == me:
            forwarding.add(me)
    if forwarding:
        return min(forwarding)
    if not settled:
        return None
    return min(candidates, default=None)
