"""Which batch a till sells from and which batches and serial numbers it refuses (issue
15): first expiry first out among the batches that may sell the quantity, never an
expired, disabled or short one; ERPNext's own refusals of those are recorded in
tests/lab/recorded/batch-cases.json."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillmesh.node.domain.batches import (
    Batch,
    check,
    check_serials,
    pick,
    serial_numbers,
    serial_text,
)
from tillmesh.node.errors import BatchError

D = Decimal
TODAY = date(2026, 12, 5)
RECORDED = json.loads((Path(__file__).parents[2] / "lab" / "recorded" /
                       "batch-cases.json").read_text())

batch_st = st.builds(
    Batch, name=st.text("ABCDEF", min_size=1, max_size=3), item_code=st.just("SYRUP"),
    expiry=st.none() | st.dates(TODAY - timedelta(days=30), TODAY + timedelta(days=30)),
    disabled=st.booleans(),
    available=st.integers(-3, 20).map(D))


def may_sell(batch: Batch, qty: Decimal) -> bool:
    return not batch.disabled and not batch.expired(TODAY) and batch.available >= qty


@given(st.lists(batch_st, max_size=8, unique_by=lambda b: b.name), st.integers(1, 10).map(D))
def test_the_batch_picked_is_the_first_to_expire_of_those_that_may_sell(
        batches: list[Batch], qty: Decimal) -> None:
    usable = [b for b in batches if may_sell(b, qty)]
    if not usable:
        with pytest.raises(BatchError):
            pick(batches, qty, TODAY)
        return
    chosen = pick(batches, qty, TODAY)
    assert may_sell(chosen, qty)
    assert all((chosen.expiry or date.max, chosen.name) <= (b.expiry or date.max, b.name)
               for b in usable)


@given(batch_st, st.integers(1, 10).map(D))
def test_a_named_batch_is_taken_exactly_when_it_may_sell(batch: Batch, qty: Decimal) -> None:
    if may_sell(batch, qty):
        assert check(batch, qty, TODAY) == batch
    else:
        with pytest.raises(BatchError):
            check(batch, qty, TODAY)


def test_a_batch_expires_the_day_after_its_expiry_date_as_in_erpnext() -> None:
    recorded = RECORDED["batches"]
    for name, doc in recorded.items():
        if not doc.get("expiry_date"):
            continue
        expiry = date.fromisoformat(doc["expiry_date"])
        batch = Batch(name, doc["item"], expiry, False, D(100))
        refused = any(s["about"].startswith("an expired batch") and
                      s.get("request", [{}])[0].get("batch_no") == name
                      for s in RECORDED["steps"])
        assert batch.expired(date.fromisoformat(RECORDED["recorded_on"])) == refused
        assert not batch.expired(expiry) and batch.expired(expiry + timedelta(days=1))
    expired = next(s for s in RECORDED["steps"] if s["about"].startswith("an expired"))
    assert expired["error"]["exc_type"] == "BatchExpiredError"


@given(st.lists(st.text("XYZ0123-", min_size=1, max_size=6).map(str.strip).filter(bool),
                max_size=5))
def test_serial_numbers_read_back_as_written(serials: list[str]) -> None:
    assert serial_numbers(serial_text(serials)) == tuple(serials)


def test_serial_numbers_sell_once_as_many_as_the_units() -> None:
    held = {"P-1": D(1), "P-2": D(0)}
    owner = {"P-1": "PHONE", "P-2": "PHONE", "T-1": "TABLET"}
    assert check_serials("PHONE", ("P-1",), D(1), held, owner) == ("P-1",)
    for serials, qty, words in [(("P-1",), D(2), "need 2 serial numbers"),
                                (("P-2",), D(1), "not in this store's stock"),
                                (("P-9",), D(1), "not known"),
                                (("T-1",), D(1), "belongs to TABLET"),
                                (("P-1", "P-1"), D(2), "given twice")]:
        with pytest.raises(BatchError, match=words):
            check_serials("PHONE", serials, qty, held, owner)
