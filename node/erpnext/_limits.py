"""What one ERPNext may cost this counter in time and memory, whatever it sends.

A broken or hostile site once took a counter to 1.67 GB with an answer of 300 MB, and
kept a pull running for minutes with one byte every 20 s (each read came well within
the read timeout). So:

- ``Limits``: the bounds of one site, ``const``'s by default (``erpnext.toml`` may widen
  them for a slow site; tests narrow them);
- ``Deadline``: by when a call must be over and whose deadline that is (one request's,
  a pull's); pure;
- ``read_answer``: an answer read as it streams and never beyond ``max_answer_bytes``
  (a ``Content-Length`` above that is refused before anything is read);
- ``bounded_transport``: httpx's own transport whose every socket operation (connect,
  TLS handshake, each write, each read) waits at most the time left before the deadline
  of the call the thread is making, so a trickle ends at the deadline, in the headers
  as in the body, and no later.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

import httpcore
import httpx

from tillmesh.node.erpnext import const
from tillmesh.node.errors import ConfigError, ErpNextServerError, ErpNextUnreachable

TimeLeft = Callable[[], float | None]  # seconds before the thread's call must be over


@dataclass(frozen=True)
class Limits:
    max_answer_bytes: int = const.MAX_ANSWER_BYTES
    request_deadline_s: float = const.REQUEST_DEADLINE_S
    pull_deadline_s: float = const.PULL_DEADLINE_S

    def __post_init__(self) -> None:
        for field in fields(self):
            value, whole = getattr(self, field.name), field.name.endswith("_bytes")
            number = isinstance(value, int if whole else int | float) and \
                not isinstance(value, bool)
            if not number or value <= 0:
                raise ConfigError(f"limits.{field.name} must be a positive"
                                  f"{' whole' if whole else ''} number, not {value!r}")


@dataclass(frozen=True)
class Deadline:
    at: float  # on the client's monotonic clock
    seconds: float  # as it was set: for the message
    whose: str  # "one request", "the pull"

    @classmethod
    def after(cls, seconds: float, whose: str, now: float) -> Deadline:
        return cls(now + seconds, seconds, whose)

    def left(self, now: float) -> float:
        return self.at - now

    def earliest(self, other: Deadline | None) -> Deadline:
        return self if other is None or self.at <= other.at else other

    def missed(self, method: str, path: str) -> ErpNextUnreachable:
        return ErpNextUnreachable(
            f"the deadline of {self.whose} ({self.seconds:g} s) passed before ERPNext"
            f" answered {method} {path}: a stalled or trickling server?",
            method=method, path=path, deadline_s=self.seconds)


def read_answer(response: httpx.Response, cap: int, method: str, path: str) -> bytes:
    """The body of ``response`` (decoded), read as it streams; ErpNextServerError as soon
    as it is longer than ``cap`` bytes, the rest left unread."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _too_big(cap, method, path)
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > cap:
            raise _too_big(cap, method, path)
    return bytes(body)


def _too_big(cap: int, method: str, path: str) -> ErpNextServerError:
    return ErpNextServerError(
        f"ERPNext's answer to {method} {path} is larger than {cap:,} bytes, the most"
        " Tillmesh reads of one answer: not read further (a broken or hostile server?)",
        method=method, path=path, max_answer_bytes=cap)


def bounded_transport(verify: bool | ssl.SSLContext, time_left: TimeLeft) -> httpx.HTTPTransport:
    """httpx's transport, each of its socket operations held to ``time_left()``."""
    transport = httpx.HTTPTransport(verify=verify)
    # httpcore's pool takes the network backend as its seam for socket I/O; httpx builds
    # the pool without passing one, so it is set here, before any connection exists.
    transport._pool._network_backend = _Backend(time_left)
    return transport


def _bounded(timeout: float | None, time_left: TimeLeft,
             expired: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` cut to the time left; ``expired`` (httpx maps it) when none is."""
    left = time_left()
    if left is None:
        return timeout
    if left <= 0:
        raise expired("the deadline of this call has passed")
    return left if timeout is None else min(timeout, left)


class _Backend(httpcore.SyncBackend):
    def __init__(self, time_left: TimeLeft) -> None:
        self._left = time_left

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = super().connect_tcp(host, port, _bounded(timeout, self._left,
                                                          httpcore.ConnectTimeout),
                                     local_address, socket_options)
        return _Stream(stream, self._left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, time_left: TimeLeft) -> None:
        self._stream, self._left = stream, time_left

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, self._left,
                                                     httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, self._left, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._stream.start_tls(
            ssl_context, server_hostname, _bounded(timeout, self._left,
                                                   httpcore.ConnectTimeout)), self._left)

    def get_extra_info(self, info: str) -> object:
        return self._stream.get_extra_info(info)
