"""Frappe's REST surface: a request in, a reply out, no sockets (``_http`` does those).

Routes, as Frappe 15.72 has them (``frappe/api/v1.py``, ``v2.py``):

- v1: ``/api/resource/<doctype>`` (GET list, POST insert), ``/api/resource/<doctype>/<name>``
  (GET, PUT, DELETE, POST ``?run_method=``) and ``/api/method/<dotted.path>``; answers
  ``{"data"}`` or ``{"message"}``, errors with ``exc_type`` and ``_server_messages``.
- v2: ``/api/v2/document/<doctype>`` (GET list, POST insert),
  ``/api/v2/document/<doctype>/<name>`` (GET, PUT or PATCH, DELETE),
  ``/api/v2/document/<doctype>/<name>/method/<method>`` and ``/api/v2/method/<dotted.path>``;
  answers ``{"data"}``, printed messages as ``messages``, errors as ``{"errors": [...]}``.

Two switches say which release is simulated: ``keep_resource_names`` (the lab's Frappe
15.72.4 keeps a client's ``name`` on a v1 insert; upstream Frappe 15 after
frappe/frappe#32327 was reverted, and Frappe 16, draw their own, so a repeat books a second
document) and ``api_v2`` (off: no v2 routes, a 404 as for any unknown path). A v2 insert
always keeps the client's names. Token auth as Frappe: ``Authorization: token
<key>:<secret>`` (or Basic of the same); a wrong one is 401, none reads as the Guest user.
On Frappe 16 (the release's) a v2 list says ``has_next_page``, and neither a wrong token
nor the Guest is shown a traceback.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tillmesh.lab.erpnext_simulator._errors import (
    AuthenticationError,
    FrappeError,
    GuestNotPermitted,
    JSONDecodeError,
    NoRoute,
    NotPermitted,
    TooManyRequests,
    UnhandledError,
    error_body,
    error_body_v2,
    server_messages,
)
from tillmesh.lab.erpnext_simulator._faults import Faults
from tillmesh.lab.erpnext_simulator._site import Site
from tillmesh.lab.erpnext_simulator._throttle import Throttle
from tillmesh.lab.erpnext_simulator._txn import Txn

_METHOD = "/api/method/"
_RESOURCE = "/api/resource/"
_V2 = "/api/v2/"
_V2_METHOD = "method/"
_V2_DOCUMENT = "document/"
_DOC_METHOD = "/method/"  # v2: /document/<doctype>/<name>/method/<method>


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # decoded: "/api/resource/POS Invoice"
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    hang_s: float | None = None  # withhold the reply this long, then drop the connection
    drop: bool = False  # close the connection without a reply


@dataclass(frozen=True)
class Page:
    """A list answered with whether more rows follow (Frappe 16's v2 ``has_next_page``)."""

    rows: list[Any]
    has_next_page: bool


@dataclass(frozen=True)
class Route:
    """What a path asks for: a whitelisted method, or a doctype's list or document (and a
    method of that document, as v2 spells it)."""

    v2: bool
    method: str = ""
    doctype: str = ""
    name: str = ""


def parse_route(path: str, *, api_v2: bool) -> Route | None:
    if path.startswith(_METHOD):
        return Route(v2=False, method=path[len(_METHOD):].strip("/"))
    if path.startswith(_RESOURCE):
        doctype, _, name = path[len(_RESOURCE):].strip("/").partition("/")
        return Route(v2=False, doctype=doctype, name=name)
    if not api_v2 or not path.startswith(_V2):
        return None
    rest = path[len(_V2):].strip("/")
    if rest.startswith(_V2_METHOD):
        return Route(v2=True, method=rest[len(_V2_METHOD):])
    if not rest.startswith(_V2_DOCUMENT):
        return Route(v2=True)  # under /api/v2 but no route: a v2-shaped 404
    doctype, _, name = rest[len(_V2_DOCUMENT):].partition("/")
    name, _, method = name.partition(_DOC_METHOD)
    return Route(v2=True, doctype=doctype, name=name, method=method)


class Api:
    def __init__(self, site: Site, lock: threading.RLock, faults: Faults, *, api_key: str,
                 api_secret: str, on_jobs: Callable[[list[str]], None],
                 keep_resource_names: bool = True, api_v2: bool = True,
                 throttle: Throttle | None = None) -> None:
        self._site = site
        self._throttle = throttle
        self._lock = lock
        self._faults = faults
        self._token = f"{api_key}:{api_secret}"
        self._on_jobs = on_jobs
        self._keep_resource_names = keep_resource_names
        self._api_v2 = api_v2

    def handle(self, request: Request) -> Reply:
        route = parse_route(request.path, api_v2=self._api_v2)
        v2 = route is not None and route.v2
        decision = self._faults.decide(request.method, request.path)
        if decision.drop:
            return Reply(drop=True)
        if decision.refuse is not None:
            reply = _error(decision.refuse, v2=v2)
        else:
            reply = self._authorized(request, route)
        reply.delay_s, reply.hang_s = decision.delay_s, decision.hang_s
        return reply

    def _authorized(self, request: Request, route: Route | None) -> Reply:
        v2 = route is not None and route.v2
        token = _token(request.headers.get("authorization", ""))
        frappe_16 = self._site.registry.release.frappe_major >= 16
        if token is not None and token != self._token:
            return _error(_untraced(AuthenticationError(), frappe_16), v2=v2)
        if route is None or not (route.method or route.doctype):
            return _error(NoRoute(), v2=v2)
        if token is None:
            return _error(_untraced(_guest(route, frappe_16), frappe_16), v2=v2)
        txn: Txn | None = None
        try:
            if self._throttle is not None and request.method == "POST" and route.doctype \
                    and not route.name:  # a document created: ERPNext's time, out of the lock
                self._throttle.document(route.doctype, _body(request))
            with self._lock:
                txn = self._site.begin(_host_url(request))
                key, result = self._route(txn, request, route)
                txn.commit()
            if txn.jobs:
                self._on_jobs(txn.jobs)
            status = 202 if request.method == "DELETE" else 200
            return Reply(status=status, body=_envelope(route, key, result, txn.notes))
        except FrappeError as err:
            if txn is not None:
                with self._lock:
                    self._site.rolled_back(txn)
                err.notes = [n["message"] for n in txn.notes] + err.notes
            return _error(err, v2=v2)
        except Exception as exc:  # a simulator bug: answer it, keep serving, commit nothing
            return _error(UnhandledError(exc), v2=v2)

    def _route(self, txn: Txn, request: Request, route: Route) -> tuple[str, Any]:
        """The answer's key (v1 methods answer ``message``, the rest ``data``) and value."""
        params = {k: v[-1] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
        method, site, doctype, name = request.method, self._site, route.doctype, route.name
        if not doctype:
            args = {**params, **_body(request)} if method != "GET" else params
            return "message", site.call(txn, route.method, args)
        if route.method or (method == "POST" and name and params.get("run_method")):
            if method not in ("GET", "POST"):
                raise NotPermitted(f"Not permitted: {method} {request.path}")
            return "message", site.run_method(txn, doctype, name,
                                              route.method or params["run_method"])
        if not name and method == "GET" and route.v2 and \
                site.registry.release.frappe_major >= 16:
            return "data", Page(*site.list_page(doctype, params))
        if not name and method == "GET":
            return "data", site.list_rows(doctype, params, v2=route.v2)
        if not name and method == "POST":
            keep = route.v2 or self._keep_resource_names
            return "data", site.answer(doctype, site.insert(txn, doctype, _body(request),
                                                            keep_names=keep))
        if name and method == "GET":
            return "data", site.answer(doctype, txn.require(doctype, name))
        if name and (method == "PUT" or method == "PATCH" and route.v2):
            return "data", site.answer(doctype, site.update(txn, doctype, name, _body(request)))
        if name and method == "DELETE":
            site.delete(txn, doctype, name)
            return "data", "ok"
        raise NotPermitted(f"Not permitted: {method} {request.path}")


def _envelope(route: Route, key: str, result: Any,
              notes: list[dict[str, Any]]) -> dict[str, Any]:
    """Frappe's answer around ``result`` (left out when None; v2 calls every key ``data``)
    and what was printed: v1 ``_server_messages`` (JSON text), v2 ``messages``."""
    body: dict[str, Any] = {}
    if isinstance(result, Page):
        body["has_next_page"], result = result.has_next_page, result.rows
    if result is not None:
        body["data" if route.v2 else key] = result
    if notes:
        if route.v2:
            body["messages"] = notes
        else:
            body["_server_messages"] = server_messages(notes)
    return body


def _guest(route: Route, frappe_16: bool) -> FrappeError:
    """A request without a token, read as the Guest user's."""
    if not route.doctype:
        return NotPermitted("Not permitted: login or send an API token")
    if frappe_16:  # Frappe 16 refuses the list itself, printing why
        return NotPermitted(f"Insufficient Permission for <strong>{route.doctype}</strong>",
                            title="Message")
    return GuestNotPermitted(route.doctype)


def _untraced(err: FrappeError, frappe_16: bool) -> FrappeError:
    """Frappe 16 shows a traceback to system users only (``is_traceback_allowed``): not to
    the Guest, nor to a wrong token."""
    err.traceback_shown = not frappe_16
    return err


def _token(header: str) -> str | None:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "token" and value:
        return value.strip()
    if scheme.lower() == "basic" and value:
        try:
            return base64.b64decode(value.strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return None


def _host_url(request: Request) -> str:
    """Frappe's ``get_url`` in a request: the address the client used."""
    host = request.headers.get("host")
    return f"http://{host}" if host else ""


def _body(request: Request) -> dict[str, Any]:
    if not request.body:
        return {}
    text = request.body.decode("utf-8", errors="replace")
    if "json" in request.headers.get("content-type", "") or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise JSONDecodeError(str(exc)) from exc
        return data if isinstance(data, dict) else {}
    form = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
    if "data" in form:  # Frappe's form posts carry the document as JSON in `data`
        try:
            return dict(json.loads(form["data"]))
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            raise JSONDecodeError(str(exc)) from exc
    return form


def _error(err: FrappeError, *, v2: bool) -> Reply:
    headers = {}
    if isinstance(err, TooManyRequests):
        headers["Retry-After"] = str(err.retry_after_s)
    return Reply(status=err.status, body=error_body_v2(err) if v2 else error_body(err),
                 headers=headers)
