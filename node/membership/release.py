"""This counter's release identity, and whether the store lets this release sell.

A counter is its release (the version pip installed, ``importlib.metadata``), the
replication protocol it speaks and the store schema it writes. It tells its peers all
three in its Hello (protocol 5; a protocol-4 peer reads the Hello and ignores them) and
shows them, with each peer's, in ``peers``, ``counter_state`` and ``tillmesh status``.
Whether it may sell under the store's allowed releases is ``domain.releases``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sqlalchemy.orm import Session

from tillmesh.node.domain import releases
from tillmesh.node.projections.membership import allowed_releases
from tillmesh.node.store.schema import SCHEMA_VERSION
from tillmesh.replication.const import PROTOCOL_VERSION
from tillmesh.replication.hlc import physical_ms

UNKNOWN = "0+unknown"  # code run from a source tree that was never installed


def _installed() -> str:
    try:
        return version("tillmesh")
    except PackageNotFoundError:
        return UNKNOWN


RELEASE = _installed()


def identity() -> dict[str, Any]:
    """``{"release", "protocol", "schema"}`` of this counter's code."""
    return {"release": RELEASE, "protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION}


def allowed(session: Session) -> list[str]:
    """The releases the store lets sell ([]: any), as this counter's log holds them."""
    hold = allowed_releases(session)
    return [] if hold is None else list(hold.releases)


def unallowed(session: Session) -> tuple[str, datetime] | None:
    """Why this counter's release may not sell in the store, and since when (the stamp of
    the admin's change); None when it may."""
    hold = allowed_releases(session)
    why = releases.refusal(hold, RELEASE)
    if hold is None or why is None:
        return None
    return why, datetime.fromtimestamp(physical_ms(hold.hlc) / 1000, UTC)
