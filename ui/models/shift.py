"""X and Z reports as rows to show, from ``shift_report`` / ``shift_close``. Qt-free.

Every figure is the node's; this only chooses the order and the labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tillmesh.ui.models.money import dec, money, qty
from tillmesh.ui.models.status import when

_FIGURES = (
    ("sales_count", "Sales", None),
    ("returns_count", "Returns", None),
    ("gross_sales", "Gross sales", money),
    ("returns_total", "Returned", money),
    ("grand_total", "Total", money),
    ("net_total", "Net total", money),
    ("total_taxes", "Taxes", money),
    ("discounts", "Discounts", money),
    ("total_qty", "Items sold", qty),
    ("change_given", "Change given", money),
    ("cash_in", "Cash in", money),
    ("cash_out", "Cash out", money),
)


def report_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, title, fmt in _FIGURES:
        if key in report:
            value = report[key]
            rows.append((title, fmt(dec(value)) if fmt else str(value)))
    for section, title in (("opening", "Opening float"), ("payments", "Taken"),
                           ("expected", "Expected in drawer"), ("counted", "Counted"),
                           ("difference", "Difference")):
        for mode, amount in (report.get(section) or {}).items():
            shown = money(dec(amount))
            if section == "difference" and dec(amount) > 0:
                shown = "+" + shown
            rows.append((f"{title} · {mode}", shown))
    return rows


def shift_label(shift: Mapping[str, Any], now: datetime) -> str:
    """``C01-SH-000001`` then ``C01 · cashier · since 09:12:30`` (local time) below."""
    opened = when(shift.get("opened_at"), now)
    return (f"{shift.get('shift')}\n{shift.get('counter')} · {shift.get('cashier')}"
            f" · since {opened}")
