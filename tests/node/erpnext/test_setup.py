"""`tillmesh erpnext setup | status | pull` against the ERPNext simulator on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import os
import stat

import httpx
import pytest

from tests.proc import ADMIN_PIN
from tillmesh.lab.erpnext_simulator import Simulator
from tillmesh.node.domain.barcode import rules_from_config
from tillmesh.node.erpnext import (
    CUSTOM_FIELDS,
    ErpNextClient,
    ErpNextSettings,
    Limits,
    check_all,
    setup,
)
from tillmesh.node.erpnext._settings import load, save, settings_path
from tillmesh.node.errors import ConfigError
from tillmesh.node.ops.cli import main
from tillmesh.node.ops.config import Config
from tillmesh.node.ops.provisioning import initialise
from tillmesh.node.projections import catalog
from tillmesh.node.store import open_engine, read_key_file
from tillmesh.node.store.event_log import EventLog

PROFILE = "Demo POS"


@pytest.fixture
def data_dir(tmp_path):
    config = Config(data_dir=tmp_path / "c01", node_id="C01", pos_profile=PROFILE,
                    listen="tcp://127.0.0.1:0", join_listen="tcp://127.0.0.1:0", mdns=False)
    initialise(config, admin="admin", admin_name="Admin", pin=ADMIN_PIN, demo=False)
    return config.data_dir


class Deny(httpx.BaseTransport):
    """The real transport, but 403 PermissionError for requests whose path contains one of
    ``paths`` (as Frappe answers a user without the role)."""

    def __init__(self, *paths: str) -> None:
        self.inner, self.paths = httpx.HTTPTransport(), paths

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if any(p in request.url.path for p in self.paths):
            message = json.dumps({"message": "Not permitted", "indicator": "red"})
            return httpx.Response(403, json={"exc_type": "PermissionError",
                                              "_server_messages": json.dumps([message])})
        return self.inner.handle_request(request)


def client(site, transport=None, secret=None) -> ErpNextClient:
    sim, url = site
    return ErpNextClient(url, sim.api_key, secret or sim.api_secret, transport=transport)


def lines(site, profile=PROFILE, **kw) -> tuple[bool, list[str]]:
    out: list[str] = []
    with client(site, **kw) as c:
        ok = setup(c, profile, lambda check: out.append(check.line()))
    return ok, out


def test_a_ready_erpnext_passes_every_check_and_gets_the_custom_fields(site):
    sim, _ = site
    ok, out = lines(site)
    assert ok, "\n".join(out)
    assert all(line.startswith("ok ") for line in out)
    assert any("POS Profile Demo POS: exists and is enabled" in line for line in out)
    assert any("mode of payment Cash: account Cash - DS" in line for line in out)
    assert "ok       API v2: present: documents are created under Tillmesh's names" in out
    made = {(d["dt"], d["fieldname"]): d for d in sim.docs("Custom Field")}
    assert {(f.doctype, f.fieldname) for f in CUSTOM_FIELDS} <= set(made)
    for field in CUSTOM_FIELDS:  # the origin event unique on every doctype Tillmesh creates
        assert made[field.doctype, field.fieldname]["unique"] == int(field.unique)
        assert field.unique == (field.fieldname == "tillmesh_origin_event")
    assert {f.doctype for f in CUSTOM_FIELDS if f.unique} == {
        "POS Invoice", "POS Opening Entry", "POS Closing Entry", "Customer"}
    assert sum(line.startswith("ok       custom field") and "created" in line
               for line in out) == len(CUSTOM_FIELDS)
    ok, again = lines(site)  # idempotent
    assert ok and sum("already there" in line for line in again) == len(CUSTOM_FIELDS)
    assert len(sim.docs("Custom Field")) == len(made)


def test_an_origin_field_made_by_an_older_setup_is_made_unique(site):
    sim, _ = site
    lines(site)
    for doc in sim.docs("Custom Field"):
        sim.put_doc("Custom Field", {**doc, "unique": 0})  # as setup made it before
    ok, out = lines(site)
    assert ok, "\n".join(out)
    upgraded = [line for line in out if line.endswith("made unique")]
    assert len(upgraded) == sum(f.unique for f in CUSTOM_FIELDS)
    assert all(d["unique"] == int(d["fieldname"] == "tillmesh_origin_event")
               for d in sim.docs("Custom Field"))


class Stale(httpx.BaseTransport):
    """The real transport, but the first look for each custom field finds none: another
    counter's setup creates it between that look and this one's insert."""

    def __init__(self) -> None:
        self.inner, self.looked = httpx.HTTPTransport(), set()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params.get("filters", "")
        if request.method == "GET" and "Custom Field" in request.url.path \
                and query not in self.looked:
            self.looked.add(query)
            return httpx.Response(200, json={"data": []})
        return self.inner.handle_request(request)


def test_two_counters_setting_up_at_once_both_find_the_fields(site):
    lines(site)  # the other counter's setup, a moment earlier
    ok, out = lines(site, transport=Stale())  # this one looked before those fields existed
    assert ok, "\n".join(out)
    assert sum("already there" in line for line in out) == len(CUSTOM_FIELDS)


def test_a_site_without_api_v2_is_said_so(tmp_path):
    with Simulator(seed="demo", api_v2=False) as sim:
        ok, out = lines((sim, sim.url))
    assert ok and any(line.startswith("ok       API v2: absent") for line in out)


def test_a_refused_key_is_one_clear_line(site):
    ok, out = lines(site, secret="wrong")
    assert not ok and len(out) == 1
    assert out[0].startswith("MISSING  ERPNext at http://127.0.0.1")
    assert "API Access" in out[0]


def test_a_missing_profile_says_what_to_do(site):
    ok, out = lines(site, profile="Nope POS")
    assert not ok
    assert "MISSING  POS Profile Nope POS: not found: create it in ERPNext" in "\n".join(out)


def test_a_mode_of_payment_without_an_account_for_the_company(site):
    sim, _ = site
    sim.put_doc("Mode of Payment", {**sim.get("Mode of Payment", "Card"), "accounts": []})
    ok, out = lines(site)
    assert not ok
    missing = [line for line in out if line.startswith("MISSING")]
    assert missing == ["MISSING  mode of payment Card: no default account for Demo Store GmbH:"
                       " add one under Mode of Payment Card > Accounts"]


def test_a_disabled_profile(site):
    sim, _ = site
    sim.put_doc("POS Profile", {**sim.get("POS Profile", PROFILE), "disabled": 1})
    ok, out = lines(site)
    assert not ok and "MISSING  POS Profile Demo POS: disabled" in "\n".join(out)


def test_missing_permissions_are_named(site):
    ok, out = lines(site, transport=Deny("/api/resource/POS Closing Entry",
                                         "/api/resource/Deleted Document",
                                         "/api/resource/Custom Field"))
    assert not ok
    text = "\n".join(out)
    assert "MISSING  permission on POS Closing Entry: may not read" in text
    assert "MISSING  reading master data: may not read Deleted Document" in text
    assert "MISSING  custom field POS Invoice.tillmesh_origin_event: Not permitted" in text


class Permits(httpx.BaseTransport):
    """The real transport, with Frappe's ``has_permission`` answering as ``create`` says."""

    def __init__(self, create: dict[str, bool]) -> None:
        self.inner, self.create = httpx.HTTPTransport(), create

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/method/frappe.client.has_permission":
            doctype = request.url.params["doctype"]
            assert request.url.params["perm_type"] == "create"
            return httpx.Response(200, json={"message": {
                "has_permission": self.create.get(doctype, True)}})
        return self.inner.handle_request(request)


def test_create_permission_is_asked_without_creating_anything(site):
    sim, _ = site
    invoices = len(sim.docs("POS Invoice"))
    ok, out = lines(site, transport=Permits({"POS Invoice": False}))
    assert not ok
    text = "\n".join(out)
    assert "MISSING  permission on POS Invoice: may not create" in text
    assert "ok       permission on Customer: read and create" in text
    assert len(sim.docs("POS Invoice")) == invoices


def test_checks_are_reported_as_they_complete(site):
    seen = []
    with client(site) as c:
        checks = check_all(c, PROFILE, seen.append)
    assert checks == seen and len(checks) > 10


# --- the settings file ------------------------------------------------------------------


def test_settings_are_saved_0600_and_refused_when_others_may_read(tmp_path):
    config = Config(data_dir=tmp_path)
    settings = ErpNextSettings("https://erp.example.com", "k", 's"ecret\\', PROFILE,
                               "/etc/ssl/ca.pem")
    path = save(config, settings)
    assert path == tmp_path / "secrets" / "erpnext.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load(config) == settings
    save(config, ErpNextSettings("https://erp.example.com", "k", "s", PROFILE, False))
    assert load(config).verify is False
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by others; run: chmod 600"):
        load(config)
    path.unlink()
    with pytest.raises(ConfigError, match="run `tillmesh erpnext setup"):
        load(config)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b'url = "https://erp.example.com"\n')
    os.close(fd)
    with pytest.raises(ConfigError, match="api_key, api_secret, pos_profile missing"):
        load(config)
    assert "secret" not in ErpNextSettings("https://e.x", "k", "s", "P").public().values()


def test_plain_http_needs_insecure_and_limits_are_saved_only_when_changed(tmp_path):
    with pytest.raises(ConfigError, match="plain http: the API key and secret would cross"):
        ErpNextSettings("http://127.0.0.1:8000", "k", "s", PROFILE)
    with pytest.raises(ConfigError, match="plain http"):
        ErpNextSettings("http://erp.example.com", "k", "s", PROFILE, "/etc/ssl/ca.pem")
    lab = ErpNextSettings("http://127.0.0.1:8000", "k", "s", PROFILE, False)
    assert lab.public()["insecure"] is True and "plain http" in lab.security()
    config = Config(data_dir=tmp_path)
    path = save(config, lab)
    assert "[limits]" not in path.read_text()  # const's apply, also after an upgrade
    slow = ErpNextSettings("https://erp.example.com", "k", "s", PROFILE,
                           limits=Limits(pull_deadline_s=3600))
    save(config, slow)
    assert "[limits]\npull_deadline_s = 3600\n" in path.read_text()
    assert load(config) == slow
    with load(config).client() as client:
        assert client.limits.pull_deadline_s == 3600
    assert slow.security() == "TLS, certificates verified (system CAs)"
    path.write_text(path.read_text().replace("pull_deadline_s", "pull_deadline"))
    with pytest.raises(ConfigError, match="limits missing or malformed"):
        load(config)


def test_the_delivery_mode_is_saved_and_setup_keeps_it(site, data_dir, capsys):
    """``--delivery per-shift`` is saved, kept by a later setup that does not name it,
    and after a return to per-sale the pull still reads the shifts' Sales Invoices."""
    sim, url = site
    base = ["--data-dir", str(data_dir), "erpnext", "setup", "--url", url, "--key",
            sim.api_key, "--secret", sim.api_secret, "--insecure"]
    config = Config(data_dir=data_dir)
    assert main([*base, "--delivery", "per-shift"]) == 0
    out = capsys.readouterr().out
    assert "created, unique" in out and "custom field Sales Invoice.tillmesh_shift" in out
    assert "delivery     per-shift" in out
    assert 'delivery = "per-shift"' in settings_path(config).read_text()
    assert main(base) == 0 and load(config).per_shift
    assert main([*base, "--delivery", "per-sale"]) == 0
    back = load(config)
    assert (back.delivery, back.reads_shift_invoices) == ("per-sale", True)
    settings_path(config).write_text(settings_path(config).read_text()
                                     + 'delivery = "per-day"\n')
    with pytest.raises(ConfigError, match="delivery missing or malformed"):
        load(config)


# --- the command line ---------------------------------------------------------------------


def test_the_commands_set_up_pull_and_report(site, data_dir, capsys):
    sim, url = site
    base = ["--data-dir", str(data_dir), "erpnext"]
    code = main([*base, "setup", "--url", url, "--key", sim.api_key, "--secret",
                 sim.api_secret, "--insecure"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ERPNext is ready for Tillmesh" in out
    config = Config(data_dir=data_dir)
    assert stat.S_IMODE(settings_path(config).stat().st_mode) == 0o600
    widened = Limits(request_deadline_s=300)  # for a slow site: setup run again keeps it
    save(config, dataclasses.replace(load(config), limits=widened))
    assert main([*base, "setup", "--url", url, "--key", sim.api_key, "--secret",
                 sim.api_secret, "--insecure"]) == 0
    assert load(config).limits == widened
    capsys.readouterr()
    assert main([*base, "pull"]) == 0
    captured = capsys.readouterr()
    assert "events recorded" in captured.out and "pulling" in captured.err
    assert main([*base, "status"]) == 0
    out = capsys.readouterr().out
    assert f"url          {url}" in out and "reachable    yes" in out
    assert "Item@" not in out and "Item Price@Standard Selling" in out
    config = Config(data_dir=data_dir)
    log = EventLog(open_engine(config.db_path, read_key_file(config.key_path)), "C01")
    try:
        with log.reading() as s:
            assert catalog.scan(s, "4250100000011", rules_from_config([])).item_code == \
                "DAI-0001"
    finally:
        log.engine.dispose()


def test_setup_exits_1_when_something_is_missing(site, data_dir, capsys):
    sim, url = site
    code = main(["--data-dir", str(data_dir), "erpnext", "setup", "--url", url, "--key",
                 sim.api_key, "--secret", sim.api_secret, "--pos-profile", "Other POS",
                 "--insecure"])
    out = capsys.readouterr().out
    assert code == 1
    assert "note: this counter sells with POS Profile 'Demo POS'" in out
    assert "MISSING  POS Profile Other POS: not found" in out


def test_a_bad_ca_file_is_refused_before_anything_is_saved(data_dir, tmp_path, capsys):
    code = main(["--data-dir", str(data_dir), "erpnext", "setup", "--url",
                 "https://erp.example.com", "--key", "k", "--secret", "s", "--verify",
                 str(tmp_path / "missing.pem")])
    assert code == 1
    assert "cannot load the CA certificate(s)" in capsys.readouterr().err
    assert not settings_path(Config(data_dir=data_dir)).exists()


def test_status_without_setup_and_with_erpnext_down(site, data_dir, capsys):
    sim, url = site
    assert main(["--data-dir", str(data_dir), "erpnext", "status"]) == 1
    assert "ERPNext is not set up" in capsys.readouterr().err
    config = Config(data_dir=data_dir)
    save(config, ErpNextSettings(url, sim.api_key, sim.api_secret, PROFILE, False))
    sim.faults.down = True
    assert main(["--data-dir", str(data_dir), "erpnext", "status"]) == 1
    out = capsys.readouterr().out
    assert "reachable    NO" in out and "no pull yet" in out


@pytest.mark.slow
def test_with_the_node_running_the_pull_goes_through_its_local_api(site):
    from tests.proc import Nodes, ok, tillmesh

    sim, url = site
    with Nodes() as nodes:
        data = nodes.init(demo=False)
        ok(tillmesh(data, "erpnext", "setup", "--url", url, "--key", sim.api_key,
                    "--secret", sim.api_secret, "--insecure"))
        node = nodes.start(data)
        assert "events recorded" in ok(tillmesh(data, "erpnext", "pull"))
        with node.client() as c:
            status = c.call("erpnext_status")
            assert status["pull"]["state"] == "done"
            # The elected forwarder (this counter alone) pulls on its own at start too, so
            # the items may have come with its pull or with ours.
            assert any(s["scope"] == "Item" for s in status["scopes"])
            c.login("admin", ADMIN_PIN)
            assert c.call("search_items", text="4250100000011")[0]["item_code"] == "DAI-0001"
        assert "pull         done" in ok(tillmesh(data, "erpnext", "status"))
        assert "0 events recorded" in ok(tillmesh(data, "erpnext", "pull"))
