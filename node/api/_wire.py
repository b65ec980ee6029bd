"""The local API's wire codec: requests and replies as msgpack maps. Pure: no sockets.

The UI and the CLI reach the node daemon only through this API, over an IPC socket that
only the service user can open. The transport carries a session token; roles are
checked by the node's handler, never here.

Wire format (one msgpack map per ZeroMQ message part, protocol version 1)::

    request   {"v": 1, "id": int, "method": str, "params": map, "token": str | nil}
    success   {"v": 1, "id": int, "ok": true,  "result": any}
    failure   {"v": 1, "id": int, "ok": false, "error": {"code": str, "message": str,
                                                          "details": map}}

``id`` is chosen by the client (1 .. 2**63-1) and echoed in the reply; a reply to a
request too broken to carry a readable id has ``id`` 0. ``params`` and ``token`` may be
omitted (``{}`` and nil). Values that msgpack cannot carry are encoded by
:func:`to_wire_value`: ``Decimal`` -> ``str`` (never a float near money), aware
``datetime`` / ``date`` -> ISO-8601 ``str``, enums by value, dataclasses as maps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgpack

from tillmesh.node.api.const import (
    MAX_PARAMS_DEPTH,
    MAX_REPLY_BYTES,
    MAX_REQUEST_BYTES,
    MAX_REQUEST_ID,
    MAX_TOKEN_CHARS,
    METHOD_RE,
    PROTOCOL_VERSION,
    UNKNOWN_FIELDS_CHARS,
)
from tillmesh.node.errors import ApiError, MalformedRequest, TillmeshError

__all__ = [
    "Reply",
    "Request",
    "decode_reply",
    "decode_request",
    "encode_reply",
    "encode_request",
    "salvage_id",
    "to_wire_value",
]

_REQUEST_KEYS = frozenset({"v", "id", "method", "params", "token"})
_REPLY_KEYS = frozenset({"v", "id", "ok", "result", "error"})
_ERROR_KEYS = frozenset({"code", "message", "details"})
_PLAIN = (type(None), bool, int, float, str, bytes)
_UNPACK_ERRORS = (ValueError, TypeError, msgpack.UnpackException)
_PACK_ERRORS = (ValueError, TypeError, OverflowError)


@dataclasses.dataclass(frozen=True)
class Request:
    """One call to the node. ``params`` and ``token`` stay out of ``repr`` (PINs, tokens)."""

    id: int
    method: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    token: str | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class Reply:
    """The node's answer: ``result`` when ``ok``, else ``error`` (a ``to_wire()`` map)."""

    id: int
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None

    @classmethod
    def success(cls, request_id: int, result: Any) -> Reply:
        return cls(request_id, True, result=result)

    @classmethod
    def failure(cls, request_id: int, exc: TillmeshError) -> Reply:
        return cls(request_id, False, error=exc.to_wire())


def to_wire_value(obj: object) -> object:
    """msgpack ``default=`` hook: the plain form of a value msgpack cannot carry."""
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime):
        if obj.tzinfo is None or obj.utcoffset() is None:
            raise TypeError(f"naive datetime {obj.isoformat()} (give it a timezone)")
        return obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"cannot encode a {type(obj).__name__}")


def _pack(value: object) -> bytes:
    frame: bytes = msgpack.packb(value, default=to_wire_value, use_bin_type=True)
    return frame


def _reject_ext(code: int, data: bytes) -> object:
    raise ValueError(f"msgpack extension type {code} is not allowed")


def _unpack(frame: bytes) -> object:
    """Decode one msgpack value; raises ValueError/TypeError/UnpackException on bad input."""
    return msgpack.unpackb(frame, raw=False, strict_map_key=True, ext_hook=_reject_ext)


def _check_plain(value: object, where: str, depth: int = 0) -> None:
    """Params hold only nil, bool, int, float, str, bin, arrays and maps, shallowly nested."""
    if depth > MAX_PARAMS_DEPTH:
        raise MalformedRequest(f"{where} is nested more than {MAX_PARAMS_DEPTH} levels deep")
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, list):
        for item in value:
            _check_plain(item, where, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            _check_plain(item, where, depth + 1)
    else:
        raise MalformedRequest(f"{where} holds a {type(value).__name__}, not plain data")


def _is_version(value: object) -> bool:
    return type(value) is int and value == PROTOCOL_VERSION  # not True, not 1.0


def _check_id(value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedRequest(f"id must be an integer, not {type(value).__name__}")
    if not minimum <= value <= MAX_REQUEST_ID:
        raise MalformedRequest(f"id must be between {minimum} and {MAX_REQUEST_ID}, not {value}")
    return value


def _check_request(request_id: object, method: object, params: object, token: object) -> Request:
    rid = _check_id(request_id, 1)
    if not isinstance(method, str) or not METHOD_RE.fullmatch(method):
        raise MalformedRequest(f"method must match {METHOD_RE.pattern}, not {method!r:.80}")
    if not isinstance(params, dict):
        raise MalformedRequest(f"params must be a map, not {type(params).__name__}")
    for key in params:
        if not isinstance(key, str):
            raise MalformedRequest(f"param names must be strings, not {key!r:.80}")
    if token is not None and not isinstance(token, str):
        raise MalformedRequest(f"token must be a string or nil, not {type(token).__name__}")
    if token is not None and len(token) > MAX_TOKEN_CHARS:
        raise MalformedRequest(f"token is longer than {MAX_TOKEN_CHARS} characters")
    return Request(rid, method, params, token)


def _check_size(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise MalformedRequest(f"{what} is {size} bytes, more than the {limit} allowed")


def encode_request(request: Request) -> bytes:
    """The wire form of ``request``; raises MalformedRequest if the node would reject it."""
    _check_request(request.id, request.method, request.params, request.token)
    payload = {
        "v": PROTOCOL_VERSION,
        "id": request.id,
        "method": request.method,
        "params": request.params,
        "token": request.token,
    }
    try:
        frame = _pack(payload)
    except _PACK_ERRORS as exc:
        raise MalformedRequest(f"cannot encode the params of {request.method}: {exc}") from exc
    _check_size(len(frame), MAX_REQUEST_BYTES, "the request")
    return frame


def decode_request(frame: bytes) -> Request:
    """Parse and validate one request; any violation raises MalformedRequest, nothing else."""
    _check_size(len(frame), MAX_REQUEST_BYTES, "the request")
    try:
        payload = _unpack(frame)
    except _UNPACK_ERRORS as exc:
        raise MalformedRequest(
            f"the request is not valid msgpack ({str(exc) or 'corrupt'})"
        ) from exc
    if not isinstance(payload, dict):
        raise MalformedRequest(f"the request must be a map, not {type(payload).__name__}")
    unknown = sorted(map(repr, payload.keys() - _REQUEST_KEYS))
    if unknown:
        shown = ", ".join(unknown)[:UNKNOWN_FIELDS_CHARS]
        raise MalformedRequest(f"unknown request fields: {shown}")
    version = payload.get("v")
    if not _is_version(version):
        raise MalformedRequest(
            f"unsupported protocol version {version!r:.20}; this node speaks {PROTOCOL_VERSION}"
        )
    for key in ("id", "method"):
        if key not in payload:
            raise MalformedRequest(f"the request has no {key}")
    params = payload.get("params", {})
    request = _check_request(payload["id"], payload["method"], params, payload.get("token"))
    _check_plain(params, "params")
    return request


def salvage_id(frame: bytes) -> int:
    """The id of a rejected request if one can be read safely, else 0 (for the error reply)."""
    if len(frame) > MAX_REQUEST_BYTES:
        return 0
    try:
        payload = _unpack(frame)
    except _UNPACK_ERRORS:
        return 0
    if isinstance(payload, dict):
        with contextlib.suppress(MalformedRequest):
            return _check_id(payload.get("id"), 1)
    return 0


def encode_reply(reply: Reply) -> bytes:
    """The wire form of ``reply``; raises ApiError if the result cannot be encoded."""
    payload: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": reply.id, "ok": reply.ok}
    if reply.ok:
        payload["result"] = reply.result
    else:
        payload["error"] = reply.error
    try:
        frame = _pack(payload)
    except _PACK_ERRORS as exc:
        raise ApiError(f"cannot encode the reply: {exc}") from exc
    if len(frame) > MAX_REPLY_BYTES:
        raise ApiError(f"the reply is {len(frame)} bytes, more than {MAX_REPLY_BYTES}")
    return frame


def _bad_reply(message: str) -> ApiError:
    return ApiError(f"malformed reply from the node: {message}")


def decode_reply(frame: bytes) -> Reply:
    """Parse and validate one reply; any violation raises ApiError."""
    if len(frame) > MAX_REPLY_BYTES:
        raise _bad_reply(f"{len(frame)} bytes")
    try:
        payload = _unpack(frame)
    except _UNPACK_ERRORS as exc:
        raise _bad_reply(f"not valid msgpack ({str(exc) or 'corrupt'})") from exc
    if not isinstance(payload, dict) or payload.keys() - _REPLY_KEYS:
        raise _bad_reply("not a reply map")
    if not _is_version(payload.get("v")):
        raise ApiError(
            f"the node speaks protocol version {payload.get('v')!r:.20}, "
            f"this client {PROTOCOL_VERSION}"
        )
    try:
        reply_id = _check_id(payload.get("id"), 0)
    except MalformedRequest as exc:
        raise _bad_reply(exc.message) from None
    ok = payload.get("ok")
    if ok is True and "result" in payload and "error" not in payload:
        return Reply.success(reply_id, payload["result"])
    error = payload.get("error")
    if ok is not False or "result" in payload or not isinstance(error, dict):
        raise _bad_reply("needs ok=true with a result or ok=false with an error")
    if (
        error.keys() - _ERROR_KEYS
        or not isinstance(error.get("code"), str)
        or not isinstance(error.get("message"), str)
        or not isinstance(error.get("details", {}), dict)
    ):
        raise _bad_reply("the error needs a code, a message and a details map")
    return Reply(reply_id, False, error=error)
