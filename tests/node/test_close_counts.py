"""Closing a shift counts every mode of payment (issue 12): a mode left out is not
counted, not 0. The tester closed with only Cash counted and the Z report recorded a card
shortage of -173.74 for good; now the node refuses such a closing and records nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.nodekit import Till, approver
from tillmesh.node.errors import ShiftError, UncountedModes

D = Decimal
BOOK = "4000000000082"  # 12.95


def _closed(till: Till) -> list[dict]:
    return till("shift_list", status="closed")


def test_a_closing_that_leaves_card_uncounted_is_refused_and_nothing_is_recorded(node, ann):
    ann.sell(BOOK, mode="Card")
    shift = ann("shift_current")["shift"]
    with pytest.raises(UncountedModes) as refused:
        ann("shift_close", shift_id=shift, counted={"Cash": "100.00"})
    assert refused.value.modes == ["Card"]
    assert "Card not counted" in refused.value.message
    assert isinstance(refused.value, ShiftError)  # older clients read it as a shift error
    assert ann("shift_current")["shift"] == shift
    assert _closed(ann) == []
    assert [a for a in Till(node, "sup")("audit_list") if a["kind"] == "audit.shift_closed"] == []
    report = ann("shift_report", shift_id=shift)["report"]
    assert report["counted"] is None and report["expected"]["Card"] == "12.95"


def test_nothing_counted_names_every_mode(ann):
    shift = ann("shift_current")["shift"]
    with pytest.raises(UncountedModes, match="Cash, Card not counted") as refused:
        ann("shift_close", shift_id=shift, counted={})
    assert refused.value.modes == ["Cash", "Card"]


def test_a_zero_the_cashier_typed_is_a_count_and_the_shortage_is_theirs(ann):
    ann.sell(BOOK, mode="Card")
    shift = ann("shift_current")["shift"]
    z = ann("shift_close", shift_id=shift, counted={"Cash": "100.00", "Card": "0"})
    assert z["report"]["counted"] == {"Card": "0.00", "Cash": "100.00"}
    assert z["report"]["difference"] == {"Card": "-12.95", "Cash": "0.00"}
    assert ann("shift_current") is None


def test_the_count_is_checked_before_anyone_is_asked_for_a_pin(node, ann):
    shift = ann("shift_current")["shift"]
    bob = Till(node, "bob")  # not his shift: a supervisor's PIN would be needed too
    with pytest.raises(UncountedModes):
        bob("shift_close", shift_id=shift, counted={"Cash": "100"}, approver=approver("sup"))
    z = bob("shift_close", shift_id=shift, counted={"Cash": "100", "Card": "0"},
            approver=approver("sup"))
    assert z["status"] == "closed"


@settings(max_examples=30, deadline=None)
@given(st.sets(st.sampled_from(["Cash", "Card"]), max_size=1),  # every proper subset
       st.integers(min_value=0, max_value=99_999).map(lambda c: D(c) / 100))
def _refused_unless_every_mode_is_counted(ann, shift, counted_modes, amount):
    counted = {mode: str(amount) for mode in counted_modes}
    with pytest.raises(UncountedModes) as refused:
        ann("shift_close", shift_id=shift, counted=counted)
    assert refused.value.modes == [m for m in ("Cash", "Card") if m not in counted_modes]


def test_any_closing_missing_a_mode_is_refused_whatever_the_amounts(ann):
    shift = ann("shift_current")["shift"]
    _refused_unless_every_mode_is_counted(ann, shift)
    assert ann("shift_current")["shift"] == shift
