"""Build a leaderboard from cell records: per-seed retention, summaries with bootstrap CIs, latency
summaries, learning curves (retention per budget point and its normalised area, CIs over seeds) and
aggregates across tasks (IQM, mean, performance profile, probability of improvement).

Every statistic is a pure function of (runs × tasks) retention matrices (``results.stats``); no
method is special: the focus method (``suite.focus``) only decides whose aggregate entries carry
the probability of improvement over the others, and ``probability_of_improvement`` computes it
for any method. Records with an ``error`` (a failed cell) are kept but left out of every statistic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from kdmarl_bench.results import stats
from kdmarl_bench.results.records import (
    CI,
    DEFAULT_FOCUS,
    TEACHER,
    Aggregate,
    Bootstrap,
    CurvePoint,
    CurveSummaryPoint,
    Improvement,
    Key,
    LatencyEntry,
    LatencyGroup,
    LatencySummary,
    Leaderboard,
    PerformanceProfile,
    Protocol,
    Provenance,
    Record,
    SuiteInfo,
    Summary,
    finite_or_none,
    is_finite_number,
    method_sort_key,
)

Columns = dict[str, np.ndarray]
"""``{task: per-seed values}`` of one (method, size): a runs × tasks matrix by column."""


def _ci(lo: float, hi: float) -> CI | None:
    return CI.parse([lo, hi])


def finite_mean(values: Iterable[Any]) -> float | None:
    """Mean of the finite numbers among ``values`` (None when there are none)."""
    vals = [float(v) for v in values if is_finite_number(v)]
    return float(np.mean(vals)) if vals else None


# ---------------------------------------------------------------------------------------------
# records


def complete_record(record: dict | Record) -> Record:
    """A typed record with the teacher's own score as its teacher score and the per-seed
    retention filled in when the cell left it null."""
    from kdmarl_bench.results.io import sanitize

    r = record if isinstance(record, Record) else Record.from_dict(sanitize(dict(record)))
    if r.method == TEACHER and r.teacher_score is None and is_finite_number(r.score):
        r = replace(r, teacher_score=r.score)
    if r.retention is None and r.ok and is_finite_number(r.teacher_score):
        if r.metric == "win_rate" or (r.metric == "return" and is_finite_number(r.random_score)):
            value = stats.retention(r.score, r.teacher_score, r.metric, r.random_score)
            r = replace(r, retention=finite_or_none(value))
    if r.curve and r.ok:
        r = replace(r, curve=[_point_retention(c, r) for c in r.curve])
    return r


def _point_retention(point: CurvePoint, r: Record) -> CurvePoint:
    """A curve point with its retention filled the way the record's is (teacher on the same seed)."""
    if point.retention is not None or not is_finite_number(point.score) or not is_finite_number(r.teacher_score):
        return point
    if r.metric == "return" and not is_finite_number(r.random_score):
        return point
    value = stats.retention(point.score, r.teacher_score, r.metric, r.random_score)
    return replace(point, retention=finite_or_none(value))


def group_ok_records(records: Iterable[Record]) -> dict[Key, list[Record]]:
    """``{(task, method, size): successful records}``."""
    groups: dict[Key, list[Record]] = defaultdict(list)
    for r in records:
        if r.ok:
            groups[r.key].append(r)
    return groups


# ---------------------------------------------------------------------------------------------
# latency


def _latency_group(entries: list[LatencyEntry]) -> LatencyGroup | None:
    """Means over seeds of one latency profile (p50/p90/p99, Timer median), any mismatch, max CV."""
    if not entries:
        return None
    first = entries[0]
    mismatches = [e.timer_mismatch for e in entries if isinstance(e.timer_mismatch, bool)]
    noisy = [e.noisy for e in entries if isinstance(e.noisy, bool)]
    cvs = [float(e.cv) for e in entries if is_finite_number(e.cv)]
    return LatencyGroup(
        device=str(first.device),
        device_name=first.device_name,
        threads=first.threads,
        batch=first.batch,
        mode=first.mode,
        n_seeds=len(entries),
        p50_ms=finite_mean(e.p50_ms for e in entries),
        p90_ms=finite_mean(e.p90_ms for e in entries),
        p99_ms=finite_mean(e.p99_ms for e in entries),
        timer_median_ms=finite_mean(e.timer_median_ms for e in entries),
        timer_mismatch=any(mismatches) if mismatches else None,
        cv_max=max(cvs) if cvs else None,
        throughput_decisions_per_s=finite_mean(e.throughput_decisions_per_s for e in entries),
        noisy=any(noisy) if noisy else None,
    )


def latency_summary(records: Iterable[Record]) -> LatencySummary:
    """The 1-thread CPU and the CUDA decentralized latency over seeds (None where not timed).

    p50/p90/p99 and ``timer_median_ms`` are means over seeds; ``timer_mismatch`` / ``noisy`` are
    true when any seed's entry is; ``cv_max`` is the largest coefficient of variation of any seed.
    """
    records = list(records)
    out = {}
    for device, threads in (("cpu", 1), ("cuda", None)):
        entries = [e for e in (r.latency_entry(device, threads) for r in records) if e is not None]
        out[device] = _latency_group(entries)
    return LatencySummary(**out)


# ---------------------------------------------------------------------------------------------
# learning curves


def curve_summary(records: list[Record], boot: Bootstrap) -> dict[str, Any]:
    """``retention_curve``, ``curve_auc`` and ``curve_auc_ci95`` of one (task, method, size) from its
    successful records; empty when none carries a curve of two or more points.

    Per budget point: the mean over seeds of score and retention with percentile-bootstrap CIs over
    seeds. The area: each seed's retention curve integrated (trapezoids) and divided by the
    env-step range, then the mean over seeds with its CI; a seed whose curve misses a point or a
    retention is left out of the area.
    """
    curves = [r.curve for r in records if r.ok and r.curve and len(r.curve) >= 2]
    if not curves:
        return {}
    kw = boot.kwargs()
    points = sorted({c.env_steps for curve in curves for c in curve})
    rows = []
    for x in points:
        at = [c for curve in curves for c in curve if c.env_steps == x]
        s_mean, s_lo, s_hi = stats.mean_ci([c.score for c in at], **kw)
        rets = [c.retention for c in at if is_finite_number(c.retention)]
        r_mean, r_lo, r_hi = stats.mean_ci(rets, **kw)
        rows.append(CurveSummaryPoint(x, len(at), finite_or_none(s_mean), _ci(s_lo, s_hi),
                                      finite_or_none(r_mean), _ci(r_lo, r_hi)))
    aucs = []
    for curve in curves:
        by_x = {c.env_steps: c.retention for c in curve}
        if all(is_finite_number(by_x.get(x)) for x in points):
            aucs.append(stats.curve_auc(points, [by_x[x] for x in points]))
    a_mean, a_lo, a_hi = stats.mean_ci(aucs, **kw)
    return {"retention_curve": rows, "curve_auc": finite_or_none(a_mean), "curve_auc_ci95": _ci(a_lo, a_hi)}


# ---------------------------------------------------------------------------------------------
# summaries


def _best_path(records: list[Record]) -> dict[str, Any]:
    """``best_path`` / ``best_path_p50_ms``: the fastest 1-thread decentralized CPU path whose
    equivalence check passed (eager always qualifies), from the least disturbed record (min p50)."""
    best: tuple[float, str] | None = None
    for r in records:
        for e in r.latency:
            if e.device != "cpu" or e.threads != 1 or e.mode != "decentralized" or e.batch != 1:
                continue
            eq = e.extra.get("equivalence")
            if isinstance(eq, dict) and eq.get("passed") is False:
                continue
            cand = (e.p50_ms, e.path or "eager")
            if is_finite_number(e.p50_ms) and (best is None or cand < best):
                best = cand
    return {} if best is None else {"best_path": best[1], "best_path_p50_ms": best[0]}


def summaries(records: list[Record], boot: Bootstrap, focus: str = DEFAULT_FOCUS) -> list[Summary]:
    """One summary per (task, method, size), teacher first per task."""
    groups: dict[Key, list[Record]] = defaultdict(list)
    for r in records:
        groups[r.key].append(r)
    rows: list[Summary] = []
    kw = boot.kwargs()
    for (task, method, size), recs in groups.items():
        ok = [r for r in recs if r.ok]
        s_mean, s_lo, s_hi = stats.mean_ci([r.score for r in ok], **kw)
        rets = [r.retention for r in ok if is_finite_number(r.retention)]
        r_mean, r_lo, r_hi = stats.mean_ci(rets, **kw)
        costs = [r.cost for r in recs if r.cost is not None]
        params = finite_mean(c.params for c in costs)
        rows.append(Summary(
            task=task,
            method=method,
            size=size,
            metric=recs[0].metric,
            backend=recs[0].backend,
            view=recs[0].view,
            teacher_kind=recs[0].teacher_kind,
            n_seeds=len(ok),
            n_failed=len(recs) - len(ok),
            score_mean=finite_or_none(s_mean),
            score_ci95=_ci(s_lo, s_hi),
            retention_mean=finite_or_none(r_mean),
            retention_ci95=_ci(r_lo, r_hi),
            flops=finite_mean(c.flops for c in costs),
            params=None if params is None else int(round(params)),
            flops_reduction=None,
            latency_cpu_p50_ms=finite_mean(r.cpu_p50_ms for r in ok),
            latency_speedup_cpu=None,
            latency_summary=latency_summary(ok),
            weights_bytes=finite_mean(r.weights_bytes for r in ok),
            **_best_path(ok),
            **curve_summary(ok, boot),
        ))
    teachers = {row.task: row for row in rows if row.method == TEACHER}
    out = []
    for row in rows:
        t = teachers.get(row.task)
        if t is not None:
            row = replace(
                row,
                flops_reduction=t.flops / row.flops if t.flops and row.flops else None,
                latency_speedup_cpu=(t.latency_cpu_p50_ms / row.latency_cpu_p50_ms
                                     if t.latency_cpu_p50_ms and row.latency_cpu_p50_ms else None),
            )
        out.append(row)
    out.sort(key=lambda r: (r.task, method_sort_key(r.method, focus), -(r.flops or 0.0), r.size))
    return out


# ---------------------------------------------------------------------------------------------
# aggregates across tasks


def retention_columns(records: Iterable[Record]) -> dict[tuple[str, str], Columns]:
    """``{(method, size): {task: finite per-seed retentions}}`` of the successful records."""
    cols: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.ok and is_finite_number(r.retention):
            cols[(r.method, r.size)][r.task].append(float(r.retention))
    return {k: {t: np.asarray(v) for t, v in sorted(d.items())} for k, d in cols.items()}


def performance_profile(cols: list[np.ndarray], boot: Bootstrap) -> PerformanceProfile:
    """Fraction of runs with retention > tau on ``stats.PROFILE_TAUS``, with a stratified CI band."""
    from kdmarl_bench.results.io import sanitize

    taus = np.asarray(stats.PROFILE_TAUS)
    frac, lo, hi = stats.performance_profile_ci(cols, taus, **boot.kwargs())
    return PerformanceProfile(taus.tolist(), sanitize(frac), sanitize(lo), sanitize(hi))


def _comparable(method: str, size: str, other_method: str, other_size: str) -> bool:
    """Whom ``method`` at ``size`` is compared with: every other method at the same size, and
    the teacher."""
    return other_method != method and (other_method == TEACHER or other_size == size)


def probability_of_improvement(
    columns: dict[tuple[str, str], Columns], method: str, size: str, boot: Bootstrap, focus: str = DEFAULT_FOCUS
) -> list[Improvement]:
    """P(``method`` at ``size`` > other) per comparable (method, size), over their common tasks."""
    mine = columns.get((method, size), {})
    out = []
    for (other_m, other_s), theirs in sorted(
        columns.items(), key=lambda kv: (method_sort_key(kv[0][0], focus), kv[0][1])
    ):
        if not _comparable(method, size, other_m, other_s):
            continue
        common = sorted(set(mine) & set(theirs))
        if not common:
            continue
        p, lo, hi = stats.probability_of_improvement(
            [mine[t] for t in common], [theirs[t] for t in common], **boot.kwargs()
        )
        out.append(Improvement(other_m, other_s, len(common), finite_or_none(p), _ci(lo, hi)))
    return out


def aggregates(records: list[Record], boot: Bootstrap, focus: str = DEFAULT_FOCUS) -> list[Aggregate]:
    """Per (method, size) across tasks; the focus method's entries carry its PoI over the others."""
    columns = retention_columns(records)
    out: list[Aggregate] = []
    kw = boot.kwargs()
    for (method, size), by_task in sorted(
        columns.items(), key=lambda kv: (method_sort_key(kv[0][0], focus), kv[0][1])
    ):
        cols = list(by_task.values())
        iqm, iqm_lo, iqm_hi = stats.stratified_bootstrap_ci(cols, stats.aggregate_iqm, **kw)
        mean, mean_lo, mean_hi = stats.stratified_bootstrap_ci(cols, stats.aggregate_mean, **kw)
        out.append(Aggregate(
            method=method,
            size=size,
            n_tasks=len(cols),
            n_runs=int(sum(c.size for c in cols)),
            iqm_retention=finite_or_none(iqm),
            iqm_retention_ci95=_ci(iqm_lo, iqm_hi),
            mean_retention=finite_or_none(mean),
            mean_retention_ci95=_ci(mean_lo, mean_hi),
            performance_profile=performance_profile(cols, boot),
            probability_of_improvement=(
                probability_of_improvement(columns, method, size, boot, focus) if method == focus else None
            ),
        ))
    return out


def improvements_of(board: Leaderboard, method: str | None = None) -> list[tuple[Aggregate, Improvement]]:
    """(aggregate entry, PoI) pairs of ``method`` (default: the board's focus) over every other.

    Read from the board when it stored them (the focus method), computed from its records
    otherwise, so any method can be looked at.
    """
    method = method or board.focus
    entries = [a for a in board.aggregate if a.method == method]
    if entries and all(a.probability_of_improvement is not None for a in entries):
        return [(a, p) for a in entries for p in a.probability_of_improvement or []]
    columns = retention_columns(board.records)
    return [
        (a, p) for a in entries
        for p in probability_of_improvement(columns, method, a.size, board.bootstrap, board.focus)
    ]


# ---------------------------------------------------------------------------------------------
# the board


def build(records: Iterable[dict | Record], suite_info: dict, protocol: dict, provenance: dict) -> Leaderboard:
    """A typed leaderboard from cell records (dicts as the runner writes them, or Records).

    ``protocol.bootstrap`` (n_resamples, random_state, confidence) sets every CI; missing entries
    take the defaults (2000, 0, 0.95) and are recorded. ``suite_info.focus`` (default
    ``kd-marl``) is the method under test.
    """
    from kdmarl_bench.results.io import sanitize

    suite = SuiteInfo.from_dict({"focus": DEFAULT_FOCUS, **sanitize(dict(suite_info))})
    proto = Protocol.from_dict(sanitize(dict(protocol)))
    recs = sorted(
        (complete_record(r) for r in records),
        key=lambda r: (r.task, method_sort_key(r.method, suite.focus), r.size, r.seed),
    )
    return Leaderboard(
        suite=suite,
        provenance=Provenance.from_dict(sanitize(dict(provenance))),
        protocol=proto,
        records=recs,
        summary=summaries(recs, proto.bootstrap, suite.focus),
        aggregate=aggregates(recs, proto.bootstrap, suite.focus),
    )
