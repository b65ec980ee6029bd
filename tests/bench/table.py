"""The benchmark's one table: each figure, its multiple of the floor, its spread, its target.

A part measured over several runs gives the median of the runs' figures and their range
as the spread; a part measured once leaves the spread empty.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from tests.bench.floors import Floors


@dataclass(frozen=True)
class Row:
    what: str
    samples: str = ""
    figure: str = ""
    floor: str = ""  # the figure as a multiple of its floor, e.g. "4.1x commit"
    spread: str = ""
    target: str = ""

    @classmethod
    def of(cls, cells: Sequence[str]) -> Row:
        """A row of the parts that give (what, figure, target) or (what, samples,
        figure, more)."""
        if len(cells) == 3:
            return cls(cells[0], figure=cells[1], target=cells[2])
        what, samples, figure, more = cells
        return cls(what, samples, f"{figure}, {more}" if more else figure)


def p99(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def median_p99_ms(samples: Sequence[float]) -> tuple[float, float]:
    """(median, p99) of samples in seconds, in ms."""
    return statistics.median(samples) * 1000, p99(samples) * 1000


@dataclass(frozen=True)
class Latency:
    """Per-call seconds from each of several runs."""

    runs: Sequence[Sequence[float]]

    @property
    def median_ms(self) -> float:
        return statistics.median(statistics.median(r) for r in self.runs) * 1000

    @property
    def p99_ms(self) -> float:
        return statistics.median(p99(r) for r in self.runs) * 1000

    def figure(self) -> str:
        return f"median {self.median_ms:.3f} ms, p99 {self.p99_ms:.3f} ms"

    def spread(self) -> str:
        if len(self.runs) < 2:
            return ""
        medians = [statistics.median(r) * 1000 for r in self.runs]
        tails = [p99(r) * 1000 for r in self.runs]
        return (f"{len(self.runs)} runs: median {min(medians):.3f}-{max(medians):.3f}, "
                f"p99 {min(tails):.3f}-{max(tails):.3f}")

    def samples(self) -> str:
        return f"{sum(len(r) for r in self.runs):,} calls"

    def row(self, what: str, floor_ms: float, floor_name: str, target: str) -> Row:
        return Row(what, self.samples(), self.figure(),
                   f"{self.median_ms / floor_ms:.1f}x / {self.p99_ms / floor_ms:.1f}x "
                   f"{floor_name}", self.spread(), target)


def rate_row(what: str, samples: str, rates: Sequence[float], unit: str,
             target: str, floor: str = "") -> Row:
    """A throughput over several runs: the median rate and the runs' range."""
    spread = (f"{len(rates)} runs: {min(rates):,.0f}-{max(rates):,.0f}"
              if len(rates) > 1 else "")
    return Row(what, samples, f"{statistics.median(rates):,.0f} {unit}", floor, spread,
               target)


def render(title: str, floors: Floors | None, rows: Sequence[Row]) -> str:
    head = Row("what", "samples", "figure", "x floor (median / p99)", "spread", "target")
    table = [head, *rows]
    columns = [[getattr(r, f) for r in table] for f in
               ("what", "samples", "figure", "floor", "spread", "target")]
    widths = [max(len(c) for c in col) for col in columns]
    lines = [title] + ([floors.header()] if floors else [])
    for cells in zip(*columns, strict=True):
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
                     .rstrip())
    return "\n".join(lines)
