"""Learning curves in the report: retention against env-steps per task.

A suite's ``[budget] eval_at`` evaluates every student at several budget points of its one training
run; ``results.analysis.aggregate.curve_summary`` puts the mean retention per point (bootstrap CI over seeds)
and the area under the curve on each summary row. This module draws them:
``learning_curves.png``, one panel per task, one line per method with a shaded 95% CI band, the
teacher at 1.0 and the claim's retention as reference lines.

Which size: every method at ``auto`` when the task has curves at ``auto``, else at the size of the
focus method's first curve; a method without a curve at that size but with exactly one size of
curves is drawn at its own size (the legend says which). ``curve_lines`` is the pure data step;
``plot_curves`` draws and returns the report's markdown with the files it wrote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kdmarl_bench.results.model.records import CI, TEACHER, Leaderboard, Summary

AUTO_SIZE = "auto"


@dataclass(frozen=True)
class CurveLine:
    """One method's mean retention per budget point on one task (a summary row's ``retention_curve``)."""

    task: str
    method: str
    size: str
    env_steps: list[int]
    retention: list[float]
    """Mean over seeds per point (NaN where no seed has a retention)."""
    lo: list[float]
    hi: list[float]
    """The 95% bootstrap CI over seeds per point (the mean itself where there is no interval)."""
    n_seeds: int
    auc: float | None
    auc_ci95: CI | None


def _line(row: Summary) -> CurveLine:
    points = row.retention_curve or []
    mean = [math.nan if p.retention_mean is None else p.retention_mean for p in points]
    lo = [m if p.retention_ci95 is None else p.retention_ci95.lo for p, m in zip(points, mean, strict=True)]
    hi = [m if p.retention_ci95 is None else p.retention_ci95.hi for p, m in zip(points, mean, strict=True)]
    return CurveLine(row.task, row.method, row.size, [p.env_steps for p in points], mean, lo, hi,
                     max((p.n_seeds for p in points), default=0), row.curve_auc, row.curve_auc_ci95)


def curve_size(rows: list[Summary], focus: str, preferred: str = AUTO_SIZE) -> str | None:
    """The size a task's curves are compared at: ``preferred`` (the board's headline size, ``auto`` by
    default) if any method has curves there, else the focus method's first size with a curve, else the
    first size with a curve."""
    sizes = [r.size for r in rows]
    if preferred in sizes:
        return preferred
    focus_sizes = [r.size for r in rows if r.method == focus]
    return (focus_sizes or sizes or [None])[0]


def curve_lines(board: Leaderboard) -> dict[str, list[CurveLine]]:
    """``{task: lines}`` for every task where some student has a curve of two or more points; the
    methods in the board's order (focus method first)."""
    out: dict[str, list[CurveLine]] = {}
    for task in board.tasks:
        rows = [r for r in board.ordered_summary()
                if r.task == task and r.method != TEACHER and r.retention_curve and len(r.retention_curve) >= 2]
        size = curve_size(rows, board.focus, board.suite.headline_size)
        if size is None:
            continue
        lines = []
        for method in dict.fromkeys(r.method for r in rows):
            mine = [r for r in rows if r.method == method]
            row = next((r for r in mine if r.size == size), mine[0] if len(mine) == 1 else None)
            if row is not None:
                lines.append(_line(row))
        out[task] = lines
    return out

