"""Replay the recorded ERPNext 16.12 session against the simulator, request by request.

``shared/erpnext/recorded/erpnext-16.12-requests.jsonl`` is sent in order to
``Simulator(seed="recorded-16", release=ERPNEXT_16)`` (the fresh site it ran against:
Sales Invoice mode, Frappe 16 drawing its own names on ``/api/resource``) on a manual
clock set to the recorded times, and compared as ``replay`` compares (see
``test_simulator_recorded``): the probes (A), POS Invoice mode after the switch (B), the
partial return with inclusive tax and invoice discount (C), Sales Invoice mode (S), the
opening entries of an earlier day (D) and names (E).

The recording leaves out the headers of its two authentication probes: the harness sends
a wrong token and none (HEADERS). A closing is posted at the server's now whatever it
sends, so its answers set the replay's clock, as a sale's do (``posted_now``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.lab.replay import Replay, assert_replays, records
from tests.paths import RECORDED
from tillmesh.lab.erpnext_simulator import ERPNEXT_16

RECORDING = RECORDED / "erpnext-16.12-requests.jsonl"
START = datetime(2026, 12, 2, 0, 41, 0)  # site-local, just before the first request
# Headers sent instead of the token, by line, if the line carries the label expected there.
HEADERS: dict[int, tuple[str, dict[str, str]]] = {
    26: ("A error: bad token", {"Authorization": "token nokey:nosecret"}),
    27: ("A error: no auth", {"Authorization": ""}),
}
# Recorded requests the simulator cannot reproduce, with the reason. Aim: none.
UNREPRODUCIBLE: dict[int, str] = {}


class FreshSixteen(Replay):
    def __init__(self) -> None:
        super().__init__(START, release=ERPNEXT_16, seed="recorded-16",
                         drop_resource_names=True, posted_now=("POS Closing Entry",))


def _with_headers(recorded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recording with the headers its authentication probes sent."""
    out = []
    for line, record in enumerate(recorded):
        label, headers = HEADERS.get(line, ("", {}))
        out.append({**record, "headers": headers} if record.get("label") == label else record)
    return out


def test_replay_matches_the_recorded_erpnext_16() -> None:
    assert_replays(FreshSixteen(), _with_headers(records(RECORDING)), UNREPRODUCIBLE)
