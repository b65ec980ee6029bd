"""The join handshake over ZeroMQ: the inviting counter's listener and the new counter's
request. CurveZMQ encrypts both ways; the listener accepts any client key (the new
counter is not a member yet) but does nothing without a valid one-time invite secret.

The listener has a ZeroMQ context of its own, so the replication transport's key check
(ZAP, members only) does not apply to it, and nothing but a join request is served here.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from tillmesh.node.errors import ApiError, NodeUnavailable, TillmeshError, ValidationError
from tillmesh.node.membership.const import (
    JOIN_TIMEOUT_S,
    MAX_JOIN_REQUEST_BYTES,
    SNAPSHOT_FIRST_TIMEOUT_S,
)
from tillmesh.node.membership.invite import InviteCode
from tillmesh.node.membership.keys import Keypair

log = logging.getLogger("tillmesh.join")


class JoinListener:
    """Serves join requests with ``handle(request) -> reply`` (the node's enrol)."""

    def __init__(self, endpoint: str, keypair: Keypair, handle: Any) -> None:
        self.endpoint = endpoint
        self._ctx = zmq.asyncio.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.MAXMSGSIZE, MAX_JOIN_REQUEST_BYTES)
        self._sock.curve_server = True
        self._sock.curve_publickey = keypair.public
        self._sock.curve_secretkey = keypair.secret
        self._handle = handle
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            self._sock.bind(self.endpoint)
        except zmq.ZMQError as exc:
            self._ctx.destroy(linger=0)
            raise ApiError(f"cannot listen for joining counters on {self.endpoint}: {exc}"
                           ) from exc
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def _serve(self) -> None:
        while True:
            frames = await self._sock.recv_multipart()
            reply: dict[str, Any]
            try:
                request = msgpack.unpackb(frames[-1], raw=False)
                if not isinstance(request, dict):
                    raise ValidationError("malformed join request")
                answer = self._handle(request)
                if inspect.isawaitable(answer):
                    answer = await answer
                reply = {"ok": True, **answer}
            except TillmeshError as exc:
                log.warning("join refused: %s", exc.message)
                reply = {"ok": False, "error": exc.message}
            except (ValueError, msgpack.ExtraData) as exc:
                reply = {"ok": False, "error": f"malformed join request: {exc}"}
            await self._sock.send_multipart([*frames[:-1], msgpack.packb(reply)])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._ctx.destroy(linger=0)


def _dealer(ctx: zmq.Context[Any], code: InviteCode, keypair: Keypair) -> zmq.Socket[Any]:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.curve_serverkey = code.issuer_key.encode()
    sock.curve_publickey = keypair.public
    sock.curve_secretkey = keypair.secret
    sock.connect(code.join_endpoint)
    return sock


def _ask(sock: zmq.Socket[Any], code: InviteCode, request: dict[str, Any],
         timeout: float) -> dict[str, Any]:
    sock.send_multipart([b"", msgpack.packb(request)])
    if not sock.poll(int(timeout * 1000)):
        raise NodeUnavailable(f"counter {code.issuer} at {code.join_endpoint} did not "
                              f"answer within {timeout:.0f} s: is it running and reachable?")
    reply = msgpack.unpackb(sock.recv_multipart()[-1], raw=False)
    if not isinstance(reply, dict) or not reply.get("ok"):
        error = reply.get("error") if isinstance(reply, dict) else "malformed answer"
        raise ValidationError(f"counter {code.issuer} refused: {error}")
    return reply


def request_join(code: InviteCode, node_id: str, keypair: Keypair, endpoint: str | None = None,
                 timeout: float = JOIN_TIMEOUT_S) -> dict[str, Any]:
    """Present the invite to the inviting counter; its answer, or a clear error."""
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        return _ask(_dealer(ctx, code, keypair), code, {
            "secret": code.secret, "node": node_id, "public_key": keypair.public.decode(),
            "cluster": code.cluster, "endpoint": endpoint}, timeout)
    finally:
        ctx.destroy(linger=0)


def fetch_snapshot(code: InviteCode, keypair: Keypair, ticket: str, dest: Path,
                   progress: Callable[[int, int], None], timeout: float = JOIN_TIMEOUT_S,
                   ) -> int:
    """Download the snapshot the enrolment answer named into ``dest`` (0600); its size."""
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        sock = _dealer(ctx, code, keypair)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            offset, size = 0, None
            while size is None or offset < size:
                reply = _ask(sock, code, {"op": "snapshot", "ticket": ticket, "offset": offset},
                             SNAPSHOT_FIRST_TIMEOUT_S if size is None else timeout)
                data, size = bytes(reply["data"]), int(reply["size"])
                if not data and offset < size:
                    raise ValidationError("the snapshot ended early")
                out.write(data)
                offset += len(data)
                progress(offset, size)
            out.flush()
            os.fsync(out.fileno())
        return offset
    finally:
        ctx.destroy(linger=0)
