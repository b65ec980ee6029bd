"""Receipts and the cash drawer on a real node: bytes on the wire, a printer that fails,
the queue that waits and drains, reprints, returns and shift reports."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from escpos.printer import Usb
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.nodekit import FakeClock, Till, approver, make_node, sync
from tillmesh.lab.processes import free_port
from tillmesh.node.api import Node
from tillmesh.node.errors import ConfigError, PermissionDenied, PrinterError
from tillmesh.node.ops.config import CONFIG_NAME, PrinterConfig, load
from tillmesh.node.printing import (
    Backoff,
    PrintQueue,
    QueueState,
    Receipt,
    ReceiptStyle,
    Spool,
    Text,
    _escpos,
    sale_receipt,
    spool_key,
)
from tillmesh.node.printing._escpos import EscposDevice, Renderer
from tillmesh.node.store import read_key_file

GS_V = b"\x1dV"  # cut
ESC_P = b"\x1bp"  # drawer kick
GS_K = b"\x1d(k"  # native QR code
GS_V0 = b"\x1dv0"  # raster image (QR drawn by the host, or the logo)
PAPER_OK, NO_PAPER = 0x12, 0x72  # answers to DLE EOT 4 (python-escpos RT_MASK_*)
WAIT_S = 10.0  # generous: two cores shared by several test runs


# --- printers on 127.0.0.1 ----------------------------------------------------------------


class TcpPrinter:
    """A network receipt printer: keeps what each connection sent and answers the
    paper sensor query (DLE EOT 4) with ``paper``."""

    def __init__(self, port: int = 0) -> None:
        self.paper = PAPER_OK
        self.jobs: list[bytes] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen()
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(WAIT_S)
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
                    if data.endswith(b"\x10\x04\x04"):
                        conn.sendall(bytes([self.paper]))
                self.jobs.append(data)

    def wait_for(self, text: str) -> None:
        """Until a job with ``text`` has arrived (the sender may close before we read)."""
        wait_for(lambda: any(text.encode() in job for job in self.jobs), f"a job with {text}")

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(WAIT_S)
        self.sock.close()


@pytest.fixture
def tcp_printer() -> Iterator[TcpPrinter]:
    printer = TcpPrinter()
    yield printer
    printer.close()


def counter(printing_nodes: list[Node], tmp: Path, node_id: str = "C01",
            clock: FakeClock | None = None, **printer: Any) -> Node:
    settings = PrinterConfig(**{"kind": "dummy", **printer})
    node = make_node(tmp / node_id, node_id, clock=clock, printer=settings)
    node.print_service.open_spool(spool_key(read_key_file(node.config.key_path)))  # as the daemon
    printing_nodes.append(node)
    return node


def cashier(node: Node, user: str = "ann") -> Till:
    till = Till(node, user)
    till("shift_open", opening={"Cash": "100.00", "Card": "0"})
    return till


def queue_of(node: Node) -> PrintQueue:
    queue = node.print_service.queue
    assert queue is not None
    return queue


def drained(node: Node) -> dict[str, Any]:
    assert queue_of(node).wait_idle(WAIT_S), node.print_service.status()
    return node.print_service.status()


def paper(node: Node) -> list[bytes]:
    """What a "dummy" printer has printed, job by job."""
    drained(node)
    device = queue_of(node).device
    assert isinstance(device, EscposDevice)
    return list(device.paper)


def wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# --- the bytes of a sale ------------------------------------------------------------------


def test_a_cash_sale_kicks_the_drawer_then_prints_and_cuts(printing_nodes, tmp_path):
    node = counter(printing_nodes, tmp_path, header=["Tillmesh Store"])
    sale = cashier(node).sell("4000000000044", "4000000000082", pay="40.00")
    kick, receipt = paper(node)
    assert kick.startswith(ESC_P) and GS_V not in kick  # the drawer first: change is due
    assert sale["invoice"].encode() in receipt
    for amount in (sale["totals"]["grand_total"], "40.00", sale["change"]):
        assert amount.encode() in receipt
    assert b"Tillmesh Store" in receipt and GS_K in receipt
    assert GS_V in receipt[-4:]  # cut at the end
    assert ESC_P not in receipt


def test_a_card_only_sale_prints_without_opening_the_drawer(printing_nodes, tmp_path):
    node = counter(printing_nodes, tmp_path)
    sale = cashier(node).sell("4000000000082", mode="Card")
    [receipt] = paper(node)
    assert sale["invoice"].encode() in receipt and ESC_P not in b"".join(paper(node))


def test_auto_print_off_still_opens_the_drawer_for_cash(printing_nodes, tmp_path):
    node = counter(printing_nodes, tmp_path, auto_print=False)
    cashier(node).sell("4000000000082", pay="20.00")
    [kick] = paper(node)
    assert kick.startswith(ESC_P) and GS_V not in kick


def test_the_renderer_draws_the_qr_natively_or_as_an_image(tmp_path):
    body = {"invoice": "C01-2026-000001", "cashier": "ann", "posted_at": datetime.now(UTC),
            "items": [], "taxes": [], "payments": [],
            "totals": {"total": "0", "grand_total": "0"}}
    receipt = sale_receipt(body, ReceiptStyle(48, ZoneInfo("Europe/Berlin")), counter="C01")
    native = Renderer(PrinterConfig(kind="dummy"), tmp_path).receipt(receipt)
    image = Renderer(PrinterConfig(kind="dummy", qr_native=False), tmp_path).receipt(receipt)
    assert GS_K in native and GS_V0 not in native
    assert GS_V0 in image and GS_K not in image
    assert Renderer(PrinterConfig(drawer_pin=5), tmp_path).kick() == b"\x1bp\x0122"


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.tuples(st.text(st.characters(codec="utf-8",
                                                       exclude_categories=("Cs",)),
                                         max_size=20),
                                 st.booleans()), max_size=6),
       profile=st.sampled_from(["default", "TM-T88V"]))
def test_text_is_drawn_as_python_escpos_draws_it(tmp_path_factory, texts, profile):
    """ASCII once a code page is chosen skips python-escpos's per-character search:
    the bytes are what its own ``textln`` gives, whatever the text (umlauts, the euro
    sign, scripts no code page has) and wherever in the receipt it comes."""
    receipt = Receipt("R", 42, tuple(Text(text, bold=bold) for text, bold in texts))
    renderer = Renderer(PrinterConfig(kind="dummy", profile=profile),
                        tmp_path_factory.mktemp("r"))
    fast = renderer.receipt(receipt)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_escpos, "_text_line", lambda printer, text: printer.textln(text))
        assert renderer.receipt(receipt) == fast


def test_an_unknown_profile_is_a_printer_error_not_a_crash(tmp_path):
    device = EscposDevice(PrinterConfig(kind="dummy", profile="No Such Printer"), tmp_path)
    with pytest.raises(PrinterError, match="Unknown printer profile"):
        device.kick()


@pytest.mark.skipif(Usb.is_usable(), reason="pyusb is installed here")
def test_usb_without_pyusb_says_what_to_install(tmp_path):
    device = EscposDevice(PrinterConfig(kind="usb", usb_vendor=0x04B8, usb_product=0x0202),
                          tmp_path)
    with pytest.raises(PrinterError, match="needs the pyusb package"):
        device.kick()


# --- a printer that is off ----------------------------------------------------------------


def test_an_unreachable_printer_never_blocks_or_loses_a_sale(printing_nodes, tmp_path):
    port = free_port()  # nothing listens there: the printer is off
    node = counter(printing_nodes, tmp_path, kind="network", host="127.0.0.1", port=port,
                   timeout_seconds=1)
    ann = cashier(node)
    started = time.monotonic()
    sale = ann.sell("4000000000082", mode="Card")
    assert time.monotonic() - started < 1.0  # answered without waiting for the printer
    assert ann("invoice_get", invoice=sale["invoice"])["invoice"] == sale["invoice"]
    wait_for(lambda: ann("printer_status")["last_error"], "the first failed try")
    status = ann("printer_status")
    assert status["online"] is False and status["state"] == QueueState.WAITING
    assert status["pending"] == 1 and status["jobs"][0]["title"] == sale["invoice"]
    assert "cannot be reached" in status["last_error"]
    assert status["printer"] == f"network 127.0.0.1:{port}"

    printer = TcpPrinter(port)  # switched on again
    try:
        ann("printer_queue_retry")
        status = drained(node)
        assert status["online"] is True and status["last_error"] is None
        printer.wait_for(sale["invoice"])
    finally:
        printer.close()


def test_out_of_paper_waits_until_the_roll_is_changed(printing_nodes, tmp_path, tcp_printer):
    node = counter(printing_nodes, tmp_path, kind="network", host="127.0.0.1",
                   port=tcp_printer.port, paper_check=True)
    tcp_printer.paper = NO_PAPER
    ann = cashier(node)
    sale = ann.sell("4000000000082", mode="Card")
    wait_for(lambda: ann("printer_status")["last_error"], "the paper check")
    assert "out of paper" in ann("printer_status")["last_error"]
    assert not any(sale["invoice"].encode() in job for job in tcp_printer.jobs)
    tcp_printer.paper = PAPER_OK
    ann("printer_queue_retry")
    drained(node)
    tcp_printer.wait_for(sale["invoice"])


class FlakyDevice:
    """An in-memory printer that fails while ``broken`` and can hang on ``gate``."""

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.gate: threading.Event | None = None
        self.printed: list[str] = []
        self.kicks = 0

    def describe(self) -> str:
        return "flaky"

    def _take(self) -> None:
        if self.gate is not None:
            self.gate.wait(WAIT_S)
        if self.broken:
            raise PrinterError("printer is off")

    def print(self, receipt: Receipt) -> None:
        self._take()
        self.printed.append(receipt.title)

    def kick(self) -> None:
        self._take()
        self.kicks += 1


def receipt(title: str) -> Receipt:
    return Receipt(title, 32, ())


KEY = bytes(range(32))


def queue(device: FlakyDevice, spool: Path, clock: FakeClock | None = None,
          timeout_s: float = WAIT_S) -> PrintQueue:
    q = PrintQueue(device, Spool(spool, KEY), clock=clock or FakeClock(),
                   attempt_timeout_s=timeout_s, backoff=Backoff(first_s=0.05, max_s=0.2))
    q.start()
    return q


def test_pending_receipts_survive_a_restart_and_print_in_order(tmp_path):
    spool = tmp_path / "spool"
    off = FlakyDevice(broken=True)
    first = queue(off, spool)
    for title in ("R1", "R2", "R3"):
        first.submit_receipt(receipt(title))
    wait_for(lambda: first.status().jobs[0]["attempts"] >= 2, "retries with backoff")
    first.close()
    [oldest, *_] = files = sorted(spool.iterdir())
    assert len(files) == 3
    cut = oldest.read_bytes()[:-20]  # a power cut: the end of a file never reached the disk
    (spool / f"00000000000000000-000000{oldest.suffix}").write_bytes(cut)

    on = FlakyDevice()
    second = queue(on, spool)
    try:
        assert second.wait_idle(WAIT_S)
        assert on.printed == ["R1", "R2", "R3"]
        assert sorted(p.suffix for p in spool.iterdir()) == [".bad"]
    finally:
        second.close()


def test_a_hung_printer_times_out_and_the_job_waits(tmp_path):
    device = FlakyDevice()
    device.gate = threading.Event()
    q = queue(device, tmp_path, timeout_s=0.2)
    try:
        q.submit_receipt(receipt("R1"))
        wait_for(lambda: q.status().last_error, "the time-out")
        assert "did not take R1 within 0.2 s" in q.status().last_error
        assert q.status().pending == 1
        device.gate.set()  # the driver comes back; the job is printed (again: at least once)
        assert q.wait_idle(WAIT_S) and "R1" in device.printed
    finally:
        q.close()


def test_a_drawer_kick_that_cannot_reach_the_printer_expires(tmp_path):
    clock = FakeClock()
    device = FlakyDevice(broken=True)
    q = queue(device, tmp_path, clock)
    try:
        q.submit_receipt(receipt("R1"))
        q.submit_kick("C01-2026-000001")
        assert [j["kind"] for j in q.status().jobs] == ["kick", "receipt"]  # kicks first
        clock.advance(seconds=16)
        q.retry_now()
        wait_for(lambda: q.status().pending == 1, "the stale kick to go")
        [dropped] = q.status().dropped
        assert dropped["title"] == "C01-2026-000001" and "did not answer" in dropped["why"]
        device.broken = False
        assert q.wait_idle(WAIT_S) and device.kicks == 0 and device.printed == ["R1"]
    finally:
        q.close()


def test_a_receipt_laid_out_by_the_printer_thread_is_spooled_and_a_layout_bug_is_reported(
        tmp_path):
    spool = tmp_path / "spool"
    off = FlakyDevice(broken=True)
    first = queue(off, spool)

    def bug() -> Receipt:
        raise KeyError("invoice")

    first.submit_receipt(receipt("R0"))  # at the printer, failing, tried again and again
    first.submit_layout("BAD", bug)
    first.submit_layout("R1", lambda: receipt("R1"))
    wait_for(lambda: len(list(spool.glob("*"))) == 2, "the laid-out receipt in the spool")
    wait_for(lambda: first.status().dropped, "the layout bug to be reported")
    [dropped] = first.status().dropped
    assert dropped["title"] == "BAD" and "internal error" in dropped["why"]
    first.submit_layout("R2", lambda: receipt("R2"))
    first.close()  # a stop before the worker got to R2: it is spooled all the same

    on = FlakyDevice()  # the counter restarts with its printer back: they all print
    second = queue(on, spool)
    try:
        assert second.wait_idle(WAIT_S) and on.printed == ["R0", "R1", "R2"]
    finally:
        second.close()


def test_a_job_that_cannot_be_drawn_is_dropped_and_the_rest_print(tmp_path):
    device = FlakyDevice()
    real_print = device.print

    def print_or_crash(receipt: Receipt) -> None:
        if receipt.title == "BAD":
            raise ValueError("a bug in drawing")
        real_print(receipt)

    device.print = print_or_crash
    q = queue(device, tmp_path)
    try:
        for title in ("BAD", "R2"):
            q.submit_receipt(receipt(title))
        assert q.wait_idle(WAIT_S) and device.printed == ["R2"]
        [dropped] = q.status().dropped
        assert dropped["title"] == "BAD" and "internal error" in dropped["why"]
    finally:
        q.close()


def test_with_group_commit_a_receipt_waits_until_the_sale_is_durable(printing_nodes, tmp_path):
    node = counter(printing_nodes, tmp_path)
    node.log.enable_group_commit(node.config.db_path)  # as the daemon runs
    ann = cashier(node)
    sale = ann.sell("4000000000082", mode="Card")
    assert node.print_service.status()["pending"] == 0  # committed, not yet fsynced
    asyncio.run(node.log.flush())
    [printed] = paper(node)
    assert sale["invoice"].encode() in printed


# --- reprints, returns, reports, the drawer -----------------------------------------------


def test_a_reprint_says_copy_from_any_counter_and_is_audited(printing_nodes, tmp_path):
    c01 = counter(printing_nodes, tmp_path, "C01")
    sale = cashier(c01).sell("4000000000082", mode="Card")
    paper(c01)
    c02 = counter(printing_nodes, tmp_path, "C02")
    sync(c01.log, c02.log)
    assert paper(c02) == []  # a peer's sale is printed where it was made
    bob = Till(c02, "bob")
    answer = bob("receipt_print", invoice=sale["invoice"])
    assert answer["title"] == f"COPY {sale['invoice']}"
    [copy] = paper(c02)
    assert copy.count(b"COPY") == 2 and sale["invoice"].encode() in copy
    assert b"Counter   C01" in copy and ESC_P not in copy  # a reprint never opens the drawer
    audit = [a for a in Till(c02, "sup")("audit_list") if a["kind"] == "audit.receipt_printed"]
    assert audit[0]["invoice"] == sale["invoice"] and audit[0]["user"] == "bob"
    assert audit[0]["copy"] is True


def test_without_auto_print_the_first_print_on_request_is_the_original(printing_nodes, tmp_path):
    node = counter(printing_nodes, tmp_path, auto_print=False)
    ann = cashier(node)
    sale = ann.sell("4000000000082", mode="Card")
    assert paper(node) == []
    assert ann("receipt_print", invoice=sale["invoice"])["copy"] is False
    assert ann("receipt_print", invoice=sale["invoice"])["copy"] is True
    original, copy = paper(node)
    assert b"COPY" not in original and sale["invoice"].encode() in original
    assert copy.count(b"COPY") == 2


def test_a_return_prints_a_refund_receipt_and_opens_the_drawer(printing_nodes, tmp_path):
    node = counter(printing_nodes, tmp_path)
    ann = cashier(node)
    sale = ann.sell("4000000000082", pay="20.00")
    paper(node)
    ret = ann("return_create", invoice=sale["invoice"], approver=approver("sup"))
    kick, refund = paper(node)[2:]
    assert kick.startswith(ESC_P)
    assert b"REFUND" in refund and f"Refund of {sale['invoice']}".encode() in refund
    assert ret["invoice"].encode() in refund and f"-{ret['refund']}".encode() in refund


def test_the_z_report_prints_at_close_and_the_x_report_on_request(printing_nodes, tmp_path):
    node = counter(printing_nodes, tmp_path)
    ann = cashier(node)
    ann.sell("4000000000082", mode="Card")
    shift = ann("shift_current")["shift"]
    assert ann("report_print")["title"] == f"X {shift}"
    x_report = paper(node)[-1]
    assert b"X REPORT" in x_report and b"Counted" not in x_report
    ann("shift_close", shift_id=shift, counted={"Cash": "99.50", "Card": "12.95"})
    z_report = paper(node)[-1]
    assert b"Z REPORT" in z_report and shift.encode() in z_report
    for text in (b"Expected", b"Counted", b"Difference", b"99.50", b"-0.50"):
        assert text in z_report
    assert ann("report_print", shift_id=shift)["title"] == f"Z {shift}"  # a reprint


def test_drawer_open_kicks_only_when_a_supervisor_allowed_it(printing_nodes, tmp_path):
    node = counter(printing_nodes, tmp_path)
    ann = cashier(node)
    with pytest.raises(PermissionDenied):
        ann("drawer_open", reason="change")
    assert paper(node) == []
    assert ann("drawer_open", reason="change", approver=approver("sup")) == {"opened": True}
    [kick] = paper(node)
    assert kick.startswith(ESC_P) and GS_V not in kick


def test_cash_in_and_out_open_the_drawer(printing_nodes, tmp_path):
    node = counter(printing_nodes, tmp_path)
    ann = cashier(node)
    ann("cash_move", direction="in", amount="20", reason="coins from the bank")
    ann("cash_move", direction="out", amount="5", reason="window cleaner",
        approver=approver("sup"))
    assert [job[:2] for job in paper(node)] == [ESC_P, ESC_P]


def test_the_test_page_and_the_status(printing_nodes, tmp_path):
    node = counter(printing_nodes, tmp_path, width=32)
    ann = Till(node, "ann")
    assert ann("printer_test")["title"] == "TEST C01"
    [page] = paper(node)
    assert b"TEST PAGE" in page and b"12345678901234567890123456789012" in page
    status = ann("printer_status")
    assert status["kind"] == "dummy" and status["online"] is True and status["pending"] == 0
    assert status["last_printed_at"] is not None


def test_a_counter_without_printer_says_so(tmp_path):
    node = make_node(tmp_path)  # kind = "none", the default
    ann = cashier(node)
    sale = ann.sell("4000000000082")
    status = ann("printer_status")
    assert (status["kind"], status["state"], status["pending"]) == ("none", "off", 0)
    for method, params in (("receipt_print", {"invoice": sale["invoice"]}),
                           ("printer_test", {}), ("printer_queue_retry", {})):
        with pytest.raises(PrinterError, match="No printer is configured"):
            ann(method, **params)
    assert ann("drawer_open", approver=approver("sup")) == {"opened": True}


# --- the [printer] table ------------------------------------------------------------------


def test_the_printer_table_is_read_and_checked(tmp_path):
    (tmp_path / CONFIG_NAME).write_text(
        '[printer]\nkind = "network"\nhost = "10.0.0.9"\nusb_vendor = 0x04b8\n'
        'header = ["Tillmesh Store", "VAT DE123"]\nwidth = 48\n')
    printer = load(tmp_path).printer
    assert (printer.kind, printer.host, printer.usb_vendor, printer.width) == (
        "network", "10.0.0.9", 0x04B8, 48)
    assert printer.header == ["Tillmesh Store", "VAT DE123"]
    for bad, message in (('kind = "laser"', "kind 'laser'"), ("width = 40", "width 40"),
                         ("drawer_pin = 3", "drawer_pin"), ('kind = "network"', "host"),
                         ("paper_check = true", "paper_check"),
                         ("colour = true", "unknown setting.*printer.colour"),
                         ('width = "42"', "printer.width must be a whole number")):
        (tmp_path / CONFIG_NAME).write_text(f"[printer]\n{bad}\n")
        with pytest.raises(ConfigError, match=message):
            load(tmp_path)
