"""Benchmark and model: a chain of stores on one ERPNext (issue 14, point 5).

    python -m tests.bench.erpnext_chain [--quick]    # the site TILLMESH_ERPNEXT_* names,
                                                     # else the simulator

1. **Measure** what one ERPNext takes, through Tillmesh's own documents: counter A sells
   POS Invoices of 8 lines (formed by the forwarder, posted 4 in flight as the forwarder
   does: ``erpnext_in_flight``'s ideal client), then its shift closes and ERPNext merges
   it (from the submit until Submitted); counters B and C each sell a shift over few and
   over many items, delivered per shift: one consolidated Sales Invoice each, timed with
   its rows. So: seconds of ERPNext per POS Invoice, per merged invoice, and per
   consolidated invoice as ``a + b x rows``.
2. **Model** (pure, ``books_complete``): ERPNext as one work-conserving server at those
   rates (it saturates its cores from 2 requests in flight, so more clients do not make
   it faster); the chain's day as work arriving when it can be sent; the books are
   complete when the last of it is done. ``chain_work`` lays out a day of ``Chain``
   (default: 200 stores, 6 counters, 2 shifts each, 8,000 sales of 8 lines a day, stores
   closing between 21:00 and 22:00) per delivery mode.
3. **Check the model** with the simulator held to the measured rates (``Throttle``), the
   chain scaled down (``scaled_check``): a few stores, each a counter whose day is sold
   beforehand, whose forwarder starts at its closing (the issue's premise: the day
   reaches ERPNext in the hour after closing); the measured time until every document is
   in against ``books_complete`` of the same work. Against the simulator alone, the model
   and the check use the rates last measured on the lab (``LAB_RATES``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.bench.erpnext_in_flight import _cycles_until, _formed_invoices, _ideal, _unacked
from tests.node.erpnext.sitekit import (
    ENV,
    Site,
    blank_counter,
    close,
    context,
    drain,
    open_site,
    pull_into,
    sell,
    sellable,
)
from tests.nodekit import Till
from tillmesh.lab.demo_data import WAREHOUSE
from tillmesh.lab.erpnext_simulator import Costs, Throttle
from tillmesh.node.api import Node
from tillmesh.node.erpnext._per_shift import SALES_INVOICE
from tillmesh.node.erpnext.const import FORWARD_IN_FLIGHT
from tillmesh.node.projections.outbox import CLOSING, OPENING

HOUR = 3600.0
LINES = 8  # lines per sale, measured and modelled (the sales have 1-30)
SCALED_INVOICE_S = 0.03  # a POS Invoice's cost in the scaled check: ~10x the forwarder's own


# --- the model (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class Work:
    at: float  # seconds after midnight of the day when it can be sent
    seconds: float  # of ERPNext's time


def books_complete(work: Iterable[Work]) -> float:
    """When a work-conserving server that starts each piece once it arrived has done all:
    the latest of (an arrival + everything that arrives from then on)."""
    # by arrival, then size: the sums come out the same however the work is listed
    items = sorted(work, key=lambda w: (w.at, w.seconds))
    end, later = 0.0, 0.0
    for w in reversed(items):
        later += w.seconds
        end = max(end, w.at + later)
    return end


def speedup_needed(work: Sequence[Work], deadline: float) -> float:
    """How many times faster ERPNext must be for ``books_complete`` by ``deadline``
    (1.0 when it already is; inf when work arrives at it or after it)."""
    if any(w.at > deadline or (w.at == deadline and w.seconds > 0) for w in work):
        return math.inf
    if books_complete(work) <= deadline:
        return 1.0
    low, high = 1.0, 2.0
    while books_complete([Work(w.at, w.seconds / high) for w in work]) > deadline:
        low, high = high, high * 2
    for _ in range(40):  # bisection to well under 0.1 %
        mid = (low + high) / 2
        if books_complete([Work(w.at, w.seconds / mid) for w in work]) > deadline:
            low = mid
        else:
            high = mid
    return high


@dataclass(frozen=True)
class Rates:
    """Seconds of ERPNext per document, measured (``measure``)."""

    invoice_s: float  # a POS Invoice of LINES lines, at saturation
    merged_s: float  # per invoice a POS Closing Entry's consolidation merges
    shift_doc_s: float  # a consolidated Sales Invoice: a + b x rows
    shift_row_s: float
    closing_s: float = 0.5  # opening plus closing entry of a shift, without the merge

    def costs(self) -> Costs:
        """The simulator's throttle for these rates (per row inside a POS Invoice: its
        ``invoice_s`` covers LINES lines)."""
        return Costs(per_document={"POS Invoice": 0.0, SALES_INVOICE: self.shift_doc_s,
                                   "POS Opening Entry": self.closing_s / 2,
                                   "POS Closing Entry": self.closing_s / 2},
                     per_row={"POS Invoice": self.invoice_s / LINES,
                              SALES_INVOICE: self.shift_row_s},
                     per_merged_invoice=self.merged_s)

    def scaled(self, speed: float) -> Rates:
        return Rates(*(getattr(self, f.name) / speed for f in dataclasses.fields(self)))


# What tools/erpnext-lab's ERPNext 15.71 took on the 2-core machine (``measure``, README
# "A chain of stores on one ERPNext", 2026-12-03 02:07, load 2.0-2.6): the model's rates
# when this runs against the simulator.
LAB_RATES = Rates(invoice_s=0.159, merged_s=0.307, shift_doc_s=0.30, shift_row_s=0.0199)


@dataclass(frozen=True)
class Chain:
    stores: int = 200
    counters: int = 6
    shifts: int = 2  # per counter and day; the first ends at ``handover_h``
    sales: int = 8000  # per store and day
    lines: int = LINES
    catalog: int = 20_000  # items a store sells, popularity Zipf(1)
    open_h: float = 8.0
    handover_h: float = 14.5
    close_h: float = 21.0  # stores close evenly between this and one hour later
    close_window_h: float = 1.0

    def close_at(self, store: int) -> float:
        return (self.close_h + self.close_window_h * store / self.stores) * HOUR


def distinct_items(lines: int, catalog: int) -> float:
    """Expected distinct items among ``lines`` lines drawn by Zipf(1) popularity: the rows
    of a shift's consolidated invoice."""
    harmonic = sum(1 / k for k in range(1, catalog + 1))
    return sum(1 - (1 - 1 / (k * harmonic)) ** lines for k in range(1, catalog + 1))


def chain_work(chain: Chain, rates: Rates, mode: str) -> list[Work]:
    """A day of the chain as work for ERPNext, per delivery mode:

    - ``per-sale, after closing``: each store's day of POS Invoices, and its closings'
      merges, sent in the hour after it closes (the issue's premise);
    - ``per-sale, all day``: each sale sent as it is made (in quarter hours, evenly over
      the opening hours), each shift's merge at its end;
    - ``per-shift``: each shift's consolidated Sales Invoice at its end (one per shift:
      a walk-in chain; returns add a credit note of a few rows).
    """
    per_shift_sales = chain.sales / (chain.counters * chain.shifts)
    work: list[Work] = []
    if mode == "per-shift":
        rows = distinct_items(round(per_shift_sales * chain.lines), chain.catalog)
        doc = rates.shift_doc_s + rates.shift_row_s * rows
        for store in range(chain.stores):
            for shift in range(chain.shifts):
                end = chain.handover_h * HOUR if shift < chain.shifts - 1 \
                    else chain.close_at(store)
                work += [Work(end, doc)] * chain.counters
        return work
    shift_merge = rates.closing_s + rates.merged_s * per_shift_sales
    for store in range(chain.stores):
        closes = chain.close_at(store)
        if mode == "per-sale, after closing":
            work.append(Work(closes, chain.sales * rates.invoice_s
                             + chain.counters * chain.shifts * shift_merge))
            continue
        slots = int((closes - chain.open_h * HOUR) // 900)
        for slot in range(1, slots + 1):
            work.append(Work(chain.open_h * HOUR + slot * 900,
                             chain.sales / slots * rates.invoice_s))
        for shift in range(chain.shifts):
            end = chain.handover_h * HOUR if shift < chain.shifts - 1 else closes
            work += [Work(end, shift_merge)] * chain.counters
    return work


MODES = ("per-sale, after closing", "per-sale, all day", "per-shift")
MORNING = 24 * HOUR + 7 * HOUR  # the books are wanted by 07:00 the next day
CORES = 2  # of the machine the rates were measured on


def clock(seconds: float) -> str:
    """Seconds after midnight of the day as "21:40", or "day 3 09:12" later."""
    day, rest = divmod(int(seconds), 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}"
    return text if day == 0 else f"day {day + 1} {text}"


def model_rows(chain: Chain, rates: Rates) -> list[tuple[str, str, str]]:
    rows = []
    for mode in MODES:
        work = chain_work(chain, rates, mode)
        total = sum(w.seconds for w in work)
        done = books_complete(work)
        faster = speedup_needed(work, MORNING)
        rows.append((f"model, {chain.stores} stores, {mode}",
                     f"ERPNext work {total / HOUR:.1f} h; books complete {clock(done)}",
                     "by 07:00 next day" if faster == 1.0 else
                     f"by 07:00 needs {faster:.1f}x this ERPNext (~{CORES * faster:.0f} cores"
                     " if it scaled evenly)"))
    return rows


# --- measuring a site ---------------------------------------------------------------------


def _sold_shift(site: Site, tmp: Path, sales: int, codes: Sequence[str]) -> tuple[Node, str]:
    """A pulled counter that sold ``sales`` sales of LINES lines of ``codes``, shift open."""
    node = blank_counter(site, tmp)
    assert pull_into(site, node).errors == []
    till = Till(node, "ann")
    shift = till("shift_open", opening={context(node).cash_mode: "100.00"})["shift"]
    for i in range(sales):
        sell(till, *((codes[(i * LINES + j) % len(codes)], 1) for j in range(LINES)))
    return node, shift


def _shift_seconds(site: Site, tmp: Path, sales: int, codes: Sequence[str]
                   ) -> tuple[float, int]:
    """A shift of ``codes`` delivered per shift: ERPNext's seconds for its Sales Invoice,
    and that invoice's rows."""
    node, shift = _sold_shift(site, tmp, sales, codes)
    close(Till(node, "ann"), shift)
    fwd = dataclasses.replace(site, per_shift=True).forwarder(node)
    began = time.perf_counter()
    drain(fwd)
    took = time.perf_counter() - began
    rows = site.client.get_list(SALES_INVOICE, filters=[["name", "like", f"{shift}-S-%"]],
                                fields=["name"], page_length=0)
    assert len(rows) == 1, rows
    return took, len(site.get(SALES_INVOICE, rows[0]["name"])["items"])


def measure(site: Site, tmp: Path, quick: bool) -> tuple[Rates, list[tuple[str, str, str]]]:
    sales = 24 if quick else 120
    probe = blank_counter(site, tmp / "probe")
    assert pull_into(site, probe).errors == []
    few = sellable(probe, 2 * LINES, more_than=2 * sales)  # A and B sell each sales/2
    many = sellable(probe, 30 if quick else 250, more_than=3)

    # POS Invoices at saturation, then their closing's merge
    node, shift = _sold_shift(site, tmp / "a", sales, few)
    per_sale = dataclasses.replace(site, per_shift=False)
    fwd = per_sale.forwarder(node)
    _cycles_until(fwd, node, lambda n: not _unacked(n, OPENING))
    docs = _formed_invoices(fwd, node)
    invoice_s = _ideal(fwd, docs, FORWARD_IN_FLIGHT) / len(docs)
    close(Till(node, "ann"), shift)
    drain(per_sale.forwarder(node))  # the invoices are found there (409), then the closing
    closing = site.get(CLOSING, shift)  # ERPNext's own clock: inserted, then Submitted
    merged_s = (datetime.fromisoformat(closing["modified"])
                - datetime.fromisoformat(closing["creation"])).total_seconds() / len(docs)

    # consolidated Sales Invoices over few and many items
    small_s, small_rows = _shift_seconds(site, tmp / "b", sales, few)
    big_s, big_rows = _shift_seconds(site, tmp / "c", sales, many)
    row_s = max(0.0, (big_s - small_s) / max(1, big_rows - small_rows))
    rates = Rates(invoice_s, merged_s, max(0.0, small_s - row_s * small_rows), row_s)
    where = "real ERPNext" if site.simulator is None else "simulator"
    return rates, [
        (f"{where}: POS Invoice of {LINES} lines, {FORWARD_IN_FLIGHT} in flight",
         f"{invoice_s * 1000:.0f} ms each = {1 / invoice_s:.1f} inv/s ({len(docs)} sent)", "-"),
        (f"{where}: closing of {len(docs)} POS Invoices merged (inserted -> Submitted)",
         f"{merged_s * 1000:.0f} ms per invoice", "-"),
        (f"{where}: per-shift Sales Invoice, {sales} sales",
         f"{small_rows} rows {small_s:.2f} s; {big_rows} rows {big_s:.2f} s ->"
         f" {rates.shift_doc_s:.2f} s + {row_s * 1000:.1f} ms/row", "-"),
    ]


# --- the scaled check -------------------------------------------------------------------


def scaled_check(rates: Rates, mode: str, stores: int, sales: int, tmp: Path
                 ) -> tuple[str, str, str]:
    """The chain scaled down: ``stores`` counters of one shift of ``sales`` sales each,
    and a simulator held to ``rates`` made ``speed`` times faster (so a POS Invoice costs
    it about SCALED_INVOICE_S: the forwarder's own work stays small beside it). The
    stores' closings are spread over a window that keeps the full chain's load: its
    per-sale day (work for ERPNext per hour of closings) is as many times the window's
    length as the full chain's is times an hour. Each store's forwarder starts at its
    closing; the measured end of the last delivery against ``books_complete``."""
    speed = max(1.0, rates.invoice_s / SCALED_INVOICE_S)
    fast = rates.scaled(speed)
    full = Chain()
    load = sum(w.seconds for w in chain_work(full, rates, MODES[0])) / (
        full.close_window_h * HOUR)
    per_sale_s = fast.closing_s + sales * (fast.invoice_s + fast.merged_s)
    window = stores * per_sale_s / load
    starts = [window * i / stores for i in range(stores)]
    per_shift = mode == "per-shift"
    with open_site("simulator", per_shift=per_shift,
                   throttle=Throttle(fast.costs())) as site:
        assert site.simulator is not None
        probe = blank_counter(site, tmp / "probe")
        assert pull_into(site, probe).errors == []
        codes = sellable(probe, 5 * LINES, more_than=0)
        for code in codes:
            site.simulator.set_bin(code, WAREHOUSE, 1e6)
        counters = []
        for i in range(stores):
            node, shift = _sold_shift(site, tmp / f"s{i}", sales, codes)
            close(Till(node, "ann"), shift)
            counters.append(node)
        took = _deliver_all(site, counters, starts)
    rows = min(len(codes), sales * LINES)  # the cycle of codes each counter sold
    store_s = fast.shift_doc_s + fast.shift_row_s * rows if per_shift else per_sale_s
    predicted = books_complete(Work(at, store_s) for at in starts)
    return (f"scaled chain: {stores} stores x {sales} sales closing within {window:.1f} s,"
            f" simulator at {speed:.1f}x the rates, {mode}",
            f"books complete {took:.1f} s after the first closing",
            f"model {predicted:.1f} s ({took / predicted - 1:+.0%})")


def _deliver_all(site: Site, counters: Sequence[Node], starts: Sequence[float]) -> float:
    """Each counter's forwarder starts at its time and drains; seconds until all done."""
    began = time.perf_counter()
    errors: list[BaseException] = []

    def one(node: Node, at: float) -> None:
        try:
            time.sleep(max(0.0, began + at - time.perf_counter()))
            drain(site.forwarder(node))
            assert not _unacked(node, CLOSING), f"{node.node_id}: a closing not acked"
        except BaseException as exc:  # reported below, after every thread ended
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n, at)) for n, at in
               zip(counters, starts, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - began


# --- the run ------------------------------------------------------------------------------


def run(quick: bool) -> list[tuple[str, str, str]]:
    tmp = Path(tempfile.mkdtemp(prefix="tmchain", dir="/tmp"))
    kind = "erpnext" if os.environ.get(ENV + "URL") else "simulator"
    rows: list[tuple[str, str, str]] = []
    with open_site(kind, per_shift=True) as site:
        if site.simulator is not None:
            for code in _all_items(site):
                site.simulator.set_bin(code, WAREHOUSE, 1e6)
        rates, measured = measure(site, tmp / "measure", quick)
    rows += measured
    if kind == "simulator":  # its own pace says nothing of a real ERPNext's
        rates = LAB_RATES
    rows += model_rows(Chain(), rates)
    stores, sales = (4, 10) if quick else (8, 40)
    for mode in ("per-sale, after closing", "per-shift"):
        rows.append(scaled_check(rates, mode, stores, sales, tmp / mode.replace(" ", "")))
    return rows


def _all_items(site: Site) -> list[str]:
    return [r["name"] for r in site.client.get_list("Item", page_length=0)]


def main(argv: Sequence[str] | None = None,
         out: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    logging.getLogger("tillmesh").setLevel(logging.ERROR)  # every counter says --insecure
    before = os.getloadavg()[0]
    rows = run(args.quick)
    out(f"\nTillmesh chain on one ERPNext - {platform.machine()}, {os.cpu_count()} cores,"
        f" load {before:.2f} before, {os.getloadavg()[0]:.2f} after,"
        f" {time.strftime('%Y-%m-%d %H:%M')}"
        f"{' (quick)' if args.quick else ''}")
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        out("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
