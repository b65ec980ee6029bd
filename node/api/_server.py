"""The node's local API: a pure msgpack codec and a thin ZeroMQ (ROUTER) asyncio server.

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

Server behaviour (:class:`ApiServer`):

* Concurrency: one reader task decodes every message as soon as it arrives and answers
  malformed ones at once; well-formed requests go into a bounded FIFO queue that
  ``workers`` tasks (default 1) drain. With one worker, requests are handled one at a time
  in arrival order, because the node's store is single-writer; a slow handler delays the
  requests behind it but never stops reading. When the queue is full the node answers
  ``NodeUnavailable`` ("busy") immediately instead of growing without bound.
* One endpoint, one node: for ``ipc://`` endpoints an exclusive ``flock`` on
  ``<socket>.lock`` is taken before binding and held until :meth:`ApiServer.close`.
  The kernel drops the lock when the holder dies (even ``kill -9``), so a held lock means
  a live node (-> :class:`~node.errors.ApiError`) and a socket file without a held lock is
  stale and is removed. This beats "connect and ping": no timeout guess, no race between
  two nodes starting together, and a live but hung node is never mistaken for a dead one.
  The lock file itself is left in place on close (unlinking lock files races).
* The socket file is ``chmod 0600`` right after bind. Connect permission is checked at
  connect time, so the directory holding the socket should itself be private to the
  service user (``deploy/`` makes ``/var/lib/tillmesh`` 0700); that closes the short
  window between bind and chmod.
* ``TillmeshError`` from the handler -> its ``to_wire()``; any other exception -> code
  ``"internal"`` with a short message, traceback in the node log; the node keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import fcntl
import logging
import os
import re
import stat
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from tillmesh.node.errors import ApiError, MalformedRequest, NodeUnavailable, TillmeshError

__all__ = [
    "MAX_REQUEST_BYTES",
    "PROTOCOL_VERSION",
    "ApiServer",
    "Handler",
    "Reply",
    "Request",
    "ServerState",
    "decode_reply",
    "decode_request",
    "encode_reply",
    "encode_request",
    "ipc_path",
    "salvage_id",
    "to_wire_value",
]

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1  # bumped on any incompatible change of the maps below
MAX_REQUEST_BYTES = 1 << 20  # bytes; the largest honest request (a cart of a few hundred
#   lines with payments) is a few KiB, so 1 MiB is generous yet bounds decode work
MAX_RECEIVE_BYTES = 16 << 20  # bytes; libzmq drops the connection above this, so a
#   runaway client cannot make the node buffer unbounded memory; between the two limits
#   the client gets a clear MalformedRequest instead
MAX_REPLY_BYTES = 16 << 20  # bytes; a result larger than this is a node bug (unpaged list)
MAX_REQUEST_ID = (1 << 63) - 1  # ids fit a signed 64-bit int in every msgpack library
MAX_TOKEN_CHARS = 512  # characters; session tokens are ~43 (32 random bytes, base64)
MAX_PARAMS_DEPTH = 32  # nesting levels; real params are <= 4 deep, and the check recurses
MAX_QUEUED_REQUESTS = 1000  # requests; a till has a handful of clients, a full queue means
#   the node is stuck, and answering "busy" at once beats growing memory
SLOW_HANDLER_S = 1.0  # seconds; a handler slower than this is logged (it delays the queue)
METHOD_RE = re.compile(r"[a-z_][a-z0-9_.]{0,63}")

_REQUEST_KEYS = frozenset({"v", "id", "method", "params", "token"})
_REPLY_KEYS = frozenset({"v", "id", "ok", "result", "error"})
_ERROR_KEYS = frozenset({"code", "message", "details"})
_PLAIN = (type(None), bool, int, float, str, bytes)
_UNPACK_ERRORS = (ValueError, TypeError, msgpack.UnpackException)
_PACK_ERRORS = (ValueError, TypeError, OverflowError)


# --------------------------------------------------------------------------- codec (pure)


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
        raise MalformedRequest(f"unknown request fields: {', '.join(unknown)[:200]}")
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


# --------------------------------------------------------------------- server (asyncio I/O)

Handler = Callable[[Request], Awaitable[Any]]


class ServerState(enum.Enum):
    UNSTARTED = "unstarted"
    SERVING = "serving"
    CLOSED = "closed"


def ipc_path(endpoint: str) -> str | None:
    """The socket file of an ``ipc://`` endpoint; None for TCP or Linux abstract sockets."""
    if not endpoint.startswith("ipc://"):
        return None
    path = endpoint[len("ipc://") :]
    return None if path.startswith("@") else path


def _lock_endpoint(endpoint: str, path: str) -> int:
    """Take the exclusive lock that says 'a node serves this socket'; returns the fd."""
    lock_path = path + ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ApiError(f"cannot create the API lock file {lock_path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ApiError(
            f"another Tillmesh node (pid {holder}) already serves {endpoint}",
            lock=lock_path,
        ) from exc
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _remove_stale_socket(path: str) -> None:
    """Remove a socket file left by a node that died; we hold the lock, so it is stale."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ApiError(f"{path} exists and is not a socket; refusing to replace it")
    log.info("removing stale local API socket %s", path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class ApiServer:
    """Serves ``handler`` on ``endpoint`` (see the module docstring for the guarantees).

    All methods run on the event loop that called :meth:`start`.
    """

    def __init__(
        self,
        endpoint: str,
        handler: Handler,
        *,
        workers: int = 1,
        max_queued: int = MAX_QUEUED_REQUESTS,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.endpoint = endpoint
        self._handler = handler
        self._workers = workers
        self._queue: asyncio.Queue[tuple[list[bytes], Request]] = asyncio.Queue(max_queued)
        self._socket: zmq.asyncio.Socket | None = None
        self._lock_fd: int | None = None
        self._bound_path: str | None = None  # the socket file we created, ours to remove
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._failure: BaseException | None = None
        self.state = ServerState.UNSTARTED

    async def start(self) -> None:
        """Lock the endpoint, remove a stale socket, bind, chmod 0600 and start serving."""
        if self.state is not ServerState.UNSTARTED:
            raise ApiError(f"the local API server is {self.state.value}")
        path = ipc_path(self.endpoint)
        if path is not None:
            self._lock_fd = _lock_endpoint(self.endpoint, path)
        try:
            if path is not None:
                _remove_stale_socket(path)
            self._socket = self._bind()
            if path is not None:
                self._bound_path = path
                os.chmod(path, 0o600)
        except (OSError, ApiError) as exc:
            self._release()
            if isinstance(exc, ApiError):
                raise
            raise ApiError(f"cannot secure the local API socket {path}: {exc}") from exc
        self.state = ServerState.SERVING
        self._spawn(self._read(), "reader")
        for number in range(self._workers):
            self._spawn(self._work(), f"worker-{number}")
        log.info("local API listening on %s", self.endpoint)

    def _bind(self) -> zmq.asyncio.Socket:
        sock = zmq.asyncio.Context.instance().socket(zmq.ROUTER)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, MAX_RECEIVE_BYTES)
            sock.bind(self.endpoint)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            raise ApiError(f"cannot serve the local API at {self.endpoint}: {exc}") from exc
        return sock

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(f"tillmesh-api-{name}")
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()
            log.error("local API %s stopped", task.get_name(), exc_info=self._failure)
        self._stopped.set()

    async def serve_forever(self) -> None:
        """Start if needed and return when closed; raises ApiError if the transport failed."""
        if self.state is ServerState.UNSTARTED:
            await self.start()
        await self._stopped.wait()
        if self._failure is not None:
            await self.close()
            raise ApiError(f"the local API at {self.endpoint} failed: {self._failure}")

    async def close(self) -> None:
        """Stop serving: queued requests are dropped (their clients time out). Idempotent."""
        if self.state is ServerState.CLOSED:
            return
        self.state = ServerState.CLOSED
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._release()
        self._stopped.set()
        log.info("local API on %s closed", self.endpoint)

    def _release(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
        if self._bound_path is not None:  # libzmq leaves the file; it is ours under the lock
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._bound_path)
            self._bound_path = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    async def __aenter__(self) -> ApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _read(self) -> None:
        assert self._socket is not None
        sock = self._socket
        while True:
            try:
                frames = await sock.recv_multipart()
            except zmq.ZMQError as exc:
                raise ApiError(f"receiving on {self.endpoint} failed: {exc}") from exc
            envelope, payload = frames[:-1], frames[-1]
            try:
                request = decode_request(payload)
            except MalformedRequest as exc:
                log.warning("rejected a malformed local API request: %s", exc.message)
                await self._send(envelope, Reply.failure(salvage_id(payload), exc))
                continue
            try:
                self._queue.put_nowait((envelope, request))
            except asyncio.QueueFull:
                busy = NodeUnavailable(
                    f"the node is busy ({self._queue.qsize()} requests waiting); try again"
                )
                await self._send(envelope, Reply.failure(request.id, busy))

    async def _work(self) -> None:
        while True:
            envelope, request = await self._queue.get()
            reply = await self._handle(request)
            await self._send(envelope, reply)

    async def _handle(self, request: Request) -> Reply:
        started = time.monotonic()
        try:
            reply = Reply.success(request.id, await self._handler(request))
        except TillmeshError as exc:
            reply = Reply.failure(request.id, exc)
        except Exception as exc:  # the node must survive any handler bug
            log.exception("local API handler failed on %r", request)
            reply = _internal(
                request.id, f"internal error ({type(exc).__name__}) in {request.method}"
            )
        elapsed = time.monotonic() - started
        if elapsed > SLOW_HANDLER_S:
            log.warning("local API %r took %.1f s; later requests waited", request, elapsed)
        return reply

    async def _send(self, envelope: list[bytes], reply: Reply) -> None:
        if self._socket is None:
            return
        try:
            await self._socket.send_multipart([*envelope, _encode_safely(reply)])
        except zmq.ZMQError as exc:  # ROUTER drops replies to gone clients; this is rarer
            log.warning("could not send the reply to request %d: %s", reply.id, exc)


def _internal(request_id: int, message: str) -> Reply:
    error = {"code": "internal", "message": f"{message}; see the node log", "details": {}}
    return Reply(request_id, False, error=error)


def _encode_safely(reply: Reply) -> bytes:
    """Encode ``reply``, degrading to a smaller error reply rather than never answering."""
    try:
        return encode_reply(reply)
    except ApiError as exc:
        log.error("cannot encode the reply to request %d: %s", reply.id, exc.message)
    if not reply.ok and reply.error is not None:  # details msgpack cannot carry: drop them
        error = {
            "code": str(reply.error.get("code", "error")),
            "message": str(reply.error.get("message", "")),
            "details": {},
        }
        with contextlib.suppress(ApiError):
            return encode_reply(Reply(reply.id, False, error=error))
    return encode_reply(_internal(reply.id, "internal error (reply not encodable)"))
