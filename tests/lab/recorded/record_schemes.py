"""Record how a real ERPNext 15 prices POS carts under Promotional Schemes (issue 15).

Run by hand against a lab ERPNext (never by pytest: it writes to that site)::

    source /work/erpnext-lab/env.sh
    cd tests/lab/recorded && ../../../.venv/bin/python record_schemes.py > scheme-cases.json

It makes what ``record_pricing`` makes and the schemes of ``scheme_store`` (ERPNext makes
their Pricing Rules), prices each cart as ``record_pricing`` does (a draft POS Invoice,
then the cart as a counter forwards it), and disables the schemes at the end. The output
holds the Pricing Rules ERPNext made of the schemes, as it stores them, and the cases.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[3]))  # the repository: scheme_store's home

from record_pricing import COMPANY, V1, Site, opening, price, setup, store  # noqa: E402

from tests.lab.recorded.scheme_store import ALL_CARTS, schemes  # noqa: E402


def made(site: Site) -> list[dict[str, Any]]:
    """Every scheme enabled (made once), and the Pricing Rules ERPNext made of them."""
    for body in schemes(COMPANY):
        name = body["name"]
        doc = {**{k: v for k, v in body.items() if k != "name"}, "disable": 0}
        if site.get("Promotional Scheme", name) is None:
            site.client.post(f"{V1}Promotional Scheme", json={**doc, "__newname": name}
                             ).raise_for_status()
        else:
            site.update("Promotional Scheme", name, doc)
    rules = []
    for body in schemes(COMPANY):
        for found in site.find("Pricing Rule", [["promotional_scheme", "=", body["name"]]]):
            rules.append(site.get("Pricing Rule", found["name"]))
    return rules


def main() -> None:
    site = Site()
    setup(site)
    rules = made(site)
    shift = opening(site)
    try:
        cases = [{**price(site, n, about, customer, cart), "id": f"scheme-{n:03d}"}
                 for n, (about, customer, cart) in enumerate(ALL_CARTS, 1)]
    finally:
        for body in schemes(COMPANY):
            site.update("Promotional Scheme", body["name"], {"disable": 1})
        site.client.post("/api/method/frappe.client.cancel",
                         json={"doctype": "POS Opening Entry", "name": shift})
    json.dump({**store(site), "schemes": [site.get("Promotional Scheme", b["name"])
                                          for b in schemes(COMPANY)],
               "rules": rules, "cases": cases}, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
