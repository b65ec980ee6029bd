"""The counter's local API: codec, server, typed clients, and the methods by area.

    _wire        the msgpack wire codec (pure)
    _server      the ZeroMQ ROUTER server: socket lock, queue, workers
    const        limits and timings, with units and reasons
    client       ``Client`` / ``AsyncClient``: typed calls for the app and the CLI
    _methods     ``@api_method``: a method's name, who may call it, its docstring
    _service     ``Node``: what every method is given, and ``Node.call``
    _inputs      checks of quantities, amounts and payments a till sends
    _agreement   a return of another counter's sale agreed with that counter first, and
                 a sale this counter does not hold fetched from it
    _batch_lines cart lines of batch and serial items: the batch first to expire, the
                 serial numbers, the check of every cart and sale
    auth         login, sessions, users, the audit trail
    checkout     catalog look-ups, carts, payment (``sale_submit``)
    display      the customer display's answer, and the tender typed for it (in memory)
    returns      invoices of any counter, returns and refunds
    shifts       open, cash in/out, X report, close, reconcile, the drawer
    cluster      invites, enrolment, revocation, peers
    security     what this counter refused from peers, and membership changes refused
    info         status and the method list
    printing     reprints, reports, printer status
    erpnext      the ERPNext pull and status, the exceptions queue
    dispatch     the table of every area's methods; the only module that imports them all

An area module imports ``_methods``, ``_service`` (for types), ``_inputs``,
``_agreement``, ``_batch_lines`` and the layers below (domain, store, projections,
erpnext, printing), never another area.
This package re-exports only what needs no area: the clients, ``Node``, ``Caller`` and the
decorator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tillmesh.node.api._methods import Auth, MethodSpec, api_method
from tillmesh.node.api.client import AsyncClient, Client

if TYPE_CHECKING:
    from tillmesh.node.api._node import Caller, Node

__all__ = ["AsyncClient", "Auth", "Caller", "Client", "MethodSpec", "Node", "api_method"]


def __getattr__(name: str) -> Any:
    # ``Node`` imports the whole counter (store, projections, ERPNext): loaded when first
    # asked for, so that the app and the shell commands that only call the API start fast.
    if name in ("Caller", "Node"):
        from tillmesh.node.api import _node
        return getattr(_node, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
