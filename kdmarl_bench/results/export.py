"""``kdmarl-bench export``: a leaderboard in formats other tools read.

- ``csv``: one row per record (task, method, size, seed, metric, score, retention, params, FLOPs,
  1-thread CPU decentralized p50/p90/p99 ms, backend, error).
- ``marl-eval``: the raw-data JSON of InstaDeep's marl-eval (README "Data Structure for Raw
  Experiment data", and what ``marl_eval.utils.diagnose_data_errors.DiagnoseData.check_data``
  checks)::

      {env_name: {task_name: {algorithm_name: {"run_<seed>": {
          "step_<k>": {"step_count": <int>, metric: [values]},
          "absolute_metrics": {metric: [values]}}}}}}

  Each list holds one value for a rate computed over many episodes (``win_rate``,
  ``retention``) or one value per evaluation episode (``episode_return``). kdmarl-bench evaluates
  each policy once, after its env-step budget, so every run has a single logging step,
  ``step_1`` (``step_count`` = the env-step budget), and ``absolute_metrics`` repeats it.
  The checker wants, per environment, the same algorithms on every task, the same number of
  runs for every algorithm, the same steps and metrics everywhere and no comma in an algorithm
  name; ``data_process_pipeline`` lower-cases every key. So keys are lower case, the
  environment is the task family (``smax``, ``mpe``, ``smacv2``), an algorithm is
  ``method:size`` (the teacher is ``teacher``), and cells that would make the design ragged
  (failed seeds, a method missing on a task) are left out and listed in ``dropped``.
- ``gh-benchmark-bigger`` / ``gh-benchmark-smaller``: github-action-benchmark's
  ``customBiggerIsBetter`` / ``customSmallerIsBetter`` input, a list of
  ``{"name", "unit", "value", "range", "extra"}`` per summary row: retention and score
  (bigger is better); team FLOPs and 1-thread CPU p50 latency (smaller is better).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from kdmarl_bench.results.io import as_leaderboard
from kdmarl_bench.results.records import CI, TEACHER, Leaderboard, Record, Summary, has_ci
from kdmarl_bench.results.records import is_finite_number as _ok

FORMATS = ("csv", "marl-eval", "gh-benchmark-bigger", "gh-benchmark-smaller")

CSV_COLUMNS = (
    "task",
    "method",
    "size",
    "seed",
    "metric",
    "score",
    "retention",
    "params",
    "flops",
    "cpu_p50_ms",
    "cpu_p90_ms",
    "cpu_p99_ms",
    "backend",
    "error",
)


def _cell(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else ""
    return str(x)


# ---------------------------------------------------------------------------------------------
# csv


def to_csv_rows(board: Leaderboard | dict) -> list[dict]:
    """One dict per record with the ``CSV_COLUMNS`` keys (None where a value is missing)."""
    rows = []
    for r in as_leaderboard(board).records:
        lat = r.latency_entry("cpu", 1)
        rows.append(
            {
                "task": r.task,
                "method": r.method,
                "size": r.size,
                "seed": r.seed,
                "metric": r.metric,
                "score": r.score,
                "retention": r.retention,
                "params": r.cost.params if r.cost else None,
                "flops": r.cost.flops if r.cost else None,
                "cpu_p50_ms": lat.p50_ms if lat else None,
                "cpu_p90_ms": lat.p90_ms if lat else None,
                "cpu_p99_ms": lat.p99_ms if lat else None,
                "backend": r.backend,
                "error": r.error,
            }
        )
    return rows


def to_csv(data: Leaderboard | dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in to_csv_rows(data):
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# marl-eval


@dataclass
class MarlEvalExport:
    data: dict
    dropped: list[str] = field(default_factory=list)


def algorithm_name(method: str, size: str) -> str:
    """``teacher`` or ``method:size``, lower case, commas replaced (marl-eval forbids them)."""
    name = method if method == TEACHER else f"{method}:{size}"
    return name.lower().replace(",", ";")


def _metrics(record: Record, with_retention: bool) -> dict[str, list[float]]:
    assert record.score is not None  # only successful records are exported
    if record.metric == "win_rate":
        out = {"win_rate": [float(record.score)]}
    else:
        eps = [float(v) for v in record.episode_scores if _ok(v)]
        out = {"episode_return": eps or [float(record.score)]}
    if with_retention and record.retention is not None:
        out["retention"] = [float(record.retention)]
    return out


def to_marl_eval(board: Leaderboard | dict) -> MarlEvalExport:
    """The marl-eval raw-data dict (see the module docstring) and what was left out and why."""
    dropped: list[str] = []
    # env → task → algorithm → seed → record (successful records only)
    board = as_leaderboard(board)
    cells: dict[str, dict[str, dict[str, dict[int, Record]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(dict))
    )
    for r in board.records:
        family, _, task = r.task.partition("/")
        algo = algorithm_name(r.method, r.size)
        if not r.ok:
            dropped.append(f"{r.task} {algo} seed {r.seed}: failed ({r.error})")
            continue
        cells[family.lower()][task.lower()][algo][int(r.seed)] = r
    out: dict[str, Any] = {}
    for env in sorted(cells):
        tasks = cells[env]
        algos = set.intersection(*(set(by_algo) for by_algo in tasks.values()))
        for task, by_algo in sorted(tasks.items()):
            for algo in sorted(set(by_algo) - algos):
                dropped.append(f"{env}/{task} {algo}: not on every {env} task")
        if not algos:
            continue
        seeds = set.intersection(*(set(by_algo[a]) for by_algo in tasks.values() for a in algos))
        for task, by_algo in sorted(tasks.items()):
            for algo in sorted(algos):
                for seed in sorted(set(by_algo[algo]) - seeds):
                    dropped.append(f"{env}/{task} {algo} seed {seed}: seed missing elsewhere in {env}")
        if not seeds:
            continue
        kept = [by_algo[a][s] for by_algo in tasks.values() for a in algos for s in seeds]
        with_retention = all(_ok(r.retention) for r in kept)
        env_out: dict[str, Any] = {}
        for task, by_algo in sorted(tasks.items()):
            task_out: dict[str, Any] = {}
            for algo in sorted(algos, key=lambda a: (board.sort_key(a.split(":")[0]), a)):
                runs: dict[str, Any] = {}
                for seed in sorted(seeds):
                    rec = by_algo[algo][seed]
                    metrics = _metrics(rec, with_retention)
                    step_count = rec.env_steps
                    runs[f"run_{seed}"] = {
                        "step_1": {"step_count": step_count, **metrics},
                        "absolute_metrics": {k: list(v) for k, v in metrics.items()},
                    }
                task_out[algo] = runs
            env_out[task] = task_out
        out[env] = env_out
    return MarlEvalExport(data=out, dropped=dropped)


# ---------------------------------------------------------------------------------------------
# github-action-benchmark


def _range(ci: CI | None, digits: int = 4) -> str | None:
    if ci is None or not has_ci(ci):
        return None
    return f"95% CI [{ci.lo:.{digits}g}, {ci.hi:.{digits}g}]"


def _entry(name: str, unit: str, value: float, rng: str | None, extra: str) -> dict:
    e: dict[str, Any] = {"name": name, "unit": unit, "value": float(value)}
    if rng:
        e["range"] = rng
    e["extra"] = extra
    return e


def _extra(row: Summary, board: Leaderboard) -> str:
    parts = [f"suite {board.suite.name} v{board.suite.version}", f"seeds {row.n_seeds}"]
    if row.n_failed:
        parts.append(f"failed {row.n_failed}")
    if row.backend:
        parts.append(f"backend {row.backend}")
    return "; ".join(parts)


def to_gh_benchmark(board: Leaderboard | dict, direction: str) -> list[dict]:
    """github-action-benchmark entries; ``direction`` 'bigger' (retention, score) or 'smaller'
    (FLOPs per team decision, CPU p50 ms). Rows without the value (failed cells) are left out."""
    if direction not in ("bigger", "smaller"):
        raise ValueError(f"direction must be 'bigger' or 'smaller', got {direction!r}")
    board = as_leaderboard(board)
    out: list[dict] = []
    for row in board.ordered_summary():
        base = f"{row.task} {row.method}" + ("" if row.method == TEACHER else f" [{row.size}]")
        extra = _extra(row, board)
        if direction == "bigger":
            if row.method != TEACHER and row.retention_mean is not None:
                out.append(_entry(f"{base} retention", "fraction of teacher", row.retention_mean,
                                  _range(row.retention_ci95), extra))
            if row.score_mean is not None:
                unit = "win rate" if row.metric == "win_rate" else "team return"
                out.append(_entry(f"{base} score", unit, row.score_mean, _range(row.score_ci95), extra))
        else:
            if row.flops is not None:
                out.append(_entry(f"{base} FLOPs", "FLOPs per team decision", row.flops, None, extra))
            cpu = row.latency_summary.cpu
            p50 = cpu.p50_ms if cpu else row.latency_cpu_p50_ms
            if p50 is not None:
                more = ""
                if cpu and cpu.p90_ms is not None and cpu.p99_ms is not None:
                    more = f"; p90 {cpu.p90_ms:.4g} ms, p99 {cpu.p99_ms:.4g} ms"
                out.append(_entry(f"{base} CPU p50 latency (1 thread)", "ms", p50, None, extra + more))
    return out


# ---------------------------------------------------------------------------------------------
# entry point


def export(board: Leaderboard | dict, fmt: str) -> tuple[str, list[str]]:
    """``(text, warnings)`` of a leaderboard in format ``fmt`` (one of ``FORMATS``)."""
    data = as_leaderboard(board)
    if fmt == "csv":
        return to_csv(data), []
    if fmt == "marl-eval":
        res = to_marl_eval(data)
        warnings = [f"left out of the marl-eval export: {d}" for d in res.dropped]
        return json.dumps(res.data, indent=2) + "\n", warnings
    if fmt in ("gh-benchmark-bigger", "gh-benchmark-smaller"):
        return json.dumps(to_gh_benchmark(data, fmt.rsplit("-", 1)[1]), indent=2) + "\n", []
    raise ValueError(f"unknown export format {fmt!r}; valid choices: {', '.join(FORMATS)}")
