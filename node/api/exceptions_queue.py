"""The exceptions queue: what ERPNext refused, with its own words, for a supervisor.

Every counter shows the same queue (failures are replicated events). A supervisor fixes
the cause in ERPNext (stock, an account, a closed period) and retries, or settles the
document some other way and resolves it; both are audited events, and the forwarder
picks a retried document up on its next cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tillmesh.node.domain.roles import Action
from tillmesh.node.errors import NotFoundError, ValidationError
from tillmesh.node.projections import deliveries, outbox
from tillmesh.node.projections.deliveries import Delivery

if TYPE_CHECKING:
    from tillmesh.node.api._service import Caller, Node

MAX_NOTE = 500  # characters of a resolution note


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


def register(node: Node) -> None:
    def exceptions_list(caller: Caller) -> list[dict[str, Any]]:
        """Documents ERPNext refused, oldest first, with ERPNext's message."""
        with node.read() as s:
            return [_view(state) for state in deliveries.exceptions(s)]

    def _settle(caller: Caller, exception_id: str, kind: str, approver: dict[str, Any] | None,
                **detail: Any) -> dict[str, Any]:
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

    def exception_retry(caller: Caller, id: str,  # noqa: A002 (the API's parameter name)
                        approver: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a refused document again (after fixing its cause in ERPNext)."""
        return _settle(caller, id, deliveries.RETRIED, approver)

    def exception_resolve(caller: Caller, id: str, note: str,  # noqa: A002
                          approver: dict[str, Any] | None = None) -> dict[str, Any]:
        """Settle a refused document outside Tillmesh: it is not sent again."""
        text = str(note).strip()
        if not text or len(text) > MAX_NOTE:
            raise ValidationError(f"say in 1-{MAX_NOTE} characters how it was settled")
        return _settle(caller, id, deliveries.RESOLVED, approver, note=text)

    def deliveries_pending(caller: Caller) -> dict[str, Any]:
        """How many documents wait for ERPNext, by doctype (failed ones apart)."""
        with node.read() as s:
            counts: dict[str, int] = {}
            for item in outbox.pending(s):
                counts[item.due.doctype] = counts.get(item.due.doctype, 0) + 1
            failed = len(deliveries.exceptions(s))
        return {"pending": counts, "failed": failed}

    for fn in (exceptions_list, exception_retry, exception_resolve, deliveries_pending):
        node.expose(fn.__name__, fn)
