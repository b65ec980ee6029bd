"""`tillmesh doctor` (issue 13, point 4): one line per check with the fix, exit 1 when
something is broken. The verdicts are pure functions of gathered facts (tested here
directly, with Hypothesis where numbers decide); one test runs the command against a
real counter, running and stopped, and breaks things for it to find."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.proc import Nodes, network, ok, tillmesh
from tillmesh.node.ops import doctor
from tillmesh.node.ops.doctor import (
    DISK_FAIL_BYTES,
    DISK_WARN_BYTES,
    DISK_WARN_DAYS,
    FAIL,
    IFF_MULTICAST,
    IFF_RUNNING,
    IFF_UP,
    OK,
    UNKNOWN,
    WARN,
    FileFact,
    Interface,
    PrinterFacts,
    Verdict,
)
from tillmesh.node.store import open_engine, read_key_file

RANK = {OK: 0, UNKNOWN: 0, WARN: 1, FAIL: 2}
DIR, FILE = stat.S_IFDIR, stat.S_IFREG
UP = IFF_UP | IFF_RUNNING | IFF_MULTICAST


def test_a_line_says_level_check_what_and_fix_and_only_a_failure_fails_the_command():
    bad = Verdict("files", FAIL, "secrets readable by others: secrets/db.key",
                  "chmod 600 /var/lib/tillmesh/secrets/db.key")
    assert bad.line() == ("fail files      secrets readable by others: secrets/db.key  -> "
                          "fix: chmod 600 /var/lib/tillmesh/secrets/db.key")
    assert Verdict("node", UNKNOWN, "x").line().startswith("--   node ")
    assert doctor.exit_code([Verdict("a", WARN, ""), Verdict("b", UNKNOWN, "")]) == 0
    assert doctor.exit_code([Verdict("a", OK, ""), bad]) == 1


@given(st.dictionaries(st.sampled_from(["C02", "C03", "C04"]),
                       st.one_of(st.none(), st.integers(-200_000, 200_000))),
       st.sampled_from([True, False, None]))
def test_clock_fails_past_what_peers_accept_and_warns_past_the_skew_or_without_ntp(skews, ntp):
    verdict = doctor.clock_verdict(skews, ntp, max_skew_ms=2000, max_ahead_s=60)
    worst = max((abs(s) for s in skews.values() if s is not None), default=0)
    expected = FAIL if worst > 60_000 else WARN if worst > 2000 or not ntp else OK
    assert verdict.level == expected
    assert all(f"{node} {skew:+d} ms" in verdict.what
               for node, skew in skews.items() if skew is not None)
    assert (verdict.fix != "") == (expected != OK)


def test_clock_of_a_stopped_node_says_what_it_cannot_know():
    verdict = doctor.clock_verdict(None, None, max_skew_ms=2000, max_ahead_s=60)
    assert "unknown (node stopped)" in verdict.what and "NTP state unknown" in verdict.what


@given(st.integers(1, 10**12), st.integers(1, 10**7), st.integers(0, 10**7),
       st.floats(1 / 24, 7))
def test_growth_is_bytes_per_event_times_recent_events_per_day(db_bytes, events, recent, days):
    growth = doctor.growth_per_day(db_bytes, events, recent, days)
    assert growth == pytest.approx(db_bytes / events * recent / days)
    twice = doctor.growth_per_day(db_bytes, events, 2 * recent, days)
    assert twice == pytest.approx(2 * growth)  # twice the trade, twice the growth


def test_no_growth_is_told_of_an_empty_or_brand_new_store():
    assert doctor.growth_per_day(10**6, 0, 0, 7) is None
    assert doctor.growth_per_day(10**6, 100, 100, 1 / 100) is None


@given(st.integers(0, 2**44), st.integers(0, 2**44),
       st.one_of(st.none(), st.floats(1, 2**36)))
def test_more_free_space_is_never_a_worse_disk_verdict(free_a, free_b, growth):
    low, high = sorted((free_a, free_b))
    worse, better = doctor.disk_verdict(low, growth), doctor.disk_verdict(high, growth)
    assert RANK[worse.level] >= RANK[better.level]
    assert (worse.level == FAIL) == (low < DISK_FAIL_BYTES)
    days_left = None if not growth else low / growth
    warned = low < DISK_WARN_BYTES or (days_left is not None and days_left < DISK_WARN_DAYS)
    assert (worse.level != OK) == warned


def test_disk_says_days_left_at_the_stores_growth():
    verdict = doctor.disk_verdict(10 * 2**30, 100 * 2**20)
    assert verdict.level == OK
    assert verdict.what == "10.0 GiB free; the store grows ~100.0 MiB a day (~102 days left)"


def test_chains_fail_on_a_break_or_an_unsigned_head():
    assert doctor.chains_verdict(10, None, []).level == OK
    assert "C02:17" in doctor.chains_verdict(16, "C02:17", []).what
    assert doctor.chains_verdict(10, None, ["C03"]).level == FAIL
    assert doctor.integrity_verdict(["ok"]).level == OK
    broken = doctor.integrity_verdict(["*** in database main ***", "Page 7: btreeInitPage"])
    assert broken.level == FAIL and "btreeInitPage" in broken.what and "restore" in broken.fix


def test_files_want_a_private_data_dir_private_secrets_and_one_owner(tmp_path):
    good = [FileFact(".", DIR | 0o700, 999), FileFact("secrets", DIR | 0o700, 999),
            FileFact("secrets/db.key", FILE | 0o600, 999, secret=True),
            FileFact("tillmesh.db", FILE | 0o600, 999)]
    assert doctor.files_verdict(good, "tillmesh", tmp_path).level == OK
    root_made = [*good, FileFact("tillmesh.db-wal", FILE | 0o600, 0)]
    verdict = doctor.files_verdict(root_made, "tillmesh", tmp_path)
    assert verdict.level == FAIL and "tillmesh.db-wal" in verdict.what
    assert verdict.fix == f"chown -R tillmesh: {tmp_path}"
    open_dir = [FileFact(".", DIR | 0o755, 999), *good[1:]]
    assert doctor.files_verdict(open_dir, "tillmesh", tmp_path).fix == f"chmod 700 {tmp_path}"
    open_key = [*good[:2], FileFact("secrets/db.key", FILE | 0o644, 999, secret=True)]
    assert doctor.files_verdict(open_key, "tillmesh", tmp_path).level == FAIL
    loose = [*good, FileFact("print-spool/x", FILE | 0o644, 999)]
    assert doctor.files_verdict(loose, "tillmesh", tmp_path).level == WARN
    assert doctor.files_verdict([], "?", tmp_path).level == FAIL


def test_plain_secrets_warn_with_the_seal_command():
    verdict = doctor.secrets_verdict({"db.key": "plain text"}, [
        "db.key lies in plain text: run `sudo tillmesh seal --systemd`"])
    assert verdict.level == WARN and verdict.fix == "sudo tillmesh seal --systemd"
    assert doctor.secrets_verdict({"db.key": "sealed to this machine (systemd-creds)"},
                                  []).level == OK


def test_printer_and_drawer():
    none = doctor.printer_verdicts(PrinterFacts("none", "none", None))
    assert [v.level for v in none] == [WARN, WARN]
    down = doctor.printer_verdicts(PrinterFacts("network", "network 10.0.0.9:9100", False,
                                                "no answer (Connection refused)", 2))
    assert [v.level for v in down] == [FAIL, FAIL] and "2 job(s) waiting" in down[0].what
    up = doctor.printer_verdicts(PrinterFacts("usb", "usb 04b8:0202", True, "plugged in"))
    assert [v.level for v in up] == [OK, OK] and "pin 2" in up[1].what
    waiting = doctor.printer_verdicts(PrinterFacts("usb", "usb 04b8:0202", True, "x", 3))
    assert waiting[0].level == WARN


def test_multicast_needs_the_chosen_interface_up_and_running_with_multicast():
    eth = Interface("eth0", ("192.168.1.10",), UP)
    lo = Interface("lo", ("127.0.0.1",), IFF_UP | IFF_RUNNING)
    assert doctor.multicast_verdict(True, [], [lo, eth], []).level == OK
    assert doctor.multicast_verdict(True, ["192.168.1.10"], [lo, eth], []).level == OK
    no_multicast = Interface("eth0", ("192.168.1.10",), IFF_UP | IFF_RUNNING)
    down = doctor.multicast_verdict(True, ["192.168.1.10"], [no_multicast], [])
    assert down.level == FAIL and "eth0" in down.fix
    assert doctor.multicast_verdict(True, ["10.9.9.9"], [eth], []).level == FAIL
    unplugged = Interface("eth0", ("192.168.1.10",), IFF_UP | IFF_MULTICAST)
    assert doctor.multicast_verdict(True, [], [unplugged], []).level == WARN
    assert "1 static peer" in doctor.multicast_verdict(False, [], [], ["C02@10.0.0.2:7610"]).what
    assert doctor.multicast_verdict(False, [], [], []).level == OK  # enrolled addresses


def test_erpnext_and_deliveries():
    assert doctor.erpnext_verdict("ok", "pos@example.com").level == OK
    assert doctor.erpnext_verdict("none", "not set up").level == WARN
    assert doctor.erpnext_verdict("auth", "401").level == FAIL
    assert "none is lost" in doctor.erpnext_verdict("down", "timeout").what
    assert doctor.deliveries_verdict(12, 0, 0).level == OK
    refused = doctor.deliveries_verdict(12, 0, 2)
    assert refused.level == WARN and "tillmesh exceptions" in refused.fix
    assert doctor.deliveries_verdict(3, 1, 0).level == WARN
    assert doctor.deliveries_verdict(None, 0, 0).level == UNKNOWN


def test_releases_across_the_store():
    assert doctor.releases_verdict("0.2.0", {"C02": "0.2.0"}).level == OK
    mixed = doctor.releases_verdict("0.2.0", {"C02": "0.1.0", "C03": "0.2.0"})
    assert mixed.level == WARN and "0.1.0: C02" in mixed.what
    unheard = doctor.releases_verdict("0.2.0", {"C02": None})  # not heard, or too old
    assert unheard.level == OK and "unknown: C02" in unheard.what
    assert doctor.releases_verdict("0.2.0", None).level == UNKNOWN
    assert doctor.releases_verdict("0.2.0", {}, ["0.1.0"]).level == FAIL


def test_doctor_on_a_real_counter_running_then_stopped_then_broken():
    with Nodes() as nodes:
        data_dir = nodes.init(*network(), node="C01")
        node = nodes.start(data_dir)
        result = tillmesh(data_dir, "doctor")
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        print(result.stdout)  # what IT sees (pytest -s)
        checks = [line.split()[1] for line in lines]
        assert checks == ["node", "clock", "disk", "store", "chains", "checkpoint", "files",
                          "secrets", "printer", "drawer", "multicast", "erpnext",
                          "deliveries", "releases"]
        by_check = {line.split()[1]: line for line in lines}
        assert by_check["checkpoint"].startswith("ok ") and "none yet" in by_check["checkpoint"]
        assert by_check["node"].startswith("ok   node       running")
        assert by_check["chains"].startswith("ok ") and "hash chain intact" in by_check["chains"]
        assert by_check["store"].startswith("ok ")
        assert "not set up" in by_check["erpnext"]
        assert "db.key plain text" in by_check["secrets"]
        node.stop()

        as_json = json.loads(ok(tillmesh(data_dir, "doctor", "--json")))
        stopped = {v["check"]: v for v in as_json}
        assert stopped["node"]["level"] == WARN and stopped["chains"]["level"] == OK
        assert stopped["releases"]["level"] == UNKNOWN

        _change_an_event(data_dir)  # as a bad disk or a hand in the file would
        data_dir.chmod(0o755)  # and the store open to every user of the machine
        broken = tillmesh(data_dir, "doctor")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        by_check = {line.split()[1]: line for line in broken.stdout.splitlines()}
        assert by_check["chains"].startswith("fail") and "event C01:2 " in by_check["chains"]
        assert by_check["files"].startswith("fail") and f"chmod 700 {data_dir}" in \
            by_check["files"]


def _change_an_event(data_dir):
    engine = open_engine(data_dir / "tillmesh.db", read_key_file(data_dir / "secrets" / "db.key"))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE events SET body = x'00' WHERE origin = 'C01' AND "
                                 "seq = 2")
    finally:
        engine.dispose()


def test_erpnext_is_asked_with_the_saved_key_and_a_refused_key_fails(tmp_path):
    from tillmesh.lab.erpnext_simulator import Simulator
    from tillmesh.node.erpnext import ErpNextSettings, save_settings
    from tillmesh.node.ops.config import Config

    config = Config(data_dir=tmp_path)
    assert doctor._erpnext(config).what == "not set up on this counter"
    with Simulator(seed="demo") as sim:
        url = sim.start()
        save_settings(config, ErpNextSettings(url, sim.api_key, sim.api_secret, "Demo POS",
                                              verify=False))  # plain http: 127.0.0.1
        reached = doctor._erpnext(config)
        assert reached.level == OK and reached.what.startswith("reachable, logged in as ")
        save_settings(config, ErpNextSettings(url, sim.api_key, "wrong", "Demo POS",
                                              verify=False))
        assert doctor._erpnext(config).level == FAIL
    down = doctor._erpnext(config)  # the site is gone
    assert down.level == WARN and down.what.startswith("not reachable")


def test_a_printer_is_probed_where_the_node_would_print(tmp_path):
    from dataclasses import replace

    from tests.proc import free_port
    from tillmesh.node.ops.config import Config, PrinterConfig

    data_dir = tmp_path / "d"
    (data_dir / "print-spool").mkdir(parents=True)
    (data_dir / "print-spool" / "job-1.sealed").write_bytes(b"x")
    config = Config(data_dir=data_dir)
    closed = doctor._printer_facts(replace(config, printer=PrinterConfig(
        kind="network", host="127.0.0.1", port=free_port())))
    assert closed.reachable is False and closed.pending == 1
    assert closed.where.startswith("network 127.0.0.1:")
    device = tmp_path / "lp0"
    device.write_bytes(b"")
    as_file = doctor._printer_facts(replace(config, printer=PrinterConfig(
        kind="file", file=str(device))))
    assert as_file.reachable is True and as_file.where == f"file {device}"
    missing = doctor._printer_facts(replace(config, printer=PrinterConfig(
        kind="serial", serial_device=str(tmp_path / "ttyS9"))))
    assert missing.reachable is False


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the device away")
def test_a_device_the_service_user_may_not_write_is_said(tmp_path):
    device = tmp_path / "lp0"
    device.write_bytes(b"")
    device.chmod(0o600)  # root's alone
    usable, why = doctor._device_usable(device, 65534)
    assert not usable and "nobody may not write it" in why and "add nobody to its group" in why
    os.chown(device, 65534, 65534)
    assert doctor._device_usable(device, 65534)[0]


def test_a_checkpoint_the_nightly_run_left_behind_is_a_warning_with_its_fix():
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    fresh = doctor.checkpoint_verdict(now - timedelta(hours=5), 1200, now)
    assert fresh.level == OK and fresh.what == "made 5 h ago; 1,200 event(s) after it"
    stale = doctor.checkpoint_verdict(now - timedelta(days=3), 90_000, now)
    assert stale.level == WARN and "tillmesh archive run" in stale.fix
    assert doctor.checkpoint_verdict(None, 5000, now).level == OK  # a young store: none yet
    joined = doctor.checkpoint_verdict(now - timedelta(hours=5), 1200, now, {"C01": 90_001})
    assert joined.level == WARN and "C01 from event 90,001" in joined.what
