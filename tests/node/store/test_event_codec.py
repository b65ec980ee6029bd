"""Event bodies packed and read back: the bytes every counter hashes, and the body a
counter that made one projects without decoding it."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.nodekit import Till, make_node
from tillmesh.node.projections import _registry
from tillmesh.node.store.event_codec import pack_body, pack_known, unpack_body


class Mode(enum.StrEnum):
    CASH = "Cash"


class Shelf(enum.IntEnum):
    TOP = 3


def _as_before(obj: object) -> object:
    """How a body's values were packed before ``pack_known`` (msgpack's own types by
    isinstance, these two converted): the bytes must not change, they are hashed."""
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime):
        return obj.isoformat()
    raise TypeError(type(obj).__name__)


_EXACT = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
                   st.text(max_size=8), st.binary(max_size=8),
                   st.floats(allow_nan=False))
_CONVERTED = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.datetimes(timezones=st.just(UTC)), st.sampled_from([Mode.CASH, Shelf.TOP]))
_VALUES = st.recursive(
    st.one_of(_EXACT, _CONVERTED),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.lists(inner, max_size=3).map(tuple),
                            st.dictionaries(st.text(max_size=4) | st.integers(0, 9), inner,
                                            max_size=3)),
    max_leaves=12)


def _typed(value: Any) -> Any:
    """``value`` with every part's exact type beside it: equal only if the types are."""
    if isinstance(value, dict):
        return (dict, [(_typed(k), _typed(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value), [_typed(v) for v in value])
    return (type(value), value)


@given(st.dictionaries(st.text(max_size=6), _VALUES, max_size=4))
def test_a_body_packs_as_before_and_is_kept_only_when_it_reads_back_the_same(body):
    packed, known = pack_known(body)
    assert packed == pack_body(body)
    assert packed == msgpack.packb(body, default=_as_before, use_bin_type=True)
    back = unpack_body(packed)
    if known is not None:
        assert known is body
    assert (known is not None) == (_typed(back) == _typed(body))


def test_a_body_with_a_naive_time_or_an_unknown_value_is_refused():
    with pytest.raises(TypeError, match="naive datetime"):
        pack_body({"at": datetime(2026, 12, 7, 9, 0)})
    with pytest.raises(TypeError, match="cannot encode set"):
        pack_body({"codes": {"A"}})


def test_the_counter_that_makes_a_sale_projects_it_without_decoding_it(tmp_path, monkeypatch):
    node = make_node(tmp_path / "c1", "C01")
    ann = Till(node, "ann")
    ann("shift_open", opening={"Cash": "100"})
    decoded: list[str] = []

    def counting(raw: bytes) -> dict[str, Any]:
        body = unpack_body(raw)
        decoded.append(str(body.get("invoice")))
        return body

    monkeypatch.setattr(_registry, "unpack_body", counting)
    sale = ann.sell("4000000000044", "4000000000082")
    assert sale["invoice"] not in decoded
    with node.log.reading() as s:  # and its ledger reads as a decoded one would give it
        row = s.connection().exec_driver_sql(
            "SELECT grand_total FROM sales WHERE invoice = ?", (sale["invoice"],)).one()
    assert Decimal(row[0]) == Decimal(sale["totals"]["grand_total"])
