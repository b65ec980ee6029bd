"""When the daemon answers a request: once what the call recorded is on disk, and without
waiting for what others recorded (a pull's steps, another till's sale)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.nodekit import make_node
from tillmesh.node.api._wire import Request
from tillmesh.node.ops import daemon
from tillmesh.node.store import event_log

HELD_S = 0.5  # the disk is held this long in each case


class SlowDisk:
    """The store's fsync, held until ``set``; ``under_way`` says one is held."""

    def __init__(self) -> None:
        self.under_way, self._let_go = threading.Event(), threading.Event()
        self._fsync = event_log._fsync

    def set(self) -> None:
        self._let_go.set()

    def fsync(self, path: Path) -> None:
        self.under_way.set()
        self._let_go.wait(10)
        self._fsync(path)


@pytest.fixture
def slow_disk(monkeypatch: pytest.MonkeyPatch) -> SlowDisk:
    disk = SlowDisk()
    monkeypatch.setattr(event_log, "_fsync", disk.fsync)
    return disk


def test_a_call_that_recorded_nothing_does_not_wait_for_others_fsync(tmp_path, slow_disk):
    node = make_node(tmp_path)
    node.log.enable_group_commit(node.config.db_path)

    async def main() -> tuple[float, bool]:
        with node.log.transaction() as tx:  # another writer's commit, not durable yet
            tx.append("memo.noted", {"n": 1})
        others = asyncio.ensure_future(node.log.flush())
        loop = asyncio.get_running_loop()
        started = loop.time()
        methods = await asyncio.wait_for(daemon.answer(node, Request(1, "methods")), 5)
        took = loop.time() - started
        slow_disk.set()
        await others
        return took, "methods" in methods

    took, answered = asyncio.run(main())
    assert answered and took < HELD_S


def test_a_call_that_recorded_an_event_answers_once_it_is_on_disk(tmp_path, slow_disk,
                                                                   monkeypatch):
    node = make_node(tmp_path)
    node.log.enable_group_commit(node.config.db_path)

    def records(method: str, params: dict[str, Any], token: str | None) -> str:
        with node.log.transaction() as tx:
            tx.append("memo.noted", {"n": 2})
        return "recorded"

    monkeypatch.setattr(node, "call", records)

    async def main() -> tuple[bool, str]:
        answering = asyncio.ensure_future(daemon.answer(node, Request(2, "anything")))
        await asyncio.sleep(HELD_S)
        waited = not answering.done()
        slow_disk.set()
        return waited, await asyncio.wait_for(answering, 5)

    assert asyncio.run(main()) == (True, "recorded")


def _recording(node: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def records(method: str, params: dict[str, Any], token: str | None) -> str:
        with node.log.transaction() as tx:
            tx.append("memo.noted", {"n": 3})
        return "recorded"

    monkeypatch.setattr(node, "call", records)


def test_the_answer_leaves_before_the_printer_hears_of_the_sale(tmp_path, monkeypatch):
    node = make_node(tmp_path)
    node.log.enable_group_commit(node.config.db_path)
    _recording(node, monkeypatch)
    told: list[str] = []
    node.log.listeners.append(lambda events: told.append("replication"))
    node.log.afterwards.append(lambda events: told.append("printer"))

    async def main() -> tuple[list[str], list[str]]:
        await daemon.answer(node, Request(3, "anything"))
        when_answered = list(told)
        await asyncio.sleep(0)  # the loop's next turn
        return when_answered, told

    when_answered, later = asyncio.run(main())
    assert when_answered == ["replication"]  # durable: peers may have it at once
    assert later == ["replication", "printer"]


def test_the_printer_hears_of_a_sale_whose_request_went_away(tmp_path, slow_disk,
                                                               monkeypatch):
    node = make_node(tmp_path)
    node.log.enable_group_commit(node.config.db_path)
    _recording(node, monkeypatch)
    told: list[int] = []
    node.log.afterwards.append(lambda events: told.append(len(events)))

    async def main() -> list[int]:
        answering = asyncio.ensure_future(daemon.answer(node, Request(4, "anything")))
        await asyncio.sleep(0.05)  # recorded, waiting for the held disk
        answering.cancel()  # the client gave up; its sale is recorded all the same
        slow_disk.set()
        loop = asyncio.get_running_loop()
        until = loop.time() + 5
        while not told and loop.time() < until:
            await asyncio.sleep(0.01)
        return told

    assert asyncio.run(main()) == [1]


def test_a_stopped_node_leaves_no_thread_of_its_own_behind(tmp_path, slow_disk):
    """A stop ends the pricing and fsync threads, the latter once the fsync it was doing
    is over (the record is on disk before the store closes)."""
    before = set(threading.enumerate())  # other tests' nodes, never closed, may have some
    node = make_node(tmp_path)
    node.log.enable_group_commit(node.config.db_path)

    def its_threads() -> set[str]:
        return {t.name.rsplit("_", 1)[0] for t in threading.enumerate() if t not in before}

    async def main() -> None:
        await node.off_loop(lambda: None, 10_000)  # a big cart's pricing: its thread starts
        with node.log.transaction() as tx:
            tx.append("memo.noted", {"n": 1})
        syncing = asyncio.ensure_future(node.log.flush())
        assert await asyncio.to_thread(slow_disk.under_way.wait, 10)
        assert {"tillmesh-pricing", "tillmesh-fsync"} <= its_threads()
        closing = asyncio.ensure_future(asyncio.to_thread(node.close))
        slow_disk.set()
        await closing
        await syncing

    asyncio.run(main())
    assert its_threads() & {"tillmesh-pricing", "tillmesh-fsync"} == set()
