"""The headline of a leaderboard: per task, KD-MARL against the best baseline at one student size.

The paper's claim (REFERENCE.md) is ">90% retention at >=20x fewer FLOPs". The headline says,
per task, what this leaderboard measured for it: KD-MARL's mean retention over seeds with its
95% CI and its team FLOPs reduction, next to the baseline with the best mean retention at the
same size. Baselines are every student method that is not KD-MARL or one of its variants
(ablations, sweep points); numbers are read from the summary rows, never recomputed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kdmarl_bench.results.leaderboard import KD_MARL, TEACHER, is_finite_number
from kdmarl_bench.results.render import DASH, fmt_retention, fmt_score, markdown_table

CLAIM_RETENTION = 0.90
"""KD-MARL's claimed retention (REFERENCE.md)."""
CLAIM_FLOPS_REDUCTION = 20.0
"""The FLOPs reduction the claim must hold at (this project's issue: >= 20x)."""


@dataclass(frozen=True)
class HeadlineRow:
    task: str
    size: str
    metric: str | None
    teacher_score: float | None
    """The teacher's mean score: retention is relative to it, so a weak teacher flatters every student."""
    kd_retention: float | None
    kd_retention_ci95: list[float] | None
    kd_flops_reduction: float | None
    kd_n_seeds: int
    best_baseline: str | None
    """Method id of the baseline with the highest mean retention at this size."""
    baseline_retention: float | None
    baseline_retention_ci95: list[float] | None
    baseline_flops_reduction: float | None
    claim_met: bool
    """Mean retention >= 0.90 at >= 20x fewer team FLOPs."""
    claim_met_ci: bool
    """The same with the CI's lower bound instead of the mean (holds at 95% confidence)."""


def _num(x: Any) -> float | None:
    return float(x) if is_finite_number(x) else None


def _base_methods(data: dict) -> dict[str, str]:
    """Method name → its registered base (a variant's base, or itself)."""
    out = {}
    for r in data.get("records", []):
        out.setdefault(r.get("method"), r.get("base_method") or r.get("method"))
    return out


def headline(data: dict, size: str = "auto") -> list[HeadlineRow]:
    """One row per task that has a KD-MARL summary at ``size`` (tasks in leaderboard order)."""
    base = _base_methods(data)
    rows_by_task: dict[str, list[dict]] = {}
    for s in data.get("summary", []):
        rows_by_task.setdefault(s["task"], []).append(s)
    out = []
    for task, rows in rows_by_task.items():
        kd = next((s for s in rows if s["method"] == KD_MARL and s.get("size") == size), None)
        if kd is None:
            continue
        baselines = [
            s for s in rows
            if s.get("size") == size and s["method"] != TEACHER and base.get(s["method"], s["method"]) != KD_MARL
            and _num(s.get("retention_mean")) is not None
        ]
        best = max(baselines, key=lambda s: s["retention_mean"], default=None)
        teacher = next((s for s in rows if s["method"] == TEACHER), {})
        ret, red = _num(kd.get("retention_mean")), _num(kd.get("flops_reduction"))
        ci = kd.get("retention_ci95")
        lo = _num(ci[0]) if isinstance(ci, list) and len(ci) == 2 else None
        big_enough = red is not None and red >= CLAIM_FLOPS_REDUCTION
        out.append(HeadlineRow(
            task=task,
            size=size,
            metric=kd.get("metric"),
            teacher_score=_num(teacher.get("score_mean")),
            kd_retention=ret,
            kd_retention_ci95=ci if lo is not None else None,
            kd_flops_reduction=red,
            kd_n_seeds=int(kd.get("n_seeds") or 0),
            best_baseline=best["method"] if best else None,
            baseline_retention=_num(best.get("retention_mean")) if best else None,
            baseline_retention_ci95=best.get("retention_ci95") if best else None,
            baseline_flops_reduction=_num(best.get("flops_reduction")) if best else None,
            claim_met=big_enough and ret is not None and ret >= CLAIM_RETENTION,
            claim_met_ci=big_enough and lo is not None and lo >= CLAIM_RETENTION,
        ))
    return out


def _reduction(x: float | None) -> str:
    return DASH if x is None else f"{x:,.0f}×" if x >= 10 else f"{x:.1f}×"


def headline_markdown(rows: list[HeadlineRow]) -> str:
    if not rows:
        return "No KD-MARL results at this size.\n"
    header = ["task", "teacher", "KD-MARL retention [95% CI]", "FLOPs ↓", "best baseline", "its retention [95% CI]",
              "≥90% at ≥20× (mean / CI low)"]
    body = []
    for r in rows:
        body.append([
            r.task,
            fmt_score(r.teacher_score, None, r.metric),
            fmt_retention(r.kd_retention, r.kd_retention_ci95),
            _reduction(r.kd_flops_reduction),
            r.best_baseline or DASH,
            fmt_retention(r.baseline_retention, r.baseline_retention_ci95),
            f"{'yes' if r.claim_met else 'no'} / {'yes' if r.claim_met_ci else 'no'}",
        ])
    return markdown_table(header, body, right=(3,)) + "\n"


def headline_dicts(rows: list[HeadlineRow]) -> list[dict]:
    return [asdict(r) for r in rows]
