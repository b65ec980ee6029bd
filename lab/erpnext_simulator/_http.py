"""The HTTP/1.1 shell around :class:`_api.Api`: keep-alive, one thread per connection.

As a stock ERPNext's gunicorn does, a request line over ``MAX_REQUEST_LINE`` bytes is
refused before anything else with gunicorn's own 400 page, and the connection closed.

The server tracks its open connections so that :meth:`Server.close` can end them (idle
keep-alive threads otherwise sit in ``readline``), and every wait here is bounded: idle
connections time out after ``CONNECTION_IDLE_S``, a withheld answer ends when the server
stops, ``close`` joins each thread for at most ``STOP_JOIN_S``.
"""

from __future__ import annotations

import contextlib
import html
import json
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from tillmesh.lab.erpnext_simulator._api import Api, Reply, Request
from tillmesh.lab.erpnext_simulator._const import (
    CONNECTION_IDLE_S,
    GUNICORN_READ_BYTES,
    HOST,
    MAX_BODY_BYTES,
    MAX_REQUEST_LINE,
    STOP_JOIN_S,
)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # close() joins the tracked threads itself, with a timeout

    def __init__(self, api: Api, log: Any, port: int = 0, host: str = HOST,
                 on_hold: Any = None) -> None:
        self.api = api
        self.log = log  # callable(method, path, status) recording each request
        self.on_hold = on_hold  # callable(client address, method, path): an answer withheld
        self.stopping = threading.Event()
        self._open: dict[socket.socket, threading.Thread] = {}
        self._open_lock = threading.Lock()
        super().__init__((host, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self.process_request_thread,
                                  args=(request, client_address), daemon=True,
                                  name="erpnext-sim-conn")
        with self._open_lock:
            self._open[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def close(self) -> None:
        """Stop serving, end every connection, wait (bounded) for their threads."""
        self.stopping.set()
        self.shutdown()
        self.server_close()
        with self._open_lock:
            open_now = list(self._open.items())
        for sock, _ in open_now:
            with contextlib.suppress(OSError):  # already closed by its client
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in open_now:
            thread.join(STOP_JOIN_S)


def request_line_length(raw: bytes) -> int:
    """The length gunicorn reports for a request line read as ``raw``: the line without
    its CRLF when that arrived in gunicorn's first read, else the bytes of that read."""
    line = raw[:-2] if raw.endswith(b"\r\n") else raw
    return len(line) if len(line) + 2 <= GUNICORN_READ_BYTES else GUNICORN_READ_BYTES


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = CONNECTION_IDLE_S
    wbufsize = -1  # buffered: headers and body leave in one write, flushed per request
    server: Server

    def setup(self) -> None:
        super().setup()
        # Small answers on a keep-alive connection would otherwise wait for the client's
        # delayed ACK (Nagle): ~40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        """``BaseHTTPRequestHandler``'s, with gunicorn's limit on the request line first."""
        try:
            self.raw_requestline = self.rfile.readline(GUNICORN_READ_BYTES + 1)
            if not self.raw_requestline:
                self.close_connection = True
                return
            length = request_line_length(self.raw_requestline)
            if length > MAX_REQUEST_LINE:
                self._refuse_line(length)
                return
            if not self.parse_request():
                return  # it answered already
            handler = getattr(self, f"do_{self.command}", None)
            if handler is None:
                self.send_error(HTTPStatus.NOT_IMPLEMENTED,
                                f"Unsupported method ({self.command!r})")
                return
            handler()
            self.wfile.flush()
        except (TimeoutError, ConnectionError):
            # A read or write timed out, or the client hung up mid-request (a counter
            # stopped): drop the connection quietly, as gunicorn does.
            self.close_connection = True

    def _refuse_line(self, length: int) -> None:
        """gunicorn's answer (``util.write_error``), byte for byte, then it hangs up."""
        reason = "Bad Request"
        page = (f"<html>\n  <head>\n    <title>{reason}</title>\n  </head>\n  <body>\n"
                f"    <h1><p>{reason}</p></h1>\n    "
                f"{html.escape(f'Request Line is too large ({length} > {MAX_REQUEST_LINE})')}"
                "\n  </body>\n</html>\n")
        # Logged before the answer leaves: a client that has it finds it in the log.
        method, _, rest = self.raw_requestline.decode("latin-1").partition(" ")
        self.server.log(method, unquote(rest.partition("?")[0]), HTTPStatus.BAD_REQUEST.value)
        self.wfile.write(f"HTTP/1.1 400 {reason}\r\nConnection: close\r\nContent-Type: "
                         f"text/html\r\nContent-Length: {len(page)}\r\n\r\n{page}"
                         .encode("latin-1"))
        self.wfile.flush()
        self.close_connection = True

    def do_GET(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the simulator keeps its own request log."""

    def _serve(self) -> None:
        raw_path, _, query = self.path.partition("?")
        path = unquote(raw_path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(Reply(status=413, body={"exc_type": "RequestEntityTooLarge"}), path)
            return
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.api.handle(Request(self.command, path, query, headers, body))
        if reply.drop:
            self._drop(path)
            return
        if reply.delay_s and self.server.stopping.wait(reply.delay_s):
            self._drop(path)
            return
        if reply.hang_s is not None:
            if self.server.on_hold is not None:
                self.server.on_hold(self.client_address[0], self.command, path)
            self.server.stopping.wait(reply.hang_s)
            self._drop(path)
            return
        self._send(reply, path)

    def _send(self, reply: Reply, path: str) -> None:
        payload = json.dumps(reply.body).encode()
        self.server.log(self.command, path, reply.status)  # before the client can have it
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _drop(self, path: str) -> None:
        self.close_connection = True
        self.server.log(self.command, path, 0)
        with contextlib.suppress(OSError):  # the client went first
            self.connection.shutdown(socket.SHUT_RDWR)
