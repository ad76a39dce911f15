"""Put leaderboards side by side, per (task, method, size), with deltas against the first.

SMAX (JaxMARL) and real StarCraft II (SMAC) are different environments: a comparison refuses
to put numbers from different backends, or different major versions of a backend package,
into the same row. Every function takes typed leaderboards (or dicts, typed once on entry);
``compare`` returns plain JSON-ready rows.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.analysis import noise
from kdmarl_bench.results.model.records import CI, Leaderboard, Provenance, Summary, method_sort_key

VALUE_FIELDS = ("score_mean", "score_ci95", "retention_mean", "retention_ci95", "flops", "latency_cpu_p50_ms")


def _major(version: Any) -> str | None:
    """'4.10.0' → '4'; '0.2.0' → '0'; None → None."""
    if version is None:
        return None
    head = str(version).strip().lstrip("vV").split(".")[0]
    digits = "".join(itertools.takewhile(str.isdigit, head))
    return digits or head


def _fmt_versions(versions: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) or "no versions recorded"


def task_backends(label: str, board: Leaderboard) -> dict[str, tuple[str, dict]]:
    """``{task: (backend, backend_versions)}`` of one leaderboard; UsageError if a task mixes backends."""
    out: dict[str, tuple[str, dict]] = {}
    for r in board.records:
        if r.task not in out:
            out[r.task] = (r.backend, dict(r.backend_versions))
            continue
        seen_backend, seen_versions = out[r.task]
        if r.backend != seen_backend:
            raise UsageError(
                f"{label}: task {r.task!r} mixes backends {seen_backend!r} and {r.backend!r} within one leaderboard"
            )
        for pkg, v in r.backend_versions.items():
            seen_versions.setdefault(pkg, v)
    for row in board.summary:  # a leaderboard without records still names its backend
        if row.task not in out and row.backend:
            out[row.task] = (row.backend, {})
    return out


def task_regimes(label: str, board: Leaderboard) -> dict[str, tuple[str, str]]:
    """``{task: (students' view, teacher kind)}`` of one leaderboard; UsageError if a task mixes them."""
    out: dict[str, tuple[str, str]] = {}
    for r in board.records:
        regime = (r.view, r.teacher_kind)
        if out.setdefault(r.task, regime) != regime:
            raise UsageError(f"{label}: task {r.task!r} mixes views/teachers {out[r.task]} and {regime} within one "
                             "leaderboard")
    return out


def check_compatible(a_label: str, a: Leaderboard, b_label: str, b: Leaderboard) -> None:
    """UsageError when the same task id comes from different backends (or backend major versions), or
    its students saw it through different views, or its teachers were of different kinds."""
    a_reg, b_reg = task_regimes(a_label, a), task_regimes(b_label, b)
    for task in sorted(set(a_reg) & set(b_reg)):
        if a_reg[task] != b_reg[task]:
            (va, ka), (vb, kb) = a_reg[task], b_reg[task]
            raise UsageError(
                f"cannot compare task {task!r}: {a_label} has students on view {va!r} with a {ka} teacher but "
                f"{b_label} has view {vb!r} with a {kb} teacher; what students can see changes the task, so these "
                "numbers never share a column"
            )
    a_tasks, b_tasks = task_backends(a_label, a), task_backends(b_label, b)
    for task in sorted(set(a_tasks) & set(b_tasks)):
        (ba, va), (bb, vb) = a_tasks[task], b_tasks[task]
        why = None
        if ba != bb:
            why = "different backends"
        else:
            for pkg in sorted(set(va) & set(vb)):
                if _major(va[pkg]) != _major(vb[pkg]):
                    why = f"different major versions of {pkg}"
                    break
        if why:
            raise UsageError(
                f"cannot compare task {task!r}: {a_label} records backend {ba!r} ({_fmt_versions(va)}) but "
                f"{b_label} records backend {bb!r} ({_fmt_versions(vb)}) — {why}; SMAX and real SMAC "
                "(StarCraft II) numbers are different environments and never share a column"
            )


def _value(row: Summary | None, name: str) -> Any:
    if row is None:
        return None
    value = getattr(row, name)
    return value.to_list() if isinstance(value, CI) else value


def provenance_line(label: str, board: Leaderboard) -> str:
    """One line of where a board was made: machine (CPU, GPU, threads), versions and commit."""
    p: Provenance = board.provenance
    machine = ", ".join(x for x in (p.cpu, p.gpu, f"{p.threads} threads" if p.threads else None) if x) or "unknown"
    versions = ", ".join(f"{k} {v}" for k, v in (("kdmarl-bench", p.kdmarl_bench), ("torch", p.torch),
                                                 ("jax", p.jax), ("mpe2", p.mpe2), ("python", p.python)) if v)
    commit = (p.git_commit or "unknown")[:10]
    return f"{label}: {machine} · {versions} · commit {commit} · {p.created_at}"


def _retentions(board: Leaderboard, key: tuple[str, str, str]) -> list[float]:
    return [float(r.retention) for r in board.records
            if r.key == key and r.ok and isinstance(r.retention, (int, float)) and math.isfinite(r.retention)]


def _significance(board: Leaderboard, base: Leaderboard, key: tuple[str, str, str]) -> tuple[list[float] | None, bool]:
    """(95% interval of Δ retention vs the first board, whether it excludes 0), with the gate's
    noise model (``noise.difference_interval``: pooled-variance t on per-seed retentions).
    One seed a side has no variance estimate: an infinite interval, never significant."""
    cur, ref = _retentions(board, key), _retentions(base, key)
    if not cur or not ref:
        return None, False
    iv = noise.difference_interval(cur, ref)
    if not (math.isfinite(iv.lo) and math.isfinite(iv.hi)):
        return None, False
    return [iv.lo, iv.hi], iv.lo > 0 or iv.hi < 0


def compare(leaderboards: list[tuple[str, Leaderboard]], common_only: bool = False) -> list[dict]:
    """Rows per (task, method, size) with each leaderboard's values and deltas vs the first.

    Each row: ``task, view, method, size, metric, entries``; each entry: ``label, present``, the
    values ``score_mean, score_ci95, retention_mean, retention_ci95, flops,
    latency_cpu_p50_ms, latency_noisy`` and ``delta_score, delta_retention, delta_flops,
    flops_ratio, delta_latency_cpu_p50_ms``, the relative changes ``rel_retention,
    rel_latency_cpu_p50_ms`` (fractions of the first board's value) and ``retention_diff_ci95,
    significant`` (the gate's noise model on per-seed retention); None for the first leaderboard or
    when a value is missing. ``common_only``: only rows present on every board.
    """
    if not leaderboards:
        raise UsageError("compare needs at least one leaderboard")
    boards = [(label, board) for label, board in leaderboards]
    for (la, a), (lb, b) in itertools.combinations(boards, 2):
        check_compatible(la, a, lb, b)
    focus = boards[0][1].focus
    indexes = [board.summary_index() for _, board in boards]
    keys: dict[tuple[str, str, str], Summary] = {}
    for idx in indexes:
        for key, row in idx.items():
            keys.setdefault(key, row)
    ordered = sorted(
        keys,
        key=lambda k: (k[0], method_sort_key(k[1], focus), -(keys[k].flops or 0.0), k[2]),
    )
    if common_only:
        ordered = [k for k in ordered if all(k in idx for idx in indexes)]
    rows = []
    for key in ordered:
        base = indexes[0].get(key)
        entries = []
        for i, ((label, board), idx) in enumerate(zip(boards, indexes, strict=True)):
            row = idx.get(key)
            entry: dict[str, Any] = {"label": label, "present": row is not None}
            for f in VALUE_FIELDS:
                entry[f] = _value(row, f)
            cpu = row.latency_summary.cpu if row is not None else None
            entry["latency_noisy"] = None if cpu is None else cpu.noisy
            entry.update(_deltas(row, base) if i else _deltas(None, None))
            ci, sig = _significance(board, boards[0][1], key) if i and row is not None and base else (None, False)
            entry.update(retention_diff_ci95=ci, significant=sig)
            entries.append(entry)
        metric = next((idx[key].metric for idx in indexes if key in idx and idx[key].metric), None)
        view = next((idx[key].view for idx in indexes if key in idx), "full")
        rows.append({"task": key[0], "view": view, "method": key[1], "size": key[2], "metric": metric,
                     "entries": entries})
    return rows


def _deltas(row: Summary | None, base: Summary | None) -> dict[str, float | None]:
    def diff(name: str) -> float | None:
        if row is None or base is None:
            return None
        a, b = getattr(row, name), getattr(base, name)
        return None if a is None or b is None else float(a) - float(b)

    ratio = None
    if row is not None and base is not None and row.flops is not None and base.flops:
        ratio = float(row.flops) / float(base.flops)
    def rel(name: str) -> float | None:
        d, b = diff(name), None if base is None else getattr(base, name)
        return None if d is None or not b else d / abs(float(b))

    return {
        "delta_score": diff("score_mean"),
        "delta_retention": diff("retention_mean"),
        "rel_retention": rel("retention_mean"),
        "delta_flops": diff("flops"),
        "flops_ratio": ratio,
        "delta_latency_cpu_p50_ms": diff("latency_cpu_p50_ms"),
        "rel_latency_cpu_p50_ms": rel("latency_cpu_p50_ms"),
    }
