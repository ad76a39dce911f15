"""Equal tuning for every method: a suite's ``[tune]`` section and the Optuna study behind ``tune``.

Every compared method gets the same trial budget and a search space of the same size (``SPACES``:
the learning rate, how much it trains per env-step — epochs, updates or replay — and one weight
of its own), on **tuning seeds** that the reporting board never uses (``[tune] seeds``, refused when
they overlap the suite's ``seeds`` or a given board's). The objective is the suite's pre-registered
primary metric (``[suite] primary``: the mean retention over the learning curve, or the final
one), averaged over the tuning seeds and the suite's tasks.

Each trial is a suite variant of the method (``<method>-t<hash>``, the hash of its sampled config)
run through the ``Runner`` on the executor ``run`` would use, into one output folder: a trial's
cells are keyed like any other cell, so a re-run of the study (a seeded TPE sampler proposes the
same configs in the same order) finds every finished trial and resumes after the last one. The
teacher's cells on the tuning seeds are shared by every trial. The study (every trial's config and
score, the best one, the sampler seed, the budget) is written atomically to ``OUT/study.json``
after each trial.

The search spaces are data: one line per (method, field) in ``SPACES``; a method field added later
(e.g. kd-marl's replay switch) is tuned by adding one line here, or per suite in ``[tune.space.X]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdmarl_bench.errors import BackendUnavailable, UsageError
from kdmarl_bench.registry import suggest
from kdmarl_bench.results.analysis.aggregate import complete_record
from kdmarl_bench.results.store.cells import cell_key
from kdmarl_bench.runner import fill_teacher_scores
from kdmarl_bench.safeio import write_json_atomic
from kdmarl_bench.suite_tables import ProfileSettings
from kdmarl_bench.tune_spec import DEFAULT_TUNE_SEEDS, SPACES, SearchDim, TuneSettings

if TYPE_CHECKING:
    from kdmarl_bench.suite import Suite

STUDY_VERSION = 1
TUNE_INSTALL = 'pip install "kdmarl-bench[tune]"'
# ---------------------------------------------------------------------------------
# the study
@dataclass
class TrialResult:
    number: int
    params: dict[str, Any]
    variant: str
    """The suite variant the trial ran as (its cells are ``students/<task>/<variant>/...``)."""
    value: float | None
    """The objective: the primary metric, mean over tuning seeds and tasks (None: a cell failed)."""
    per_task: dict[str, float | None]
    cached: bool
    """Every cell of the trial was already finished (a resumed study)."""


def require_optuna():
    """The optuna module, or exit 3 with the extra to install."""
    try:
        import optuna  # heavy optional dependency: only `tune` needs it
    except ImportError as exc:
        raise BackendUnavailable(f"`kdmarl-bench tune` needs Optuna, which is not installed ({exc}); "
                                 f"install it with: {TUNE_INSTALL}") from None
    return optuna


def check_method(suite: Suite, method: str) -> tuple[SearchDim, ...]:
    """The search space of ``method`` in ``suite``; UsageError (exit 2) naming the field otherwise."""
    students = [m for m in suite.methods if suite.method_base.get(m, m) != "teacher"]
    if method not in students:
        raise UsageError(f"{suite.path}: --method {method!r} is not a student method of suite {suite.name!r}"
                         f"{suggest(method, students)}; valid choices: {', '.join(students)}")
    settings = suite.tune or TuneSettings(spaces={m: SPACES[suite.method_base[m]] for m in students
                                                  if suite.method_base[m] in SPACES})
    space = settings.spaces.get(method, ())
    if not space and suite.method_base[method] in SPACES:  # left out by [tune] methods
        raise UsageError(f"{suite.path}: --method {method!r} is not tuned by suite {suite.name!r} (field "
                         f"'tune.methods'); valid choices: {', '.join(settings.spaces)}")
    if not space:
        raise UsageError(f"{suite.path}: field 'tune.space.{method}': empty search space (no default for "
                         f"{suite.method_base[method]!r}); declare one in [tune.space.{method}]")
    return space


def tune_settings(suite: Suite) -> TuneSettings:
    """The suite's ``[tune]`` settings, or the defaults (checked against the board's seeds)."""
    if suite.tune is not None:
        return suite.tune
    students = [m for m in suite.methods if suite.method_base.get(m, m) != "teacher"]
    overlap = sorted(set(DEFAULT_TUNE_SEEDS) & set(suite.seeds))
    if overlap:
        raise UsageError(f"{suite.path}: field 'tune.seeds': the default tuning seeds {list(DEFAULT_TUNE_SEEDS)} "
                         f"overlap the board's seeds {overlap}; set [tune] seeds")
    return TuneSettings(spaces={m: SPACES[suite.method_base[m]] for m in students if suite.method_base[m] in SPACES})


def trial_variant(method: str, params: dict[str, Any]) -> str:
    """The variant name of a trial: the method and the hash of its sampled config."""
    return f"{method}-t{cell_key({'method': method, 'params': params})[:10]}"


def trial_suite(suite: Suite, method: str, params: dict[str, Any], seeds: tuple[int, ...]) -> Suite:
    """The suite one trial runs: the teacher and the trial's variant, on the tuning seeds, at the
    headline size, with a minimal latency profile (tuning does not judge latency)."""
    name = trial_variant(method, params)
    sizes = tuple(s for s in suite.sizes if s.label == suite.headline_size) or suite.sizes[:1]
    return replace(
        suite, methods=("teacher", name), seeds=tuple(seeds), sizes=sizes,
        method_config={name: {**suite.method_config.get(method, {}), **params}},
        method_base={"teacher": "teacher", name: suite.method_base[method]}, method_sizes={},
        profile=ProfileSettings(iters=10, warmup=1, threads=(1,), batch_sizes=(), cuda="off"), tune=None)


def objective(records: list, method: str, primary: str) -> tuple[float | None, dict[str, float | None]]:
    """Mean over tasks of the mean over seeds of the primary metric; None when a cell failed."""
    per_task: dict[str, list[float | None]] = {}
    for r in records:
        if r.method == method:
            per_task.setdefault(r.task, []).append(r.primary_value(primary) if r.ok else None)
    means = {t: (None if any(v is None for v in vs) else sum(vs) / len(vs)) for t, vs in per_task.items()}
    if not means or any(v is None for v in means.values()):
        return None, means
    return sum(means.values()) / len(means), means


def _suggest(trial: Any, dim: SearchDim) -> Any:
    if isinstance(dim.low, int) and isinstance(dim.high, int):
        return trial.suggest_int(dim.field, dim.low, dim.high, log=dim.log)
    return trial.suggest_float(dim.field, float(dim.low), float(dim.high), log=dim.log)


def run_study(suite: Suite, method: str, trials: int, out_dir: str | Path,
              run_trial: Callable[[Suite], tuple[list[dict], bool]], on_trial: Callable[[TrialResult], None] | None = None,
              ) -> dict:
    """Run (or resume) ``trials`` trials of ``method``; writes and returns the study dict.

    ``run_trial(trial_suite)`` runs a trial's cells (``Runner`` on an executor) and returns its records
    and whether every one of them was already finished.
    """
    optuna = require_optuna()
    settings = tune_settings(suite)
    space = check_method(suite, method)
    if settings.tasks is not None:  # [tune] tasks: the trials run on these tasks only
        suite = suite.only_tasks(settings.tasks)
    out = Path(out_dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=settings.sampler_seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    results: list[TrialResult] = []
    doc = _study_doc(suite, method, settings, space, trials, optuna.__version__, results)
    for number in range(trials):
        trial = study.ask()
        params = {d.field: _suggest(trial, d) for d in space}
        tsuite = trial_suite(suite, method, params, settings.seeds)
        variant = tsuite.methods[1]
        records, cached = run_trial(tsuite)
        typed = [complete_record(r) for r in fill_teacher_scores(records)]
        value, per_task = objective(typed, variant, suite.primary)
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)
        result = TrialResult(number, params, variant, value, per_task, cached)
        results.append(result)
        doc = _study_doc(suite, method, settings, space, trials, optuna.__version__, results)
        write_json_atomic(out / "study.json", doc)  # after every trial: an interrupted study loses nothing
        if on_trial is not None:
            on_trial(result)
    return doc


def _study_doc(suite: Suite, method: str, settings: TuneSettings, space: tuple[SearchDim, ...], trials: int,
               optuna_version: str, results: list[TrialResult]) -> dict:
    scored = [r for r in results if r.value is not None]
    best = max(scored, key=lambda r: (r.value, -r.number), default=None)
    return {
        "study_version": STUDY_VERSION,
        "suite": suite.info(),
        "method": method,
        "base_method": suite.method_base[method],
        "objective": {"primary": suite.primary, "over": "mean over tasks of the mean over tuning seeds",
                      "tasks": list(suite.tasks)},
        "sampler": {"name": "TPESampler", "seed": settings.sampler_seed, "optuna": optuna_version},
        "budget": {"trials": trials, "seeds": list(settings.seeds),
                   "env_steps": {t: suite.env_steps(t) for t in suite.tasks}, "board_seeds": list(suite.seeds)},
        "space": [d.to_dict() for d in space],
        "trials": [{"number": r.number, "params": r.params,
                    "config": {**suite.method_config.get(method, {}), **r.params}, "variant": r.variant, "value": r.value,
                    "per_task": r.per_task, "state": "complete" if r.value is not None else "failed"}
                   for r in results],
        "best": None if best is None else {"number": best.number, "params": best.params, "value": best.value,
                                           "config": {**suite.method_config.get(method, {}), **best.params}},
    }


def best_toml(doc: dict) -> str:
    """The best trial's config as the suite's ``[method.X]`` (or ``[variant.X]``) table."""
    best = doc.get("best")
    if best is None:
        return "# no trial finished\n"
    method, base = doc["method"], doc["base_method"]
    table = f"[method.{method}]" if method == base else f"[variant.{method}]"
    lines = [f"# tuned by kdmarl-bench tune: trial {best['number']} of {doc['budget']['trials']}, "
             f"{doc['objective']['primary']} = {best['value']:.4f} on seeds {doc['budget']['seeds']}", table]
    if method != base:
        lines.append(f'method = "{base}"')
    for key, value in best["config"].items():
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(float(f"{value:.6g}"))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)
