"""Frappe's REST surface: a request in, a reply out, no sockets (``_http`` does those).

Routes: ``/api/resource/<doctype>[/<name>]`` (v1), ``/api/v2/document/<doctype>[/<name>]``
and ``/api/method/<dotted.path>``. Token auth as Frappe: ``Authorization: token
<key>:<secret>`` (or Basic of the same); a wrong one is 401, none 403.
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
    DoesNotExistError,
    FrappeError,
    JSONDecodeError,
    NotPermitted,
    TooManyRequests,
    UnhandledError,
    error_body,
    server_messages,
)
from tillmesh.lab.erpnext_simulator._faults import Faults
from tillmesh.lab.erpnext_simulator._site import Site
from tillmesh.lab.erpnext_simulator._txn import Txn

_RESOURCE = "/api/resource/"
_DOCUMENT = "/api/v2/document/"
_METHOD = "/api/method/"


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


class Api:
    def __init__(self, site: Site, lock: threading.RLock, faults: Faults, *, api_key: str,
                 api_secret: str, on_jobs: Callable[[list[str]], None]) -> None:
        self._site = site
        self._lock = lock
        self._faults = faults
        self._token = f"{api_key}:{api_secret}"
        self._on_jobs = on_jobs

    def handle(self, request: Request) -> Reply:
        decision = self._faults.decide(request.method, request.path)
        if decision.drop:
            return Reply(drop=True)
        if decision.refuse is not None:
            reply = _error(decision.refuse)
        else:
            reply = self._authorized(request)
        reply.delay_s, reply.hang_s = decision.delay_s, decision.hang_s
        return reply

    def _authorized(self, request: Request) -> Reply:
        token = _token(request.headers.get("authorization", ""))
        if token is None:
            return _error(NotPermitted("Not permitted: login or send an API token"))
        if token != self._token:
            return _error(AuthenticationError("Invalid API key or secret"))
        txn: Txn | None = None
        try:
            with self._lock:
                txn = self._site.begin()
                body = self._route(txn, request)
                txn.commit()
            if txn.jobs:
                self._on_jobs(txn.jobs)
            if txn.notes:
                body = {**(body or {}), "_server_messages": server_messages(txn.notes)}
            status = 202 if request.method == "DELETE" else 200
            return Reply(status=status, body=body)
        except FrappeError as err:
            if txn is not None and txn.notes:
                err.notes = [n["message"] for n in txn.notes] + err.notes
            return _error(err)
        except Exception as exc:  # a simulator bug: answer it, keep serving, commit nothing
            return _error(UnhandledError(exc))

    def _route(self, txn: Txn, request: Request) -> dict[str, Any]:
        params = {k: v[-1] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
        path, method = request.path, request.method
        if path.startswith(_METHOD):
            args = {**params, **_body(request)} if method != "GET" else params
            return {"message": self._site.call(txn, path[len(_METHOD):].strip("/"), args)}
        if path.startswith(_RESOURCE):
            rest, v2 = path[len(_RESOURCE):], False
        elif path.startswith(_DOCUMENT):
            rest, v2 = path[len(_DOCUMENT):], True
        else:
            raise DoesNotExistError(f"Page {path} not found")
        doctype, _, name = rest.strip("/").partition("/")
        site = self._site
        if not name:
            if method == "GET":
                return {"data": site.list_rows(doctype, params, v2=v2)}
            if method == "POST":
                return {"data": site.answer(doctype, site.insert(txn, doctype, _body(request)))}
        elif method == "GET":
            return {"data": site.answer(doctype, txn.require(doctype, name))}
        elif method == "PUT":
            doc = site.update(txn, doctype, name, _body(request))
            return {"data": site.answer(doctype, doc)}
        elif method == "DELETE":
            site.delete(txn, doctype, name)
            return {"data": "ok"}
        elif method == "POST" and params.get("run_method"):
            result = site.run_method(txn, doctype, name, params["run_method"])
            return {} if result is None else {"message": result}
        raise NotPermitted(f"Not permitted: {method} {path}")


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


def _error(err: FrappeError) -> Reply:
    headers = {}
    if isinstance(err, TooManyRequests):
        headers["Retry-After"] = str(err.retry_after_s)
    return Reply(status=err.status, body=error_body(err), headers=headers)
