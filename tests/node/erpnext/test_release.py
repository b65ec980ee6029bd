"""Which ERPNext a store delivers to (``_release``), what setup says of it, and the
closing that a release would keep without its invoices (ERPNext 16 answers a v15
closing body 200 and drops its ``pos_transactions``: ``NOTES-v16.md``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.node.erpnext import sitekit as kit
from tests.nodekit import Till
from tillmesh.lab.erpnext_simulator import Simulator
from tillmesh.node.erpnext import Check, ErpNextClient, setup
from tillmesh.node.erpnext._site_release import (
    V15,
    V16_POS_INVOICE,
    V16_SALES_INVOICE,
    Release,
    capabilities,
    release_of,
    sends,
    unknown,
    version,
)
from tillmesh.node.projections.deliveries import Delivery
from tillmesh.node.projections.master_data import all_docs, upserted_body
from tillmesh.node.projections.outbox import CLOSING, INVOICE, OPENING
from tillmesh.node.projections.pos_profile import RELEASE, priced_release

FRAPPE_15, ERPNEXT_15 = (15, 72, 4), (15, 71, 1)


@given(st.integers(0, 999), st.integers(0, 999), st.integers(0, 999),
       st.sampled_from(["", "-dev", "-beta.2", "+abc", " "]))
def test_a_release_number_is_read_whatever_follows_it(major: int, minor: int, patch: int,
                                                      suffix: str) -> None:
    assert version(f"{major}.{minor}.{patch}{suffix}") == (major, minor, patch)


@pytest.mark.parametrize("text", ["", "16", "16.x.1", "version-16", None])
def test_a_garbled_release_number_is_refused_saying_what_was_read(text: object) -> None:
    with pytest.raises(ValueError, match="is not a release number such as 15.71.1"):
        version(text)


def test_the_release_is_read_from_the_versions_and_pos_settings() -> None:
    versions = {"frappe": {"version": "16.13.0"}, "erpnext": {"version": "16.12.0"},
                "hrms": {"version": "16.1.0"}}
    assert release_of(versions, {"invoice_type": "Sales Invoice"}) == Release(
        (16, 13, 0), (16, 12, 0), "Sales Invoice")
    assert str(release_of(versions, {"invoice_type": "POS Invoice"})) == \
        "ERPNext 16.12.0 on Frappe 16.13.0, POS Invoice mode"
    v15 = {"frappe": {"version": "15.72.4"}, "erpnext": {"version": "15.71.1"}}
    assert str(release_of(v15, None)) == "ERPNext 15.71.1 on Frappe 15.72.4"
    with pytest.raises(ValueError, match="which erpnext it runs"):
        release_of({"frappe": {"version": "15.72.4"}}, None)
    with pytest.raises(ValueError, match="neither of POS Invoice, Sales Invoice"):
        release_of(versions, {"invoice_type": "Delivery Note"})


@pytest.mark.parametrize(("release", "caps", "closing_rows"), [
    (Release(FRAPPE_15, ERPNEXT_15), V15, "pos_transactions"),
    (Release((16, 13, 0), (16, 12, 0), "POS Invoice"), V16_POS_INVOICE, "pos_invoices"),
    (Release((16, 13, 0), (16, 12, 0), "Sales Invoice"), V16_SALES_INVOICE, "sales_invoices"),
    (Release((17, 0, 0), (17, 2, 0), "Sales Invoice"), V16_SALES_INVOICE, "sales_invoices")])
def test_each_release_and_mode_has_its_capabilities(release: Release, caps: object,
                                                    closing_rows: str) -> None:
    found = capabilities(release)
    assert found == caps and found.closing_rows == closing_rows
    assert closing_rows in sends(found, per_shift=False)
    assert "no POS Opening or Closing Entry" in sends(found, per_shift=True)
    assert (unknown(release) is None) == (release.major in (15, 16))


def test_a_release_never_recorded_is_named_as_such() -> None:
    said = unknown(Release((17, 0, 0), (17, 2, 0), "Sales Invoice"))
    assert said and "checked against ERPNext 15 and 16 only" in said and "ERPNext 16" in said


@contextlib.contextmanager
def simulated(kind: str, *, per_shift: bool = False) -> Iterator[tuple[Simulator, list[Check],
                                                                        bool]]:
    with Simulator(seed="demo", job_delay=None, release=kit.SIMULATED[kind]) as sim, \
            ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
        checks: list[Check] = []
        ready = setup(client, "Demo POS", checks.append, per_shift=per_shift)
        yield sim, checks, ready


def _said(checks: list[Check], what: str) -> Check:
    return next(c for c in checks if c.what == what)


def test_setup_says_which_release_and_what_the_counters_send() -> None:
    with simulated("simulator") as (_, checks, ready):
        assert ready, [c.line() for c in checks]
        assert _said(checks, "ERPNext release").detail == "ERPNext 15.71.1 on Frappe 15.72.4"
        assert "in pos_transactions, which ERPNext consolidates" in _said(
            checks, "the counters send").detail
    with simulated("simulator-16-si", per_shift=True) as (_, checks, ready):
        assert ready, [c.line() for c in checks]
        assert _said(checks, "ERPNext release").detail == \
            "ERPNext 16.12.0 on Frappe 16.13.0, Sales Invoice mode"
        assert "no POS Opening or Closing Entry" in _said(checks, "the counters send").detail
        assert _said(checks, "negative stock").detail.startswith("not allowed")


def test_setup_says_per_sale_to_erpnext_16_in_sales_invoice_mode_sends_sales_invoices(
        ) -> None:
    with simulated("simulator-16-si") as (_, checks, ready):
        assert ready, [c.line() for c in checks]
        sends = _said(checks, "the counters send").detail
        assert sends.startswith("each sale and till return as a Sales Invoice, under the one"
                                " POS Opening Entry the forwarder keeps open")
        assert sends.endswith("in sales_invoices") and "consolidates" not in sends
        assert "allow negative stock" in _said(checks, "the site must allow").detail
        assert _said(checks, "negative stock").detail.startswith("not allowed")
        # the sales carry their origin and cashier: the fields are made on Sales Invoice
        made = {c.what for c in checks if c.what.startswith("custom field Sales Invoice")}
        assert made == {"custom field Sales Invoice.tillmesh_origin_event",
                        "custom field Sales Invoice.tillmesh_cashier"}, made


def test_setup_says_per_sale_to_erpnext_16_goes_under_one_opening_entry() -> None:
    with simulated("simulator-16") as (_, checks, ready):
        assert ready, [c.line() for c in checks]
        sends = _said(checks, "the counters send").detail
        assert "under the one POS Opening Entry the forwarder keeps open" in sends
        assert "in pos_invoices, which ERPNext consolidates" in sends


def test_a_closing_erpnext_keeps_without_its_invoices_is_not_submitted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A forwarder that takes an ERPNext 16 for a 15 sends ``pos_transactions``; the
    site keeps the draft with no invoices. Submitted, it would end the shift there and
    consolidate nothing: it waits in the exceptions list instead, and goes right once the
    forwarder knows the release."""
    with Simulator(seed="demo", job_delay=None, release=kit.SIMULATED["simulator-16"]) as sim, \
            ErpNextClient(sim.url, sim.api_key, sim.api_secret) as client:
        site = kit.Site(sim.url, sim.api_key, sim.api_secret, "Demo POS", "Europe/Berlin", client,
                    [], sim)
        counter = kit.pulled_counter(site, tmp_path)
        ann, sup = Till(counter, "ann"), Till(counter, "sup")
        shift = ann("shift_open", opening={"Cash": "100.00"})["shift"]
        sold = kit.sell(ann, (kit.sellable(counter, 1)[0], 1))["invoice"]
        kit.close(ann, shift)
        taken_for_15 = Release(FRAPPE_15, ERPNEXT_15)
        monkeypatch.setattr(ErpNextClient, "release", lambda self: taken_for_15)
        fwd = site.forwarder(counter)
        kit.drain(fwd)

        refused = kit.delivery(counter, CLOSING, shift)
        assert refused.delivery is Delivery.FAILED
        assert "keeps 0 of the 1 invoices this closing lists in pos_transactions" in (
            refused.message or "")
        assert site.get(CLOSING, shift)["docstatus"] == 0  # a draft, never submitted
        assert site.get(OPENING, shift)["status"] == "Open"

        monkeypatch.undo()
        fwd.release = None  # learnt again at the next cycle, as after RELEASE_RECHECK_S
        sup("exception_retry", id=f"{CLOSING}/{shift}")
        kit.drain(fwd)
        assert kit.delivery(counter, CLOSING, shift).delivery is Delivery.ACKED
        assert [r["pos_invoice"] for r in site.get(CLOSING, shift)["pos_invoices"]] == [sold]
        assert site.get(INVOICE, sold)["status"] == "Consolidated"
        assert fwd.release == replace(taken_for_15, frappe=(16, 13, 0), erpnext=(16, 12, 0),
                                      invoice_type="POS Invoice")


@pytest.mark.parametrize(("kind", "priced_as"), [("simulator", 15), ("simulator-16", 16),
                                                ("simulator-16-si", 16)])
def test_the_pull_records_the_release_the_counters_price_as(kind: str, priced_as: int,
                                                            tmp_path: Path) -> None:
    with kit.open_site(kind) as site:
        counter = kit.blank_counter(site, tmp_path)
        kit.pull_into(site, counter)
        assert kit.context(counter).settings.release == priced_as
        assert kit.context(counter).settings.currency_symbol  # EUR's, for 16's refusals
        with counter.read() as s:
            first = list(all_docs(s, RELEASE))
        kit.pull_into(site, counter)  # the same release: nothing new recorded
        with counter.read() as s:
            assert list(all_docs(s, RELEASE)) == first
    assert [d["erpnext"] for d in first] == ["15.71.1" if priced_as == 15 else "16.12.0"]


@pytest.mark.parametrize(("recorded", "priced_as"), [
    ({}, 15), ({"erpnext": "14.0.2"}, 15), ({"erpnext": "15.71.1"}, 15),
    ({"erpnext": "16.12.0"}, 16), ({"erpnext": "17.0.0"}, 16), ({"erpnext": "next"}, 15)])
def test_a_counter_prices_as_the_nearest_release_it_knows(recorded: dict[str, str],
                                                          priced_as: int) -> None:
    assert priced_release(recorded) == priced_as


def test_a_number_format_it_cannot_read_leaves_the_till_selling(tmp_path: Path) -> None:
    """A site's odd number format only changes how 16's refusals write amounts."""
    with kit.open_site("simulator-16") as site:
        counter = kit.blank_counter(site, tmp_path)
        kit.pull_into(site, counter)
        with counter.log.transaction() as tx:
            tx.append("master.upserted", upserted_body(RELEASE, {
                "name": RELEASE, "modified": "2999-01-01 00:00:00.000000",
                "erpnext": "16.12.0", "number_format": "0.00"}))
        settings = kit.context(counter).settings
    assert (settings.release, settings.number_format) == (16, "#,###.##")
