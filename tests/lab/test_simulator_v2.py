"""Replay what ERPNext 15.71 on Frappe 15.72 answered to API v2 and to over-long request
lines (``tests/lab/recorded/erpnext-15.71-v2.jsonl``, made by ``record_erpnext.py``).

It covers v2's error shape (``{"errors": [...]}``; a 404 without a traceback; a message
merged into the error only when printed under its id), a v2 insert keeping the client's
name and row names with a repeat refused 409, refusals of a sale and of a return, a
closing refused for an original not consolidated (the draft marked Failed) and submitted
again, a named closing submitted in its POST (refused, in v1 as in v2), a ten-invoice
closing failing in the background and retried through ``/method/retry``, the answers
without a token or with a wrong one, and gunicorn's 400 for request lines over 4,094
bytes. The harness rebuilds the lab site (``lab_site``), sets the Sales Invoice series
where the lab had it, runs the background job where the answers show it had run, and
reads the lab's API user as the simulator's.
"""

from __future__ import annotations

import re
from typing import Any

from tests.lab import lab_site
from tests.lab.replay import Replay, assert_replays, records
from tests.paths import LAB_RECORDED

RECORDING = LAB_RECORDED / "erpnext-15.71-v2.jsonl"
LAB_USER = "tillmesh-api@lab.example.com"  # whose API key the recorder used
SALES_INVOICE_SERIES = "ACC-SINV-2026-"
JOB_BEFORE = ("D v2 counter 4 closing after the background job",
              "D v2 counter 4 closing after the retry")


class V2Session(Replay):
    def __init__(self) -> None:
        super().__init__(lab_site.START, aliases={LAB_USER: "Administrator"})

    def setup(self) -> None:
        lab_site.build(self.sim, self.client)
        # The first Sales Invoice the recording names is the first its closings made.
        first = re.search(re.escape(SALES_INVOICE_SERIES) + r"(\d+)", RECORDING.read_text())
        assert first is not None
        self.sim.set_series(SALES_INVOICE_SERIES, int(first.group(1)) - 1)

    def before(self, line: int, record: dict[str, Any]) -> None:
        if record.get("label") in JOB_BEFORE:
            assert self.sim.run_jobs() == 1


def test_replay_matches_the_recorded_v2_answers() -> None:
    assert_replays(V2Session(), records(RECORDING))
