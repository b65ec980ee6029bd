"""API methods describing the node itself: status, where the counter stands, the method
list."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tillmesh.node.api._methods import Auth, api_method
from tillmesh.node.errors import TillmeshError
from tillmesh.node.membership import release
from tillmesh.node.membership.standing import Standing, judge
from tillmesh.node.projections import ledger, refunds
from tillmesh.node.projections.membership import revocation_of

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tillmesh.node.api import Caller, Node


@api_method()
def status(node: Node, caller: Caller) -> dict[str, Any]:
    """Node id, events held per origin, open shift, modes of payment, returns to review.

    Also where the counter stands (``standing``, as ``counter_state`` says it), the
    store's time zone, and this counter's release, protocol and schema; ``history_from``:
    per origin whose first events this counter does not hold yet (it joined from a
    checkpoint; they come from the other counters), the event it holds from.

    ``returns_flagged`` counts the returns a supervisor should look at (listed by the
    method of that name): over-returns and returns the sale's counter did not confirm.
    """
    with node.read() as s:
        shift = ledger.open_shift_or_none(s, node.node_id)
        try:
            modes = [{"name": m.name, "type": m.type, "is_cash": m.is_cash}
                     for m in node.context(s).modes.values()]
        except TillmeshError:  # no POS Profile pulled yet: the node still answers
            modes = []
        # Supervisors review them (returns_flagged); counted here so every screen can say so.
        flagged = {"over_returns": len({o.invoice for o in refunds.over_returns(s)}),
                   "unconfirmed": len(refunds.unconfirmed_returns(s))}
        stands = standing(node, s)
        allowed = release.allowed(s)
    vector = dict(node.log.vector())
    # Each origin's events are 1..n, so the vector counts them without a table scan.
    return {"node": node.node_id, "pos_profile": node.config.pos_profile,
            "events": sum(vector.values()), "vector": vector, "open_shift": shift,
            "modes_of_payment": modes, "database": str(node.config.db_path),
            "sessions": len(node.sessions), "returns_flagged": flagged,
            "timezone": node.config.timezone, "standing": stands.to_wire(),
            "history_from": node.log.history_from(),
            **release.identity(), "allowed_releases": allowed}


def standing(node: Node, session: Session) -> Standing:
    """Where this counter stands now (``membership.standing``), read in ``session``."""
    return judge(revocation_of(session, node.node_id), node.link(), node.clock(),
                 stop_after=timedelta(seconds=node.config.refused_stop_s),
                 held=node.log.held, unallowed=release.unallowed(session))


@api_method(auth=Auth.NONE)
def counter_state(node: Node) -> dict[str, Any]:
    """Where this counter stands: active, revoked, refused, paused or cut off, and why.

    With the store's time zone, this counter's release, protocol and schema and the
    releases the store allows ([]: any), and its open shift (``open_shift``, or None): a
    supervisor may open or close it from elsewhere, and the app follows. No login: the app
    asks on every screen, also before anyone logged in, and a poll must not keep a session
    awake."""
    with node.read() as s:
        stands = standing(node, s)
        allowed = release.allowed(s)
        shift = ledger.open_shift_or_none(s, node.node_id)
    return {"node": node.node_id, "timezone": node.config.timezone, **stands.to_wire(),
            **release.identity(), "allowed_releases": allowed, "open_shift": shift}


@api_method(auth=Auth.NONE)
def methods(node: Node) -> dict[str, str]:
    """Every API method with a one-line description."""
    return node.methods()
