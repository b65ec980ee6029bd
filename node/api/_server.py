"""The local API's server: a thin ZeroMQ (ROUTER) asyncio server over the wire codec.

The UI and the CLI reach the node daemon only through this API, over an IPC socket that
only the service user can open. The transport carries a session token; roles are
checked by the node's handler, never here.

Server behaviour (:class:`ApiServer`):

* Concurrency: the reader, the loop's callback for the socket's descriptor, reads every
  message there without blocking and decodes it at once (a big one in a thread, so the
  event loop never waits on it; those behind it wait their turn) and answers malformed
  ones at once; replies are sent at once (a ROUTER never waits to send): pyzmq's
  asyncio futures cost ~30 us a request on top of that (a round trip took 111 us against
  83), and a reader task woken by the callback ~60 k instructions a call (303 k -> 243 k);
  well-formed requests go into a bounded FIFO queue that ``workers`` tasks (default 1)
  drain. With one worker, requests are handled one at a time
  in arrival order, because the node's store is single-writer; a slow handler delays the
  requests behind it but never stops reading. When the queue is full the node answers
  ``NodeUnavailable`` ("busy") immediately instead of growing without bound.
* Background work on the loop (an ERPNext pull's store steps, the forwarder's) may first
  wait for a lull (:meth:`ApiServer.lull`): no request in hand and none answered for a
  few milliseconds, or a bounded wait, so that a cashier's sale runs its calls without a
  step between them.
* One endpoint, one node: for ``ipc://`` endpoints an exclusive ``flock`` on
  ``<socket>.lock`` is taken before binding and held until :meth:`ApiServer.close`.
  The kernel drops the lock when the holder dies (even ``kill -9``), so a held lock means
  a live node (-> :class:`~node.errors.ApiError`) and a socket file without a held lock is
  stale and is removed. This beats "connect and ping": no timeout guess, no race between
  two nodes starting together, and a live but hung node is never mistaken for a dead one.
  The lock file itself is left in place on close (unlinking lock files races).
* The socket file is ``chmod 0600`` right after bind. Connect permission is checked at
  connect time, so the directory holding the socket should itself be private: the data
  dir (0700), or on an installed counter ``/run/tillmesh`` (2750, group ``tillmesh-app``),
  where the daemon then opens the socket to that group (0660) for the till's app;
  that closes the short window between bind and chmod.
* ``TillmeshError`` from the handler -> its ``to_wire()``; any other exception -> code
  ``"internal"`` with a short message, traceback in the node log; the node keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fcntl
import logging
import os
import stat
import time
from collections.abc import Awaitable, Callable
from typing import Any

import zmq
import zmq.asyncio

from tillmesh.node.api._wire import (
    Reply,
    Request,
    decode_request,
    encode_reply,
    salvage_id,
)
from tillmesh.node.api.const import (
    INLINE_DECODE_BYTES,
    MAX_QUEUED_REQUESTS,
    MAX_RECEIVE_BYTES,
    SLOW_HANDLER_S,
)
from tillmesh.node.errors import ApiError, MalformedRequest, NodeUnavailable, TillmeshError

__all__ = ["ApiServer", "Handler", "ServerState", "ipc_path"]

log = logging.getLogger(__name__)


Handler = Callable[[Request], Awaitable[Any]]

# pyzmq's flags and options as plain ints: its enums cost ~2 µs at each use (three a call)
_EVENTS, _POLLIN, _NOBLOCK = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.NOBLOCK)


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
        self._socket: zmq.Socket[bytes] | None = None
        self._decoding: asyncio.Future[None] | None = None  # a big request being decoded
        self._lock_fd: int | None = None
        self._bound_path: str | None = None  # the socket file we created, ours to remove
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._failure: BaseException | None = None
        self._taken = 0  # requests read and not yet answered
        self._answered_at = 0.0  # loop time of the last answer
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
        asyncio.get_running_loop().add_reader(_fd(self._socket), self._read)
        for number in range(self._workers):
            self._spawn(self._work(), f"worker-{number}")
        log.info("local API listening on %s", self.endpoint)

    def _bind(self) -> zmq.Socket[bytes]:
        # the context replication uses too (one I/O thread); a plain socket on it
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.shadow(
            zmq.asyncio.Context.instance().underlying)
        sock: zmq.Socket[bytes] = context.socket(zmq.ROUTER)
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
        if self._decoding is not None:
            self._decoding.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._release()
        self._stopped.set()
        log.info("local API on %s closed", self.endpoint)

    def _release(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                asyncio.get_running_loop().remove_reader(_fd(self._socket))
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

    def _read(self) -> None:
        """Every request there is, read at once when the loop says the socket may have
        input (its callback: no task woken between the descriptor and the queue).

        The descriptor is edge-triggered: it says "look", and only EVENTS says whether
        input is there (reading it re-arms the descriptor). Asked before each read: a
        read that finds nothing raises, which cost more than the call. A big request is
        decoded in a thread; the ones behind it wait for it, in the order they came."""
        sock = self._socket
        while sock is not None and self._decoding is None and _has_input(sock):
            try:
                frames = sock.recv_multipart(_NOBLOCK)
            except zmq.Again:
                continue
            except zmq.ZMQError as exc:
                self._fail(ApiError(f"receiving on {self.endpoint} failed: {exc}"))
                return
            envelope, payload = frames[:-1], frames[-1]
            if len(payload) <= INLINE_DECODE_BYTES:
                self._take(envelope, payload, _decoded(payload))
            else:
                self._decoding = asyncio.ensure_future(self._decode_big(envelope, payload))

    async def _decode_big(self, envelope: list[bytes], payload: bytes) -> None:
        """A frame of tiny values costs ~1 us a value to decode (~25 ms for the largest
        allowed), which the event loop need not wait for."""
        try:
            decoded: Request | MalformedRequest = await asyncio.to_thread(_decoded, payload)
        finally:
            self._decoding = None
        self._take(envelope, payload, decoded)
        self._read()

    def _take(self, envelope: list[bytes], payload: bytes,
              decoded: Request | MalformedRequest) -> None:
        """Queue a request for the workers; answer a malformed one, or all when busy."""
        if isinstance(decoded, MalformedRequest):
            log.warning("rejected a malformed local API request: %s", decoded.message)
            self._send(envelope, Reply.failure(salvage_id(payload), decoded))
            return
        try:
            self._queue.put_nowait((envelope, decoded))
            self._taken += 1
        except asyncio.QueueFull:
            busy = NodeUnavailable(
                f"the node is busy ({self._queue.qsize()} requests waiting); try again"
            )
            self._send(envelope, Reply.failure(decoded.id, busy))

    def _fail(self, exc: BaseException) -> None:
        """The transport failed: ``serve_forever`` raises it."""
        if self._failure is None:
            self._failure = exc
            log.error("local API stopped reading", exc_info=exc)
        self._stopped.set()

    async def _work(self) -> None:
        while True:
            envelope, request = await self._queue.get()
            try:
                reply = await self._handle(request)
                self._send(envelope, reply)
            finally:
                self._taken -= 1
                self._answered_at = asyncio.get_running_loop().time()

    async def lull(self, quiet_s: float, at_most_s: float) -> None:
        """Return once no request is waiting or being handled and none was answered for
        ``quiet_s`` seconds (a cashier's next call of a sale comes within a millisecond or
        two of the answer to the last), or after ``at_most_s``, whichever is first: what
        background work waits for before it holds the loop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + at_most_s
        while (now := loop.time()) < deadline:
            left = quiet_s if self._taken else self._answered_at + quiet_s - now
            if left <= 0:
                return
            await asyncio.sleep(min(left, deadline - now))

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

    def _send(self, envelope: list[bytes], reply: Reply) -> None:
        sock = self._socket
        if sock is None:
            return
        try:
            sock.send_multipart([*envelope, _encode_safely(reply)], _NOBLOCK)
        except zmq.ZMQError as exc:  # ROUTER drops replies to gone clients; this is rarer
            log.warning("could not send the reply to request %d: %s", reply.id, exc)
        # A send may take the descriptor's edge for input that came meanwhile.
        if _has_input(sock):
            asyncio.get_running_loop().call_soon(self._read)


def _fd(sock: zmq.Socket[bytes]) -> int:
    return int(sock.getsockopt(zmq.FD))


def _has_input(sock: zmq.Socket[bytes]) -> bool:
    return bool(int(sock.get(_EVENTS)) & _POLLIN)


def _decoded(payload: bytes) -> Request | MalformedRequest:
    """The request, or why it is malformed (answered, not raised: the reader goes on)."""
    try:
        return decode_request(payload)
    except MalformedRequest as exc:
        return exc


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
