"""The supervisor's and the admin's screens against real nodes: every counter's open
shifts (two counters of one store, replicated), the store status, users and invites."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.proc import network, ok, tillmesh
from tests.ui.driver import ADMIN, CASHIER, SUPERVISOR, client
from tillmesh.ui.models.status import NOT_AVAILABLE
from tillmesh.ui.screens import dialogs

REPLICATION_MS = 30_000  # ms for C02's shift to reach C01 on a loaded machine


def test_a_supervisor_sees_and_closes_another_counters_shift(open_app, nodes):
    first = nodes.start(nodes.init(*network(), node="C01"))
    with client(first) as api:
        code = api.call("invite_create")["code"]
    second_dir = nodes.tmp() / "d"
    ok(tillmesh(second_dir, "join", code, "--node", "C02", *network()))
    second = nodes.start(second_dir)
    with client(second, CASHIER) as api:
        shift = api.shift_open({"Cash": "50.00"})["shift"]  # on C02

    app = open_app(first.endpoint)  # the supervisor stands at C01
    with client(first, SUPERVISOR) as api:  # replicated to C01 (replication's own tests
        app.wait(lambda: any(s["shift"] == shift for s in api.shift_list("open")),  # time it)
                 timeout=REPLICATION_MS)
    app.login(*SUPERVISOR)
    shifts = app.window.shifts
    app.key(Qt.Key.Key_F12)
    app.wait(lambda: any(s["shift"] == shift for s in shifts.shifts))
    assert next(s for s in shifts.shifts if s["shift"] == shift)["counter"] == "C02"
    shifts.select(next(s for s in shifts.shifts if s["shift"] == shift))
    app.wait(lambda: "Cash" in shifts.expected and "Cash" in shifts.counting.fields)
    app.qtbot.keyClicks(shifts.counting.fields["Cash"], "50")
    app.qtbot.keyClicks(shifts.counting.fields["Card"], "0")  # every mode, 0 typed
    app.qtbot.mouseClick(shifts.close_button, Qt.MouseButton.LeftButton)
    confirm = app.dialog(dialogs.ConfirmDialog)
    assert confirm.consequence.text().startswith("Every mode matches")
    app.qtbot.mouseClick(confirm.ok, Qt.MouseButton.LeftButton)
    app.wait(lambda: shifts.report_title.text() == "Z report")
    app.wait(lambda: all(s["shift"] != shift for s in shifts.shifts))
    with client(first, SUPERVISOR) as api:
        closed = {s["shift"]: s for s in api.shift_list("closed")}
    assert closed[shift]["closed_by"] == "supervisor"


def test_store_status_and_methods_a_node_lacks(app, node):
    app.login(*ADMIN)
    status = app.window.status
    app.window.show_screen("status")
    app.wait(lambda: "No other counter known yet" in status.peers_note.text())
    app.wait(lambda: "ERPNext configured" in status.erpnext.text())
    app.wait(lambda: "State" in status.printer.text())
    # exceptions_list is the lead's, being built: either its rows or a calm note
    app.wait(lambda: status.exceptions.rowCount() > 0 or bool(status.exceptions_note.text()))
    missing: list[str] = []
    app.ctx.optional("no_such_method", None, lambda _: None, missing.append)
    app.wait(lambda: missing == [NOT_AVAILABLE])
    assert not app.window.message.isVisible()  # not an error for the cashier


def test_admin_creates_a_user_and_an_invite(app, node):
    app.login(*ADMIN)
    admin = app.window.admin
    app.window.show_screen("admin")
    app.wait(lambda: any(u["user"] == "cashier" for u in admin.users))
    admin.new_user.setText("eva")
    admin.new_name.setText("Eva Klein")
    admin.new_role.setCurrentText("supervisor")
    admin.new_pin.setText("5678")
    admin.create_user()
    app.wait(lambda: any(u["user"] == "eva" and u["role"] == "supervisor" for u in admin.users))
    assert "max" not in admin.permissions.text() and "100 %" in admin.permissions.text()
    admin.create_invite()
    app.wait(lambda: not admin.invite_qr.pixmap().isNull())  # the full code as a QR code
    assert admin.invite.text() == ""  # no short code: this test node runs without mDNS
    app.window.ctx.logout()
    app.login("eva", "5678")  # the new user can log in at once


def test_promoting_a_cashier_asks_for_a_new_pin_and_demoting_does_not(app, node):
    """A higher role may need a longer PIN (6 digits outside the demo), and only the old
    PIN's hash is known: the promotion comes with a new PIN, the user logs in with it."""
    with client(node) as api:
        api.call("user_create", user="finn", full_name="Finn", role="cashier", pin="4455")
    app.login(*ADMIN)
    admin = app.window.admin
    app.window.show_screen("admin")
    app.wait(lambda: any(u["user"] == "finn" for u in admin.users))
    admin.table.selectRow(next(i for i, u in enumerate(admin.users) if u["user"] == "finn"))
    admin.role.setCurrentText("supervisor")
    admin.set_role()
    dialog = app.dialog(dialogs.EntryDialog)
    app.type_enter(dialog.field, "445566")
    app.wait(lambda: any(u["user"] == "finn" and u["role"] == "supervisor"
                         for u in admin.users))
    admin.table.selectRow(next(i for i, u in enumerate(admin.users) if u["user"] == "finn"))
    admin.role.setCurrentText("cashier")
    admin.set_role()  # down: no prompt
    app.wait(lambda: any(u["user"] == "finn" and u["role"] == "cashier" for u in admin.users))
    assert app.ctx.current_dialog is None
    app.window.ctx.logout()
    app.login("finn", "445566")
