"""The python-escpos adapter: receipts to ESC/POS bytes, bytes to the configured printer.

Drawing and sending are kept apart. :class:`Renderer` draws a Receipt on python-escpos's
``Dummy`` printer with the configured profile (text, bold, double size, the QR code with
``qr(native=…)``, the logo, the cut; or the drawer kick with ``cashdraw``) and returns
the bytes: no I/O but reading the logo file. :class:`EscposDevice` opens the configured
``Network``, ``Usb``, ``Serial``, ``File`` or ``Dummy`` printer for each job, asks the
paper sensor when configured, writes the job in one piece and closes it again, so a
printer switched off and on between two jobs is simply found again.

Every library and OS error (escpos, socket, pyusb, pyserial, PIL) is translated here into
PrinterError; none of their types leaks out.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path

from escpos.capabilities import BaseProfile, NotSupported, get_profile
from escpos.escpos import Escpos
from escpos.exceptions import Error as EscposError
from escpos.printer import Dummy, File, Network, Serial, Usb
from PIL import Image, UnidentifiedImageError

from tillmesh.node.errors import PrinterError
from tillmesh.node.ops.config import PrinterConfig
from tillmesh.node.printing._helper import describe
from tillmesh.node.printing._layout import Logo, Qr, Receipt, Text
from tillmesh.node.printing.const import LOGO_MAX_PX, MS_PER_S, PAPER_KEPT, QR_DOT_SIZE

log = logging.getLogger("tillmesh.printing")

OUT_OF_PAPER = 0  # python-escpos paper_status(): 0 no paper, 1 near the end, 2 enough
# What can go wrong talking to a printer: escpos's own errors (device not found, …),
# OSError (sockets, time-outs, device files, pyserial's and pyusb's errors) and
# RuntimeError (python-escpos says so when pyusb or pyserial is not installed).
_DEVICE_ERRORS = (EscposError, OSError, RuntimeError)


def profile_of(name: str) -> BaseProfile:
    try:
        return get_profile(name)
    except KeyError as exc:
        raise PrinterError(f"Unknown printer profile {name!r} (printer.profile: a "
                           "python-escpos profile such as \"TM-T88V\")") from exc


class Renderer:
    """Receipts and drawer kicks as ESC/POS bytes for one printer profile."""

    def __init__(self, settings: PrinterConfig, data_dir: Path) -> None:
        self.settings = settings
        self.logo_path = data_dir / settings.logo if settings.logo else None
        self._logo: Image.Image | None = None
        self._logo_failed = False  # said once in the log, then printed without it

    def receipt(self, receipt: Receipt) -> bytes:
        printer = self._canvas()
        font = _font_for(printer.profile, receipt.width)
        printer.hw("INIT")  # a half-finished earlier job must not leave its styles on
        for block in receipt.blocks:
            if isinstance(block, Text):
                printer.set(align=block.align.value, font=font, bold=block.bold,
                            normal_textsize=not block.big, double_width=block.big,
                            double_height=block.big)
                _text_line(printer, block.text)
            elif isinstance(block, Qr):
                native = self.settings.qr_native
                printer.set(align="center")
                printer.qr(block.data, size=QR_DOT_SIZE, native=native, center=not native)
            elif isinstance(block, Logo) and (logo := self._load_logo(printer.profile)):
                printer.image(logo, center=True)
        printer.set(align="left", bold=False, normal_textsize=True)
        printer.cut()
        return printer.output

    def kick(self) -> bytes:
        printer = self._canvas()
        printer.cashdraw(self.settings.drawer_pin)
        return printer.output

    def _canvas(self) -> Dummy:
        profile_of(self.settings.profile)  # a clear error rather than escpos's KeyError
        return Dummy(profile=self.settings.profile)

    def _load_logo(self, profile: BaseProfile) -> Image.Image | None:
        if self.logo_path is None or self._logo_failed:
            return None
        if self._logo is None:
            try:
                with Image.open(self.logo_path) as image:
                    logo = image.convert("RGB")
            except (OSError, UnidentifiedImageError) as exc:
                self._logo_failed = True  # a receipt without the logo beats no receipt
                log.warning("logo %s cannot be read, printing without it: %s",
                            self.logo_path, exc)
                return None
            logo.thumbnail(_logo_box(profile))
            self._logo = logo
        return self._logo


def _text_line(printer: Dummy, text: str) -> None:
    """``printer.textln(text)``, the same bytes. python-escpos picks a code page for each
    character (three-quarters of a receipt's drawing); once one is chosen, ASCII goes out
    as itself in every code page, which is what its own encoder then writes."""
    if printer.magic.encoding is None or not text.isascii():
        printer.textln(text)  # the first text chooses the code page; the rest look it up
        return
    printer._raw(f"{text}\n".encode("ascii"))


def _font_for(profile: BaseProfile, width: int) -> int:
    """The first font of the profile with at least ``width`` columns, else the widest."""
    fonts = sorted((int(index), int(font["columns"])) for index, font in profile.fonts.items())
    for index, columns in fonts:
        if columns >= width:
            return index
    return max(fonts, key=lambda font: font[1])[0]


def _logo_box(profile: BaseProfile) -> tuple[int, int]:
    pixels = profile.media.get("width", {}).get("pixels")
    return (pixels, LOGO_MAX_PX[1]) if isinstance(pixels, int) else LOGO_MAX_PX


class EscposDevice:
    """The configured printer; ``print`` and ``kick`` raise PrinterError when it cannot
    take the job. A ``dummy`` printer keeps the last jobs' bytes in ``paper``."""

    def __init__(self, settings: PrinterConfig, data_dir: Path) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.renderer = Renderer(settings, data_dir)
        self.paper: deque[bytes] = deque(maxlen=PAPER_KEPT)

    @property
    def kind(self) -> str:
        return self.settings.kind

    def describe(self) -> str:
        return describe(self.settings, self.data_dir)

    def print(self, receipt: Receipt) -> None:
        self._send(self._draw(lambda: self.renderer.receipt(receipt)))

    def kick(self) -> None:
        self._send(self._draw(self.renderer.kick))

    @staticmethod
    def _draw(draw: Callable[[], bytes]) -> bytes:
        try:
            return draw()
        except (EscposError, NotSupported, ValueError) as exc:
            raise PrinterError(f"Cannot lay the job out for this printer: {exc}") from exc

    def _send(self, data: bytes) -> None:
        printer: Escpos | None = None
        try:
            printer = self._open()
            if self.settings.paper_check and printer.paper_status() == OUT_OF_PAPER:
                raise PrinterError(f"The printer ({self.describe()}) is out of paper")
            # python-escpos has no public call for bytes drawn ahead; _raw is what its
            # own methods write through (Dummy is documented for exactly this use).
            printer._raw(data)
        except _DEVICE_ERRORS as exc:
            raise PrinterError(f"The printer ({self.describe()}) cannot be reached: "
                               f"{_reason(exc)}") from exc
        finally:
            if printer is not None:
                _close(printer)
        if isinstance(printer, Dummy):
            self.paper.append(printer.output)

    def _open(self) -> Escpos:
        s = self.settings
        for kind, cls, package in (("usb", Usb, "pyusb"), ("serial", Serial, "pyserial")):
            if s.kind == kind and not cls.is_usable():
                raise PrinterError(f"Printing over {kind} needs the {package} package "
                                   "installed next to Tillmesh")
        printer: Escpos
        if s.kind == "network":
            printer = Network(s.host, s.port, timeout=s.timeout_seconds, profile=s.profile)
        elif s.kind == "usb":
            printer = Usb(s.usb_vendor, s.usb_product, timeout=s.timeout_seconds * MS_PER_S,
                          profile=s.profile)
        elif s.kind == "serial":
            printer = Serial(s.serial_device, s.baudrate, timeout=s.timeout_seconds,
                             profile=s.profile)
        elif s.kind == "file":
            printer = File(str(self.data_dir / s.file), profile=s.profile)
        else:
            printer = Dummy(profile=s.profile)
        printer.open()
        return printer


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())  # escpos puts the OS error on a second line
    return text or type(exc).__name__


def _close(printer: Escpos) -> None:
    try:
        printer.close()
    except _DEVICE_ERRORS as exc:  # the job is written or already failed: only log it
        log.debug("closing the printer failed: %s", exc)
