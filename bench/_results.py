"""Figures and results of a run, and how they are shown: the log console, the table, the plot."""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

log = Console(stderr=True, highlight=False)


# ---- figures -----------------------------------------------------------------


@dataclass
class Figure:
    """One row of the table: every sample of one measure, summarised."""

    section: str
    measure: str
    case: str
    unit: str
    samples: list[float]
    note: str = ""

    def summary(self) -> dict[str, Any]:
        values = self.samples
        return {
            "section": self.section,
            "measure": self.measure,
            "case": self.case,
            "unit": self.unit,
            "runs": len(values),
            "median": statistics.median(values) if values else None,
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "samples": [round(v, 3) for v in values],
            "note": self.note,
        }


Adder = Callable[..., None]  # (measure, case, unit, samples, note="")


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def adder(self, section: str) -> Adder:
        """`add(measure, case, unit, samples, note="")` for rows of one section."""

        def add(measure: str, case: str, unit: str, samples: list[float], note: str = "") -> None:
            self.figures.append(Figure(section, measure, case, unit, list(samples), note))

        return add


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p50 of 10 values is the 5th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# ---- output -------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("calls", "steps", "%") or abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def table(res: Results, caption: str) -> Table:
    out = Table(title="dundi-lab benchmark", caption=caption, caption_justify="left")
    for column in ("section", "measure", "case", "runs", "median", "min", "max", "unit", "note"):
        numeric = column in ("runs", "median", "min", "max")
        out.add_column(column, justify="right" if numeric else "left", no_wrap=column != "note")
    order = list(dict.fromkeys(f.section for f in res.figures))  # sections as first seen
    rows = sorted((f.summary() for f in res.figures), key=lambda r: order.index(r["section"]))
    for i, row in enumerate(rows):
        first = i == 0 or rows[i - 1]["section"] != row["section"]
        last = i + 1 == len(rows) or rows[i + 1]["section"] != row["section"]
        numbers = [fmt(row[k], row["unit"]) for k in ("median", "min", "max")]
        out.add_row(
            row["section"] if first else "",
            row["measure"],
            row["case"],
            str(row["runs"]),
            *numbers,
            row["unit"],
            row["note"],
            end_section=last,
        )
    return out


def plot(res: Results, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.print("no plot: matplotlib is not installed (pip install -e '.[bench]')")
        return False
    if not any(f.section in ("up/down", "lookups") for f in res.figures):
        return False  # nothing to draw
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for measure, style in (
        ("lab up → ready", "o-"),
        ("lab up → every trust edge OK (--wait-links)", "^-"),
        ("floor: docker run ×N (sleep)", "o--"),
    ):
        series(left, res, measure, r"(\d+) nodes", style)
    for measure in ("lab down", "floor: docker rm -f ×N"):
        series(left, res, measure, r"(\d+) nodes", "s-" if measure.startswith("lab") else "s--")
    left.set(xlabel="nodes", ylabel="seconds", title="lab up / down vs node count")
    for mode, marker in (("bypass", "o"), ("cached", "s")):
        series(right, res, f"lookup, Asterisk-reported ({mode})", r"(\d+) hops", marker + "-")
        series(right, res, f"lookup, caller wall ({mode})", r"(\d+) hops", marker + "--")
    right.set(xlabel="trust hops", ylabel="ms (symlog)", title="DUNDi lookup vs hop count")
    right.set_yscale("symlog", linthresh=1)  # Asterisk's 0-10 ms beside the caller's ~100 ms
    for axes in (left, right):
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def series(axes: Any, res: Results, measure: str, pattern: str, style: str) -> None:
    """Median with a min–max bar for every row of `measure`; x from the case."""
    points = []
    for f in res.figures:
        match = re.fullmatch(pattern, f.case)
        if f.measure == measure and match and f.samples:
            s = f.summary()
            points.append(
                (int(match[1]), s["median"], s["median"] - s["min"], s["max"] - s["median"])
            )
    if points:
        x, mid, below, above = zip(*sorted(points), strict=True)
        axes.errorbar(x, mid, yerr=[below, above], fmt=style, capsize=3, label=measure)
