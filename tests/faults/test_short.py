"""The fault suite's short form (CI): three counters and ERPNext on hosts of their own, a
seeded schedule of faults beside the workload; nothing lost, duplicated, divergent or
undelivered. The long form: ``python -m tests.faults`` (see there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.store import FAULTS, run, unavailable

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(unavailable() is not None,
                                 reason=f"{unavailable()}: cannot make hosts and disks here")]

SEED = 16
ROUNDS = len(FAULTS)  # every kind of fault once


def test_a_store_through_a_seeded_schedule_of_faults_loses_nothing(tmp_path: Path) -> None:
    said: list[str] = []
    result = run(SEED, ROUNDS, harsh=False, root=tmp_path, say=said.append)
    print("\n" + result.table())
    assert result.whole, result.table()
    assert result.outcomes["sale ok"] >= ROUNDS, result.table()
    assert set(result.faults) == set(FAULTS), result.table()
    assert any(o.endswith("its forwarder killed") for o in result.outcomes), result.table()
    assert result.outcomes["join ok"] == 1, result.table()
