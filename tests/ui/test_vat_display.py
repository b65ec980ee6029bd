"""VAT per rate and discounts as the cashier and the supervisor see them (issue 12, 5 and
6): the sell screen says 7 % for the milk and 19 % for the water, each with its net and
tax; the X report on the shift screen says what the printed report says, figure by
figure: VAT per rate, line and invoice discounts (negative), change given (positive), a
return as a negative sale."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtWidgets import QLabel

from tests.proc import NodeProcess
from tests.ui.driver import CASHIER, SUPERVISOR, App, client, ensure_shift
from tillmesh.lab.demo_data import VAT_7_ACCOUNT, VAT_ACCOUNT
from tillmesh.node.printing import ReceiptStyle, Text, shift_receipt
from tillmesh.ui.models.money import money
from tillmesh.ui.models.shift import report_rows
from tillmesh.ui.screens.widgets import Pairs

MILK, WATER = "4250100000011", "4250100001223"  # 7 % (food), 19 % (README of lab.demo_data)
BUTTER = "DAI-0003"  # 2.29 at 7 %
D = Decimal


def cells(pairs: Pairs) -> list[tuple[QLabel, QLabel]]:
    """The (label, value) widgets a Pairs widget shows, top to bottom."""
    grid = pairs._grid
    out = []
    for row in range(grid.rowCount()):
        items = [grid.itemAtPosition(row, col) for col in (0, 1)]
        widgets = [i.widget() for i in items if i is not None]
        if len(widgets) == 2 and all(isinstance(w, QLabel) for w in widgets):
            out.append((widgets[0], widgets[1]))
    return out


def shown(pairs: Pairs) -> list[tuple[str, str]]:
    """The (label, value) rows a Pairs widget shows, top to bottom."""
    return [(name.text(), value.text()) for name, value in cells(pairs)]


def amount(text: str) -> Decimal:
    return D(text.replace(",", "").replace("−", "-"))


def discounted_day(node: NodeProcess) -> dict[str, Any]:
    """On an open shift: milk, water and two butters with 10 % off their line (0.46),
    0.69 off the whole, paid with a 50 note; then one butter back (0.23 given back)."""
    ensure_shift(node)
    with client(node, SUPERVISOR) as api:
        cart = api.cart_new()["cart_id"]
        api.cart_scan(cart, MILK)
        api.cart_scan(cart, WATER)
        view = api.cart_add(cart, BUTTER, qty="2")
        api.cart_line_discount(cart, len(view["lines"]) - 1, percent="10")
        view = api.cart_discount(cart, amount="0.69")
        sale = api.sale_submit(cart, [{"mode_of_payment": "Cash", "amount": "50.00"}])
        api.return_create(sale["invoice"], lines=[{"row": f"{sale['invoice']}-3",
                                                   "qty": "1"}])
        return dict(view)


def test_the_sell_screen_shows_vat_per_rate_as_the_node_priced_it(app: App, node):
    ensure_shift(node)
    app.login(*CASHIER)
    sell = app.window.sell
    app.wait(lambda: sell.cart_id is not None)
    app.scan(MILK)
    with client(node, CASHIER) as api:
        cart = api.cart_get(sell.cart_id)
    milk = cart["vat"][0]
    assert [r["rate"] for r in cart["vat"]] == ["7"]  # not 19 %: milk is food
    app.wait(lambda: f"incl. VAT 7% (net {money(D(milk['net']))})" in dict(shown(sell.summary)))
    assert not any("19" in label for label, _ in shown(sell.summary))
    app.scan(WATER)
    with client(node, CASHIER) as api:
        cart = api.cart_get(sell.cart_id)
    expected = {f"incl. VAT {r['rate']}% (net {money(D(r['net']))})": money(D(r["tax"]))
                for r in cart["vat"]}
    app.wait(lambda: expected.items() <= dict(shown(sell.summary)).items())
    rows = dict(shown(sell.summary))
    assert [r["rate"] for r in cart["vat"]] == ["19", "7"]
    # each rate posts to its own account in the demo: the tax shown is what is booked
    booked = {t["account_head"]: t["tax_amount_after_discount_amount"] for t in cart["taxes"]}
    assert (booked[VAT_ACCOUNT], booked[VAT_7_ACCOUNT]) == tuple(r["tax"] for r in cart["vat"])
    assert sum(D(r["gross"]) for r in cart["vat"]) == D(cart["due"])
    assert "Subtotal" in rows


def test_the_x_report_on_screen_says_what_the_printed_report_says(app: App, node):
    discounted_day(node)
    app.login(*SUPERVISOR)
    shifts = app.window.shifts
    app.touch(app.window.nav_buttons["shifts"])
    app.wait(lambda: app.screen == "shifts")
    with client(node, SUPERVISOR) as api:
        answer = api.shift_report()
    report = answer["report"]
    app.wait(lambda: shown(shifts.report) == report_rows(report))
    on_screen = dict(shown(shifts.report))
    printed = [b.text for b in shift_receipt(answer, ReceiptStyle(42, ZoneInfo("Europe/Berlin")),
                                             printed_at=datetime.now(UTC)).blocks
               if isinstance(b, Text)]
    on_paper = {t.rsplit(None, 1)[0].strip(): t.split()[-1] for t in printed if " " in t}
    sales, returns = f"Sales ({report['sales_count']})", f"Returns ({report['returns_count']})"
    for label in (sales, returns, "Total", "Net (excl. VAT)", "VAT", "Line discounts",
                  "Invoice discounts", "Discounts", "Change given", "Cash in", "Cash out"):
        assert amount(on_screen[label]) == amount(on_paper[label]), label
    # signs an auditor expects: discounts taken off, change paid out, a return negative
    assert on_screen["Line discounts"] == "-0.23"  # 0.46 given, the returned butter's 0.23 back
    assert amount(on_screen["Discounts"]) == (amount(on_screen["Line discounts"])
                                              + amount(on_screen["Invoice discounts"])) < 0
    assert amount(on_screen["Change given"]) > 0 and amount(on_screen[returns]) < 0
    # VAT per rate: the same rates and figures on screen and on paper, adding up
    table = printed.index(next(t for t in printed if t.split()[:4] == ["VAT", "Net", "Tax",
                                                                        "Gross"]))
    for vat, line in zip(report["vat"], printed[table + 1:], strict=False):
        rate, net, tax, gross = line.split()
        assert (rate, amount(net), amount(tax), amount(gross)) == (
            f"{vat['rate']}%", D(vat["net"]), D(vat["tax"]), D(vat["gross"]))
        assert on_screen[f"VAT {vat['rate']}% (net {money(D(vat['net']))})"] == money(
            D(vat["tax"]))
    assert {v["rate"] for v in report["vat"]} == {"19", "7"}
    assert sum(D(v["gross"]) for v in report["vat"]) == D(report["grand_total"])
