"""The hooks a doctype's rules plug into, called by the site in Frappe's order.

Insert: ``before_links`` (what ERPNext checks before link validation), link check,
``fill`` (ERPNext's ``set_missing_values``: server-filled fields), ``validate``,
``before_save`` when it stays a draft (a submit runs ``before_submit`` instead), mandatory
check, duplicate check, ``on_submit`` when ``docstatus`` is 1. Save (PUT) the same from
link check on. ``on_cancel`` and ``on_trash`` on cancel and delete. The base does nothing.
"""

from __future__ import annotations

from typing import Any

from tillmesh.lab.erpnext_simulator._errors import NotPermitted
from tillmesh.lab.erpnext_simulator._store import Doc
from tillmesh.lab.erpnext_simulator._txn import Txn


class Controller:
    def before_links(self, txn: Txn, doc: Doc) -> None:
        """Checks ERPNext makes before Frappe validates links."""

    def fill(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        """Fields the server sets itself (``old`` is the stored version on a save)."""

    def validate(self, txn: Txn, doc: Doc, old: Doc | None) -> None:
        """Rules a document must pass to be saved."""

    def before_save(self, txn: Txn, doc: Doc) -> None:
        """Changes made to a draft after validation (not when it is being submitted)."""

    def on_submit(self, txn: Txn, doc: Doc, *, chosen_name: bool) -> None:
        """Effects of submitting (``chosen_name``: the client named it in this insert)."""

    def on_cancel(self, txn: Txn, doc: Doc) -> None:
        """Effects of cancelling a submitted document."""

    def on_trash(self, txn: Txn, doc: Doc) -> None:
        """Effects of deleting a document."""

    def run_method(self, txn: Txn, doc: Doc, method: str) -> Any:
        """``POST /api/resource/<doctype>/<name>?run_method=<method>``."""
        raise NotPermitted(f"Method {method} is not whitelisted.")


BASE = Controller()
