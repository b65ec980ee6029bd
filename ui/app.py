"""``tillmesh ui``: the cashier and supervisor app, a client of the node's local API only.

    tillmesh ui [--data-dir D] [--windowed] [--screenshots OUTDIR]
    tillmesh ui --customer-display [--screen N] [--windowed]

Full-screen by default (a till), in a window with ``--windowed``. The node may be down
when the app starts: the app shows the banner and connects when the node answers.
``--customer-display`` runs only the customer display (:mod:`ui.screens.customer_display`)
in a process of its own, a client of the same node, full screen on screen ``N`` (Qt's
order, 0 first; default the primary screen).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget

from tillmesh.node.errors import ValidationError
from tillmesh.ui.bridge import Bridge
from tillmesh.ui.const import BASE_FONT_PX, DISPLAY_WINDOW_SIZE, WINDOW_FRAME_PX, WINDOW_SIZE
from tillmesh.ui.screens.customer_display import CustomerDisplay
from tillmesh.ui.shell import MainWindow
from tillmesh.ui.style import FONT_FAMILY, STYLE_SHEET

OFFSCREEN_NOISE = "does not support propagateSizeHints"
log = logging.getLogger(__name__)


def application(argv: Sequence[str] = ()) -> QApplication:
    """The QApplication (made once), with the app's font and style sheet."""
    existing = QApplication.instance()
    app = (existing if isinstance(existing, QApplication)
           else QApplication(list(argv) or ["tillmesh"]))
    if app.platformName() == "offscreen":
        qInstallMessageHandler(_quiet_offscreen)
    font = QFont(FONT_FAMILY)
    font.setPixelSize(BASE_FONT_PX)
    app.setFont(font)
    app.setStyleSheet(STYLE_SHEET)
    return app


def _quiet_offscreen(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    """The offscreen platform (screenshots, tests) warns about every window it sizes; that
    one line is noise there, everything else still reaches stderr."""
    if OFFSCREEN_NOISE not in message:
        print(message, file=sys.stderr)


def open_window(endpoint: str, windowed: bool = True) -> MainWindow:
    """A main window talking to the node at ``endpoint``, shown and connecting."""
    bridge = Bridge(endpoint)
    window = MainWindow(bridge)
    room = window.screen().availableGeometry()
    width, height = WINDOW_SIZE
    if windowed and width + WINDOW_FRAME_PX <= room.width() and \
            height + WINDOW_FRAME_PX <= room.height():
        window.resize(width, height)
        window.show()
    else:
        # A window manager sizes a full-screen or maximised window; with none, nothing
        # would, so the window takes the screen's size itself first.
        window.setGeometry(room if windowed else window.screen().geometry())
        if windowed:
            window.showMaximized()
        else:
            window.showFullScreen()
    bridge.start()
    return window


def run(endpoint: str, windowed: bool = False) -> int:
    """Run the app against the node's API at ``endpoint`` until its window closes;
    returns the exit code."""
    app = application(sys.argv)
    window = open_window(endpoint, windowed)
    code = app.exec()  # closing the window stops the bridge's threads (MainWindow.closeEvent)
    del window
    return code


def open_customer_display(endpoint: str, screen: int | None = None,
                          windowed: bool = False) -> CustomerDisplay:
    """The customer display following the node at ``endpoint``, shown on ``screen`` (full
    screen there unless ``windowed``) without taking the keyboard from the till."""
    window = CustomerDisplay(Bridge(endpoint))
    _place(window, screen, windowed)
    window.start()
    return window


def _place(window: QWidget, number: int | None, windowed: bool) -> None:
    screens = QGuiApplication.screens()
    if number is not None and not 0 <= number < len(screens):
        raise ValidationError(f"There is no screen {number}: this display has "
                              f"{len(screens)} (0 to {len(screens) - 1})")
    target = screens[number] if number is not None else QGuiApplication.primaryScreen()
    window.setScreen(target)
    if windowed:
        room = target.availableGeometry()
        width, height = DISPLAY_WINDOW_SIZE
        window.setGeometry(room.x(), room.y(), min(width, room.width()),
                           min(height, room.height()))
        window.show()
    else:  # with no window manager nothing would size it: it takes the screen itself
        window.setGeometry(target.geometry())
        window.showFullScreen()
    where = window.geometry()
    log.info("customer display on screen %d (%s): %dx%d at %d,%d%s",
             screens.index(target), target.name(), where.width(), where.height(), where.x(),
             where.y(), "" if windowed else ", full screen")


def run_customer_display(endpoint: str, screen: int | None = None,
                         windowed: bool = False) -> int:
    """Run only the customer display until it is closed (or the process is stopped);
    what it shows is logged on stderr, one line a change."""
    app = application(sys.argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    window = open_customer_display(endpoint, screen, windowed)
    code = app.exec()
    del window
    return code
