"""Where the tests find the repository and the project's shared ERPNext material.

``../shared/erpnext`` (beside the clone, as CI lays it) holds what a real ERPNext did:
oracle carts, recorded requests, doctype definitions. Tests that read it fail, rather than
skip, when it is missing: a stand-in checked against nothing proves nothing.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_ERPNEXT = REPO.parent / "shared" / "erpnext"
RECORDED = SHARED_ERPNEXT / "recorded"
LAB_RECORDED = REPO / "tests" / "lab" / "recorded"  # what this repository recorded itself
