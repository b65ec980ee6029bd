"""Cash out beyond what the drawer should hold (issue 12): refused unless a supervisor
approves, the approval audited; never zero or negative. The tester paid out 10,000.00
from a drawer holding about 250 and nobody was asked."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.nodekit import Till, approver, make_node
from tillmesh.node.errors import CashOutBeyondDrawer, PermissionDenied, ValidationError

D = Decimal
SUP = approver("sup")


def _drawer(till: Till) -> Decimal:
    return D(till("shift_report")["report"]["expected"]["Cash"])


def _audits(node, kind: str) -> list[dict]:
    return [a for a in Till(node, "sup")("audit_list") if a["kind"] == f"audit.{kind}"]


def test_paying_out_more_than_the_drawer_holds_is_refused_and_nothing_is_recorded(node, ann):
    ann.sell("4000000000044")  # red wine, 19.99 cash, on a float of 100.00
    assert _drawer(ann) == D("119.99")
    with pytest.raises(CashOutBeyondDrawer) as refused:
        ann("cash_move", direction="out", amount="10000.00", reason="bank", approver=SUP)
    assert (refused.value.expected, refused.value.amount) == ("119.99", "10000.00")
    assert refused.value.message.startswith("The drawer should hold 119.99 Cash; paying out"
                                            " 10000.00")
    report = ann("shift_report")["report"]
    assert (report["cash_out"], _drawer(ann)) == ("0.00", D("119.99"))
    assert _audits(node, "cash_moved") == []


def test_beyond_the_drawer_a_cashier_needs_a_supervisor_and_it_is_audited(node, ann):
    with pytest.raises(PermissionDenied, match="supervisor PIN") as denied:
        ann("cash_move", direction="out", amount="250", reason="safe", beyond_drawer=True)
    assert "supervisor" in denied.value.details["approver_roles"]
    assert _drawer(ann) == D("100.00")
    with pytest.raises(PermissionDenied):  # a cashier's PIN approves nothing
        ann("cash_move", direction="out", amount="250", reason="safe", beyond_drawer=True,
            approver=approver("bob"))
    moved = ann("cash_move", direction="out", amount="250", reason="safe",
                beyond_drawer=True, approver=SUP)
    assert D(moved["amount"]) == 250
    assert _drawer(ann) == D("-150.00")
    (beyond,) = _audits(node, "cash_out_beyond_drawer")
    assert (beyond["user"], beyond["approver"], beyond["expected"], beyond["amount"]) == (
        "ann", "sup", "100.00", "250.00")
    assert beyond["shift"] == ann("shift_current")["shift"]


def test_within_the_drawer_nobody_is_asked_about_it(node, ann):
    ann("cash_move", direction="out", amount="100.00", reason="bank drop", approver=SUP)
    assert _drawer(ann) == D("0.00")
    assert _audits(node, "cash_out_beyond_drawer") == []
    ann("cash_move", direction="in", amount="500", reason="change from the bank")  # never
    assert _drawer(ann) == D("500.00")  # limited: cash in only adds


def test_a_store_that_lets_cashiers_pay_out_still_asks_a_supervisor_beyond_it(tmp_path):
    node = make_node(tmp_path, permissions={"cashier": {"actions": [
        "sell", "void", "cash_in", "cash_out", "shift_open", "shift_close"]}})
    ann = Till(node, "ann")
    ann("shift_open", opening={"Cash": "250.00", "Card": "0"})
    ann("cash_move", direction="out", amount="20", reason="window cleaner")  # alone
    with pytest.raises(CashOutBeyondDrawer, match="should hold 230.00 Cash"):
        ann("cash_move", direction="out", amount="10000.00", reason="typo")
    with pytest.raises(PermissionDenied, match="should hold 230.00 Cash"):
        ann("cash_move", direction="out", amount="10000.00", reason="typo",
            beyond_drawer=True)
    assert _drawer(ann) == D("230.00")


def test_a_supervisor_paying_out_beyond_says_so_and_is_audited(node, ann):
    sup = Till(node, "sup")
    with pytest.raises(CashOutBeyondDrawer):
        sup("cash_move", direction="out", amount="100.01", reason="safe")
    sup("cash_move", direction="out", amount="100.01", reason="safe", beyond_drawer=True)
    (beyond,) = _audits(node, "cash_out_beyond_drawer")
    assert (beyond["user"], beyond["approver"], beyond["amount"]) == ("sup", None, "100.01")


@pytest.mark.parametrize("amount", ["0", "0.00", "-5", "-0.01", "0.001"])
def test_never_a_zero_or_negative_cash_move(ann, amount):
    for way in ("out", "in"):
        with pytest.raises(ValidationError):
            ann("cash_move", direction=way, amount=amount, reason="x", approver=SUP,
                beyond_drawer=True)
    assert _drawer(ann) == D("100.00")


cents = st.integers(min_value=1, max_value=60_000).map(lambda c: D(c) / 100)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(opening=st.integers(min_value=0, max_value=30_000).map(lambda c: D(c) / 100),
       moves=st.lists(st.tuples(st.booleans(), cents), min_size=1, max_size=5))
def test_a_payout_is_refused_exactly_when_it_is_more_than_the_drawer_holds(
        tmp_path_factory, opening, moves):
    node = make_node(tmp_path_factory.mktemp("c"))
    ann = Till(node, "ann")
    ann("shift_open", opening={"Cash": str(opening), "Card": "0"})
    drawer = opening
    for out, amount in moves:
        way = "out" if out else "in"
        if out and amount > drawer:
            with pytest.raises(CashOutBeyondDrawer):
                ann("cash_move", direction=way, amount=str(amount), reason="r", approver=SUP)
        else:
            ann("cash_move", direction=way, amount=str(amount), reason="r", approver=SUP)
            drawer += -amount if out else amount
        assert _drawer(ann) == drawer
