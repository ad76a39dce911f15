"""``export --format marl-eval``: the raw-data JSON of InstaDeep's marl-eval (README "Data Structure for Raw
Experiment data", and what ``marl_eval.utils.diagnose_data_errors.DiagnoseData.check_data``
checks)::

    {env_name: {task_name: {algorithm_name: {"run_<seed>": {
        "step_<k>": {"step_count": <int>, metric: [values]},
        "absolute_metrics": {metric: [values]}}}}}}

Each list holds one value for a rate computed over many episodes (``win_rate``,
``retention``) or one value per evaluation episode (``episode_return``).

Steps: a student evaluated at ``[budget] eval_at`` points has one ``step_<k>`` per point
(``step_count`` = the point's env steps, in order), ending at its full budget (the record's
final evaluation, added when the curve does not end there); a student without a curve has one
step, ``step_1``, at its budget. ``absolute_metrics`` is always the final evaluation. The
teacher is a fixed policy, not trained in the run: its one evaluation stands at every step of
its environment (so the design stays rectangular).

The checker wants, per environment, the same algorithms on every task, the same number of
runs for every algorithm, the same steps and metrics everywhere and no comma in an algorithm
name; ``data_process_pipeline`` lower-cases every key. So keys are lower case, the
environment is the task family (``smax``, ``mpe``, ``smacv2``), a task under a view other than
``full`` is its own task ``TASK@VIEW`` (``3m@hetero``: what students see changes the task, as
``compare`` holds), an algorithm is ``method:size`` (the teacher is ``teacher``), and cells that
would make the design ragged (failed seeds, a method missing on a task, a budget point missing
in some run) are left out and listed in ``dropped``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from kdmarl_bench.results.analysis.compare import task_regimes
from kdmarl_bench.results.model.records import TEACHER, Leaderboard, Record
from kdmarl_bench.results.model.records import is_finite_number as _ok
from kdmarl_bench.results.render.formats.base import ExportFormat, register_format


@dataclass
class MarlEvalExport:
    data: dict
    dropped: list[str] = field(default_factory=list)


def algorithm_name(method: str, size: str) -> str:
    """``teacher`` or ``method:size``, lower case, commas replaced (marl-eval forbids them)."""
    name = method if method == TEACHER else f"{method}:{size}"
    return name.lower().replace(",", ";")


def _metric_lists(metric: str, score: float, episodes: list, retention: float | None,
                  with_retention: bool) -> dict[str, list[float]]:
    if metric == "win_rate":
        out = {"win_rate": [float(score)]}
    else:
        eps = [float(v) for v in episodes if _ok(v)]
        out = {"episode_return": eps or [float(score)]}
    if with_retention and retention is not None:
        out["retention"] = [float(retention)]
    return out


def _metrics(record: Record, with_retention: bool) -> dict[str, list[float]]:
    assert record.score is not None  # only successful records are exported
    return _metric_lists(record.metric, record.score, record.episode_scores, record.retention, with_retention)


def _steps(record: Record, with_retention: bool) -> dict[int, dict[str, list[float]]]:
    """Env steps → metrics of every evaluation of a student: its curve, then its final one."""
    out = {}
    for p in record.curve or []:
        if _ok(p.score):
            out[int(p.env_steps)] = _metric_lists(record.metric, p.score, p.episode_scores, p.retention,
                                                  with_retention)
    out.setdefault(int(record.env_steps), _metrics(record, with_retention))
    return dict(sorted(out.items()))


def task_key(task: str, view: str) -> str:
    """The marl-eval task name: ``3m``, or ``3m@hetero`` under a view other than full (lower case)."""
    return (task if view == "full" else f"{task}@{view}").lower()


def to_marl_eval(board: Leaderboard) -> MarlEvalExport:
    """The marl-eval raw-data dict (see the module docstring) and what was left out and why."""
    dropped: list[str] = []
    # env → task → algorithm → seed → record (successful records only)
    task_regimes("export", board)  # a task under two views in one board is refused, as compare refuses it
    cells: dict[str, dict[str, dict[str, dict[int, Record]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(dict))
    )
    for r in board.records:
        family, _, task = r.task.partition("/")
        algo = algorithm_name(r.method, r.size)
        if not r.ok:
            dropped.append(f"{r.task} {algo} seed {r.seed}: failed ({r.error})")
            continue
        cells[family.lower()][task_key(task, r.view)][algo][int(r.seed)] = r
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
        # The budget points every trained run of this environment was evaluated at.
        trained = {id(r): _steps(r, with_retention) for r in kept if r.method != TEACHER}
        common = sorted(set.intersection(*(set(st) for st in trained.values()))) if trained else []
        for r in kept:
            if id(r) in trained and set(trained[id(r)]) - set(common):
                extra = ", ".join(str(k) for k in sorted(set(trained[id(r)]) - set(common)))
                dropped.append(f"{env}/{task_key(r.task.partition('/')[2], r.view)} "
                               f"{algorithm_name(r.method, r.size)} seed {r.seed}: steps {extra} not in every {env} run")
        env_out: dict[str, Any] = {}
        for task, by_algo in sorted(tasks.items()):
            task_out: dict[str, Any] = {}
            for algo in sorted(algos, key=lambda a: (board.sort_key(a.split(":")[0]), a)):
                runs: dict[str, Any] = {}
                for seed in sorted(seeds):
                    rec = by_algo[algo][seed]
                    metrics = _metrics(rec, with_retention)
                    if id(rec) in trained:
                        steps = [(n, trained[id(rec)][n]) for n in common]
                    else:  # a fixed teacher: its one evaluation at every step of the environment
                        steps = [(n, metrics) for n in common] or [(rec.env_steps, metrics)]
                    run: dict[str, Any] = {f"step_{k}": {"step_count": n, **{m: list(v) for m, v in mets.items()}}
                                           for k, (n, mets) in enumerate(steps, start=1)}
                    run["absolute_metrics"] = {k: list(v) for k, v in metrics.items()}
                    runs[f"run_{seed}"] = run
                task_out[algo] = runs
            env_out[task] = task_out
        out[env] = env_out
    return MarlEvalExport(data=out, dropped=dropped)


def _render(board: Leaderboard) -> tuple[str, list[str]]:
    res = to_marl_eval(board)
    warnings = [f"left out of the marl-eval export: {d}" for d in res.dropped]
    return json.dumps(res.data, indent=2) + "\n", warnings


register_format(ExportFormat(name="marl-eval", help="InstaDeep marl-eval raw-data JSON (one step_k per eval_at budget "
                                                   "point; tasks named TASK@VIEW)", render=_render))
