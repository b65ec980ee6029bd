"""The simulator's store keeps running sums (the stock that unconsolidated POS Invoices
hold back, read for every row of every sale) equal to summing every document again,
whatever the writes, and a transaction sees them with its own writes in place."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from tillmesh.lab.erpnext_simulator._meta import Registry
from tillmesh.lab.erpnext_simulator._pos import _reserved, pos_reserved_qty
from tillmesh.lab.erpnext_simulator._store import Doc, Store
from tillmesh.lab.erpnext_simulator._txn import Txn

ITEMS, WAREHOUSES = ("A", "B"), ("W1", "W2")
KEYS = [(i, w) for i in ITEMS for w in WAREHOUSES]
NAMES = ("P1", "P2", "P3")

invoices = st.builds(
    lambda name, docstatus, consolidated, rows: {
        "name": name, "modified": "2026-12-07 10:00:00", "docstatus": docstatus,
        "consolidated_invoice": "SINV-1" if consolidated else None,
        "items": [{"item_code": i, "warehouse": w, "stock_qty": q} for i, w, q in rows]},
    st.sampled_from(NAMES), st.sampled_from([1, 1, 0, 2]),
    st.sampled_from([False, False, True]),
    st.lists(st.tuples(st.sampled_from(ITEMS), st.sampled_from(WAREHOUSES),
                       st.sampled_from([1.0, 2.0, 0.5, 0.1, -1.0, 0.2])), min_size=1, max_size=4))
writes = st.lists(st.one_of(
    st.tuples(st.just("put"), invoices), st.tuples(st.just("load"), invoices),
    st.tuples(st.just("delete"), st.sampled_from(NAMES))), max_size=30)


def _by_hand(docs: list[Doc], key: tuple[str, str]) -> float:
    return round(sum(v for doc in docs for k, v in _reserved(doc) if k == key), 9)


@given(writes, st.integers(0, 30), st.lists(invoices, max_size=3))
def test_the_reserved_stock_kept_as_writes_come_is_the_sum_over_every_invoice(
        ops, asked_at, pending):
    store = Store()
    first_ask = asked_at % (len(ops) + 1)  # the sum is kept from its first ask on
    for n, (op, arg) in enumerate(ops):
        if n >= first_ask:
            _check(store)
        if op == "put":
            store.put("POS Invoice", arg)
        elif op == "load":
            store.load("POS Invoice", [arg])
        else:
            store.delete("POS Invoice", arg)
    txn = Txn(store, Registry(), now=datetime(2026, 12, 7, tzinfo=UTC), user="x",
              rng=random.Random(0))
    for doc in pending:  # a request's own writes, not committed
        txn.put("POS Invoice", doc)
    _check(store)
    seen = {d["name"]: d for d in store.all("POS Invoice")} | {d["name"]: d for d in pending}
    for key in KEYS:
        assert pos_reserved_qty(txn, *key) == _by_hand(list(seen.values()), key)


def _check(store: Store) -> None:
    for key in KEYS:
        assert round(store.sum_of("POS Invoice", "reserved", _reserved, key), 9) == \
            _by_hand(list(store.all("POS Invoice")), key)
