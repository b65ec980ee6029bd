"""A counter's key in two places: a thief copied C03's keys and writes C03's next event
before C03 does. Both versions are validly signed, so the store holds two versions of
C03's chain: every counter that sees both says so loudly (status, peers, the Store
screen) with both heads, the other counters' events flow on, and an admin resolves it by
revoking C03, after which nothing more of C03's is taken and the real C03, which hears
of it, sells no more."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clusterkit import admin, converge, invite, join
from tests.proc import NodeProcess, Nodes, network
from tests.security.rogue import Rogue
from tests.security.test_forged_events import SEEN_S, invoices, sells, until
from tillmesh.node.errors import PermissionDenied

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store() -> Iterator[tuple[NodeProcess, NodeProcess, NodeProcess]]:
    with Nodes() as nodes:
        c1 = nodes.start(nodes.init(*network(), node="C01"))
        c2 = nodes.start(join(nodes, invite(c1), "C02"))
        c3 = nodes.start(join(nodes, invite(c1), "C03"))
        converge([c1, c2, c3])
        yield c1, c2, c3


def forks(node: NodeProcess) -> list[dict[str, object]]:
    with admin(node) as c:
        return list(c.call("security_status")["forks"])


def test_two_versions_of_a_counters_chain_are_reported_and_resolved_by_revoking_it(store):
    c1, c2, c3 = store
    thief = Rogue(c3.data_dir)  # C03's keys, copied off its disk
    thief.learn(c1.data_dir)
    seq = thief.heads["C03"][0] + 1
    with thief.link(c1.data_dir) as link:
        forged = thief.forge("C03", "audit.drawer_opened", {"user": "cashier"})
        thief.until(link, (forged,), lambda: _vector(c1).get("C03", 0) >= seq, SEEN_S)
    sells(c3)  # the real C03 writes its own event at the same place
    (fork,) = until(lambda: forks(c1))
    assert (fork["origin"], fork["seq"]) == ("C03", seq)
    assert fork["ours"] == forged.hash.hex() and fork["theirs"] != fork["ours"]
    with admin(c1) as c:
        (peer,) = [p for p in c.call("peers") if p["node"] == "C03"]
    assert peer["fork"] == fork
    for seller, buyer in ((c1, c2), (c2, c1)):  # everyone else flows on
        invoice = sells(seller)
        until(lambda invoice=invoice, buyer=buyer: invoice in invoices(buyer))

    with admin(c1) as c:  # the admin's resolution: C03's key is out, on every counter
        c.call("node_revoke", node_id="C03")
    until(lambda: _revoked(c2, "C03"))
    until(lambda: _standing(c3) == "revoked")  # the real C03 heard it: it sells no more
    with pytest.raises(PermissionDenied, match="revoked by admin"):
        sells(c3)
    after = sells(c1)
    until(lambda: after in invoices(c2))


def _vector(node: NodeProcess) -> dict[str, int]:
    with admin(node) as c:
        return dict(c.call("status")["vector"])


def _standing(node: NodeProcess) -> str:
    with node.client() as c:
        return str(c.call("counter_state")["state"])


def _revoked(node: NodeProcess, counter: str) -> bool:
    with admin(node) as c:
        return any(m["node"] == counter and m["revoked"] for m in c.call("members"))
