"""Clients of the node's local API: :class:`Client` (blocking) and :class:`AsyncClient`.

Both speak the codec of :mod:`tillmesh.node.api._server` over a ZeroMQ DEALER socket,
match replies to requests by id, and raise what the node raised (``errors.from_wire``), or
``NodeUnavailable`` when it does not answer within ``timeout`` seconds.

"Lazy pirate" (ZeroMQ guide, ch. 4), adapted to DEALER: after a timeout the socket is
closed with linger 0 and a new one is made for the next call, so a request that never
reached the node is dropped rather than delivered late, and a late reply to it is
ignored (it carries an old id, or goes to the old socket). A timed-out call is **not**
retried: the node may or may not have done it (``sale_submit`` must not run twice), so
the caller decides. A call made while the node is down waits in the socket's queue: if
the node comes up within the timeout it is answered, else it is discarded with the
socket. When the node comes back, the same client simply works again.

The session token from :meth:`Client.login` is kept and sent with every call until
:meth:`Client.logout`. Typed methods send the wire method of the same name
(``cart_add`` -> ``"cart_add"``) with their keyword arguments as params, None-valued
ones left out, and return what the node returns (maps and lists of maps; money as
strings).

Threads: a :class:`Client` belongs to one thread (ZeroMQ sockets are not thread-safe);
give each thread its own. An :class:`AsyncClient` belongs to one event loop; many tasks
of that loop may call it at once (requests are pipelined and matched by id).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Generic, TypeVar

import zmq
import zmq.asyncio

from tillmesh.node import errors
from tillmesh.node.api._wire import Reply, Request, decode_reply, encode_request
from tillmesh.node.api.const import DEFAULT_INVOICE_ROWS, DEFAULT_TIMEOUT_S
from tillmesh.node.errors import ApiError, NodeUnavailable, TillmeshError
from tillmesh.node.projections.const import DEFAULT_AUDIT_ROWS, DEFAULT_SEARCH_HITS

__all__ = ["DEFAULT_TIMEOUT_S", "Approver", "AsyncClient", "Client", "ClientState", "Number"]

log = logging.getLogger(__name__)

_DELIMITER = b""  # REQ-style empty frame before the payload, so a REQ peer also works

R = TypeVar("R")
Number = Decimal | str | int  # money and quantities; never float (see node.money)
Approver = Mapping[str, str]  # {"user": ..., "pin": ...} of the supervisor who approves


class ClientState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


def _error(reply: Reply) -> TillmeshError:
    """The exception the node sent, keeping its wire code even if this client lacks it."""
    payload = dict(reply.error or {})
    details = payload.get("details") or {}
    try:
        exc = errors.from_wire(payload)
    except TypeError:  # a detail named like a constructor argument ("message")
        exc = errors.from_wire({**payload, "details": {}})
        exc.details = dict(details)
    code = str(payload.get("code"))
    if exc.code != code:  # e.g. "internal": not a class here, but callers may test it
        exc.code = code
    return exc


def _result(reply: Reply) -> Any:
    if reply.ok:
        return reply.result
    raise _error(reply)


def _token_of(result: Any) -> str:
    token = result.get("token") if isinstance(result, dict) else None
    if not isinstance(token, str):
        raise ApiError("the node's login reply carries no session token")
    return token


def _check_timeout(timeout: float) -> float:
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return float(timeout)


def _dealer(context: zmq.Context[Any], endpoint: str) -> Any:
    sock = context.socket(zmq.DEALER)
    try:
        sock.setsockopt(zmq.LINGER, 0)  # on close, drop what the node never took
        sock.connect(endpoint)
    except zmq.ZMQError as exc:
        sock.close(linger=0)
        raise ApiError(f"cannot connect to the Tillmesh node at {endpoint}: {exc}") from exc
    return sock


class _Base(Generic[R]):
    """Request ids, the token, and the typed surface shared by both clients."""

    def __init__(self, endpoint: str, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = _check_timeout(timeout)
        self.token: str | None = None
        self.state = ClientState.OPEN
        self._ids = itertools.count(1)

    def _request(self, method: str, params: dict[str, Any]) -> Request:
        if self.state is ClientState.CLOSED:
            raise ApiError("this local API client is closed")
        return Request(next(self._ids), method, params, self.token)

    def _unavailable(self) -> NodeUnavailable:
        return NodeUnavailable(
            f"Tillmesh node at {self.endpoint} did not answer within {self.timeout} s",
            endpoint=self.endpoint,
        )

    def _invoke(self, method: str, params: dict[str, Any]) -> R:
        raise NotImplementedError

    def _send(self, method: str, /, **params: Any) -> R:
        return self._invoke(method, {k: v for k, v in params.items() if v is not None})

    # The typed surface: one line each; the wire method is the Python name.
    def lock(self) -> R:
        return self._send("lock")

    def unlock(self, pin: str) -> R:
        return self._send("unlock", pin=pin)

    def whoami(self) -> R:
        return self._send("whoami")

    def status(self) -> R:
        return self._send("status")

    def scan(self, code: str) -> R:
        return self._send("scan", code=code)

    def search_items(self, text: str, limit: int = DEFAULT_SEARCH_HITS) -> R:
        return self._send("search_items", text=text, limit=limit)

    def item(self, item_code: str) -> R:
        return self._send("item", item_code=item_code)

    def search_customers(self, text: str) -> R:
        return self._send("search_customers", text=text)

    def create_customer(
        self, customer_name: str, mobile_no: str | None = None, email_id: str | None = None
    ) -> R:
        return self._send(
            "create_customer", customer_name=customer_name, mobile_no=mobile_no, email_id=email_id
        )

    def cart_new(self) -> R:
        return self._send("cart_new")

    def cart_get(self, cart_id: str) -> R:
        return self._send("cart_get", cart_id=cart_id)

    def cart_scan(self, cart_id: str, code: str) -> R:
        return self._send("cart_scan", cart_id=cart_id, code=code)

    def cart_add(
        self,
        cart_id: str,
        item_code: str,
        qty: Number = "1",
        uom: str | None = None,
        batch_no: str | None = None,
        serial_no: str | None = None,
    ) -> R:
        return self._send(
            "cart_add",
            cart_id=cart_id,
            item_code=item_code,
            qty=qty,
            uom=uom,
            batch_no=batch_no,
            serial_no=serial_no,
        )

    def cart_set_batch(self, cart_id: str, line: int, batch_no: str) -> R:
        return self._send("cart_set_batch", cart_id=cart_id, line=line, batch_no=batch_no)

    def item_tracking(self, item_code: str) -> R:
        return self._send("item_tracking", item_code=item_code)

    def stock_flagged(self) -> R:
        return self._send("stock_flagged")

    def cart_set_qty(self, cart_id: str, line: int, qty: Number) -> R:
        return self._send("cart_set_qty", cart_id=cart_id, line=line, qty=qty)

    def cart_set_uom(self, cart_id: str, line: int, uom: str) -> R:
        return self._send("cart_set_uom", cart_id=cart_id, line=line, uom=uom)

    def cart_line_discount(
        self,
        cart_id: str,
        line: int,
        percent: Number | None = None,
        amount: Number | None = None,
        approver: Approver | None = None,
    ) -> R:
        return self._send(
            "cart_line_discount",
            cart_id=cart_id,
            line=line,
            percent=percent,
            amount=amount,
            approver=approver,
        )

    def cart_set_rate(
        self, cart_id: str, line: int, rate: Number, approver: Approver | None = None
    ) -> R:
        return self._send("cart_set_rate", cart_id=cart_id, line=line, rate=rate, approver=approver)

    def cart_discount(
        self,
        cart_id: str,
        percent: Number | None = None,
        amount: Number | None = None,
        approver: Approver | None = None,
    ) -> R:
        return self._send(
            "cart_discount", cart_id=cart_id, percent=percent, amount=amount, approver=approver
        )

    def cart_remove(self, cart_id: str, line: int, approver: Approver | None = None) -> R:
        return self._send("cart_remove", cart_id=cart_id, line=line, approver=approver)

    def cart_set_customer(self, cart_id: str, customer: str) -> R:
        return self._send("cart_set_customer", cart_id=cart_id, customer=customer)

    def cart_set_coupon(self, cart_id: str, code: str) -> R:
        return self._send("cart_set_coupon", cart_id=cart_id, code=code)

    def cart_remove_coupon(self, cart_id: str) -> R:
        return self._send("cart_remove_coupon", cart_id=cart_id)

    def cart_hold(self, cart_id: str, note: str = "") -> R:
        return self._send("cart_hold", cart_id=cart_id, note=note)

    def cart_held(self) -> R:
        return self._send("cart_held")

    def cart_resume(self, cart_id: str) -> R:
        return self._send("cart_resume", cart_id=cart_id)

    def cart_void(self, cart_id: str, approver: Approver | None = None) -> R:
        return self._send("cart_void", cart_id=cart_id, approver=approver)

    def sale_submit(self, cart_id: str, payments: Sequence[Mapping[str, Any]],
                    loyalty_points: int = 0) -> R:
        return self._send("sale_submit", cart_id=cart_id, payments=list(payments),
                          **({"loyalty_points": loyalty_points} if loyalty_points else {}))

    def cart_tender_draft(self, cart_id: str, payments: Sequence[Mapping[str, Any]]) -> R:
        return self._send("cart_tender_draft", cart_id=cart_id, payments=list(payments))

    def customer_display(self, since: str | None = None) -> R:
        return self._send("customer_display", since=since)

    def invoice_get(self, invoice: str) -> R:
        return self._send("invoice_get", invoice=invoice)

    def invoice_list(self, limit: int = DEFAULT_INVOICE_ROWS) -> R:
        return self._send("invoice_list", limit=limit)

    def return_create(
        self,
        invoice: str,
        lines: Sequence[Mapping[str, Any]] | None = None,
        payments: Sequence[Mapping[str, Any]] | None = None,
        approver: Approver | None = None,
        unconfirmed: bool = False,
    ) -> R:
        return self._send(
            "return_create",
            invoice=invoice,
            lines=None if lines is None else list(lines),
            payments=None if payments is None else list(payments),
            approver=approver,
            unconfirmed=unconfirmed or None,  # sent only when the risk is accepted
        )

    def returns_flagged(self) -> R:
        return self._send("returns_flagged")

    def shift_open(self, opening: Mapping[str, Number]) -> R:
        return self._send("shift_open", opening=opening)

    def shift_current(self) -> R:
        return self._send("shift_current")

    def shift_list(self, status: str | None = None) -> R:
        return self._send("shift_list", status=status)

    def cash_move(
        self,
        direction: str,
        amount: Number,
        reason: str,
        mode_of_payment: str = "Cash",
        approver: Approver | None = None,
        beyond_drawer: bool = False,
    ) -> R:
        return self._send(
            "cash_move",
            direction=direction,
            amount=amount,
            reason=reason,
            mode_of_payment=mode_of_payment,
            approver=approver,
            beyond_drawer=beyond_drawer or None,  # sent only when it is asked for
        )

    def shift_report(self, shift_id: str | None = None) -> R:
        return self._send("shift_report", shift_id=shift_id)

    def shift_close(
        self, shift_id: str, counted: Mapping[str, Number], approver: Approver | None = None
    ) -> R:
        return self._send("shift_close", shift_id=shift_id, counted=counted, approver=approver)

    def user_list(self) -> R:
        return self._send("user_list")

    def user_create(
        self,
        user: str,
        full_name: str,
        role: str,
        pin: str | None = None,
        password: str | None = None,
    ) -> R:
        return self._send(
            "user_create", user=user, full_name=full_name, role=role, pin=pin, password=password
        )

    def user_update(
        self,
        user: str,
        full_name: str | None = None,
        role: str | None = None,
        disabled: bool | None = None,
        approver: Approver | None = None,
    ) -> R:
        return self._send(
            "user_update",
            user=user,
            full_name=full_name,
            role=role,
            disabled=disabled,
            approver=approver,
        )

    def user_reset_pin(self, user: str, pin: str | None = None, password: str | None = None) -> R:
        return self._send("user_reset_pin", user=user, pin=pin, password=password)

    def audit_list(self, limit: int = DEFAULT_AUDIT_ROWS) -> R:
        return self._send("audit_list", limit=limit)

    def drawer_open(self, approver: Approver | None = None) -> R:
        return self._send("drawer_open", approver=approver)


class Client(_Base[Any]):
    """Blocking client for the CLI and tests; one per thread. A context manager."""

    def __init__(self, endpoint: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(endpoint, timeout)
        self._socket: Any = None  # zmq.Socket, made on first use and after a timeout

    def call(self, method: str, /, **params: Any) -> Any:
        """Call ``method`` on the node; returns its result or raises its TillmeshError."""
        return self._invoke(method, params)

    def _invoke(self, method: str, params: dict[str, Any]) -> Any:
        request = self._request(method, params)
        frame = encode_request(request)
        deadline = time.monotonic() + self.timeout
        if self._socket is None:
            self._socket = _dealer(zmq.Context.instance(), self.endpoint)
        sock = self._socket
        try:
            sock.send_multipart([_DELIMITER, frame], zmq.NOBLOCK)
            while True:
                if not sock.poll(_ms_left(deadline), zmq.POLLIN):
                    raise self._reset_unavailable()
                reply = decode_reply(sock.recv_multipart(zmq.NOBLOCK)[-1])
                if reply.id == request.id:
                    return _result(reply)
                log.debug("ignoring a late reply to request %d", reply.id)
        except zmq.Again:  # the send queue is full: no node has taken anything for a while
            raise self._reset_unavailable() from None
        except zmq.ZMQError as exc:
            self._reset()
            raise ApiError(f"local API transport to {self.endpoint} failed: {exc}") from exc

    def _reset(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def _reset_unavailable(self) -> NodeUnavailable:
        self._reset()
        return self._unavailable()

    def login(self, user: str, pin: str) -> Any:
        """Log in and keep the session token for the following calls."""
        result = self._send("login", user=user, pin=pin)
        self.token = _token_of(result)
        return result

    def logout(self) -> Any:
        """End the session on the node; the token is forgotten even if that fails."""
        try:
            return self._send("logout")
        finally:
            self.token = None

    def close(self) -> None:
        self._reset()
        self.state = ClientState.CLOSED

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _ms_left(deadline: float) -> int:
    return max(0, math.ceil((deadline - time.monotonic()) * 1000))


class _Connection:
    """One DEALER socket of an AsyncClient, its reader task and the calls waiting on it."""

    def __init__(self, endpoint: str) -> None:
        self.socket: Any = _dealer(zmq.asyncio.Context.instance(), endpoint)
        self.pending: dict[int, asyncio.Future[Reply]] = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while True:
            try:
                frames = await self.socket.recv_multipart()
            except zmq.ZMQError:  # closed under us
                return
            try:
                reply = decode_reply(frames[-1])
            except ApiError as exc:  # without an id it cannot be routed; its caller times out
                log.error("dropping a reply: %s", exc.message)
                continue
            waiter = self.pending.get(reply.id)
            if waiter is not None and not waiter.done():
                waiter.set_result(reply)

    def close(self, failure: Callable[[], TillmeshError]) -> None:
        """Close with linger 0 and fail every call still waiting on this socket."""
        self.reader.cancel()
        self.socket.close(linger=0)
        for waiter in self.pending.values():
            if not waiter.done():
                waiter.set_exception(failure())
        self.pending.clear()


class AsyncClient(_Base[Awaitable[Any]]):
    """asyncio client (the Qt app): ``await client.call(...)``; one per event loop.

    Concurrent calls share one socket; replies are matched by id. A timeout resets the
    socket (lazy pirate) and so fails every call still waiting on it with
    NodeUnavailable: the node did not answer one of them in time, the others are behind.
    """

    def __init__(self, endpoint: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(endpoint, timeout)
        self._connection: _Connection | None = None

    async def call(self, method: str, /, **params: Any) -> Any:
        """Call ``method`` on the node; returns its result or raises its TillmeshError."""
        return await self._invoke(method, params)

    async def _invoke(self, method: str, params: dict[str, Any]) -> Any:
        request = self._request(method, params)
        frame = encode_request(request)
        if self._connection is None:
            self._connection = _Connection(self.endpoint)
        connection = self._connection
        waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        connection.pending[request.id] = waiter
        try:
            async with asyncio.timeout(self.timeout):
                await connection.socket.send_multipart([_DELIMITER, frame], zmq.NOBLOCK)
                reply = await waiter
        except (TimeoutError, zmq.Again):  # Again: 1000 requests unanswered, same thing
            self._drop(connection, self._unavailable)
            raise self._unavailable() from None
        except zmq.ZMQError as exc:
            failure = ApiError(f"local API transport to {self.endpoint} failed: {exc}")
            self._drop(connection, lambda: failure)
            raise failure from exc
        finally:
            connection.pending.pop(request.id, None)
        return _result(reply)

    def _drop(self, connection: _Connection, failure: Callable[[], TillmeshError]) -> None:
        if self._connection is connection:  # a later call may already use a fresh one
            self._connection = None
            connection.close(failure)

    async def login(self, user: str, pin: str) -> Any:
        """Log in and keep the session token for the following calls."""
        result = await self._send("login", user=user, pin=pin)
        self.token = _token_of(result)
        return result

    async def logout(self) -> Any:
        """End the session on the node; the token is forgotten even if that fails."""
        try:
            return await self._send("logout")
        finally:
            self.token = None

    async def close(self) -> None:
        self.state = ClientState.CLOSED
        connection = self._connection
        if connection is not None:
            self._drop(connection, lambda: ApiError("this local API client is closed"))
            with contextlib.suppress(asyncio.CancelledError):
                await connection.reader

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
