"""X and Z reports as rows to show, from ``shift_report`` / ``shift_close``. Qt-free.

Every figure is the node's; this only chooses the order, the labels and the signs, in
the order and with the labels and signs of the printed report (``node.printing``):
"Sales (3)" and "Returns (1)" with their totals, returns negative (negative sales),
discounts negative (taken off the list prices), change given and cash out positive
(amounts paid out); the VAT per rate as on the sell screen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from tillmesh.ui.models.cart import vat_lines
from tillmesh.ui.models.money import dec, money, qty
from tillmesh.ui.models.status import when


def _taken_off(value: Decimal) -> str:
    """A discount granted, as taken off the sales: negative (never "-0.00")."""
    return money(-value if value else value)


_Figure = tuple[str, str, Callable[[Decimal], str]]  # key, label, format
_FIGURES: tuple[_Figure, ...] = (  # under the VAT per rate
    ("net_sales", "Net (excl. VAT)", money),
    ("total_taxes", "VAT", money),
    ("line_discounts", "Line discounts", _taken_off),
    ("invoice_discounts", "Invoice discounts", _taken_off),
    ("discounts", "Discounts", _taken_off),
    ("total_qty", "Items sold", qty),
    ("change_given", "Change given", money),
    ("cash_in", "Cash in", money),
    ("cash_out", "Cash out", money),
)


def report_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    if "net_sales" not in report and "net_total" in report:  # stored by an earlier release
        report = {**report, "net_sales": report["net_total"]}
    rows = [(f"{title} ({report.get(count, 0)})", money(dec(report[key])))
             for count, key, title in (("sales_count", "gross_sales", "Sales"),
                                       ("returns_count", "returns_total", "Returns"))
             if key in report]
    rows += _figures(report, (("grand_total", "Total", money),))
    rows += [(f"{v.title} (net {money(v.net)})", money(v.tax))
             for v in vat_lines(report.get("vat"))]
    rows += _figures(report, _FIGURES)
    for section, title in (("opening", "Opening float"), ("payments", "Taken"),
                           ("expected", "Expected in drawer"), ("counted", "Counted"),
                           ("difference", "Difference")):
        for mode, amount in (report.get(section) or {}).items():
            shown = money(dec(amount))
            if section == "difference" and dec(amount) > 0:
                shown = "+" + shown
            rows.append((f"{title} · {mode}", shown))
    return rows


def _figures(report: Mapping[str, Any], figures: tuple[_Figure, ...]) -> list[tuple[str, str]]:
    return [(title, fmt(dec(report[key]))) for key, title, fmt in figures if key in report]


def shift_label(shift: Mapping[str, Any], now: datetime) -> str:
    """``C01-SH-000001`` then ``C01 · cashier · since 09:12:30`` (local time) below."""
    opened = when(shift.get("opened_at"), now)
    return (f"{shift.get('shift')}\n{shift.get('counter')} · {shift.get('cashier')}"
            f" · since {opened}")
