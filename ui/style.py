"""The app's look: one high-contrast, touch-friendly style sheet built from ui.const.

Widgets choose a role with ``setObjectName`` or the ``kind`` property (``primary``,
``danger``, ``quiet``) instead of styling themselves, so the look lives here only.
"""

from __future__ import annotations

from tillmesh.ui.const import (
    ACCENT,
    BACKGROUND,
    BANNER_INFO,
    BANNER_OFFLINE,
    BANNER_OK,
    BANNER_WARN,
    BASE_FONT_PX,
    KEYPAD_PX,
    MUTED,
    SURFACE,
    TEXT,
    TOTAL_FONT_PX,
    TOUCH_PX,
)

FONT_FAMILY = "DejaVu Sans"  # shipped with every Debian/Ubuntu till; wide Unicode coverage

STYLE_SHEET = f"""
* {{ font-family: "{FONT_FAMILY}"; font-size: {BASE_FONT_PX}px; color: {TEXT}; }}
QMainWindow, QWidget#screen, QDialog {{ background: {BACKGROUND}; }}
QFrame#card {{ background: {SURFACE}; border: 1px solid #c9ced6; border-radius: 8px; }}
QLabel#title {{ font-size: 24px; font-weight: bold; }}
QLabel#subtitle {{ font-size: 19px; font-weight: bold; color: {MUTED}; }}
QLabel#muted {{ color: {MUTED}; }}
QLabel#big {{ font-size: {TOTAL_FONT_PX}px; font-weight: bold; }}
QLabel#bigLabel {{ font-size: 20px; color: {MUTED}; }}
QLabel#change {{ font-size: {TOTAL_FONT_PX + 12}px; font-weight: bold; color: {BANNER_OK}; }}
QLabel#header {{ color: white; font-size: 18px; }}
QWidget#headerBar {{ background: #1d2733; }}
QWidget#noticeBar {{ background: #d9dee5; }}
QLabel#banner {{ color: white; font-size: 17px; font-weight: bold; padding: 2px 16px; }}
QLabel#banner[level="error"] {{ background: {BANNER_OFFLINE}; }}
QLabel#banner[level="warn"] {{ background: {BANNER_WARN}; }}
QLabel#banner[level="info"] {{ background: {BANNER_INFO}; }}
QLabel#banner[level="ok"] {{ background: {BANNER_OK}; }}
QLabel#fkeys {{ background: #1d2733; color: #e8edf3; font-size: 15px; padding: 6px 10px; }}
QPushButton {{
    min-height: {TOUCH_PX}px; padding: 4px 16px; border-radius: 6px;
    background: #dfe4ea; border: 1px solid #aab2bd; font-weight: bold;
}}
QPushButton:pressed {{ background: #c3cad3; }}
QPushButton:disabled {{ color: #8a9099; background: #eceff3; }}
QPushButton[kind="primary"] {{ background: {ACCENT}; color: white; border-color: {ACCENT}; }}
QPushButton[kind="primary"]:disabled {{ background: #8fb0d3; }}
QPushButton[kind="danger"] {{ background: {BANNER_OFFLINE}; color: white; }}
QPushButton[kind="nav"] {{ background: #2e3b4b; color: white; border: none; }}
QPushButton[kind="nav"]:checked {{ background: {ACCENT}; }}
QPushButton#key {{
    min-height: {KEYPAD_PX}px; min-width: {KEYPAD_PX}px; padding: 0; font-size: 26px;
}}
QLineEdit, QComboBox, QSpinBox, QDoubleSpinBox {{
    min-height: {TOUCH_PX - 8}px; padding: 2px 8px; background: white;
    border: 2px solid #aab2bd; border-radius: 6px;
}}
QLineEdit:focus {{ border-color: {ACCENT}; }}
QLineEdit#scan {{ font-size: 22px; border-width: 3px; }}
QTableView, QTableWidget, QListWidget {{
    background: white; alternate-background-color: #f4f6f9; gridline-color: #dde2e8;
    selection-background-color: #cfe2f7; selection-color: {TEXT};
}}
QHeaderView::section {{ background: #e3e8ee; padding: 6px; border: none; font-weight: bold; }}
QTableView::item, QTableWidget::item, QListWidget::item {{ min-height: {TOUCH_PX - 8}px; }}
"""
