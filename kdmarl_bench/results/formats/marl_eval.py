"""``export --format marl-eval``: the raw-data JSON of InstaDeep's marl-eval (README "Data Structure for Raw
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
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from kdmarl_bench.results.formats.base import ExportFormat, register_format
from kdmarl_bench.results.records import TEACHER, Leaderboard, Record
from kdmarl_bench.results.records import is_finite_number as _ok


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
    from kdmarl_bench.results.io import as_leaderboard

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


def _render(board: Leaderboard) -> tuple[str, list[str]]:
    res = to_marl_eval(board)
    warnings = [f"left out of the marl-eval export: {d}" for d in res.dropped]
    return json.dumps(res.data, indent=2) + "\n", warnings


register_format(ExportFormat(name="marl-eval", help="InstaDeep marl-eval raw-data JSON", render=_render))
