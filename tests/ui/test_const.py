"""The app's constants that must agree with the node's defaults. The app may not import
the node's internals (``test_layout``), so the agreement is checked here. No Qt."""

from __future__ import annotations

from tillmesh.node.domain.const import IDLE_LOCK_MINUTES, PIN_MAX_DIGITS
from tillmesh.node.ops.config import Config
from tillmesh.ui import const
from tillmesh.ui.const import IDLE_LOCK_S


def test_the_app_locks_when_the_node_does() -> None:
    """The lock screen shows up when the node's session locks, not a call later."""
    assert IDLE_LOCK_S == IDLE_LOCK_MINUTES * 60
    assert Config.__dataclass_fields__["idle_lock_minutes"].default == IDLE_LOCK_MINUTES


def test_the_pin_field_knows_the_nodes_longest_pin() -> None:
    """A scan into the PIN field is told apart by its length: the same limit as the node's."""
    assert const.PIN_MAX_DIGITS == PIN_MAX_DIGITS
