"""The Admin screen's invite (issue 13, point 6): the short code to type, the full code as
a QR code a 2D scanner reads off the screen, and the expiry in the store's time to the
minute. The view-model without Qt, then the screen offscreen on a stub context (the app
against a real node: test_supervisor)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from tillmesh.ui.models.invite import QR_BORDER, invite_view, qr_modules
from tillmesh.ui.screens.admin import QR_MODULE_PX, AdminScreen

STORE = ZoneInfo("America/New_York")
FULL = "TM1-" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" * 5 + "ABCDEFGHIJKLMNO"  # 179, as made
ANSWER = {"code": FULL, "short": "7QK2-M9XD-4HTR-0BWE",
          "expires_at": "2026-05-02T18:35:42.123456+00:00"}


def test_the_expiry_is_the_stores_time_to_the_minute():
    same_day = invite_view(ANSWER, datetime(2026, 5, 2, 9, 0, tzinfo=STORE))
    assert same_day.until == "14:35" and "until 14:35" in same_day.note
    assert same_day.short == ANSWER["short"] and same_day.full == FULL
    next_day = invite_view(ANSWER, datetime(2026, 5, 1, 9, 0, tzinfo=STORE))
    assert next_day.until == "2026-05-02 14:35"


def test_without_mdns_or_from_an_earlier_release_there_is_no_short_code():
    view = invite_view({"code": FULL, "expires_at": ANSWER["expires_at"]},
                       datetime(2026, 5, 2, tzinfo=UTC))
    assert view.short == "" and "scan the QR code" in view.note


def test_the_full_code_packs_into_a_small_qr_code():
    modules = qr_modules(FULL)
    side = len(modules)
    assert all(len(line) == side for line in modules)
    version = (side - 2 * QR_BORDER - 17) // 4
    # alphanumeric mode: version 8 at level M; bytes would need version 9
    assert 1 <= version <= 8
    finder = [line[QR_BORDER:QR_BORDER + 7] for line in modules[QR_BORDER:QR_BORDER + 7]]
    assert finder[0] == [True] * 7 and finder[1] == [True] + [False] * 5 + [True]
    assert not any(modules[0]) and not any(line[0] for line in modules)  # quiet zone


def test_the_admin_screen_shows_the_short_code_and_draws_the_qr_code(qtbot):
    calls: list[tuple[str, Any]] = []

    def call(method: str, params: Any, done: Any, **options: Any) -> None:
        calls.append((method, options))
        if method == "invite_create":
            done(ANSWER)

    ctx = SimpleNamespace(call=call, now=lambda: datetime(2026, 5, 2, 9, 0, tzinfo=STORE),
                          user=None, optional=lambda *a: None, notify=lambda *a: None)
    screen = AdminScreen(ctx)  # type: ignore[arg-type]
    qtbot.addWidget(screen)
    screen.create_invite()
    assert calls == [("invite_create", {"approvable": True})]
    assert screen.invite.text() == "7QK2-M9XD-4HTR-0BWE"
    assert "until 14:35" in screen.invite_note.text()
    modules = qr_modules(FULL)
    image = screen.invite_qr.pixmap().toImage()
    assert image.width() == image.height() == len(modules) * QR_MODULE_PX
    for y, line in enumerate(modules):  # every module drawn, sharp, in its place
        for x, dark in enumerate(line):
            centre = image.pixelColor(x * QR_MODULE_PX + QR_MODULE_PX // 2,
                                      y * QR_MODULE_PX + QR_MODULE_PX // 2)
            assert centre.lightness() == (0 if dark else 255), (x, y)
