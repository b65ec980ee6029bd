"""A counter's local API answers as soon as it runs, while replication still starts
(mDNS probing takes a second or two): what it is asked then must find the node whole."""

from __future__ import annotations

import time

import pytest

from tests.proc import Nodes, free_port, free_udp_port, ok, tillmesh
from tillmesh.node.api.client import Client
from tillmesh.node.errors import NodeUnavailable
from tillmesh.node.ops.config import load

pytestmark = pytest.mark.slow

ANSWER_S = 30.0  # seconds for `tillmesh run` to answer at all (a loaded 2-core machine)


def test_erpnext_setup_reaches_the_link_of_a_counter_still_starting() -> None:
    """`tillmesh erpnext setup` saves the settings, then asks the running counter to take
    them (``erpnext_reload``). Asked while replication still started, the counter said it
    "runs no ERPNext link: it was not started by `tillmesh run`" (the fault suite hit it
    in CI); its first answer to that call is now the link's."""
    with Nodes() as nodes:
        data_dir = nodes.tmp() / "d"
        ok(tillmesh(data_dir, "init", "--node", "C01", "--demo", "--listen",
                    f"tcp://127.0.0.1:{free_port()}", "--join-listen",
                    f"tcp://127.0.0.1:{free_port()}", "--advertise", "127.0.0.1",
                    "--mdns-interface", "127.0.0.1", "--mdns-port", str(free_udp_port()),
                    stdin="1234\n"))
        nodes.spawn(data_dir)
        deadline = time.monotonic() + ANSWER_S
        with Client(load(data_dir).api_endpoint, timeout=0.25) as client:
            while True:
                try:
                    answer = client.call("erpnext_reload")
                    break
                except NodeUnavailable as exc:
                    assert "runs no ERPNext link" not in str(exc), exc
                    assert time.monotonic() < deadline, "the counter never answered"
    assert answer["forwarding"] is False and "reason" in answer  # no settings saved yet
