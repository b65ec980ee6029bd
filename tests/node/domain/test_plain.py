"""``sale.plain``: what every API answer and event body is made of."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tillmesh.node.domain.sale import plain
from tillmesh.node.domain.totals import ChargeType


class Status(Enum):
    OPEN = "open"
    HELD = 2


@dataclass(frozen=True)
class Row:
    code: str
    amount: Decimal
    kind: ChargeType
    rates: dict[str, Decimal]
    rules: tuple[str, ...]
    extra: Any = None


def reference(value: Any) -> Any:
    """The conversion spelled out, by ``isinstance`` alone."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: reference(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): reference(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [reference(v) for v in value]
    return value


leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.floats(allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=3), st.sampled_from(Status),
    st.sampled_from(ChargeType), st.dates())
rows = st.builds(Row, st.text(max_size=5), st.decimals(allow_nan=False, allow_infinity=False),
                 st.sampled_from(ChargeType),
                 st.dictionaries(st.text(max_size=3), st.decimals(allow_nan=False,
                                                                  allow_infinity=False)),
                 st.lists(st.text(max_size=3)).map(tuple), leaves)
values = st.recursive(st.one_of(leaves, rows), lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
    st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), inner, max_size=4),
    st.builds(Row, st.text(max_size=3), st.decimals(places=2, allow_nan=False,
                                                    allow_infinity=False),
              st.sampled_from(ChargeType), st.just({}), st.just(()), inner)), max_leaves=20)


@given(values)
def test_plain_turns_decimals_enums_dataclasses_maps_and_sequences_into_plain_data(value):
    assert plain(value) == reference(value)
    assert plain(value) == reference(value)  # the second time by the converter kept


def test_a_class_is_kept_as_it_is_not_read_as_its_fields():
    assert plain(Row) is Row
    assert plain({"amount": Decimal("1.50"), "kind": ChargeType.ACTUAL}) == {
        "amount": "1.50", "kind": "Actual"}
