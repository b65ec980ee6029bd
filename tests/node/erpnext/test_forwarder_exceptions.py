"""What the forwarder holds back for a person, and why, while everything else goes on: a
record it cannot form, a failure of its own, a document ERPNext stored under a name of its
own, and the return of a sale a supervisor settled outside Tillmesh."""

from __future__ import annotations

from decimal import Decimal

from tests.node.erpnext.test_forwarder import (
    SOAP,
    demo_node,
    drain,
    forwarder,
    names,
    sell_day,
    state,
)
from tests.nodekit import Till
from tillmesh.lab.demo_data import POS_PROFILE, WAREHOUSE
from tillmesh.lab.erpnext_simulator import Simulator
from tillmesh.node.erpnext import ErpNextClient, setup
from tillmesh.node.erpnext import _delivery as delivery
from tillmesh.node.erpnext import _documents as documents
from tillmesh.node.erpnext._setup import ORIGIN_FIELD
from tillmesh.node.projections.deliveries import Delivery
from tillmesh.node.projections.outbox import CLOSING, INVOICE, OPENING

D = Decimal


def test_a_record_it_cannot_form_and_a_failure_of_its_own_hold_back_only_their_document(
        tmp_path, erpnext, monkeypatch):
    node = demo_node(tmp_path / "c1")
    shift, (first, unformable, failing, back) = sell_day(node, sales=3)
    pos_invoice, insert = documents.pos_invoice, delivery.insert

    def forms(body, **kw):
        if body["invoice"] == unformable:
            raise KeyError("totals")  # a record the mapping cannot read
        return pos_invoice(body, **kw)

    def sends(client, doctype, doc, **kw):
        if doc["name"] == failing:
            raise RuntimeError("a bug in the forwarder")
        return insert(client, doctype, doc, **kw)

    monkeypatch.setattr(documents, "pos_invoice", forms)
    monkeypatch.setattr(delivery, "insert", sends)
    fwd = forwarder(node, erpnext)
    drain(fwd, erpnext)
    cannot = state(node, INVOICE, unformable)
    assert (cannot.delivery, cannot.stage, cannot.exc_type) == (
        Delivery.FAILED, "form", "KeyError")
    assert cannot.message.startswith("cannot form the POS Invoice from its records")
    bug = state(node, INVOICE, failing)
    assert (bug.delivery, bug.stage, bug.exc_type) == (Delivery.FAILED, "internal",
                                                        "RuntimeError")
    assert "a bug in the forwarder" in bug.message and "log" in bug.message
    assert names(erpnext, INVOICE) == sorted([first, back])  # the rest went on
    assert erpnext.get(CLOSING, shift) is None  # it lists both: it waits
    sup = Till(node, "sup")
    # Both failed in one cycle, from requests in flight at once: in either order.
    assert sorted(e["id"] for e in sup("exceptions_list")) == [
        f"{INVOICE}/{unformable}", f"{INVOICE}/{failing}"]

    monkeypatch.undo()  # fixed (a new release), a supervisor retries both
    for invoice in (unformable, failing):
        sup("exception_retry", id=f"{INVOICE}/{invoice}")
    drain(fwd, erpnext)
    assert erpnext.get(CLOSING, shift)["status"] == "Submitted"
    assert sup("exceptions_list") == []


def test_a_resolved_sale_leaves_its_closing_and_its_return_is_held_not_sent(tmp_path, erpnext):
    node = demo_node(tmp_path / "c1")
    erpnext.set_bin(SOAP, WAREHOUSE, 0)  # ERPNext refuses both soap sales
    shift, (soap, milk, other_soap, back) = sell_day(node, sales=3)  # back returns soap
    fwd = forwarder(node, erpnext)
    drain(fwd, erpnext)
    sup = Till(node, "sup")
    for sale in (soap, other_soap):  # a supervisor books them by hand and says so
        sup("exception_resolve", id=f"{INVOICE}/{sale}", note="booked by hand")
    posted = len(erpnext.requests)
    drain(fwd, erpnext)

    held = state(node, INVOICE, back)
    assert (held.delivery, held.stage, held.exc_type) == (
        Delivery.FAILED, "prerequisite", "SettledOutsideTillmesh")
    assert held.message.startswith(f"the sale it returns, {soap}, was settled outside")
    assert erpnext.get(INVOICE, back) is None
    assert [r.path for r in erpnext.requests[posted:] if r.method == "POST"] == []  # not sent
    assert erpnext.get(CLOSING, shift) is None  # the closing lists the return: it waits

    sup("exception_resolve", id=f"{INVOICE}/{back}", note="refunded by hand")
    drain(fwd, erpnext)
    closing = erpnext.get(CLOSING, shift)
    assert closing["status"] == "Submitted"
    assert [r["pos_invoice"] for r in closing["pos_transactions"]] == [milk]
    milk_paid = D(str(erpnext.get(INVOICE, milk)["paid_amount"]))
    assert D(str(closing["grand_total"])) == milk_paid
    # What the resolved sales took (the second soap sale; the first was refunded) is
    # accounted for where they were settled: out of expected and counted alike, so the
    # cashier's own difference stays as counted on the counter.
    z = sup("shift_report", shift_id=shift)["report"]
    rows = {r["mode_of_payment"]: r for r in closing["payment_reconciliation"]}
    assert D(str(rows["Card"]["closing_amount"])) == 0  # counted as 0 at the close
    cash = rows["Cash"]
    away = D(z["expected"]["Cash"]) - D("100.00") - milk_paid
    assert D(str(cash["expected_amount"])) == D("100.00") + milk_paid
    assert D(str(cash["closing_amount"])) == D(z["counted"]["Cash"]) - away
    difference = D(str(cash["difference"])).quantize(D("0.01"))  # a Currency column
    assert difference == D(z["difference"]["Cash"])


def test_a_document_stored_under_a_name_of_erpnexts_own_is_held_and_never_booked_again(
        tmp_path):
    """A Frappe with no API v2 that drops client names on /api/resource (upstream 15)."""
    with Simulator(seed="demo", drop_resource_names=True, api_v2=False) as sim:
        with ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
            setup(client, POS_PROFILE, lambda check: None)
        node = demo_node(tmp_path / "c1")
        shift, invoices = sell_day(node, sales=1)
        fwd = forwarder(node, sim)
        drain(fwd, sim)
        [opening] = sim.docs(OPENING)
        assert opening["name"] != shift
        held = state(node, OPENING, shift)
        assert (held.delivery, held.stage) == (Delivery.FAILED, "name")
        assert f"ERPNext booked POS Opening Entry {shift} as {opening['name']}" in held.message
        assert sim.docs(INVOICE) == []  # everything of the shift waits for its opening

        Till(node, "sup")("exception_retry", id=f"{OPENING}/{shift}")
        posted = len(sim.requests)
        drain(fwd, sim)
        again = state(node, OPENING, shift)
        assert (again.delivery, again.stage, again.failures) == (Delivery.FAILED, "name", 2)
        assert [r for r in sim.requests[posted:] if r.method == "POST"] == []  # looked up
        assert [d[ORIGIN_FIELD] for d in sim.docs(OPENING)] == [opening[ORIGIN_FIELD]]


def test_without_api_v2_a_site_that_keeps_client_names_gets_everything_through_resource(
        tmp_path):
    with Simulator(seed="demo", api_v2=False) as sim:
        with ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
            setup(client, POS_PROFILE, lambda check: None)
        node = demo_node(tmp_path / "c1")
        shift, invoices = sell_day(node, sales=2)
        drain(forwarder(node, sim), sim)
        assert names(sim, INVOICE) == sorted(invoices)
        assert sim.get(CLOSING, shift)["status"] == "Submitted"
        posts = {r.path for r in sim.requests if r.method == "POST"}
        assert posts and all(p.startswith("/api/resource/") for p in posts)
