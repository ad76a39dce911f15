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

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdmarl_bench.errors import BackendUnavailable, UsageError
from kdmarl_bench.registry import suggest
from kdmarl_bench.results.store import cell_key, write_json_atomic

if TYPE_CHECKING:
    from kdmarl_bench.suite import Suite

STUDY_VERSION = 1
TUNE_INSTALL = 'pip install "kdmarl-bench[tune]"'
DEFAULT_TRIALS = 20
DEFAULT_TUNE_SEEDS = (100_000, 100_001)
"""Tuning seeds of a suite without ``[tune] seeds``: far from any board's usual seeds."""


# ---------------------------------------------------------------------------------
# search spaces (data)
@dataclass(frozen=True)
class SearchDim:
    """One dimension of a search space: a method config field and its range."""

    field: str
    low: float
    high: float
    log: bool = False
    """Sample on a log scale (learning rates, weights)."""

    def to_dict(self) -> dict:
        return {"field": self.field, "low": self.low, "high": self.high, "log": self.log}


SPACES: dict[str, tuple[SearchDim, ...]] = {
    # the learning rate · how much it trains on what it collected · a weight of its own
    "bc": (SearchDim("lr", 1e-4, 1e-2, True), SearchDim("epochs", 2, 20), SearchDim("minibatch_size", 64, 512, True)),
    "pd-kl": (SearchDim("lr", 1e-4, 1e-2, True), SearchDim("epochs", 2, 20), SearchDim("tau", 0.5, 4.0, True)),
    "logit-mse": (SearchDim("lr", 1e-4, 1e-2, True), SearchDim("epochs", 2, 20),
                  SearchDim("minibatch_size", 64, 512, True)),
    "dagger": (SearchDim("lr", 1e-4, 1e-2, True), SearchDim("updates_per_iter", 4, 64, True),
               SearchDim("tau", 0.5, 4.0, True)),
    "kd-marl": (SearchDim("lr", 1e-4, 1e-2, True), SearchDim("epochs", 1, 8), SearchDim("lambda_ce", 0.01, 1.0, True)),
    "kd-marl-offline": (SearchDim("lr", 1e-4, 1e-2, True), SearchDim("epochs", 2, 20),
                        SearchDim("lambda_awr", 0.05, 2.0, True)),
}
"""Default search space per registered method: the same number of dimensions for every one."""


@dataclass(frozen=True)
class TuneSettings:
    """A suite's ``[tune]`` section."""

    seeds: tuple[int, ...] = DEFAULT_TUNE_SEEDS
    """Training seeds of the trials: never one of the board's (``seeds``)."""
    trials: int = DEFAULT_TRIALS
    """Optuna trials per method: the same budget for every method."""
    sampler_seed: int = 0
    """Seed of the TPE sampler (the same proposals on every re-run: a study resumes)."""
    spaces: dict[str, tuple[SearchDim, ...]] = dataclasses.field(default_factory=dict)
    """Suite method → its search space (``SPACES`` of its base, with ``[tune.space.X]`` on top)."""

    def budget(self) -> dict[str, int]:
        """Trials per method (the leaderboard's ``suite.tuning``)."""
        return {m: self.trials for m in self.spaces}


def _dim(ctx: Any, where: str, name: str, spec: Any, want: type) -> SearchDim:
    if not isinstance(spec, dict):
        raise ctx.err(where, f"expected a table {{low = ..., high = ..., log = true|false}}, got {spec!r}")
    ctx.unknown_keys(spec, {"low", "high", "log"}, where + ".")
    low = ctx.typed(spec, "low", (int, float), where + ".")
    high = ctx.typed(spec, "high", (int, float), where + ".")
    log = ctx.typed(spec, "log", bool, where + ".", False)
    if want is int and not (isinstance(low, int) and isinstance(high, int)):
        raise ctx.err(where, f"field {name!r} is an integer: low and high must be integers, got {low!r}, {high!r}")
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ctx.err(where, f"expected finite low < high, got low = {low!r}, high = {high!r}")
    if log and low <= 0:
        raise ctx.err(where, f"a log-scale range must be > 0, got low = {low!r}")
    return SearchDim(name, low, high, log)


def parse_tune(ctx: Any, raw: Any, methods: list[str], method_base: dict[str, str], seeds: list[int],
               method_config: dict[str, dict]) -> TuneSettings:
    """``[tune]`` of a suite: seeds (disjoint from the board's), trials (>= 1), sampler_seed and
    ``[tune.space.METHOD]`` tables of ``field = {low, high, log}``. ``ctx`` is the suite parser's
    error context (every message names the file and the field)."""
    from kdmarl_bench.methods import METHODS
    from kdmarl_bench.suite import SEED_MAX

    if not isinstance(raw, dict):
        raise ctx.err("tune", f"expected a table, got {raw!r}")
    ctx.unknown_keys(raw, {"seeds", "trials", "sampler_seed", "space"}, "tune.")
    tseeds = ctx.typed(raw, "seeds", list, "tune.", list(DEFAULT_TUNE_SEEDS))
    if not tseeds or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= SEED_MAX for s in tseeds):
        raise ctx.err("tune.seeds", f"expected a non-empty list of integers in [0, {SEED_MAX}], got {tseeds!r}")
    if len(set(tseeds)) != len(tseeds):
        raise ctx.err("tune.seeds", "lists a seed twice")
    overlap = sorted(set(tseeds) & set(seeds))
    if overlap:
        raise ctx.err("tune.seeds", f"seed(s) {overlap} are also the board's seeds (seeds = {list(seeds)}): a method "
                                    "tuned on the seeds it is reported on is not a fair comparison; pick other seeds")
    trials = ctx.typed(raw, "trials", int, "tune.", DEFAULT_TRIALS)
    if trials < 1:
        raise ctx.err("tune.trials", f"must be >= 1, got {trials}")
    sampler_seed = ctx.typed(raw, "sampler_seed", int, "tune.", 0)
    given = ctx.typed(raw, "space", dict, "tune.", {})
    students = [m for m in methods if method_base.get(m, m) != "teacher"]
    spaces: dict[str, tuple[SearchDim, ...]] = {}
    for m in students:
        if method_base.get(m, m) in SPACES:
            spaces[m] = SPACES[method_base.get(m, m)]
    for mname, table in given.items():
        where = f"tune.space.{mname}"
        if mname not in students:
            raise ctx.err(where, f"not a student method of this suite{suggest(mname, students)}; "
                                 f"valid choices: {', '.join(students)}")
        if not isinstance(table, dict) or not table:
            raise ctx.err(where, "empty search space: give at least one field = {low = ..., high = ...}")
        base = METHODS.get(method_base.get(mname, mname))
        defaults = base.config_cls()
        names = sorted(f.name for f in dataclasses.fields(base.config_cls)
                       if type(getattr(defaults, f.name)) in (int, float))
        dims = {d.field: d for d in spaces.get(mname, ())}
        for fname, spec in table.items():
            if fname not in names:
                raise ctx.err(f"{where}.{fname}", f"not a numeric config field of {method_base.get(mname, mname)}{suggest(fname, names)}; "
                                                  f"valid fields: {', '.join(names)}")
            dims[fname] = _dim(ctx, f"{where}.{fname}", fname, spec, type(getattr(defaults, fname)))
        spaces[mname] = tuple(dims.values())
    sizes = {m: len(d) for m, d in spaces.items()}
    if len(set(sizes.values())) > 1:
        raise ctx.err("tune.space", f"every method must have a search space of the same size (equal tuning), got "
                                    f"{', '.join(f'{m}: {n}' for m, n in sizes.items())}")
    return TuneSettings(tuple(tseeds), trials, sampler_seed, spaces)


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
    from kdmarl_bench.suite import ProfileSettings

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
    from kdmarl_bench.results.aggregate import complete_record
    from kdmarl_bench.runner import fill_teacher_scores

    settings = tune_settings(suite)
    space = check_method(suite, method)
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
