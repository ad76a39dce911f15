"""The headline of a leaderboard: per task, the focus method against the best baseline at one size.

The paper's claim (REFERENCE.md) is ">90% retention at >=20x fewer FLOPs". The headline says,
per task, what this leaderboard measured for it: the focus method's (``suite.focus``, default
``kd-marl``) mean retention over seeds with its 95% CI and its team FLOPs reduction, next to the
baseline with the best mean retention at the same size. Baselines are every student method that
is not the focus method or one of its variants (ablations, sweep points); numbers are read from
the summary rows, never recomputed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from kdmarl_bench.results.io import as_leaderboard
from kdmarl_bench.results.records import (
    CI,
    CLAIM_FLOPS_REDUCTION,
    CLAIM_RETENTION,
    TEACHER,
    Leaderboard,
    Summary,
)
from kdmarl_bench.results.render import DASH, fmt_retention, fmt_score, markdown_table

__all__ = ["CLAIM_FLOPS_REDUCTION", "CLAIM_RETENTION", "HeadlineRow", "claim_met", "headline",
           "headline_dicts", "headline_markdown"]


@dataclass(frozen=True)
class HeadlineRow:
    task: str
    size: str
    method: str
    """The focus method the row is about."""
    metric: str | None
    teacher_score: float | None
    """The teacher's mean score: retention is relative to it, so a weak teacher flatters every student."""
    retention: float | None
    """The focus method's mean retention over seeds."""
    retention_ci95: list[float] | None
    flops_reduction: float | None
    n_seeds: int
    best_baseline: str | None
    """Method id of the baseline with the highest mean retention at this size."""
    baseline_retention: float | None
    baseline_retention_ci95: list[float] | None
    baseline_flops_reduction: float | None
    claim_met: bool
    """Mean retention >= 0.90 at >= 20x fewer team FLOPs."""
    claim_met_ci: bool
    """The same with the CI's lower bound instead of the mean (holds at 95% confidence)."""


def claim_met(retention: float | None, flops_reduction: float | None) -> bool:
    """The claim: ``retention`` >= ``CLAIM_RETENTION`` at >= ``CLAIM_FLOPS_REDUCTION``x fewer FLOPs."""
    return (retention is not None and flops_reduction is not None
            and retention >= CLAIM_RETENTION and flops_reduction >= CLAIM_FLOPS_REDUCTION)


def _ci_list(ci: CI | None) -> list[float] | None:
    return None if ci is None else ci.to_list()


def headline(board: Leaderboard | dict, size: str = "auto", focus: str | None = None) -> list[HeadlineRow]:
    """One row per task that has a summary of the focus method at ``size`` (tasks in board order).

    ``focus`` defaults to the board's ``suite.focus``.
    """
    board = as_leaderboard(board)
    focus = focus or board.focus
    base = board.base_methods()
    rows_by_task: dict[str, list[Summary]] = {}
    for s in board.summary:
        rows_by_task.setdefault(s.task, []).append(s)
    out = []
    for task, rows in rows_by_task.items():
        mine = next((s for s in rows if s.method == focus and s.size == size), None)
        if mine is None:
            continue
        baselines = [
            s for s in rows
            if s.size == size and s.method != TEACHER and base.get(s.method, s.method) != focus
            and s.method != focus and s.retention_mean is not None
        ]
        best = max(baselines, key=lambda s: s.retention_mean or 0.0, default=None)
        teacher = board.teacher_summary(task)
        ci = mine.retention_ci95
        out.append(HeadlineRow(
            task=task,
            size=size,
            method=focus,
            metric=mine.metric,
            teacher_score=teacher.score_mean if teacher else None,
            retention=mine.retention_mean,
            retention_ci95=_ci_list(ci),
            flops_reduction=mine.flops_reduction,
            n_seeds=mine.n_seeds,
            best_baseline=best.method if best else None,
            baseline_retention=best.retention_mean if best else None,
            baseline_retention_ci95=_ci_list(best.retention_ci95) if best else None,
            baseline_flops_reduction=best.flops_reduction if best else None,
            claim_met=claim_met(mine.retention_mean, mine.flops_reduction),
            claim_met_ci=claim_met(ci.lo if ci else None, mine.flops_reduction),
        ))
    return out


def display_name(method: str) -> str:
    """How a method is named in prose and table headers (``kd-marl`` → ``KD-MARL``)."""
    return "KD-MARL" if method == "kd-marl" else method


def _reduction(x: float | None) -> str:
    return DASH if x is None else f"{x:,.0f}×" if x >= 10 else f"{x:.1f}×"


def headline_markdown(rows: list[HeadlineRow], focus: str = "kd-marl") -> str:
    """The headline as a markdown table (``focus`` names the method when there are no rows)."""
    if not rows:
        return f"No {display_name(focus)} results at this size.\n"
    method = display_name(rows[0].method)
    header = ["task", "teacher", f"{method} retention [95% CI]", "FLOPs ↓", "best baseline",
              "its retention [95% CI]",
              f"≥{100 * CLAIM_RETENTION:.0f}% at ≥{CLAIM_FLOPS_REDUCTION:.0f}× (mean / CI low)"]
    body = []
    for r in rows:
        body.append([
            r.task,
            fmt_score(r.teacher_score, None, r.metric),
            fmt_retention(r.retention, r.retention_ci95),
            _reduction(r.flops_reduction),
            r.best_baseline or DASH,
            fmt_retention(r.baseline_retention, r.baseline_retention_ci95),
            f"{'yes' if r.claim_met else 'no'} / {'yes' if r.claim_met_ci else 'no'}",
        ])
    return markdown_table(header, body, right=(3,)) + "\n"


def headline_dicts(rows: list[HeadlineRow]) -> list[dict]:
    return [asdict(r) for r in rows]
