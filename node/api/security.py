"""What this counter refused to believe: peers' events it would not store (a forged or
unsigned event, a counter nobody enrolled, a revoked one, a stamp far in the future),
forks (a counter's chain seen in two versions: its key is in two places; an admin
resolves one by revoking that counter from a counter whose copy they trust), changes
to users and counters no replica applies (made by someone who was not an admin then) and
whether the snapshot this counter joined with held tables its events do not build
(``store.snapshot_check``). Admins read it; nothing here changes anything."""

from __future__ import annotations

from typing import Any

from tillmesh.node.api._methods import api_method
from tillmesh.node.api._node import Caller, Node
from tillmesh.node.domain.roles import Role
from tillmesh.node.projections import membership
from tillmesh.node.store import snapshot_check


@api_method(roles=(Role.ADMIN,))
def security_status(node: Node, caller: Caller) -> dict[str, Any]:
    """Events refused from peers (the latest per counter), forks, and refused membership
    changes; also the check of the snapshot this counter joined with (None: it joined
    without one): ``state`` pending, verified or tampered (``tables`` then names the
    tables its events did not build; they were rebuilt from the events)."""
    with node.read() as s:
        changes = membership.refused(s)
        joined = snapshot_check.outcome(s)
    return {
        "refused_events": [{"origin": origin, "event": event, "why": why}
                           for origin, (event, why) in sorted(node.refused_events().items())],
        "forks": node.forks(),
        "refused_changes": [{"event": f"{r.origin}:{r.seq}", "kind": r.kind, "why": r.reason}
                            for r in changes],
        "snapshot": joined}
