"""A new counter joins through a counter whose tables were tampered with: an admin user
that no event mentions was written straight into its database. The snapshot carries the
planted row, but the new counter folds users and counters again from the snapshot's
chained, signed events, so the planted admin does not exist there."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from tests.clusterkit import admin, invite, join
from tests.proc import Nodes, network
from tests.security.test_forged_events import can_log_in
from tillmesh.node.domain.credentials import hash_secret
from tillmesh.node.ops.config import load
from tillmesh.node.store import open_engine, read_key_file
from tillmesh.node.store.event_codec import pack_body
from tillmesh.replication import hlc

pytestmark = pytest.mark.slow


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
