"""The printer's own process on a real node: jobs go through it, a helper that died is
started again, a job stuck in the driver is stopped and printed by the next helper."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import msgpack

from tests.node.printing.test_printing import (
    WAIT_S,
    TcpPrinter,
    cashier,
    counter,
    drained,
    queue_of,
    wait_for,
)
from tillmesh.lab.processes import free_port
from tillmesh.node.api import Node
from tillmesh.node.ops.config import PrinterConfig
from tillmesh.node.printing import Receipt, Text
from tillmesh.node.printing._helper import PrinterHelper, serve


def helper_of(node: Node) -> PrinterHelper:
    device = queue_of(node).device
    assert isinstance(device, PrinterHelper)
    return device


def test_receipts_print_through_a_helper_process_which_starts_again_after_it_died(
        printing_nodes, tmp_path):
    printer = TcpPrinter()
    try:
        node = counter(printing_nodes, tmp_path, kind="network", host="127.0.0.1",
                       port=printer.port)
        ann = cashier(node)
        first = ann.sell("4000000000082", mode="Card")
        printer.wait_for(first["invoice"])
        helper = helper_of(node).pid
        assert helper is not None and helper != os.getpid()
        os.kill(helper, signal.SIGKILL)  # the helper crashes between two sales
        second = ann.sell("4000000000082", mode="Card")
        printer.wait_for(second["invoice"])
        status = drained(node)
        assert status["last_error"] is None and status["online"] is True
        assert helper_of(node).pid not in (None, helper)
    finally:
        printer.close()


def test_a_job_stuck_in_the_driver_is_stopped_and_then_printed_by_a_new_helper(
        printing_nodes, tmp_path):
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)  # a device whose driver blocks: opening it waits for a reader
    node = counter(printing_nodes, tmp_path, kind="file", file=str(fifo), timeout_seconds=1)
    ann = cashier(node)
    sale = ann.sell("4000000000082", mode="Card")
    wait_for(lambda: ann("printer_status")["last_error"], "the stuck job to be stopped")
    status = ann("printer_status")
    assert "did not answer within 3 s; its helper was stopped" in status["last_error"]
    assert status["pending"] == 1 and status["jobs"][0]["title"] == sale["invoice"]
    assert helper_of(node).pid is None
    printed: list[bytes] = []

    def read_the_device() -> None:  # the driver lets go: the next try gets through
        with open(fifo, "rb") as device:
            printed.append(device.read())

    reader = threading.Thread(target=read_the_device, daemon=True)
    reader.start()
    ann("printer_queue_retry")
    assert drained(node)["last_error"] is None
    reader.join(WAIT_S)
    assert printed and sale["invoice"].encode() in printed[0]


def test_a_printer_that_is_off_is_a_printer_error_and_a_job_it_cannot_draw_a_bug(
        tmp_path: Path) -> None:
    """What the helper answers, frame by frame, for each kind of failure."""
    requests = io.BytesIO()

    def frame(message: dict[str, Any]) -> None:
        data = msgpack.packb(message)
        requests.write(len(data).to_bytes(4, "big") + data)

    port = free_port()  # nothing listens there: the printer is off
    frame({"settings": {"kind": "network", "host": "127.0.0.1", "port": port,
                        "timeout_seconds": 1}, "data_dir": str(tmp_path)})
    frame({"job": "kick"})
    frame({"job": "receipt", "receipt": {"title": "R1", "width": 42, "blocks": "junk"}})
    requests.seek(0)
    answers = io.BytesIO()
    serve(requests, answers)
    out = answers.getvalue()
    replies = []
    while out:
        size = int.from_bytes(out[:4], "big")
        replies.append(msgpack.unpackb(out[4:4 + size]))
        out = out[4 + size:]
    ready, kick, junk = replies
    assert ready == {"ready": os.getpid()}
    assert kick["error"].startswith(f"The printer (network 127.0.0.1:{port}) cannot be reached")
    assert "blocks must be a list of maps" in junk["bug"]


def test_closing_the_service_ends_its_helper(tmp_path: Path) -> None:
    settings = PrinterConfig(kind="file", file="receipts.bin")
    helper = PrinterHelper(settings, tmp_path, deadline_s=WAIT_S)
    helper.print(Receipt("R1", 42, (Text("hello"),)))
    pid = helper.pid
    assert pid is not None and b"hello" in (tmp_path / "receipts.bin").read_bytes()
    helper.close()
    assert helper.pid is None
    wait_for(lambda: not Path(f"/proc/{pid}").exists()
             or "zombie" in Path(f"/proc/{pid}/status").read_text().lower(), "the helper to end")


def test_the_helper_loads_the_adapter_and_not_the_node() -> None:
    """What keeps the helper small (36 MB) and quick to start (0.2 s)."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys; from tillmesh.node.printing._helper import serve;"
         " from tillmesh.node.printing._escpos import EscposDevice;"
         " print('sqlalchemy' in sys.modules,"
         " 'tillmesh.node.printing._service' in sys.modules)"],
        capture_output=True, text=True, check=True).stdout.split()
    assert loaded == ["False", "False"]
