"""Record how a real ERPNext 15 prices POS carts under Pricing Rules with mixed
conditions (issue 15): the oracle the counter's offline pricing is held to.

Run by hand against a fresh lab ERPNext (never by pytest: it writes to that site)::

    source /work/erpnext-lab/env.sh
    cd tests/lab/recorded && ../../../.venv/bin/python record_mixed.py > mixed-cases.json

It makes the items of ``pricing_store`` and the rules of ``mixed_store`` (enabled while
it records, disabled again at the end), and prices every cart of ``mixed_store`` as
``record_pricing`` does: a draft POS Invoice with item codes, quantities (also in the
stock UOM), UOMs, list prices, item groups and brands, as ERPNext's own POS sends its rows
(ERPNext's rows and totals, or its refusal), then the cart sent as a counter
forwards it (rows as priced, ``ignore_pricing_rule``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[3]))  # the repository: the stores' home

from record_pricing import COMPANY, record  # noqa: E402

from tests.lab.recorded.mixed_store import ALL_CARTS, rules  # noqa: E402


def main() -> None:
    record(rules(COMPANY), ALL_CARTS, prefix="mixed", pos_rows=True)


if __name__ == "__main__":
    main()
