"""A suite's ``[tune]`` section as data: the search spaces (``SPACES``), ``TuneSettings`` and their
parser. The suite parser reads ``[tune]`` through ``parse_tune``; the Optuna study that uses them
lives one floor up, in ``kdmarl_bench/tuning.py``.

Every compared method gets the same trial budget and a search space of the same size: the learning
rate, how much it trains per env-step (epochs, updates or replay) and one weight of its own. A
method field added later (e.g. kd-marl's replay switch) is tuned by adding one line to ``SPACES``,
or per suite in ``[tune.space.X]``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from kdmarl_bench.registry import suggest

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
    """Suite method → its search space (``SPACES`` of its base, with ``[tune.space.X]`` on top); only the
    methods ``[tune] methods`` names when it is given (e.g. not a method the board runs as it is today)."""
    tasks: tuple[str, ...] | None = None
    """The suite tasks the trials run on (``[tune] tasks``; None: every task of the suite)."""

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
               seed_max: int, tasks: list[str]) -> TuneSettings:
    """``[tune]`` of a suite: seeds (disjoint from the board's, in [0, ``seed_max``]), trials (>= 1),
    sampler_seed, tasks and methods (some of the suite's: what the trials run on, which methods are
    tuned) and ``[tune.space.METHOD]`` tables of ``field = {low, high, log}``. ``ctx`` is the suite
    parser's error context (every message names the file and the field)."""
    from kdmarl_bench.methods import METHODS  # torch: only a suite that has [tune] pays for it

    if not isinstance(raw, dict):
        raise ctx.err("tune", f"expected a table, got {raw!r}")
    ctx.unknown_keys(raw, {"seeds", "trials", "sampler_seed", "space", "tasks", "methods"}, "tune.")
    tseeds = ctx.typed(raw, "seeds", list, "tune.", list(DEFAULT_TUNE_SEEDS))
    if not tseeds or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= seed_max for s in tseeds):
        raise ctx.err("tune.seeds", f"expected a non-empty list of integers in [0, {seed_max}], got {tseeds!r}")
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
    tune_tasks = _subset(ctx, raw, "tasks", tasks, "task")
    tuned = _subset(ctx, raw, "methods", students, "student method")
    if tuned is not None:
        students = list(tuned)
    spaces: dict[str, tuple[SearchDim, ...]] = {}
    for m in students:
        if method_base.get(m, m) in SPACES:
            spaces[m] = SPACES[method_base.get(m, m)]
    for mname, table in given.items():
        where = f"tune.space.{mname}"
        if mname not in students:
            raise ctx.err(where, f"not a method this suite tunes (a student method, in [tune] methods when given)"
                                 f"{suggest(mname, students)}; valid choices: {', '.join(students)}")
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
    if tuned is not None:
        empty = [m for m in tuned if not spaces.get(m)]
        if empty:
            raise ctx.err("tune.methods", f"{empty[0]!r} has no default search space; declare one in "
                                          f"[tune.space.{empty[0]}]")
    return TuneSettings(tuple(tseeds), trials, sampler_seed, spaces, tune_tasks)


def _subset(ctx: Any, raw: dict, key: str, choices: list[str], what: str) -> tuple[str, ...] | None:
    """``[tune] KEY``: a non-empty list of distinct names out of ``choices`` (None when not given)."""
    given = ctx.typed(raw, key, list, "tune.", None)
    if given is None:
        return None
    if not given:
        raise ctx.err(f"tune.{key}", f"expected a non-empty list; valid choices: {', '.join(choices)}")
    for name in given:
        if name not in choices:
            raise ctx.err(f"tune.{key}", f"{name!r} is not a {what} of this suite{suggest(str(name), choices)}; "
                                         f"valid choices: {', '.join(choices)}")
    if len(set(given)) != len(given):
        raise ctx.err(f"tune.{key}", "lists a name twice")
    return tuple(given)
