"""A counter catching up on what its peers sent: its cashier is answered between slices.

What arrives is applied in order, a slice (one transaction) at a time; the loop that
answers the cashier runs between slices, and what arrives meanwhile joins the same drain
behind what waited before it (never a second drain beside it, which could apply a later
run of a peer's events before an earlier one).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.nodekit import make_node
from tillmesh.node.membership import replicate
from tillmesh.node.membership.replicate import Replication
from tillmesh.replication.protocol import Events, Message, encode


def test_a_big_inbox_is_applied_in_order_a_slice_at_a_time_with_the_loop_free_between(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node = make_node(tmp_path)
    replication = Replication(node)
    replication._refresh_members = False  # no transport: nobody to dial
    applied: list[tuple[str, Message]] = []
    monkeypatch.setattr(replication.engine, "received",
                        lambda peer, msg, now: applied.append((peer, msg)) or [])
    monkeypatch.setattr(replicate, "DRAIN_SLICE_S", 0.0)  # a message a slice
    events = list(node.log.events())[:8]
    # two peers in turn: runs of one peer's events would be coalesced into one message
    sent = [("C02" if i % 2 else "C03", Events("C02" if i % 2 else "C03", (event,)))
            for i, event in enumerate(events)]
    seen: list[int] = []  # how much was applied each time the loop ran something else

    async def arrive(messages: list[tuple[str, Events]]) -> None:
        for peer, msg in messages:
            await replication._on_message(peer, encode(msg))

    async def catching_up() -> None:
        await arrive(sent[:5])  # arrived while the loop was busy: one inbox
        while len(applied) < len(sent):
            if len(applied) == 2 and 2 not in seen:
                await arrive(sent[5:])  # arrives during the drain
            seen.append(len(applied))
            await asyncio.sleep(0)

    asyncio.run(asyncio.wait_for(catching_up(), 10))
    assert [(p, m.events) for p, m in applied] == [(p, m.events) for p, m in sent]
    assert {1, 2, 3, 4, 5, 6, 7} <= set(seen)  # the loop ran between every two slices
