"""A blocking HTTP client for ERPNext's REST API (Frappe 15 and 16), with retries and
typed errors.

Requests run as the API user of ``Authorization: token <key>:<secret>``, over TLS that is
verified by default (``verify=PATH`` trusts a private CA, ``verify=False`` is for a lab
only). Every wait is bounded (``const``, ``_limits``): finite timeouts, at most
``MAX_ATTEMPTS`` tries of one request, and a deadline for each call (every try, wait and
byte of the answer) that every socket operation is held to, so a server that trickles
its answer fails at the deadline; ``within`` sets an earlier one for all the calls of a
block (a pull). Answers are read as they stream, never beyond ``max_answer_bytes``.

Documents are created through Frappe's API v2 (``POST /api/v2/document/<doctype>``) where
the site has it, asked once per client: it keeps the ``name`` a client chose, where
``/api/resource`` drops it on most Frappe 15 releases and on 16 (``erpnext/NOTES.md``).
Either way ``insert`` checks that ERPNext kept the name that was sent, and raises
ErpNextNameNotKept when it did not: an ack under the wrong name would leave every return
and closing that names the document pointing at nothing.

Retries: a network error, a timeout, a 5xx or a 429 is tried again after an exponential
backoff with full jitter (a uniform wait between 0 and ``min(cap, base * 2**n)``, so many
counters coming back at once do not knock in step), or after exactly the server's
``Retry-After`` (seconds or an HTTP date) when it sends one. Every method is retried, a
POST whose answer timed out included: it may have been committed, and trying again is
safe because Tillmesh POSTs documents under client-chosen names and with an origin event
id in a unique custom field (``tillmesh erpnext setup``): a repeat is answered 409
DuplicateEntryError (the name) or 417 UniqueValidationError (the origin event), never
booked twice. PUTs set absolute values and GETs change nothing. A caller that POSTs
without a name and a unique field of its own must not rely on this.

Errors: every failure is an ``ErpNextError`` (``node.errors``) carrying ERPNext's own
message, made printable (``_text``: no control characters, escapes or bidi overrides
reach a log, a screen or the exceptions list). v1 puts it in ``_server_messages``, a
JSON string holding a list of JSON strings (decoded twice here, HTML tags stripped),
else in ``exception`` or ``exc_type``; v2 in ``{"errors": [{"type", "message",
"exception"}], "messages": [...]}``; both become the same exception with ``exc_type``
set. httpx's exceptions are translated at this boundary (``raise … from exc``) and never
reach a caller. JSON numbers with a fraction are read as ``Decimal`` (money is never a
float in Tillmesh) and Decimals are sent as exact JSON numbers.

The transport is injectable (``httpx.MockTransport`` in tests), as are ``sleep``, the
jitter source and the clocks (the wall's for Retry-After, a monotonic one for
deadlines), so retry timing is tested without waiting. The client is
synchronous: the daemon runs it in a worker thread.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from tillmesh.node.erpnext import const
from tillmesh.node.erpnext._limits import Deadline, Limits, bounded_transport, read_answer
from tillmesh.node.erpnext._site_release import INVOICE_TYPE_SINCE, Release, release_of
from tillmesh.node.erpnext._text import plain_text, printable
from tillmesh.node.errors import (
    ConfigError,
    ErpNextAuthError,
    ErpNextDuplicate,
    ErpNextError,
    ErpNextNameNotKept,
    ErpNextNotFound,
    ErpNextServerError,
    ErpNextUnreachable,
    ErpNextValidation,
    ValidationError,
)

log = logging.getLogger(__name__)

Doc = dict[str, Any]
Verify = bool | str  # True (system CAs), False (no verification), or a CA file/dir path

_BY_STATUS: dict[int, type[ErpNextError]] = {
    401: ErpNextAuthError, 403: ErpNextAuthError, 404: ErpNextNotFound,
    409: ErpNextDuplicate, 417: ErpNextValidation, 429: ErpNextServerError,
}
_CERT_FAILED = "CERTIFICATE_VERIFY_FAILED"  # in ssl's message: retrying cannot help
_MODULE_PATH = re.compile(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*: )")  # "frappe.exceptions."
# Asked once per client to learn whether the site has API v2 (Frappe 15 and later): a
# method every API user may call, answering 200 there and 404 on a site without v2.
_V2_PROBE = "/api/v2/method/frappe.auth.get_logged_user"
# Every app's version, for any logged-in user (Frappe 15 and 16).
_VERSIONS = "frappe.utils.change_log.get_versions"


DEFAULT_LIMITS = Limits()  # const's


class ClientState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


# --- pure helpers ----------------------------------------------------------------------


def backoff_s(attempt: int, jitter: float) -> float:
    """The wait before try ``attempt + 1``: full jitter, ``jitter`` uniform in [0, 1)."""
    return jitter * min(const.BACKOFF_CAP_S, const.BACKOFF_BASE_S * 2 ** (attempt - 1))


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _server_messages(raw: object) -> list[str]:
    """Frappe's ``_server_messages``: a JSON list of JSON objects, each a JSON string."""
    try:
        items = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return [str(raw)]
    out = []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, str):
            with contextlib.suppress(ValueError):
                item = json.loads(item)
        message = item.get("message") if isinstance(item, dict) else item
        if message:
            out.append(plain_text(str(message)))
    return [m for m in out if m]


def _v2_errors(payload: dict[str, Any]) -> list[dict[str, Any]]:
    errors = payload.get("errors")
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _last_line(traceback: object) -> str:
    """``frappe.exceptions.X: text`` from a traceback, as ``X: text`` ('' if none)."""
    lines = str(traceback or "").strip().splitlines()
    return _MODULE_PATH.sub("", plain_text(lines[-1])) if lines else ""


def _v2_message(payload: dict[str, Any]) -> str | None:
    """API v2's words: each error's message (the one Frappe printed with it), then what
    else it printed (``messages``); else the exception's last line, else its type."""
    errors = _v2_errors(payload)
    printed = [e.get("message") for e in errors]
    printed += [m.get("message") for m in payload.get("messages") or [] if isinstance(m, dict)]
    texts = [text for text in (plain_text(str(m)) for m in printed if m) if text]
    if texts:
        return "; ".join(texts)
    for error in errors:
        text = _last_line(error.get("exception")) or str(error.get("type") or "")
        if text:
            return text
    return None


def frappe_message(payload: object) -> str | None:
    """ERPNext's own words for a failure, from a Frappe error answer (None if absent)."""
    if not isinstance(payload, dict):
        return None
    if _v2_errors(payload):
        return _v2_message(payload)
    messages = _server_messages(payload["_server_messages"]) \
        if payload.get("_server_messages") else []
    if messages:
        return "; ".join(messages)
    for key in ("_error_message", "exception"):
        if isinstance(payload.get(key), str) and payload[key].strip():
            return _MODULE_PATH.sub("", plain_text(payload[key]))
    exc_type = payload.get("exc_type")
    return str(exc_type) if exc_type else None


def frappe_exc_type(payload: object) -> str | None:
    """Frappe's exception class: v1's ``exc_type``, v2's first error's ``type``."""
    if not isinstance(payload, dict):
        return None
    found = payload.get("exc_type") or next(
        (e.get("type") for e in _v2_errors(payload) if e.get("type")), None)
    return found if isinstance(found, str) else None


def error_from_answer(status: int, content: bytes, *, method: str, path: str,
                      retry_after: float | None = None) -> ErpNextError:
    """The typed error for a non-2xx answer (pure: tested on the recorded answers)."""
    try:
        payload: object = json.loads(content)
    except ValueError:
        payload = None
    message = frappe_message(payload)
    if message is None:
        text = plain_text(content.decode("utf-8", "replace"))[:const.ERROR_TEXT_CHARS]
        message = f"HTTP {status} from ERPNext" + (f": {text}" if text else "")
    message = printable(message)  # also what Frappe gave outside its HTML messages
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ErpNextServerError if status >= 500 else \
            ErpNextValidation if 400 <= status < 500 else ErpNextError
    details: dict[str, Any] = {"status": status, "method": method, "path": path}
    exc_type = frappe_exc_type(payload)
    if exc_type is not None:
        details["exc_type"] = printable(exc_type)
    if retry_after is not None:
        details["retry_after"] = retry_after
    return cls(message, **details)


def _json_number(value: object) -> object:
    """``json.dumps`` default: a Decimal as an exact JSON number (or a string if none is)."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and abs(value) < 2**53:
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    raise TypeError(f"{type(value).__name__} cannot be sent to ERPNext")


def encode(body: object) -> bytes:
    try:
        return json.dumps(body, default=_json_number, ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"cannot send this to ERPNext: {exc}") from exc


def tls_verify(verify: Verify) -> bool | ssl.SSLContext:
    """What httpx verifies against: True (its CA bundle), False, or a private CA."""
    if isinstance(verify, bool):
        return verify
    try:
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the CA certificate(s) {verify}: {exc}") from exc


def check_url(url: str) -> str:
    """The ERPNext base URL without a trailing slash; ConfigError if it is not one."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"ERPNext URL {url!r} must look like https://erp.example.com")
    if parts.query or parts.fragment:
        raise ConfigError(f"ERPNext URL {url!r} must not carry a query or fragment")
    return url.strip().rstrip("/")


# --- the client ------------------------------------------------------------------------


class ErpNextClient:
    """One ERPNext site as one API user. Use as a context manager, or ``close()`` it."""

    def __init__(self, url: str, api_key: str, api_secret: str, *, verify: Verify = True,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 jitter: Callable[[], float] = random.random,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 monotonic: Callable[[], float] = time.monotonic,
                 max_attempts: int = const.MAX_ATTEMPTS,
                 read_timeout_s: float = const.READ_TIMEOUT_S,
                 limits: Limits = DEFAULT_LIMITS) -> None:
        self.url = check_url(url)
        if not api_key or not api_secret:
            raise ConfigError("an ERPNext API key and secret are both needed")
        if verify is False:
            log.warning("TLS certificates of %s are not verified (--insecure)", self.url)
        self._sleep, self._jitter, self._now, self._monotonic = sleep, jitter, now, monotonic
        self.max_attempts = max(1, max_attempts)
        self.limits = limits
        self.state = ClientState.OPEN
        self._v2: bool | None = None  # whether the site has API v2: asked on first need
        # Per thread (the forwarder sends from several): the deadline of the call under
        # way, which the transport holds each socket operation to, and that of `within`.
        self._deadlines = threading.local()
        self._http = httpx.Client(
            base_url=self.url,
            transport=transport or bounded_transport(tls_verify(verify), self._time_left),
            timeout=httpx.Timeout(connect=const.CONNECT_TIMEOUT_S, read=read_timeout_s,
                                  write=const.WRITE_TIMEOUT_S, pool=const.POOL_TIMEOUT_S),
            headers={"Authorization": f"token {api_key}:{api_secret}",
                     "Accept": "application/json", "User-Agent": const.USER_AGENT},
            follow_redirects=False)  # a redirect would drop the token or hide a wrong URL

    def __repr__(self) -> str:  # never the secret
        return f"ErpNextClient({self.url!r}, {self.state.value})"

    def __enter__(self) -> ErpNextClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.state is ClientState.OPEN:
            self.state = ClientState.CLOSED
            self._http.close()

    @contextlib.contextmanager
    def within(self, seconds: float, whose: str) -> Iterator[None]:
        """Every call this thread makes in the block is over ``seconds`` from now at the
        latest (the deadline of ``whose``, e.g. "the pull"), else ErpNextUnreachable."""
        outer: Deadline | None = getattr(self._deadlines, "outer", None)
        self._deadlines.outer = Deadline.after(seconds, whose, self._monotonic()).earliest(
            outer)
        try:
            yield
        finally:
            self._deadlines.outer = outer

    def _time_left(self) -> float | None:
        """Seconds before this thread's call must be over (None outside a call)."""
        deadline: Deadline | None = getattr(self._deadlines, "call", None)
        return None if deadline is None else deadline.left(self._monotonic())

    # --- the REST API --------------------------------------------------------------------

    def get_list(self, doctype: str, fields: Sequence[str] = ("name",),
                 filters: Sequence[Sequence[Any]] = (), order_by: str | None = None,
                 start: int = 0, page_length: int = const.PAGE_LENGTH,
                 parent: str | None = None) -> list[Doc]:
        """One page of ``doctype`` rows (no child tables). ``parent`` names the parent
        doctype when ``doctype`` is a child table (rows then carry ``parent``)."""
        params = _list_params(fields, filters, order_by, start, page_length, parent)
        length = self._request_line("GET", _resource(doctype), params)
        if length > const.MAX_REQUEST_LINE_BYTES:  # ERPNext's gunicorn would answer 400
            raise ErpNextError(f"a list request of {doctype} would be {length} bytes long,"
                               f" over the {const.MAX_REQUEST_LINE_BYTES} ERPNext accepts",
                               path=_resource(doctype))
        rows = self._call("GET", _resource(doctype), params=params, key="data")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ErpNextServerError(f"ERPNext's list of {doctype} is not a list of rows",
                                     path=_resource(doctype))
        return rows

    def list_request_line(self, doctype: str, fields: Sequence[str] = ("name",),
                          filters: Sequence[Sequence[Any]] = (), order_by: str | None = None,
                          page_length: int = const.PAGE_LENGTH,
                          parent: str | None = None) -> int:
        """The length in bytes of the request line ``get_list`` would send (at start 0)."""
        return self._request_line("GET", _resource(doctype), _list_params(
            fields, filters, order_by, 0, page_length, parent))

    def _request_line(self, method: str, path: str, params: Mapping[str, Any]) -> int:
        target = self._http.build_request(method, path, params=params).url.raw_path
        return len(method) + 1 + len(target) + len(" HTTP/1.1")

    def get_doc(self, doctype: str, name: str, *, missing_ok: bool = False) -> Doc | None:
        """The whole document with its child tables; None if ``missing_ok`` and it is not
        there (otherwise ErpNextNotFound)."""
        try:
            doc = self._call("GET", _resource(doctype, name), key="data")
        except ErpNextNotFound:
            if missing_ok:
                return None
            raise
        return _doc(doc, doctype)

    def exists(self, doctype: str, name: str) -> bool:
        return bool(self.get_list(doctype, filters=[["name", "=", name]], page_length=1))

    def api_v2(self) -> bool:
        """Whether the site has Frappe's API v2, asked once per client (a 404 says no)."""
        if self._v2 is None:
            try:
                self._call("GET", _V2_PROBE, key="data")
            except ErpNextNotFound:
                self._v2 = False
            else:
                self._v2 = True
        return self._v2

    def release(self) -> Release:
        """The site's ERPNext and Frappe releases and POS invoice mode
        (``_site_release.release_of``); ErpNextError if the site does not say (a garbled
        answer is an ErpNextServerError naming what was wrong)."""
        versions = self.call_method(_VERSIONS)
        try:
            release = release_of(versions if isinstance(versions, dict) else {}, None)
            if release.major < INVOICE_TYPE_SINCE:
                return release
            # ERPNext 16's POS Settings say which invoices a POS makes
            return release_of(versions, self.get_doc("POS Settings", "POS Settings",
                                                     missing_ok=True))
        except ValueError as exc:
            raise ErpNextServerError(str(exc), path=_VERSIONS) from exc

    def insert(self, doctype: str, doc: Mapping[str, Any]) -> Doc:
        """Create a document (``docstatus: 1`` in it submits it too) under the ``name`` it
        carries, through API v2 where the site has it; ErpNextDuplicate (409) if that
        name exists, ErpNextNameNotKept if ERPNext stored it under a name of its own."""
        path = _document(doctype) if self.api_v2() else _resource(doctype)
        answer = _doc(self._call("POST", path, body=dict(doc), key="data"), doctype)
        sent = doc.get("name")
        if sent and answer.get("name") != sent:
            raise name_not_kept(doctype, str(sent), str(answer.get("name")),
                                api_v2=bool(self._v2), path=path)
        return answer

    def update(self, doctype: str, name: str, fields: Mapping[str, Any]) -> Doc:
        """Set fields of an existing document (``{"docstatus": 1}`` submits a draft)."""
        return _doc(self._call("PUT", _resource(doctype, name), body=dict(fields),
                               key="data"), doctype)

    def run_doc_method(self, doctype: str, name: str, method: str) -> Any:
        """A document's own whitelisted method (``run_method=retry`` on a POS Closing
        Entry whose consolidation failed): ``POST /api/resource/<doctype>/<name>``."""
        return self._call("POST", _resource(doctype, name), params={"run_method": method},
                          key="message")

    def call_method(self, path: str, params: Mapping[str, Any] | None = None,
                    body: Mapping[str, Any] | None = None, http_method: str = "GET") -> Any:
        """A whitelisted method (``frappe.auth.get_logged_user``): its ``message``."""
        return self._call(http_method.upper(), f"/api/method/{quote(path, safe='.')}",
                          params=dict(params or {}), body=None if body is None else dict(body),
                          key="message")

    # --- one request, retried --------------------------------------------------------------

    def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              body: object = None, key: str) -> Any:
        if self.state is ClientState.CLOSED:
            raise ErpNextError("this ERPNext client is closed", path=path)
        content = None if body is None else encode(body)
        headers = {} if content is None else {"Content-Type": "application/json"}
        deadline = Deadline.after(self.limits.request_deadline_s, "one request",
                                  self._monotonic()).earliest(
            getattr(self._deadlines, "outer", None))
        self._deadlines.call = deadline
        try:
            for attempt in range(1, self.max_attempts + 1):
                if deadline.left(self._monotonic()) <= 0:  # e.g. a pull's, before this call
                    raise deadline.missed(method, path)
                try:
                    response, answer = self._exchange(method, path, params, content, headers)
                except httpx.TransportError as exc:
                    if deadline.left(self._monotonic()) <= 0:
                        raise deadline.missed(method, path) from exc
                    failure: ErpNextError = _unreachable(self.url, method, path, exc)
                    if _CERT_FAILED in str(exc) or attempt == self.max_attempts:
                        raise failure from exc
                    wait = backoff_s(attempt, self._jitter())
                except httpx.HTTPError as exc:  # a broken answer (bad gzip, …): not retried
                    raise ErpNextServerError(f"unreadable answer from ERPNext: {exc}",
                                             method=method, path=path) from exc
                else:
                    if response.is_success:
                        return _payload(answer, key, method, path)
                    asked = retry_after_s(response.headers.get("Retry-After"), self._now())
                    failure = error_from_answer(response.status_code, answer, method=method,
                                                path=path, retry_after=asked)
                    retryable = response.status_code >= 500 or response.status_code == 429 \
                        or failure.exc_type in const.RETRIED_CONFLICTS
                    if response.is_redirect:
                        where = printable(response.headers.get("Location", ""))
                        failure = ErpNextError(f"ERPNext redirects {path} to {where}: use that"
                                               " URL", status=response.status_code, path=path)
                    if not retryable or attempt == self.max_attempts or \
                            (asked or 0.0) > const.MAX_RETRY_AFTER_S:
                        raise failure
                    wait = asked if asked is not None else backoff_s(attempt, self._jitter())
                if wait >= deadline.left(self._monotonic()):  # the try after it would be cut
                    raise failure
                log.warning("ERPNext %s %s: %s; try %d of %d in %.1f s", method, path,
                            failure.message, attempt + 1, self.max_attempts, wait)
                self._sleep(wait)
        finally:
            self._deadlines.call = None
        raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover

    def _exchange(self, method: str, path: str, params: Mapping[str, Any] | None,
                  content: bytes | None, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
        """One request; the answer's head and its body, read up to ``max_answer_bytes``
        (leaving the rest unread closes the connection)."""
        with self._http.stream(method, path, params=params, content=content,
                               headers=headers) as response:
            return response, read_answer(response, self.limits.max_answer_bytes, method,
                                         path)


def _list_params(fields: Sequence[str], filters: Sequence[Sequence[Any]],
                 order_by: str | None, start: int, page_length: int,
                 parent: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"fields": json.dumps(list(fields)),
                              "limit_start": start, "limit_page_length": page_length}
    if filters:
        params["filters"] = json.dumps([list(f) for f in filters])
    if order_by:
        params["order_by"] = order_by
    if parent:
        params["parent"] = parent
    return params


def _resource(doctype: str, name: str | None = None) -> str:
    path = f"/api/resource/{quote(doctype, safe='')}"
    return path if name is None else f"{path}/{quote(name, safe='')}"


def _document(doctype: str) -> str:
    return f"/api/v2/document/{quote(doctype, safe='')}"


def name_not_kept(doctype: str, sent: str, held: str, *, api_v2: bool | None,
                  **details: Any) -> ErpNextNameNotKept:
    """ERPNext holds the document ``sent`` under the name ``held``: what to tell a person.
    It is there once (its origin event is unique), but every return and closing that
    names it would point at nothing, so it is never counted as delivered."""
    why = "even through API v2" if api_v2 else "on /api/resource, and it has no API v2"
    held = printable(held)  # ERPNext's choice
    return ErpNextNameNotKept(
        f"ERPNext booked {doctype} {sent} as {held}: this Frappe does not keep the name"
        f" a client sends ({why}), and Tillmesh's returns and closings name {sent}. Upgrade"
        f" to a Frappe whose API v2 keeps names, cancel and delete {held}, then retry; or"
        " settle it by hand and resolve this",
        erpnext_name=held, **details)


def _unreachable(url: str, method: str, path: str, exc: httpx.TransportError) -> ErpNextError:
    what = type(exc).__name__
    hint = ""
    if _CERT_FAILED in str(exc):
        hint = " (a private CA? run `tillmesh erpnext setup … --verify CA.pem`)"
    detail = printable(str(exc)) or what
    return ErpNextUnreachable(f"ERPNext at {url} unreachable: {what}: {detail}{hint}",
                              method=method, path=path)


def _payload(content: bytes, key: str, method: str, path: str) -> Any:
    try:
        payload = json.loads(content, parse_float=Decimal)
    except ValueError as exc:
        raise ErpNextServerError(f"ERPNext answered {path} with something other than JSON"
                                 " (a proxy's page? check the URL)", method=method,
                                 path=path) from exc
    if not isinstance(payload, dict) or (key not in payload and key == "data"):
        raise ErpNextServerError(f"ERPNext's answer to {path} has no {key!r}",
                                 method=method, path=path)
    return payload.get(key)


def _doc(value: object, doctype: str) -> Doc:
    if not isinstance(value, dict):
        raise ErpNextServerError(f"ERPNext answered a {doctype} that is not a document")
    return value
