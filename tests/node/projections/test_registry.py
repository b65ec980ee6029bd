"""The projector registry: which handlers an event of a kind runs."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tillmesh.node.projections import _registry
from tillmesh.node.store import create_key_file, open_engine
from tillmesh.node.store.event_log import EventLog


def test_a_projector_registered_later_runs_for_the_next_events_of_its_kind_and_family(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """Handlers are looked up once per kind; a registration after that is still seen."""
    monkeypatch.setattr(_registry, "_HANDLERS",
                        defaultdict(list, {k: list(v) for k, v in _registry._HANDLERS.items()}))
    monkeypatch.setattr(_registry, "_FOR_KIND", {})
    log = EventLog(open_engine(tmp_path / "db", create_key_file(tmp_path / "key")), "C01")
    seen: list[tuple[str, str, int]] = []

    def note(name: str) -> _registry.Handler:
        def handler(session: Any, event: Any, body: dict[str, Any]) -> None:
            seen.append((name, event.kind, body["n"]))
        return handler

    def record(kind: str, n: int) -> None:
        with log.transaction() as tx:
            tx.append(kind, {"n": n})

    record("memo.noted", 1)  # nothing handles it yet
    _registry.projector("memo.noted")(note("kind"))
    record("memo.noted", 2)
    _registry.projector("memo.*")(note("family"))
    record("memo.noted", 3)
    record("memo.other", 4)
    assert seen == [("kind", "memo.noted", 2), ("kind", "memo.noted", 3),
                    ("family", "memo.noted", 3), ("family", "memo.other", 4)]
