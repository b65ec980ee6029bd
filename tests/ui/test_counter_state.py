"""Issue 12, points 7, 8 and 10, through the real widgets (offscreen) against real nodes:
a revoked or paused counter says so in a banner that stays while it lasts and the Store
screen says why, a revoked one refuses a scan with a visible message; every time shown is
the store's, whatever the till's own zone; a good scan takes a bad scan's message away;
the shift panel follows a close; the login screen offers its users before anyone ever
logged in."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from tests.clusterkit import invite, join, linked
from tests.proc import NodeProcess, Nodes, demo_barcodes, network
from tests.ui.driver import ADMIN, CASHIER, SUPERVISOR, App, client, ensure_shift
from tillmesh.node.errors import LockedOut
from tillmesh.ui.models.clock import store_zone, time_of_day, when
from tillmesh.ui.models.money import dec
from tillmesh.ui.models.session import lockout_message
from tillmesh.ui.models.status import counter_banner, counter_rows, peer_rows
from tillmesh.ui.screens.dialogs import ConfirmDialog

BAD_CHECK_DIGIT = "4250100000012"  # the README's example of a mistyped barcode
STORE_ZONE = "Europe/Berlin"  # `tillmesh init`'s default, the demo store's


def store_of_two(nodes: Nodes) -> tuple[NodeProcess, NodeProcess]:
    """C01 and C02 of one store, at work together, with a shift open on C02."""
    c1 = nodes.start(nodes.init(*network(), node="C01"))
    c2 = nodes.start(join(nodes, invite(c1), "C02"))
    linked([c1, c2])
    ensure_shift(c2)
    return c1, c2


@pytest.fixture(scope="module")
def pair(nodes: Nodes) -> tuple[NodeProcess, NodeProcess]:
    return store_of_two(nodes)


@pytest.fixture
def till_in_utc() -> Iterator[None]:
    """The till's own clock in UTC, the store in Berlin: the zones differ."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


# --- the view-models (Qt-free) -----------------------------------------------------------------

def test_the_banner_says_where_the_counter_stands_in_a_few_words():
    assert counter_banner({"state": "active", "reason": "C03 refuses this counter"}) is None
    assert counter_banner({"state": "revoked", "revoked_by": "admin"}) == (
        "Revoked by admin: this counter cannot sell — see Store", "error")
    assert counter_banner({"state": "paused"}) == (
        "Replication paused: sales stay on this counter — see Store", "warn")
    assert counter_banner({"state": "cut_off", "refused_by": []})[1] == "warn"
    assert counter_banner({"state": "cut_off", "refused_by": ["C01", "C03"]}) == (
        "Refused by C01, C03: sales stay on this counter — see Store", "error")
    assert counter_banner({"state": "refused", "refused_by": ["C01", "C03"]}) == (
        "Every other counter refuses this one: it cannot sell — see Store", "error")


def test_the_store_screen_says_since_when_in_the_stores_zone():
    berlin = ZoneInfo(STORE_ZONE)
    now = datetime(2026, 11, 26, 15, 0, tzinfo=berlin)
    rows = dict(counter_rows({"node": "C02", "state": "revoked", "selling": False,
                              "since": "2026-11-26T13:05:09+00:00", "revoked_by": "admin",
                              "revoked_on": "C01", "refused_by": ["C01"]}, now))
    assert rows == {"Counter": "C02", "State": "REVOKED", "Sells": "no", "Since": "14:05:09",
                    "Revoked by": "admin on C01", "Refused by": "C01"}
    assert peer_rows([{"node": "C01", "live": True, "refused": True}])[0].reach == "REFUSES US"
    assert peer_rows([{"node": "C01", "live": True}])[0].reach == "live"


def test_one_zone_for_every_time_shown_and_a_zone_the_till_lacks_falls_back():
    utc = ZoneInfo("UTC")
    assert store_zone("Europe/Berlin", utc) == ZoneInfo("Europe/Berlin")
    assert store_zone("Mars/Olympus_Mons", utc) is utc and store_zone(None, utc) is utc
    until = "2026-11-26T13:04:30+00:00"
    berlin_now = datetime(2026, 11, 26, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert lockout_message({"until": until}, berlin_now, "ann") == (
        "Too many wrong PINs: ann is locked until 14:04:30 (about 5 min)")
    assert when(until, berlin_now) == "14:04:30"
    assert when(until, berlin_now + timedelta(days=1)) == "2026-11-26 14:04"
    assert time_of_day(until, ZoneInfo("America/New_York")) == "08:04:30"


# --- the app against real nodes --------------------------------------------------------------

def banner_after_next_poll(app: App) -> str:
    """The counter banner's text once where the counter stands was asked again."""
    polls = []
    app.ctx.counter_changed.connect(polls.append)
    try:
        app.wait(lambda: len(polls) >= 2)
    finally:
        app.ctx.counter_changed.disconnect(polls.append)
    return app.window.counter_banner.text() if app.window.counter_banner.isVisible() else ""


def user_buttons(app: App) -> dict[str, QPushButton]:
    login = app.window.login
    return {b.text().split("\n")[0]: b for b in login.users_box.findChildren(QPushButton)
            if b.isVisible()}


def test_the_login_screen_offers_its_users_before_anyone_logged_in(app, node):
    app.wait(lambda: "Demo Cashier" in user_buttons(app))
    assert {"Administrator", "Demo Cashier", "Demo Supervisor"} <= set(user_buttons(app))
    app.touch(user_buttons(app)["Demo Cashier"])
    login = app.window.login
    assert login.user_field.text() == "cashier" and login.pin.field.hasFocus()
    app.type_enter(login.pin.field, CASHIER[1])
    app.login_done("cashier")


def test_a_good_scan_takes_the_bad_scans_message_away_and_no_other(app, node):
    ensure_shift(node)
    app.login(*CASHIER)
    sell, message = app.window.sell, app.window.message
    app.wait(lambda: sell.cart_id is not None)
    app.type_enter(sell.scan_field, BAD_CHECK_DIGIT)
    app.wait(lambda: message.isVisible() and "check digit" in message.text().lower())
    first, second = demo_barcodes(2)
    app.scan(first)
    app.wait(lambda: not message.isVisible())  # long before its 8 s are up
    app.type_enter(sell.scan_field, BAD_CHECK_DIGIT)
    app.wait(lambda: message.isVisible() and "check digit" in message.text().lower())
    app.ctx.notify("The printer is out of paper", "warn")  # news of something else
    app.scan(second)
    assert message.isVisible() and message.text() == "The printer is out of paper"


def test_the_shift_panel_says_no_shift_is_open_after_the_close(app, node):
    shift = ensure_shift(node)
    app.login(*SUPERVISOR)
    shifts = app.window.shifts
    app.key(Qt.Key.Key_F12)
    app.wait(lambda: shifts.here.text() == f"Open on C01: {shift}")
    app.wait(lambda: any(s["shift"] == shift for s in shifts.shifts))
    shifts.select(next(s for s in shifts.shifts if s["shift"] == shift))
    app.wait(lambda: "Cash" in shifts.counting.fields and "Cash" in shifts.expected)
    for mode in shifts.counting.fields:
        shifts.counting.set_amount(mode, dec(shifts.expected.get(mode, "0")))
    app.touch(shifts.close_button)
    app.touch(app.dialog(ConfirmDialog).ok)  # the count, confirmed before the Z report
    app.wait(lambda: shifts.report_title.text() == "Z report")
    app.wait(lambda: shifts.here.text() == "No shift is open on C01")
    assert shifts.open_here.isVisible()


def test_a_shift_closed_from_elsewhere_leaves_the_till_within_a_poll(app, node):
    """A supervisor closes the cashier's shift from another till (here, another session):
    the cashier's header says so at the next poll (every COUNTER_STATE_MS), with nobody
    touching the till, not only at the payment."""
    shift = ensure_shift(node)
    app.login(*CASHIER)
    header = app.window.who
    app.wait(lambda: shift in header.text())
    with client(node, SUPERVISOR) as api:
        api.shift_close(shift, {"Cash": "0", "Card": "0"})
    app.wait(lambda: "no open shift" in header.text())
    assert app.ctx.shift is None
    opened = ensure_shift(node)  # and one opened from elsewhere shows up the same way
    app.wait(lambda: opened in header.text())


def test_the_lockout_says_the_stores_time_whatever_the_tills_zone(till_in_utc, open_app, node):
    with client(node) as api:
        api.user_create("tzuser", "Zone Test", "cashier", pin="4321")
    app = open_app(node.endpoint)
    app.wait(lambda: str(app.ctx.store_tz) == STORE_ZONE)  # the node said it
    login = app.window.login
    login.user_field.setText("tzuser")
    for _ in range(5):
        login.message.setText("")
        app.type_enter(login.pin.field, "0000")
        app.wait(lambda: login.message.text().startswith(("Wrong", "Too many")))
    with node.client() as api, pytest.raises(LockedOut) as caught:
        api.login("tzuser", "0000")
    until = datetime.fromisoformat(caught.value.details["until"])
    shown = login.message.text()
    # the lock the app was told of, or the same one a moment later (a second may tick over)
    local = until.astimezone(ZoneInfo(STORE_ZONE))
    assert any(f"locked until {local - timedelta(seconds=s):%H:%M:%S}" in shown
               for s in (0, 1)), shown
    assert f"{until.astimezone(ZoneInfo('UTC')):%H:%M}" not in shown  # one time, one zone


def test_a_paused_counter_says_so_until_it_is_resumed(till_in_utc, app, node):
    app.login(*ADMIN)
    banner = app.window.counter_banner
    assert not banner.isVisible()
    with client(node) as api:
        api.call("replication_pause", paused=True)
    try:
        app.wait(lambda: banner.isVisible() and banner.text().startswith(
            "Replication paused: sales stay on this counter"))
        app.touch(app.window.nav_buttons["status"])
        status = app.window.status
        app.wait(lambda: "An admin paused replication" in status.counter_note.text())
        since = datetime.fromisoformat(app.ctx.counter_state["since"])
        app.wait(lambda: f"Since {since.astimezone(ZoneInfo(STORE_ZONE)):%H:%M:%S}"
                 in status.counter.text())  # the store's time, not the till's (UTC)
        assert "State replication paused" in status.counter.text()
        assert banner_after_next_poll(app).startswith("Replication paused")  # it stays
    finally:
        with client(node) as api:
            api.call("replication_pause", paused=False)
    app.wait(lambda: not banner.isVisible())


def test_a_revoked_counter_refuses_a_scan_and_the_store_screen_says_why(open_app, pair):
    c1, c2 = pair
    app = open_app(c2.endpoint)
    app.login(*CASHIER)
    sell = app.window.sell
    first, second = demo_barcodes(2)
    app.scan(first)
    with client(c1) as api:
        api.call("node_revoke", node_id="C02")
    banner = app.window.counter_banner
    app.wait(lambda: banner.isVisible())
    assert banner.text().startswith("Revoked by admin: this counter cannot sell")
    assert banner.property("level") == "error"
    app.type_enter(sell.scan_field, second)
    message = app.window.message
    app.wait(lambda: message.isVisible() and "revoked by admin (on C01)" in message.text())
    assert len(sell.model.view.lines) == 1  # refused: nothing was added
    app.touch(app.window.nav_buttons["status"])
    status = app.window.status
    app.wait(lambda: "cannot sell" in status.counter_note.text()
             and "admin on C01" in status.counter.text())
    assert "State REVOKED" in status.counter.text()
    app.wait(lambda: status.peers.rowCount() == 1)
    assert status.peers.item(0, 1).text() == "REFUSES US"  # never shown as live
    assert banner_after_next_poll(app).startswith("Revoked by admin")  # it stays
