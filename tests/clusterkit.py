"""Real counters of one store for tests: invite and join ``tillmesh run`` processes on
127.0.0.1, an admin client per process, and waiting until every counter holds the same
events (see tests/proc.py for the processes themselves)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.proc import NodeProcess, Nodes, network, tillmesh
from tillmesh.node.api.client import Client

CONVERGE_S = 20.0  # generous for a loaded 2-core CI machine; it takes well under 1 s


def invite(proc: NodeProcess) -> str:
    with admin(proc) as c:
        return str(c.call("invite_create")["code"])


def join(nodes: Nodes, code: str, node: str) -> Path:
    data_dir = nodes.tmp() / "d"
    # the code on standard input, as IT types it at the prompt (not in `ps`)
    result = tillmesh(data_dir, "join", "--node", node, *network(), stdin=code + "\n")
    assert result.returncode == 0, result.stderr
    assert "joined the store" in result.stdout
    assert "MiB snapshot" in result.stdout  # the state came as one snapshot file
    assert "no snapshot" not in result.stderr
    return data_dir


_TOKENS: dict[tuple[int, str], str] = {}


def logged_in(proc: NodeProcess, user: str, pin: str) -> Client:
    """A client of ``proc`` as ``user``, logged in once per process (a login is an event,
    so logging in on every poll would keep the vectors moving)."""
    client = proc.client()
    if (proc.pid, user) not in _TOKENS:
        _TOKENS[proc.pid, user] = client.login(user, pin)["token"]
    client.token = _TOKENS[proc.pid, user]
    return client


def admin(proc: NodeProcess) -> Client:
    return logged_in(proc, "admin", "1234")


def cashier(proc: NodeProcess) -> Client:
    return logged_in(proc, "cashier", "1111")


def vector(proc: NodeProcess) -> dict[str, int]:
    with admin(proc) as c:
        return dict(c.call("status")["vector"])


def linked(procs: list[NodeProcess], deadline_s: float = CONVERGE_S) -> None:
    """Until every one of ``procs`` has a live link to every other: at work together, so
    what one records is pushed to the others at once."""
    deadline = time.monotonic() + deadline_s
    names = []
    for p in procs:
        with p.client() as c:
            names.append(str(c.call("counter_state")["node"]))
    while True:
        seen = []
        for p in procs:
            with p.client() as c:
                seen.append({peer["node"] for peer in c.call("peers") if peer["live"]})
        if all(live >= set(names) - {name} for name, live in zip(names, seen, strict=True)):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not linked in {deadline_s} s: {seen}")
        time.sleep(0.1)


def converge(procs: list[NodeProcess], deadline_s: float = CONVERGE_S) -> dict[str, int]:
    deadline = time.monotonic() + deadline_s
    while True:
        vectors = [vector(p) for p in procs]
        if all(v == vectors[0] for v in vectors):
            return vectors[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no convergence in {deadline_s} s: {vectors}")
        time.sleep(0.1)
