"""Benchmark: the master-data pull of 100,000 items (prices, barcodes, UOMs, stock) from
the ERPNext simulator on 127.0.0.1 into a fresh node store, then a pull with nothing new.

``run(quick)`` returns rows (what, figure, target); ``quick`` pulls 10,000 items. The
simulator runs in this process, so its own work (filtering, JSON) is inside the figures:
a real ERPNext does that work on another machine.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tillmesh.lab.demo_data import bulk_barcode, bulk_item_code
from tillmesh.node.domain.barcode import rules_from_config
from tillmesh.node.erpnext import Direct, ErpNextClient, pull
from tillmesh.node.projections import catalog
from tillmesh.node.store import create_key_file, open_engine
from tillmesh.node.store.event_log import EventLog

FULL_ITEMS = 100_000
QUICK_ITEMS = 10_000
TARGET_S = 60.0  # the whole pull of 100,000 items (issue 4)


def run(quick: bool) -> list[tuple[str, str, str]]:
    from tillmesh.lab.erpnext_simulator import Simulator

    items = QUICK_ITEMS if quick else FULL_ITEMS
    tmp = Path(tempfile.mkdtemp(prefix="tmpull", dir="/tmp"))
    log = EventLog(open_engine(tmp / "db", create_key_file(tmp / "key")), "C01")
    rows: list[tuple[str, str, str]] = []
    with Simulator(seed="demo") as sim:
        sim.add_items(items)
        url = sim.start()
        with ErpNextClient(url, sim.api_key, sim.api_secret) as client:
            started = time.perf_counter()
            report = pull(client, Direct(log), "Demo POS")
            first = time.perf_counter() - started
            assert not report.errors, report.errors[:3]
            started = time.perf_counter()
            again = pull(client, Direct(log), "Demo POS")
            second = time.perf_counter() - started
    with log.reading() as session:  # the pulled catalog sells
        hit = catalog.scan(session, bulk_barcode(items - 1), rules_from_config([]))
        assert hit.item_code == bulk_item_code(items - 1)
    log.engine.dispose()
    target = f"< {TARGET_S * items / FULL_ITEMS:.0f} s"
    rows.append((f"ERPNext pull, {items:,} items with prices and barcodes (first)",
                 f"{first:.1f} s, {report.emitted:,} events", target))
    rows.append(("ERPNext pull again, nothing changed", f"{second:.1f} s,"
                 f" {again.emitted:,} events", "0 events"))
    return rows


if __name__ == "__main__":
    import sys

    for row in run("--quick" in sys.argv):
        print("  ".join(row))
