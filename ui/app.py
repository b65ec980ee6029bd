"""``tillmesh ui``: the cashier and supervisor app, a client of the node's local API only.

    tillmesh ui [--data-dir D] [--windowed] [--screenshots OUTDIR]

Full-screen by default (a till), in a window with ``--windowed``. The node may be down
when the app starts: the app shows the banner and connects when the node answers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from tillmesh.ui.bridge import Bridge
from tillmesh.ui.const import BASE_FONT_PX, WINDOW_FRAME_PX, WINDOW_SIZE
from tillmesh.ui.shell import MainWindow
from tillmesh.ui.style import FONT_FAMILY, STYLE_SHEET

OFFSCREEN_NOISE = "does not support propagateSizeHints"


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
