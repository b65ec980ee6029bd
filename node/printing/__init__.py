"""Receipts, reports and the cash drawer: the node owns the printer.

    const     widths, retry timings, queue bounds, with units and reasons
    _layout   pure: a recorded sale, return or shift report -> a Receipt (lines that fit)
    _escpos   the python-escpos adapter: Receipt -> ESC/POS bytes -> the printer
    _helper   the printer's own process, where _escpos runs (but for ``dummy``): drawing
              and writing a job never hold the node's interpreter; a stuck job is killed
    _queue    the print queue: off the request path, retried with backoff, spooled to disk
    _spool    the spool on disk: one file per pending receipt, sealed with a key derived
              from the database key (spool_key), 0600 in a 0700 directory
    _service  PrintService: the queue, the receipt style, and the event-log hook that
              prints sales by themselves (the API methods are tillmesh.node.api.printing)

The ``[printer]`` table of tillmesh.toml (node.config.PrinterConfig), with its defaults::

    [printer]
    kind = "none"            # none, network, usb, serial, file; dummy keeps bytes (tests)
    host = ""                # network
    port = 9100
    usb_vendor = 0           # usb, e.g. 0x04b8
    usb_product = 0
    serial_device = "/dev/ttyS0"
    baudrate = 9600
    file = "/dev/usb/lp0"    # file: a device file, written once per job
    profile = "TM-T88V"      # python-escpos printer profile
    width = 42               # characters per line: 32, 42 or 48
    header = []              # store name, address, VAT id (centred, bold)
    footer = []
    logo = ""                # image above the header
    qr = true                # QR code of the invoice number ...
    qr_native = true         # ... drawn by the printer (false: sent as an image)
    drawer_pin = 2           # 2 or 5
    timeout_seconds = 5      # per connect or write
    auto_print = true        # receipt for every sale and return, Z report at close
    paper_check = false      # ask the paper sensor first (network, usb, serial)

USB printing needs pyusb and serial printing pyserial (python-escpos extras); without
them a job fails with a PrinterError that says so, and waits in the queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tillmesh.node.printing._layout import (
    Align,
    Logo,
    Qr,
    Receipt,
    ReceiptStyle,
    Text,
    sale_receipt,
    self_test_receipt,
    shift_receipt,
)
from tillmesh.node.printing._queue import (
    Backoff,
    Job,
    JobKind,
    PrintQueue,
    QueueState,
    QueueStatus,
)
from tillmesh.node.printing._spool import Spool, spool_key

if TYPE_CHECKING:
    from tillmesh.node.printing._service import PrintService

__all__ = [
    "Align",
    "Backoff",
    "Job",
    "JobKind",
    "Logo",
    "PrintQueue",
    "PrintService",
    "Qr",
    "QueueState",
    "QueueStatus",
    "Receipt",
    "ReceiptStyle",
    "Spool",
    "Text",
    "sale_receipt",
    "self_test_receipt",
    "shift_receipt",
    "spool_key",
]


def __getattr__(name: str) -> Any:
    # The service (the node's projections, SQLAlchemy) is loaded when first asked for: the
    # printer helper process imports this package for the adapter and the layout only.
    if name == "PrintService":
        from tillmesh.node.printing._service import PrintService

        return PrintService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
