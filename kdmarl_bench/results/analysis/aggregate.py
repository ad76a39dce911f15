"""Build a leaderboard from cell records: per-seed retention, summaries with bootstrap CIs, latency
summaries, learning curves (retention per budget point and its normalised area, CIs over seeds) and
aggregates across tasks (IQM, mean, performance profile, probability of improvement).

Every statistic is a pure function of (runs × tasks) retention matrices (``results.analysis.stats``); no
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

from kdmarl_bench.results.analysis import stats
from kdmarl_bench.results.model.codec import sanitize, sanitized
from kdmarl_bench.results.model.records import (
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
    curve_auc,
    finite_or_none,
    is_finite_number,
    method_sort_key,
)

Columns = dict[str, np.ndarray]
"""``{task: per-seed values}`` of one (method, size): a runs × tasks matrix by column."""


def _ci(lo: float, hi: float) -> CI | None:
    return CI.parse([lo, hi])


def ci_list(mean_lo_hi: tuple[float, float, float]) -> list[float] | None:
    """``[lo, hi]`` of a ``(mean, lo, hi)`` triple, None when a bound is not finite."""
    ci = _ci(mean_lo_hi[1], mean_lo_hi[2])
    return None if ci is None else ci.to_list()


def finite_mean(values: Iterable[Any]) -> float | None:
    """Mean of the finite numbers among ``values`` (None when there are none)."""
    vals = [float(v) for v in values if is_finite_number(v)]
    return float(np.mean(vals)) if vals else None


# ---------------------------------------------------------------------------------------------
# records


def complete_record(record: Record) -> Record:
    """The record made JSON-safe (``codec.sanitized``: NaN → None, numpy → Python) with the teacher's own
    score as its teacher score and the per-seed retention filled in when the cell left it null."""
    r = sanitized(record)
    if r.method == TEACHER and r.teacher_score is None and is_finite_number(r.score):
        r = replace(r, teacher_score=r.score)
    if r.method == TEACHER and r.teacher_score_sampled is None and is_finite_number(r.score_sampled):
        r = replace(r, teacher_score_sampled=r.score_sampled)
    if r.retention is None and r.ok:
        r = replace(r, retention=_retention(r.score, r.teacher_score, r))
    if r.retention_sampled is None and r.ok:
        r = replace(r, retention_sampled=_retention(r.score_sampled, r.teacher_score_sampled, r))
    if r.curve and r.ok:
        r = replace(r, curve=[_point_retention(c, r) for c in r.curve])
    return r


def with_int8_retention(record: Record) -> Record:
    """The record with its int8 twin's ``retention`` (the open ``int8`` field) filled from its
    ``teacher_score`` the way the fp32 one is (pure; a record without an int8 score is returned as is).

    Cells are scored before the teacher's score on the same (task, seed) is known; the runner fills
    ``teacher_score`` afterwards and calls this."""
    q = record.extra.get("int8")
    if not isinstance(q, dict) or q.get("score") is None:
        return record
    teacher, metric, rand = record.teacher_score, record.metric, record.random_score
    value = None
    if teacher is not None and (metric == "win_rate" or (metric == "return" and rand is not None)):
        value = float(stats.retention(q["score"], teacher, metric, rand))
        value = value if value == value else None  # NaN -> None
    return replace(record, extra={**record.extra, "int8": {**q, "retention": value}})


def _retention(score: Any, teacher: Any, r: Record) -> float | None:
    """Retention of ``score`` against ``teacher`` under the record's metric; None when either is
    missing (or a return task has no random-policy score)."""
    if not is_finite_number(score) or not is_finite_number(teacher):
        return None
    if r.metric == "return" and not is_finite_number(r.random_score):
        return None
    return finite_or_none(stats.retention(score, teacher, r.metric, r.random_score))


def _point_retention(point: CurvePoint, r: Record) -> CurvePoint:
    """A curve point with its (greedy and sampled) retention filled the way the record's is (teacher on
    the same seed)."""
    if point.retention is None:
        point = replace(point, retention=_retention(point.score, r.teacher_score, r))
    if point.retention_sampled is None and point.score_sampled is not None:
        point = replace(point, retention_sampled=_retention(point.score_sampled, r.teacher_score_sampled, r))
    return point


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
        sampled = [c.retention_sampled for c in at if is_finite_number(c.retention_sampled)]
        rs_mean, rs_lo, rs_hi = stats.mean_ci(sampled, **kw)
        rows.append(CurveSummaryPoint(x, len(at), finite_or_none(s_mean), _ci(s_lo, s_hi),
                                      finite_or_none(r_mean), _ci(r_lo, r_hi),
                                      finite_or_none(rs_mean), _ci(rs_lo, rs_hi)))
    out: dict[str, Any] = {"retention_curve": rows}
    for suffix, attr in (("", "retention"), ("_sampled", "retention_sampled")):
        aucs = []
        for curve in curves:
            by_x = {c.env_steps: getattr(c, attr) for c in curve}
            if all(is_finite_number(by_x.get(x)) for x in points):
                aucs.append(curve_auc(points, [by_x[x] for x in points]))
        if suffix and not aucs:
            continue
        a_mean, a_lo, a_hi = stats.mean_ci(aucs, **kw)
        out.update({f"curve_auc{suffix}": finite_or_none(a_mean), f"curve_auc{suffix}_ci95": _ci(a_lo, a_hi)})
    return out


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


def _sampled_summary(ok: list[Record], boot: Bootstrap) -> dict[str, Any]:
    """Means and CIs over seeds of the sampled score and retention; empty when no record has one."""
    scores = [r.score_sampled for r in ok if is_finite_number(r.score_sampled)]
    if not scores:
        return {}
    kw = boot.kwargs()
    s_mean, s_lo, s_hi = stats.mean_ci(scores, **kw)
    r_mean, r_lo, r_hi = stats.mean_ci([r.retention_sampled for r in ok if is_finite_number(r.retention_sampled)], **kw)
    return {"score_sampled_mean": finite_or_none(s_mean), "score_sampled_ci95": _ci(s_lo, s_hi),
            "retention_sampled_mean": finite_or_none(r_mean), "retention_sampled_ci95": _ci(r_lo, r_hi)}


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
            ci_kind=stats.ci_kind(len(ok)),
            n_flagged=sum(r.flagged for r in ok),
            **_sampled_summary(ok, boot),
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


def retention_columns(records: Iterable[Record], primary: str = "final") -> dict[tuple[str, str], Columns]:
    """``{(method, size): {task: finite per-seed values}}`` of the successful records: each seed's
    value of the primary metric (``Record.primary_value``; ``final`` = its retention)."""
    cols: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        value = r.primary_value(primary) if r.ok else None
        if value is not None:
            cols[(r.method, r.size)][r.task].append(value)
    return {k: {t: np.asarray(v) for t, v in sorted(d.items())} for k, d in cols.items()}


def performance_profile(cols: list[np.ndarray], boot: Bootstrap) -> PerformanceProfile:
    """Fraction of runs with retention > tau on ``stats.PROFILE_TAUS``, with a stratified CI band."""
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


def aggregates(records: list[Record], boot: Bootstrap, focus: str = DEFAULT_FOCUS,
               primary: str = "final") -> list[Aggregate]:
    """Per (method, size) across tasks, on the primary metric's per-seed values; the focus method's
    entries carry its PoI over the others."""
    columns = retention_columns(records, primary)
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
    columns = retention_columns(board.records, board.suite.primary)
    return [
        (a, p) for a in entries
        for p in probability_of_improvement(columns, method, a.size, board.bootstrap, board.focus)
    ]


# ---------------------------------------------------------------------------------------------
# the board


def build(records: Iterable[Record], suite_info: dict, protocol: dict, provenance: dict) -> Leaderboard:
    """A typed leaderboard from cell records.

    ``protocol.bootstrap`` (n_resamples, random_state, confidence) sets every CI; missing entries
    take the defaults (2000, 0, 0.95) and are recorded. ``suite_info.focus`` (default
    ``kd-marl``) is the method under test.
    """
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
        aggregate=aggregates(recs, proto.bootstrap, suite.focus, suite.primary),
    )
