"""The running counter's forwarder, kept in step with the settings `erpnext setup` saves.

``tillmesh run`` starts it when the counter has ERPNext settings. ``tillmesh erpnext
setup`` saves new ones and asks the running node to take them (``erpnext_reload``): the
forwarder starts, is replaced by one with a fresh client (so a new URL, key, secret, CA or
POS Profile takes effect at once), or stops when the settings are gone or unreadable.
Replacing it in the middle of a cycle is safe: what the old one sent but did not record
is found in ERPNext by the new one (409, or a look-up), never booked twice.

Runs on the node's event loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tillmesh.node.erpnext._forwarder import Forwarder
from tillmesh.node.erpnext._settings import ErpNextSettings, load
from tillmesh.node.errors import ConfigError

if TYPE_CHECKING:
    from tillmesh.node.api._node import Node

log = logging.getLogger("tillmesh.forwarder")


class ForwarderLink:
    def __init__(self, node: Node, elected: Callable[[], bool],
                 said_reachable: Callable[[bool], None]) -> None:
        self.node = node
        self._elected, self._said = elected, said_reachable
        self._settings: ErpNextSettings | None = None
        self._task: asyncio.Task[None] | None = None

    def reload(self) -> dict[str, Any]:
        """Read the settings again; start, replace or stop the forwarder to match them.
        What it does now: ``forwarding``, and ``changed`` or the ``reason`` it does not."""
        try:
            settings = load(self.node.config)
        except ConfigError as exc:
            self._stop()
            return {"forwarding": False, "reason": exc.message}
        running = self._task is not None and not self._task.done()
        if running and settings == self._settings:
            return {"forwarding": True, "changed": False, **settings.public()}
        self._stop()
        forwarder = Forwarder(self.node, settings,
                              pull=lambda: self.node.call("erpnext_pull", {}, None))
        self.node.forwarder, self._settings = forwarder, settings
        self._task = asyncio.get_running_loop().create_task(
            forwarder.run(self._elected, self._said), name="erpnext-forwarder")
        log.info("forwarding to %s (POS Profile %s)", settings.url, settings.pos_profile)
        return {"forwarding": True, "changed": True, **settings.public()}

    def _stop(self) -> None:
        task, forwarder = self._task, self.node.forwarder
        self._task, self._settings, self.node.forwarder = None, None, None
        if forwarder is None:
            return
        if forwarder.reachable:  # the election must not wait on a forwarder that is gone
            self._said(False)
        if task is None or task.done():
            forwarder.close()
        else:  # its client closes once the cycle under way has stopped
            task.add_done_callback(lambda _: forwarder.close())
            task.cancel()

    async def close(self) -> None:
        """Stop forwarding and wait for the forwarder's task to end (node shutdown)."""
        task = self._task
        self._stop()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
