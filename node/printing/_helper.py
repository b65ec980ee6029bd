"""The printer's own process: the ESC/POS adapter runs there, not in the node.

Drawing a receipt (python-escpos, PIL, qrcode) and writing it to the device held the
node's interpreter about 0.9 ms a sale, while the next cart's calls waited for it. In a
process of its own that work runs beside the node, and a job stuck in a driver is ended
by killing the process (the next job starts a new one) instead of holding the queue.

The node's side, :class:`PrinterHelper`, is a ``Device`` for the print queue: each
``print`` or ``kick`` sends one frame (a 4-byte length, then msgpack) on the helper's
stdin and reads its answer from the helper's stdout, for at most ``deadline_s``. The
helper runs :func:`main` in the node's Python; its first frame is the ``[printer]``
settings, and it answers ``{"ready": pid}`` once python-escpos is loaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import select
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import msgpack

from tillmesh.node.errors import PrinterError
from tillmesh.node.ops.config import PrinterConfig
from tillmesh.node.printing._layout import Receipt, from_plain, to_plain
from tillmesh.node.printing.const import CLOSE_TIMEOUT_S, HELPER_START_S, MAX_FRAME_BYTES

log = logging.getLogger("tillmesh.printing")

_LENGTH = struct.Struct(">I")
# Started as code, not ``-m``: the package imports this module before runpy would run it.
_MAIN = f"from {__name__} import main; main()"


def describe(s: PrinterConfig, data_dir: Path) -> str:
    """Where the printer is, for the status banner: "network 10.0.0.9:9100"."""
    where = {"network": f"{s.host}:{s.port}",
             "usb": f"{s.usb_vendor:04x}:{s.usb_product:04x}",
             "serial": f"{s.serial_device} @ {s.baudrate}",
             "file": str(data_dir / s.file)}.get(s.kind, "")
    return f"{s.kind} {where}".strip()


class PrinterHelper:
    """The configured printer, driven through a helper process started on first use."""

    def __init__(self, settings: PrinterConfig, data_dir: Path, deadline_s: float) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.where = describe(settings, data_dir)
        self.deadline_s = deadline_s
        self._process: subprocess.Popen[bytes] | None = None

    def describe(self) -> str:
        return self.where

    def print(self, receipt: Receipt) -> None:
        self._ask({"job": "receipt", "receipt": to_plain(receipt)})

    def kick(self) -> None:
        self._ask({"job": "kick"})

    @property
    def pid(self) -> int | None:
        """The running helper's process id (None before the first job or after a kill)."""
        return None if self._process is None else self._process.pid

    def close(self) -> None:
        """End the helper: it finishes the job it has, if any, within a moment."""
        if self._process is not None:
            self._end(self._process, gently=True)

    def _ask(self, request: dict[str, Any]) -> None:
        process = self._running()
        answer = self._exchange(process, request, self.deadline_s)
        if "error" in answer:
            raise PrinterError(str(answer["error"]))
        if "bug" in answer:  # the queue drops a job that cannot be drawn, and says so
            raise RuntimeError(str(answer["bug"]))

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        if self._process is not None:  # ended since the last job: a new one takes over
            log.warning("the printer helper (pid %d) ended with %s; starting it again",
                        self._process.pid, self._process.returncode)
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _MAIN], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, bufsize=0, close_fds=True)
        except OSError as exc:
            raise PrinterError(f"Cannot start the printer helper: {exc}") from exc
        self._process = process
        settings = dataclasses.asdict(self.settings)
        self._exchange(process, {"settings": settings, "data_dir": str(self.data_dir)},
                       HELPER_START_S)
        return process

    def _exchange(self, process: subprocess.Popen[bytes], request: dict[str, Any],
                  deadline_s: float) -> dict[str, Any]:
        assert process.stdin is not None and process.stdout is not None
        try:
            _write(process.stdin, request)
            return _read_within(process.stdout, time.monotonic() + deadline_s)
        except TimeoutError as exc:
            self._end(process)
            raise PrinterError(f"The printer ({self.where}) did not answer within "
                               f"{deadline_s:g} s; its helper was stopped") from exc
        except (OSError, EOFError, ValueError) as exc:
            self._end(process)
            raise PrinterError(f"The printer helper stopped ({exc or type(exc).__name__});"
                               " the next try starts it again") from exc

    def _end(self, process: subprocess.Popen[bytes], gently: bool = False) -> None:
        if process is self._process:
            self._process = None
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if gently:  # stdin closed: it leaves its loop
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(CLOSE_TIMEOUT_S)
                return
        process.kill()
        # A process stuck in a driver dies when the driver lets go: not waited for here
        # (subprocess reaps it with the next helper it starts).
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(0.5)


def _write(pipe: IO[bytes], message: dict[str, Any]) -> None:
    data = msgpack.packb(message, use_bin_type=True)
    view = memoryview(_LENGTH.pack(len(data)) + data)
    while view:  # an unbuffered pipe may take part of it
        view = view[pipe.write(view) or 0:]


def _read_within(pipe: IO[bytes], deadline: float) -> dict[str, Any]:
    """One frame from ``pipe``; TimeoutError past ``deadline`` (``time.monotonic``),
    EOFError if the other side closed, ValueError on anything but a framed map."""
    fd = pipe.fileno()

    def take(n: int) -> bytes:
        chunks: list[bytes] = []
        while n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, n)
            if not chunk:
                raise EOFError("it closed its end")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    (length,) = _LENGTH.unpack(take(_LENGTH.size))
    if length > MAX_FRAME_BYTES:
        raise ValueError(f"a frame of {length} bytes")
    message = msgpack.unpackb(take(length), raw=False)
    if not isinstance(message, dict):
        raise ValueError("a frame that is not a map")
    return message


def _read_blocking(pipe: IO[bytes]) -> dict[str, Any] | None:
    """The helper's next request; None once the node closed its end."""
    head = pipe.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    message: dict[str, Any] = msgpack.unpackb(pipe.read(length), raw=False)
    return message


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """The helper's loop: settings first, then one job per request until ``requests``
    ends. A job's PrinterError is answered as ``error``, any other failure as ``bug``."""
    from tillmesh.node.printing._escpos import EscposDevice  # python-escpos, PIL: here only

    first = _read_blocking(requests)
    if first is None:
        return
    device = EscposDevice(PrinterConfig(**first["settings"]), Path(first["data_dir"]))
    _write(answers, {"ready": os.getpid()})
    while (request := _read_blocking(requests)) is not None:
        try:
            if request["job"] == "kick":
                device.kick()
            else:
                device.print(from_plain(request["receipt"]))
            answer: dict[str, Any] = {"ok": True}
        except PrinterError as exc:
            answer = {"error": exc.message}
        except Exception as exc:  # noqa: BLE001  (reported to the node, which drops the job)
            answer = {"bug": repr(exc)}
        _write(answers, answer)


def main() -> None:
    # Frames go out on a copy of stdout; stdout itself goes to stderr, so that nothing a
    # library prints can corrupt them.
    answers = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    logging.basicConfig(level=logging.WARNING,
                        format="tillmesh printer helper: %(levelname)s %(message)s")
    serve(sys.stdin.buffer, answers)
