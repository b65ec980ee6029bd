"""What reached ERPNext: an acked row is final, so the rows of invoices delivered for good
can leave the live store and a late report about one of them changes nothing."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tillmesh.node.projections import deliveries
from tillmesh.node.projections.deliveries import Delivery
from tillmesh.node.projections.outbox import INVOICE
from tillmesh.node.store import create_key_file, open_engine
from tillmesh.node.store.event_log import EventLog
from tillmesh.node.store.raw import raw

INVOICES = [f"C01-2026-{n:06d}" for n in range(1, 6)]
KIND = st.sampled_from([deliveries.ACKED, deliveries.FAILED, deliveries.RETRIED,
                        deliveries.RESOLVED])
REPORTS = st.lists(st.tuples(st.sampled_from(INVOICES), KIND), max_size=12)


def _log(tmp: Path, node_id: str) -> EventLog:
    tmp.mkdir()
    return EventLog(open_engine(tmp / "db", create_key_file(tmp / "key")), node_id)


def _live(log: EventLog) -> tuple[list[tuple], list[tuple]]:
    with log.reading() as s:
        sql = raw(s)
        return ([tuple(r) for r in sql.run("SELECT * FROM deliveries ORDER BY doctype, name")],
                [tuple(r) for r in sql.run("SELECT * FROM delivered_for_good ORDER BY series")])


def _states(log: EventLog) -> dict[str, Delivery | None]:
    """Each invoice's delivery; read at once (as the forwarder plans) it is the same."""
    with log.reading() as s:
        one_by_one = {i: deliveries.get(s, INVOICE, i) for i in INVOICES}
        at_once = deliveries.states(s, [(INVOICE, i) for i in INVOICES]
                                    + [("POS Opening Entry", "C01-SH-000001")])
    assert at_once == {(INVOICE, i): st_ for i, st_ in one_by_one.items() if st_ is not None}
    return {i: None if st_ is None else st_.delivery for i, st_ in one_by_one.items()}


def _compact(log: EventLog, invoices: list[str]) -> None:
    with log.transaction() as tx:
        deliveries.compact(tx.session, invoices)


@settings(max_examples=40, deadline=None)
@given(st.lists(REPORTS, min_size=2, max_size=2), st.lists(REPORTS, min_size=2, max_size=2),
       st.sets(st.sampled_from(INVOICES)))
def test_a_late_report_about_an_invoice_delivered_for_good_changes_nothing(
        tmp_path_factory, early, late, chosen):
    """Two forwarders report (``early``, then ``late``); counter A lets the acked rows of
    ``chosen`` go between the two, counter B after both: they read every invoice alike,
    and once B has let the same rows go their live tables are equal."""
    tmp = tmp_path_factory.mktemp("late")
    sources = [_log(tmp / f"s{i}", f"C0{i + 2}") for i in range(2)]
    cut = {}
    for source, before, after in zip(sources, early, late, strict=True):
        for at, (invoice, kind) in enumerate([*before, *after]):
            with source.transaction() as tx:
                tx.append(kind, {"doctype": INVOICE, "name": invoice, "status": 417,
                                 "message": f"{source.origin} {at}",
                                 "erpnext_name": f"{invoice} by {source.origin} {at}"})
        cut[source.origin] = len(before)
    a, b = _log(tmp / "a", "C08"), _log(tmp / "b", "C09")
    for log, upto in ((a, cut), (b, None)):
        with log.transaction() as tx:
            for source in sources:
                tx.receive_many(list(source.events())[:None if upto is None else upto[
                    source.origin]])
    with a.reading() as s:
        acked = [i for i in sorted(chosen) if (found := deliveries.get(s, INVOICE, i))
                 and found.delivery is Delivery.ACKED]
    _compact(a, acked)
    with a.transaction() as tx:
        for source in sources:
            tx.receive_many(list(source.events())[cut[source.origin]:])

    assert _states(a) == _states(b)
    assert all(_states(a)[i] is Delivery.ACKED for i in acked)
    _compact(b, acked)
    assert _live(a) == _live(b)
    assert not any(row[1] in acked for row in _live(a)[0])
    # A counter that joined from the checkpoint holds the ranges, not the archived rows.
    with a.transaction() as tx:
        raw(tx.session).run("DELETE FROM archive.deliveries")
    assert _states(a) == _states(b)


@settings(max_examples=10, deadline=None)
@given(REPORTS)
def test_an_acked_row_is_what_its_acks_alone_make_it(tmp_path_factory, reports):
    """One forwarder acks, another fails, a supervisor retries and resolves: the rows of
    acked invoices are the rows the acks alone make, the earliest ack naming each."""
    tmp = tmp_path_factory.mktemp("acks")
    acker, others = _log(tmp / "acker", "C02"), _log(tmp / "others", "C03")
    for at, (invoice, kind) in enumerate(reports):
        with (acker if kind == deliveries.ACKED else others).transaction() as tx:
            tx.append(kind, {"doctype": INVOICE, "name": invoice, "erpnext_name": f"E{at}",
                             "note": str(at), "status": 417, "message": str(at)})
    everything = _log(tmp / "all", "C04")
    with everything.transaction() as tx:
        tx.receive_many([*others.events(), *acker.events()])
    acked = {row[1] for row in _live(acker)[0]}
    assert [row for row in _live(everything)[0] if row[1] in acked] == _live(acker)[0]
    first = {}
    for at, (invoice, kind) in enumerate(reports):
        if kind == deliveries.ACKED:
            first.setdefault(invoice, f"E{at}")
    with everything.reading() as s:
        assert {i: deliveries.get(s, INVOICE, i).erpnext_name for i in acked} == first
