"""A new counter joins through a counter whose tables were tampered with: rows no event
made were written straight into its database, so the snapshot carries them.

An admin user: the new counter folds users and counters again from the snapshot's
chained, signed events at once, so the planted admin never exists there. A price or a
stock level: the running new counter replays the snapshot's events in the background,
finds tables they do not build, says so (an ERROR, ``security_status``) and rebuilds its
tables from the events. An honest snapshot is verified, once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.clusterkit import admin, cashier, converge, invite, join
from tests.nodekit import dump
from tests.proc import NodeProcess, Nodes, demo_barcodes, network, ok, sell_one, tillmesh
from tests.security.test_forged_events import can_log_in
from tillmesh.lab.demo_data import demo_master_docs
from tillmesh.node.domain.credentials import hash_secret
from tillmesh.node.ops.config import load
from tillmesh.node.store import open_engine, read_key_file
from tillmesh.node.store.event_codec import pack_body
from tillmesh.node.store.event_log import EventLog
from tillmesh.replication import hlc

pytestmark = pytest.mark.slow

CHECK_S = 60.0  # the demo store's check takes about a second; a loaded 2-core CI, more
FINDING = "SECURITY: the snapshot this counter joined with"


def plant_admin(data_dir, user: str, pin: str) -> None:
    """What a thief with the database key can do to a stopped counter's tables: an admin
    in the users table, and the change that would make it, as if recorded before events
    were signed, among the membership changes users are folded from."""
    config = load(data_dir)
    engine = open_engine(config.db_path, read_key_file(config.key_path))
    body = {"user": user, "full_name": "Planted", "role": "admin", "secret_kind": "pin",
            "secret_hash": hash_secret(pin), "disabled": False}
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO users (user, full_name, role, secret_kind, secret_hash, disabled, hlc,"
            " origin) VALUES (:user, 'Planted', 'admin', 'pin', :hash, 0, 1, 'C01')"),
            {"user": user, "hash": body["secret_hash"]})
        conn.execute(text(
            "INSERT INTO membership_changes (origin, seq, hlc, kind, body, signed) VALUES"
            " ('C01', 999999, :hlc, 'user.upserted', :body, 0)"),
            {"hlc": hlc.pack(int(time.time() * 1000), 0), "body": pack_body(body)})
    engine.dispose()


def test_an_admin_planted_in_the_inviters_tables_does_not_reach_the_new_counter():
    with Nodes() as nodes:
        inviter_dir = nodes.init(*network(), node="C01")
        plant_admin(inviter_dir, "mallory", "4321")
        inviter = nodes.start(inviter_dir)
        assert can_log_in(inviter, "mallory", "4321")  # the tampered counter believes it
        joined = nodes.start(join(nodes, invite(inviter), "C02"))
        assert not can_log_in(joined, "mallory", "4321")
        with admin(joined) as c:
            assert "mallory" not in {u["user"] for u in c.call("user_list")}
        check = checked(joined)  # and the planted rows are a finding
        assert check["state"] == "tampered"
        assert {"users", "membership_changes"} <= set(check["tables"])


def checked(proc: NodeProcess, deadline_s: float = CHECK_S) -> dict[str, Any]:
    """The snapshot check as ``security_status`` says it, once it is no longer pending."""
    deadline = time.monotonic() + deadline_s
    with admin(proc) as c:
        while True:
            check: dict[str, Any] = c.call("security_status")["snapshot"]
            if check["state"] != "pending":
                return check
            assert time.monotonic() < deadline, f"snapshot still unchecked after {deadline_s} s"
            time.sleep(0.2)


def logged(data_dir: Path, line: str) -> int:
    """How often ``line`` was logged in every run of the node so far."""
    return sum(p.read_text().count(line) for p in data_dir.glob("run-*.err"))


def test_an_honest_snapshot_is_verified_once():
    """The snapshot comes from a counter whose tables grew as events arrived from two
    counters selling (arrival order), the check replays them in log order: the same."""
    with Nodes() as nodes:
        first = nodes.start(nodes.init(*network(), node="C01"))
        second = nodes.start(join(nodes, invite(first), "C02"))
        codes = demo_barcodes(3)
        for proc in (first, second):
            with cashier(proc) as c:
                c.call("shift_open", opening={"Cash": "50"})
                for code in codes:
                    sell_one(c, code)
        sold = sum(converge([first, second]).values())
        third_dir = join(nodes, invite(second), "C03")
        third = nodes.start(third_dir)
        check = checked(third)
        assert check["state"] == "verified", check
        assert check["events"] >= sold  # both counters' sales were in the snapshot
        assert check["seconds"] >= 0 and check["verified_at"] >= check["installed_at"]
        third.stop()
        third = nodes.start(third_dir)
        with admin(third) as c:  # a restart does not check again
            assert c.call("security_status")["snapshot"] == check
        assert logged(third_dir, "snapshot verified") == 1
        assert logged(third_dir, FINDING) == 0
        assert not (third_dir / "snapshot-check").exists()


def plant_price_and_stock(data_dir: Path, price: str, rate: str, item: str) -> None:
    """What a thief with the database key can do to a stopped counter's tables: a price
    and a stock level no event says."""
    config = load(data_dir)
    engine = open_engine(config.db_path, read_key_file(config.key_path))
    with engine.begin() as conn:
        assert conn.execute(text("UPDATE catalog_prices SET price_list_rate = :rate WHERE"
                                 " name = :name"), {"rate": rate, "name": price}).rowcount == 1
        assert conn.execute(text("UPDATE stock_base SET qty_nano = 999 * 1000000000 WHERE"
                                 " item_code = :item"), {"item": item}).rowcount >= 1
    engine.dispose()


def projections(data_dir: Path, *, rebuilt: bool = False) -> dict[str, list[tuple]]:
    """The stopped counter's projection tables (after a rebuild from its events)."""
    config = load(data_dir)
    log = EventLog(open_engine(config.db_path, read_key_file(config.key_path)),
                   config.node_id)
    try:
        if rebuilt:
            log.rebuild()
        return dump(log)
    finally:
        log.engine.dispose()


def test_a_price_planted_in_the_snapshot_is_found_and_rebuilt_from_the_events():
    with Nodes() as nodes:
        inviter_dir = nodes.init(*network(), node="C01")
        price, item = demo_price()
        plant_price_and_stock(inviter_dir, price, "0.01", item)
        inviter = nodes.start(inviter_dir)
        joined_dir = join(nodes, invite(inviter), "C02")
        joined = nodes.start(joined_dir)
        check = checked(joined)
        assert check["state"] == "tampered", check
        assert check["tables"] == ["catalog_prices", "stock_base"]
        assert logged(joined_dir, FINDING) == 1
        joined.stop()
        tables = projections(joined_dir)
        assert "0.01" not in {row[4] for row in tables["catalog_prices"]}
        assert tables == projections(joined_dir, rebuilt=True)
        joined = nodes.start(joined_dir)
        with admin(joined) as c:  # still listed after a restart, not found again
            assert c.call("security_status")["snapshot"] == check
        assert logged(joined_dir, FINDING) == 1
        said = json.loads(ok(tillmesh(joined_dir, "status")))  # what IT reads
        assert said["snapshot"] == check
        assert any(w.startswith("SECURITY: the snapshot this counter joined with held tables"
                                " its events do not build (catalog_prices, stock_base)")
                   for w in said["warnings"]), said["warnings"]


def demo_price() -> tuple[str, str]:
    """The name of a demo Item Price and its item (the demo stocks every item)."""
    return next((doc["name"], doc["item_code"]) for doctype, doc in demo_master_docs()
                if doctype == "Item Price")
