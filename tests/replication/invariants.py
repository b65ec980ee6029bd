"""Invariants of the anti-entropy engine, shared by the sync tests and the state machine."""

from __future__ import annotations

from collections import Counter, defaultdict


def check_pulls(pulls: list[tuple[str, str, int, int]], *, batch: int, per_peer: int,
                pipeline: int = 4) -> None:
    """Outstanding Pulls: bounded batches; per origin at most ``pipeline`` consecutive,
    non-overlapping ranges asked of one peer; at most ``per_peer`` origins per peer."""
    by_origin: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for peer, origin, first, last in pulls:
        assert 0 <= last - first < batch
        by_origin[origin].append((peer, first, last))
    for ranges in by_origin.values():
        assert len(ranges) <= pipeline
        assert len({peer for peer, _, _ in ranges}) == 1
        spans = sorted((first, last) for _, first, last in ranges)
        assert all(a[1] + 1 == b[0] for a, b in zip(spans, spans[1:], strict=False))
    origins_per_peer = Counter(ranges[0][0] for ranges in by_origin.values())
    assert max(origins_per_peer.values(), default=0) <= per_peer
