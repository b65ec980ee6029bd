"""Shift arithmetic: expected drawer contents and the X / Z reports."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tillmesh.node.domain.shift_totals import (
    CashMove,
    Direction,
    Payment,
    SaleSummary,
    close,
    report,
)

D = Decimal


def sale(invoice, total, payments, change="0", is_return=False):
    return SaleSummary(invoice=invoice, is_return=is_return, grand_total=D(total),
                       net_total=D(total), total_taxes=D(0), discount=D(0), qty=D(1),
                       payments=tuple(Payment(m, D(a)) for m, a in payments),
                       change_amount=D(change), cash_mode="Cash")


def test_expected_cash_is_float_plus_sales_minus_change_and_moves():
    rep = report(
        {"Cash": D("100.00"), "Card": D("0")},
        [sale("A", "17.50", [("Cash", "20.00")], change="2.50"),
         sale("B", "30.00", [("Card", "30.00")]),
         sale("R", "-5.00", [("Cash", "-5.00")], is_return=True)],
        [CashMove(Direction.OUT, "Cash", D("50.00"), "bank drop"),
         CashMove(Direction.IN, "Cash", D("10.00"), "change float")],
    )
    assert rep.expected == {"Card": D("30.00"), "Cash": D("72.50")}
    assert (rep.sales_count, rep.returns_count) == (2, 1)
    assert rep.grand_total == D("42.50")
    assert (rep.cash_in, rep.cash_out, rep.change_given) == (D("10.00"), D("50.00"), D("2.50"))


def test_z_report_difference_is_counted_minus_expected_and_missing_counts_are_zero():
    rep = report({"Cash": D("100")}, [sale("A", "10", [("Cash", "10")]),
                                      sale("B", "5", [("Card", "5")])], [])
    z = close(rep, {"Cash": D("108.00")})
    assert z.counted == {"Card": D("0.00"), "Cash": D("108.00")}
    assert z.difference == {"Card": D("-5.00"), "Cash": D("-2.00")}


money = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False)


@given(st.lists(st.tuples(money, money), max_size=30), money)
def test_cash_expected_equals_float_plus_cash_kept(sales, opening):
    """Whatever the tenders, the drawer should hold the float plus what each sale kept."""
    summaries = []
    kept = D(0)
    for i, (due, extra) in enumerate(sales):
        summaries.append(sale(str(i), due, [("Cash", due + extra)], change=extra))
        kept += due
    rep = report({"Cash": opening}, summaries, [])
    assert rep.expected["Cash"] == opening + kept
    assert close(rep, {"Cash": opening + kept}).difference == {"Cash": D("0.00")}
