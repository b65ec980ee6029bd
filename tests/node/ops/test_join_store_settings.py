"""Adding a counter as IT does it (issue 13, point 6): the joining counter takes the
store's POS Profile and time zone from the counter that invited it (IT may still name
its own), and a join that fails before the counter is enrolled leaves nothing behind, so
the same command works once the inviting counter is back."""

from __future__ import annotations

from tests.clusterkit import invite
from tests.proc import Nodes, network, tillmesh
from tillmesh.node.ops.config import load

STORE_ZONE = "America/New_York"  # not init's default, so taking it is seen


def test_a_joining_counter_takes_the_stores_profile_and_time_zone():
    with Nodes() as nodes:
        c1 = nodes.start(nodes.init(*network(), "--timezone", STORE_ZONE, node="C01"))
        data_dir = nodes.tmp() / "d"
        joined = tillmesh(data_dir, "join", "--node", "C02", *network(),
                          stdin=invite(c1) + "\n")
        assert joined.returncode == 0, joined.stderr
        config = load(data_dir)
        assert (config.timezone, config.pos_profile) == (STORE_ZONE, load(c1.data_dir).pos_profile)

        named = nodes.tmp() / "d"  # IT's own choice stands
        joined = tillmesh(named, "join", "--node", "C03", "--timezone", "Europe/Vienna",
                          *network(), stdin=invite(c1) + "\n")
        assert joined.returncode == 0, joined.stderr
        assert load(named).timezone == "Europe/Vienna"


def test_a_failed_join_leaves_nothing_and_the_same_command_works_later():
    with Nodes() as nodes:
        c1_dir = nodes.init(*network(), node="C01")
        c1 = nodes.start(c1_dir)
        code = invite(c1)
        c1.stop()  # the inviting counter is away
        data_dir = nodes.tmp() / "d"
        command = ("join", "--node", "C02", *network())
        failed = tillmesh(data_dir, *command, stdin=code + "\n")
        assert failed.returncode != 0
        assert "Traceback" not in failed.stderr and failed.stderr.strip(), failed.stderr
        assert not data_dir.exists()  # no half-made counter blocks the retry
        nodes.start(c1_dir)
        retried = tillmesh(data_dir, *command, stdin=code + "\n")
        assert retried.returncode == 0, retried.stderr
        assert load(data_dir).node_id == "C02"
