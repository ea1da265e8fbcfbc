"""Rows of the benchmark table, the table itself, and its JSON file."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

NO_GOAL = "shown beside baseline"


@dataclass(frozen=True)
class Row:
    """One line of the table: our figure beside the baseline's, and the goal."""

    scenario: str
    """What was measured, including the metric: ``"... SQLite: mutations/s"``."""
    unit: str
    ours: float
    baseline: float | None
    baseline_name: str
    goal: str = NO_GOAL
    goal_ratio: float | None = None
    """The ratio ours/baseline must reach (or stay under); None when no goal is set."""
    higher_is_better: bool = True
    goal_limit: float | None = None
    """The figure ours must reach (or stay under) when the goal is absolute; with
    ``goal_ratio`` as well, both must be met."""
    notes: dict[str, Any] = field(default_factory=dict)
    """Anything else worth keeping in the JSON: counts, errors, CPU use."""

    @property
    def ratio(self) -> float | None:
        """ours / baseline, or None without a usable baseline."""
        if self.baseline is None or self.baseline == 0 or math.isnan(self.baseline):
            return None
        return self.ours / self.baseline

    @property
    def verdict(self) -> str:
        """``met``, ``MISSED`` or ``-`` when there is no goal to meet."""
        if self.goal_ratio is None and self.goal_limit is None:
            return "-"
        met = True
        if self.goal_ratio is not None:
            ratio = self.ratio
            met = ratio is not None and self._meets(ratio, self.goal_ratio)
        if self.goal_limit is not None:
            met = met and self._meets(self.ours, self.goal_limit)
        return "met" if met else "MISSED"

    def _meets(self, value: float, goal: float) -> bool:
        if math.isnan(value):
            return False
        return value >= goal if self.higher_is_better else value <= goal

    def as_json(self) -> dict[str, Any]:
        """The row with its derived ratio and verdict, for the JSON file."""
        data = asdict(self)
        data["ratio"] = self.ratio
        data["verdict"] = self.verdict
        return data


def _figure(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}"


def render(rows: list[Row]) -> str:
    """The table as aligned plain text."""
    header = ("scenario", "ours", "baseline", "ratio", "goal", "verdict")
    lines = [
        (
            row.scenario,
            _figure(row.ours, row.unit),
            f"{_figure(row.baseline, row.unit)} ({row.baseline_name})",
            "n/a" if row.ratio is None else f"{row.ratio:.3f}",
            row.goal,
            row.verdict,
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(6)]

    def line(cells: tuple[str, ...]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(cells) for cells in lines)])


def write_json(path: Path, meta: dict[str, Any], rows: list[Row]) -> None:
    """Write the run's table (and what it ran on) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**meta, "rows": [row.as_json() for row in rows]}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
