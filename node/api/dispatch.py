"""Every area's API methods in one table, and a counter's service built with it.

This is the one module that imports every area module; nothing else in
``tillmesh.node.api`` imports it, so each area can be imported, read and tested alone.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from tillmesh.node.api import (
    auth,
    checkout,
    cluster,
    display,
    erpnext,
    info,
    printing,
    returns,
    security,
    shifts,
)
from tillmesh.node.api._methods import MethodSpec, collect
from tillmesh.node.api._node import Node
from tillmesh.node.membership.keys import Keypair
from tillmesh.node.ops.config import Config
from tillmesh.node.store.event_log import Clock, EventLog, utc_now

AREAS = (auth, checkout, display, returns, shifts, cluster, security, info, printing, erpnext)
METHODS: Mapping[str, MethodSpec] = collect(AREAS)
README_START = "<!-- methods: generated"  # the README block that methods_table() fills
README_END = "<!-- methods:end -->"


def new_node(config: Config, log: EventLog, *, clock: Clock = utc_now,
              keypair: Keypair | None = None) -> Node:
    """The counter's service with every API method."""
    return Node(config, log, METHODS, clock=clock, keypair=keypair)


def methods_table() -> str:
    """The README's table of API methods, generated from the ``@api_method`` records."""
    rows = ["| area | method | who may call it | what it does |", "|---|---|---|---|"]
    for spec in METHODS.values():
        area = spec.fn.__module__.rsplit(".", 1)[-1]
        rows.append(f"| {area} | `{spec.name}` | {spec.who()} | {spec.summary} |")
    return "\n".join(rows) + "\n"


__all__ = ["AREAS", "METHODS", "methods_table", "new_node"]


def _rewrite_readme(path: Path) -> None:
    text = path.read_text()
    start = text.index(README_START)
    start = text.index("\n", start) + 1
    end = text.index(README_END, start)
    path.write_text(text[:start] + methods_table() + text[end:])


if __name__ == "__main__":
    _rewrite_readme(Path(sys.argv[1]))
