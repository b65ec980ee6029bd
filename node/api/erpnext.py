"""API methods of the ERPNext link: the pull, the link's status and the exceptions queue.

``erpnext_pull`` answers at once and the pull runs in the background
(``tillmesh.node.erpnext``); ``erpnext_status`` shows its progress; ``erpnext_reload``
makes the running forwarder take the settings `tillmesh erpnext setup` saved. They need
no login, like ``peers``: the API socket is readable by the service user only, a pull
only refreshes data from the configured ERPNext, and a reload reads the settings that
user's file holds.

The exceptions queue is what ERPNext refused, in its own words, for a supervisor. Every
counter shows the same queue (failures are replicated events). A supervisor fixes the
cause in ERPNext (stock, an account, a closed period) and retries, or settles the
document some other way and resolves it; both are audited events, and the forwarder
picks a retried document up on its next cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tillmesh.node.api._methods import Auth, api_method
from tillmesh.node.api.const import MAX_NOTE
from tillmesh.node.domain.roles import Action
from tillmesh.node.erpnext import _settings, _state
from tillmesh.node.errors import NodeUnavailable, NotFoundError, TillmeshError, ValidationError
from tillmesh.node.projections import deliveries, outbox
from tillmesh.node.projections.deliveries import Delivery

if TYPE_CHECKING:
    from tillmesh.node.api import Caller, Node


@api_method(auth=Auth.NONE)
def erpnext_pull(node: Node) -> dict[str, Any]:
    """Pull master data and stock from ERPNext now (in the background); see erpnext_status."""
    return node.pull_job.start()


@api_method(auth=Auth.NONE)
def erpnext_reload(node: Node) -> dict[str, Any]:
    """Take the ERPNext settings `tillmesh erpnext setup` saved: start, restart or stop
    this counter's forwarder to match (no restart of the node needed)."""
    if node.erpnext_link is None:
        raise NodeUnavailable("this node runs no ERPNext link: it was not started by"
                              " `tillmesh run`")
    return node.erpnext_link.reload()


@api_method(auth=Auth.NONE)
def erpnext_status(node: Node) -> dict[str, Any]:
    """The ERPNext link: settings (no secret), the current or last pull, per-doctype state."""
    try:
        settings: dict[str, Any] | None = _settings.load(node.config).public()
    except TillmeshError as exc:
        settings = {"error": exc.message}
    with node.read() as session:
        scopes = [vars(s) for s in _state.states(session)]
        failed = len(deliveries.exceptions(session))
        owed, late = outbox.owed_counts(session)
    forwarder = node.forwarder
    return {"settings": settings, "pull": node.pull_job.view(), "scopes": scopes,
            "configured": forwarder is not None,
            "reachable": None if forwarder is None else forwarder.reachable,
            "forwarder": node.elected_forwarder(),
            "last_delivery": None if forwarder is None else forwarder.last_delivery,
            "last_error": None if forwarder is None else forwarder.last_error,
            "pending": sum(owed.values()) - failed, "late": late, "failed": failed}


def _view(state: deliveries.State) -> dict[str, Any]:
    return {"id": f"{state.doctype}/{state.name}", "doctype": state.doctype,
            "name": state.name, "state": state.delivery.value, "failures": state.failures,
            "status": state.status, "exc_type": state.exc_type, "message": state.message,
            "stage": state.stage}


def _key(exception_id: str) -> tuple[str, str]:
    doctype, sep, name = str(exception_id).partition("/")
    if not sep or not name:
        raise ValidationError("an exception id is DOCTYPE/NAME, as exceptions_list gives it")
    return doctype, name


@api_method()
def exceptions_list(node: Node, caller: Caller) -> list[dict[str, Any]]:
    """Documents ERPNext refused, oldest first, with ERPNext's message."""
    with node.read() as s:
        return [_view(state) for state in deliveries.exceptions(s)]


def _settle(node: Node, caller: Caller, exception_id: str, kind: str,
            approver: dict[str, Any] | None, **detail: Any) -> dict[str, Any]:
    doctype, name = _key(exception_id)
    with node.write() as tx:
        auth = node.authorize(tx.session, caller, Action.EXCEPTIONS, approver=approver)
        state = deliveries.get(tx.session, doctype, name)
        if state is None or state.delivery is not Delivery.FAILED:
            raise NotFoundError(f"{doctype} {name} is not waiting in the exceptions queue")
        tx.append(kind, {"doctype": doctype, "name": name, "by": caller.user, **detail})
        node.audit(tx, kind.replace("forward.", "exception_"), auth, doctype=doctype,
                   name=name, **detail)
        return _view(deliveries.get(tx.session, doctype, name) or state)


@api_method(action=Action.EXCEPTIONS)
def exception_retry(node: Node, caller: Caller, id: str,  # noqa: A002 (the API's parameter name)
                    approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send a refused document again (after fixing its cause in ERPNext)."""
    return _settle(node, caller, id, deliveries.RETRIED, approver)


@api_method(action=Action.EXCEPTIONS)
def exception_resolve(node: Node, caller: Caller, id: str, note: str,  # noqa: A002
                      approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Settle a refused document outside Tillmesh: it is not sent again."""
    text = str(note).strip()
    if not text or len(text) > MAX_NOTE:
        raise ValidationError(f"say in 1-{MAX_NOTE} characters how it was settled")
    return _settle(node, caller, id, deliveries.RESOLVED, approver, note=text)


@api_method()
def deliveries_pending(node: Node, caller: Caller) -> dict[str, Any]:
    """How many documents are owed to ERPNext, by doctype: everything not yet delivered
    or resolved, refused ones (``failed``) and late sales that wait for a supervisor's
    reconciliation (``late``) included, so nothing owed ever reads as all delivered."""
    with node.read() as s:
        counts, late = outbox.owed_counts(s)
        failed = len(deliveries.exceptions(s))
    return {"pending": counts, "late": late, "failed": failed}
