"""The headline of a leaderboard: per task, the focus method against the best action-imitation
baseline at one size, in the regime the task was run in.

The paper's claim (arXiv 2604.06691) is ">90% of expert performance at up to 28.6x fewer FLOPs"
with students that see less than a centralized expert. Per task the headline says what this
board measured: the regime (``same view``: students see what the teacher's actor sees;
``limited``: a limited student view and/or a privileged teacher), the budget, the focus method's
(``suite.focus``, default ``kd-marl``) mean retention with its 95% CI and its team FLOPs
reduction, the best **action-imitation** baseline at the same size (methods whose ``kind`` is
``action-imitation``: bc, pd-kl, logit-mse, dagger — never the control, the focus method's
variants or other structure-distilling methods), the probability that the focus method's
retention beats that baseline's on a seed drawn from each (with a bootstrap CI over seeds), and
whether the claim holds: retention >= 90% for a student at most 28.6x cheaper than the teacher (a
cheaper student is *beyond* the claim's range and cannot contradict it). Numbers are read from
the board, never recomputed from scratch.

The board's pre-registered primary metric (``suite.primary``: ``auc``, the mean retention over the
learning curve, or ``final``) picks the best baseline and is what the PoI and the claim judge; the
other metric and the sampled retention (the students sampling their actions) are shown beside it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from kdmarl_bench.results.analysis import stats
from kdmarl_bench.results.model.records import (
    CI,
    CLAIM_FLOPS_REDUCTION,
    CLAIM_RETENTION,
    TEACHER,
    Leaderboard,
    Summary,
    is_finite_number,
)

__all__ = ["CLAIM_FLOPS_REDUCTION", "CLAIM_RETENTION", "HeadlineRow", "claim_met", "claim_verdict", "headline",
           "headline_dicts"]

SAME_VIEW = "same view"
LIMITED = "limited"


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
    """Method id of the action-imitation baseline with the highest mean retention at this size."""
    baseline_retention: float | None
    baseline_retention_ci95: list[float] | None
    baseline_flops_reduction: float | None
    claim_met: bool
    """Mean retention >= 0.90 for a student at most 28.6x cheaper (or cheaper still: beyond the range)."""
    claim_met_ci: bool
    """The same with the CI's lower bound instead of the mean (holds at 95% confidence)."""
    view: str = "full"
    teacher_kind: str = "local"
    regime: str = SAME_VIEW
    """``same view`` or ``limited`` (a limited student view and/or a privileged teacher)."""
    env_steps: int | None = None
    """The students' env-step budget (the final point of a learning curve)."""
    poi: float | None = None
    """P(focus retention > best baseline retention) over seeds (Mann-Whitney, ties 1/2)."""
    poi_ci95: list[float] | None = None
    beats_baseline: str = "inconclusive"
    """``yes`` (PoI CI above 0.5), ``no`` (below 0.5) or ``inconclusive``."""
    claim: str = "n/a"
    """``holds`` / ``fails`` (at most 28.6x fewer FLOPs), ``holds beyond range`` / ``beyond range``
    (more than 28.6x), ``n/a`` (no retention or FLOPs)."""
    curve: list[list] | None = None
    """``[env_steps, focus retention, baseline retention]`` per budget point (boards with curves)."""
    auc: float | None = None
    """The focus method's area under the retention curve / env-step range (mean over seeds)."""
    auc_ci95: list[float] | None = None
    baseline_auc: float | None = None
    baseline_auc_ci95: list[float] | None = None
    primary: str = "final"
    """The board's pre-registered primary metric (``auc`` or ``final``)."""
    primary_value: float | None = None
    """The focus method's primary metric (``auc``: ``auc``, or ``retention`` without curves)."""
    primary_ci95: list[float] | None = None
    baseline_primary: float | None = None
    baseline_primary_ci95: list[float] | None = None
    retention_sampled: float | None = None
    """The focus method's mean retention when its students sample their actions (None: not recorded)."""
    retention_sampled_ci95: list[float] | None = None
    baseline_retention_sampled: float | None = None
    baseline_retention_sampled_ci95: list[float] | None = None
    n_flagged: int = 0
    """Seeds of the focus method and the baseline whose greedy and sampled scores differ by > 30 points."""
    tuning: dict[str, int] | None = None
    """Optuna trials per method (the suite's ``[tune]``), None when the methods were not tuned."""


def claim_met(retention: float | None, flops_reduction: float | None) -> bool:
    """``retention`` >= ``CLAIM_RETENTION`` for a student that is actually smaller (reduction > 1).

    Inside the paper's range (reduction <= ``CLAIM_FLOPS_REDUCTION``) this is the claim; beyond it a
    student that still keeps 90% supports it a fortiori."""
    return (retention is not None and flops_reduction is not None
            and retention >= CLAIM_RETENTION and flops_reduction > 1.0)


def claim_verdict(retention: float | None, flops_reduction: float | None) -> str:
    """What a student's (mean) retention says about the claim; see ``HeadlineRow.claim``."""
    if retention is None or flops_reduction is None or flops_reduction <= 1.0:
        return "n/a"
    inside = flops_reduction <= CLAIM_FLOPS_REDUCTION
    if retention >= CLAIM_RETENTION:
        return "holds" if inside else "holds beyond range"
    return "fails" if inside else "beyond range"


def regime(view: str, teacher_kind: str) -> str:
    return LIMITED if view != "full" or teacher_kind != "local" else SAME_VIEW


def _ci_list(ci: CI | None) -> list[float] | None:
    return None if ci is None else ci.to_list()


def _seed_retentions(board: Leaderboard, task: str, method: str, size: str) -> list[float]:
    """Per-seed values of the board's primary metric (``Record.primary_value``)."""
    values = [r.primary_value(board.suite.primary) for r in board.records
              if r.task == task and r.method == method and r.size == size and r.ok]
    return [float(v) for v in values if is_finite_number(v)]


def _poi(board: Leaderboard, task: str, mine: Summary, best: Summary | None) -> tuple[float | None, list | None, str]:
    if best is None:
        return None, None, "inconclusive"
    x = _seed_retentions(board, task, mine.method, mine.size)
    y = _seed_retentions(board, task, best.method, best.size)
    if not x or not y:
        return None, None, "inconclusive"
    boot = board.bootstrap
    point, lo, hi = stats.probability_of_improvement([[v] for v in x], [[v] for v in y],
                                                     n_resamples=boot.n_resamples, random_state=boot.random_state,
                                                     confidence=boot.confidence)
    verdict = "yes" if lo > 0.5 else "no" if hi < 0.5 else "inconclusive"
    return point, [lo, hi], verdict


def headline(board: Leaderboard, size: str | None = None, focus: str | None = None) -> list[HeadlineRow]:
    """One row per task that has a summary of the focus method at ``size`` (tasks in board order).

    ``focus`` defaults to the board's ``suite.focus``, ``size`` to its ``suite.headline_size`` (``auto``).
    """
    focus = focus or board.focus
    size = size or board.suite.headline_size
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
            if s.size == size and s.method != TEACHER and s.method != focus
            and base.get(s.method, s.method) != focus
            and board.method_kind(s.method) == "action-imitation"
            and s.retention_mean is not None
        ]
        primary = board.suite.primary
        baselines = [s for s in baselines if s.primary(primary)[0] is not None]
        best = max(baselines, key=lambda s: s.primary(primary)[0] or 0.0, default=None)
        teacher = board.teacher_summary(task)
        value, ci = mine.primary(primary)
        b_value, b_ci = best.primary(primary) if best else (None, None)
        poi, poi_ci, beats = _poi(board, task, mine, best)
        curve = None
        if mine.retention_curve:
            theirs = {p.env_steps: p.retention_mean for p in (best.retention_curve or [])} if best else {}
            curve = [[p.env_steps, p.retention_mean, theirs.get(p.env_steps)] for p in mine.retention_curve]
        env_steps = max((r.env_steps for r in board.records if r.task == task and r.method == focus), default=None)
        out.append(HeadlineRow(
            task=task,
            size=size,
            method=focus,
            metric=mine.metric,
            teacher_score=teacher.score_mean if teacher else None,
            retention=mine.retention_mean,
            retention_ci95=_ci_list(mine.retention_ci95),
            flops_reduction=mine.flops_reduction,
            n_seeds=mine.n_seeds,
            best_baseline=best.method if best else None,
            baseline_retention=best.retention_mean if best else None,
            baseline_retention_ci95=_ci_list(best.retention_ci95) if best else None,
            baseline_flops_reduction=best.flops_reduction if best else None,
            claim_met=claim_met(value, mine.flops_reduction),
            claim_met_ci=claim_met(ci.lo if ci else None, mine.flops_reduction),
            view=mine.view,
            teacher_kind=mine.teacher_kind,
            regime=regime(mine.view, mine.teacher_kind),
            env_steps=env_steps,
            poi=poi,
            poi_ci95=poi_ci,
            beats_baseline=beats,
            claim=claim_verdict(value, mine.flops_reduction),
            curve=curve,
            auc=mine.curve_auc,
            auc_ci95=_ci_list(mine.curve_auc_ci95),
            baseline_auc=best.curve_auc if best else None,
            baseline_auc_ci95=_ci_list(best.curve_auc_ci95) if best else None,
            primary=primary,
            primary_value=value,
            primary_ci95=_ci_list(ci),
            baseline_primary=b_value,
            baseline_primary_ci95=_ci_list(b_ci),
            retention_sampled=mine.retention_sampled_mean,
            retention_sampled_ci95=_ci_list(mine.retention_sampled_ci95),
            baseline_retention_sampled=best.retention_sampled_mean if best else None,
            baseline_retention_sampled_ci95=_ci_list(best.retention_sampled_ci95) if best else None,
            n_flagged=mine.n_flagged + (best.n_flagged if best else 0),
            tuning=board.suite.tuning,
        ))
    return out


def headline_dicts(rows: list[HeadlineRow]) -> list[dict]:
    return [asdict(r) for r in rows]

