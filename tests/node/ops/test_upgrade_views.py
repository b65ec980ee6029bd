"""What IT and the cashier see of releases: the Store screen's rows and the banner of a
counter whose release the store does not allow (the app's view-models, Qt-free), and
``tillmesh releases``. (The same against real nodes of two releases: test_upgrade.py.)"""

from __future__ import annotations

from tillmesh.node.ops.upgrade import releases_lines
from tillmesh.ui.models.status import counter_banner, counter_rows, peer_rows, release_text

HELD = {"node": "C02", "state": "release_not_allowed", "selling": False,
        "release": "0.2.0", "protocol": 5, "schema": 1, "allowed_releases": ["0.1.0"]}


def test_the_store_screen_shows_this_counters_release_and_what_the_store_allows():
    rows = dict(counter_rows(HELD))
    assert rows["State"] == "NOT LIVE: release not allowed" and rows["Sells"] == "no"
    assert rows["Release"] == "0.2.0 · protocol 5 · schema 1"
    assert rows["Store allows"] == "0.1.0"
    assert dict(counter_rows({**HELD, "allowed_releases": []}))["Store allows"] == "any release"
    older = dict(counter_rows({"node": "C02", "state": "active"}))  # says neither
    assert "Release" not in older and "Store allows" not in older


def test_the_banner_says_the_counter_cannot_sell_at_this_release():
    assert counter_banner(HELD) == (
        "Release 0.2.0 is not allowed in this store: this counter cannot sell — see Store",
        "error")


def test_each_peer_shows_what_it_said_and_an_older_one_what_it_did_not():
    new, old = peer_rows([{"node": "C01", "live": True, "release": "0.2.0", "protocol": 5,
                           "schema": 1},
                          {"node": "C03", "live": True, "release": None, "protocol": 4,
                           "schema": None}])
    assert new.release == "0.2.0 · protocol 5 · schema 1"
    assert old.release == "— · protocol 4"
    assert release_text({}) == "—"  # not connected yet


def test_tillmesh_releases_says_what_is_allowed_and_who_may_sell():
    answer = {"node": "C01", "release": "0.2.0", "allowed": ["0.1.0", "0.2.0"],
              "set_by": "ann", "set_on": "C02",
              "counters": [{"node": "C01", "release": "0.2.0", "protocol": 5, "schema": 1,
                            "allowed": True},
                           {"node": "C02", "release": "0.3.0", "protocol": 5, "schema": 1,
                            "allowed": False},
                           {"node": "C03", "release": None, "protocol": 4, "schema": None,
                            "allowed": None}]}
    assert releases_lines(answer) == [
        "the store allows 0.1.0 or 0.2.0 (set by ann on C02)",
        "C01      0.2.0        protocol 5, schema 1   may sell (this counter)",
        "C02      0.3.0        protocol 5, schema 1   NOT ALLOWED: does not sell",
        "C03      ?            protocol 4             release unknown (it does not say it)"]
    assert releases_lines({"allowed": [], "counters": []}) == ["the store allows any release"]
