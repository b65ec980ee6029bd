"""A barcode fired into a PIN field at a real till (issue 12, point 1): it is refused with
a visible message and is no wrong PIN. Six scans (the node locks a user out after five
failed logins), an EAN-13 and an EAN-8, then the cashier's PIN still logs in."""

from __future__ import annotations

from tests.proc import NodeProcess, demo_barcodes
from tests.ui.desk.desk import Desk
from tests.ui.driver import CASHIER
from tillmesh.node.domain.const import LOCKOUT_FAILURES
from tillmesh.ui.screens.login import SCANNED_AT_LOGIN

EAN_8 = "96385074"  # eight digits, a valid EAN-8: as long as a PIN may be


def test_a_scan_into_the_pin_field_costs_no_login(desk: Desk, node: NodeProcess):
    login = desk.window.login
    user, pin = CASHIER
    desk.wait(lambda: login.user_field.hasFocus() or login.pin.field.hasFocus())
    desk.type_enter(login.user_field, user)  # Enter moves on to the PIN
    desk.wait(lambda: login.pin.field.hasFocus())
    scans = demo_barcodes(1) * LOCKOUT_FAILURES + [EAN_8]
    for code in scans:
        login.message.clear()  # each scan must say so again
        desk.scanner(code)
        desk.wait(lambda: login.message.text() == SCANNED_AT_LOGIN)
        assert login.pin.field.text() == "" and login.pin.field.hasFocus()
    desk.type_enter(login.pin.field, pin)  # not locked out: none of them was a PIN
    desk.login_done(user)
