"""Suite files: TOML → frozen dataclasses → a plan of cells.

Each table of a suite file is a frozen dataclass whose fields declare how their key is read (TOML
type, checks, conversion: ``kdmarl_bench/suite_schema.py``). ``parse_suite`` reads the sections with
them and reports every problem of a file at once; each message names the file and the field (and the
TOML line when the parser gives one) and, for names, the valid choices with "did you mean".
"""

from __future__ import annotations

import collections
import hashlib
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from kdmarl_bench.errors import UsageError
from kdmarl_bench.registry import Registry, suggest
from kdmarl_bench.results.model.records import PRIMARY_METRICS
from kdmarl_bench.safeio import MAX_WIDTH, json_depth, read_bytes_bounded, slug_problem, task_dirname
from kdmarl_bench.suite_schema import (
    BAD,
    REQUIRED,
    Problems,
    Rule,
    good,
    one_of,
    positive,
    read_table,
    read_value,
    toml_field,
)
from kdmarl_bench.suite_tables import (
    MAX_COUNT,
    ProfileSettings,
    TeacherSource,
    teacher_kinds,
)
from kdmarl_bench.tune_spec import parse_tune

# Ranges, checked by `plan` so that `run` never finds out after hours of work.
SEED_MAX = 2**31 - 1
"""Largest seed (and eval seed = seed_base + seed): every backend takes a 32-bit seed."""
MAX_NUM_ENVS = 65_536
MAX_LAYERS = 16
"""Most hidden layers a student size may have."""
MAX_EVAL_POINTS = 8
"""Most budget points (``[budget] eval_at``, the final one included) a student is evaluated at."""
MAX_FLOPS_REDUCTION = 100_000
"""Largest ``flops_reduction`` target a size may ask for."""
MAX_SEEDS = 1_000
"""Most seeds a suite may list (each is a full set of cells; the published suites use 3 to 10)."""
MAX_SUITE_BYTES = 16 * 1024 * 1024
"""Largest suite file read (ours are a few KB)."""
MAX_SUITE_DEPTH = 32
"""Deepest nesting of tables/arrays accepted in a suite (ours reach 4)."""
SUITE_KEYS = {"suite", "tasks", "methods", "seeds", "teacher", "students", "budget", "eval", "profile", "method", "task",
              "variant", "tune"}
EVAL_SEED_STRIDE = 1_000_003
"""A record's k-th eval seed is ``eval_seed + k * EVAL_SEED_STRIDE`` (mod 2**31): paired across methods,
and far from every other record's first one."""


# ---------------------------------------------------------------------------------
# the suite file's tables: each field declares how its TOML key is read (``toml_field``: the TOML
# type, the checks, the conversion); ``suite_schema.read_table`` reads a table by them.
def _slug_check(v: Any) -> str | None:
    return slug_problem(v)  # names a folder: runs/<suite>, students/<task>/<method>/<size>/


def _sha256_problem(v: Any) -> str | None:
    if isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v):
        return None
    return f"expected a weights digest: 64 lowercase hex digits (the card's or `kdmarl-bench show`'s sha256), got {v!r}"


def _primary_metrics() -> Any:
    return PRIMARY_METRICS


def _hidden_problem(v: Any) -> str | None:
    if (not isinstance(v, list) or not v or len(v) > MAX_LAYERS
            or not all(isinstance(h, int) and not isinstance(h, bool) and 0 < h <= MAX_WIDTH for h in v)):
        return f"expected a list of 1 to {MAX_LAYERS} widths in [1, {MAX_WIDTH}], got {v!r}"
    return None


def _family_table_problem(v: Any) -> str | None:
    if isinstance(v, dict) or (isinstance(v, int) and not isinstance(v, bool)):
        return None
    return f"expected int or table of family → int, got {v!r}"


@dataclass(frozen=True)
class StudentSize:
    """One student size: ``auto`` (capacity rule) or explicit hidden widths."""

    label: str = toml_field(REQUIRED, str, _slug_check)
    hidden: tuple[int, ...] | None = toml_field(None, object, _hidden_problem, convert=tuple)
    """Hidden widths shared by every agent; None = the capacity rule per agent."""
    scale: float = toml_field(1.0, (int, float), lambda v: None if 0 < v <= 64 else
                              f"must be > 0 and <= 64, got {float(v)}", convert=float)
    """Multiplier on the capacity rule's width (``auto`` sizes only)."""
    flops_reduction: float | None = toml_field(
        None, (int, float), lambda v: None if 1 < v <= MAX_FLOPS_REDUCTION else
        f"must be a number > 1 and <= {MAX_FLOPS_REDUCTION:g} (teacher FLOPs / student FLOPs), got {v!r}",
        convert=float)
    """Target team FLOP reduction vs the teacher (``{label = "x20", flops_reduction = 20}``): the widths are
    the capacity rule's times one common scale, chosen so teacher FLOPs / student FLOPs is closest to it
    (``models/capacity.py`` ``resolve_widths``; within ±10% or the cell is refused)."""


@dataclass(frozen=True)
class Budget:
    env_steps: int = toml_field(50_000, int, positive(MAX_COUNT))
    """Environment steps each student may use (same for every method on a task)."""
    num_envs: int = toml_field(16, int, positive(MAX_NUM_ENVS))
    """Parallel env copies used for rollouts."""
    eval_at: tuple[int, ...] = toml_field((), list, convert=tuple)
    """Env-steps at which each student is evaluated during its one training run (a learning curve),
    as written in the suite; empty = only at the end. ``Suite.eval_points(task)`` adds the task's
    ``env_steps`` as the final point (checked by ``eval_at_problem``)."""


def family_eval_episodes() -> dict[str, int]:
    """Each env family's protocol eval episodes (``kdmarl_bench/envs/family.py``)."""
    from kdmarl_bench.envs.family import FAMILIES, family_names

    return {name: FAMILIES.get(name).eval_episodes for name in family_names()}


def family_eval_seeds() -> dict[str, int]:
    """Each env family's protocol eval seeds per record (``kdmarl_bench/envs/family.py``)."""
    from kdmarl_bench.envs.family import FAMILIES, family_names

    return {name: FAMILIES.get(name).eval_seeds for name in family_names()}


@dataclass(frozen=True)
class EvalSettings:
    episodes: dict[str, int] = toml_field(lambda: family_eval_episodes(), object, _family_table_problem)
    """Eval episodes per seed, by env family (defaults: each family's ``eval_episodes``); in the file an
    int (every family) or a table family → int."""
    seed_base: int = toml_field(10_000, int)
    """Eval seeds are seed_base + seed: the same for every method on a task (paired)."""
    seeds_per_record: dict[str, int] = toml_field(lambda: family_eval_seeds(), object, _family_table_problem)
    """Eval seeds each record's episodes are spread over, by env family (``seed_base + seed`` and
    every ``EVAL_SEED_STRIDE`` after it). Defaults: each family's ``eval_seeds``, except for a family
    whose ``episodes`` the suite sets without setting this: one seed (the protocol committed suites
    were run under)."""


@dataclass(frozen=True)
class TaskOverride:
    """``[task."ID"]``: what one task of a suite changes (None: the suite-wide value)."""

    env_steps: int | None = toml_field(None, int, positive(MAX_COUNT))
    eval_episodes: int | None = toml_field(None, int, positive(MAX_COUNT))
    teacher_steps: int | None = toml_field(None, int, positive(MAX_COUNT))
    teacher: str | None = toml_field(None, str)
    """The task's teacher source (``zoo``, ``train``, a checkpoint path)."""
    teacher_kind: str | None = toml_field(None, object, one_of("teacher kind", teacher_kinds))
    teacher_sha256: str | None = toml_field(None, str, _sha256_problem)
    """Pins the task's zoo teacher to the generation whose weights have this digest: the bundled teacher
    or a replaced one this version keeps (``kdmarl_bench/zoo/superseded/``), so the suite reruns with the
    teacher its committed board was made with after the zoo's moves on. Zoo teachers only."""
    view: str = toml_field("full", str)
    """The students' observation view (``kdmarl_bench/envs/views.py``; checked against the task)."""
    eval_at: tuple[int, ...] | None = toml_field(None, list, convert=tuple)
    """The task's budget points (checked against its env_steps)."""
    seeds: tuple[int, ...] | None = toml_field(None, list, convert=tuple)
    """The training seeds this task runs: some of the suite's ``seeds`` (a board may run its headline task
    at 10 seeds and a costlier one at 5); checked against the suite's list."""

    def teacher_source(self, suite_wide: TeacherSource) -> TeacherSource:
        """The task's teacher: the suite-wide one with this table's teacher fields on top."""
        if self.teacher is None and self.teacher_steps is None and self.teacher_kind is None:
            return suite_wide
        return TeacherSource(suite_wide.source if self.teacher is None else self.teacher,
                             suite_wide.steps if self.teacher_steps is None else self.teacher_steps,
                             suite_wide.kind if self.teacher_kind is None else self.teacher_kind)


NO_OVERRIDE = TaskOverride()
"""A task without a ``[task."ID"]`` table."""


@dataclass(frozen=True)
class SuiteMeta:
    """``[suite]``: the suite's identity and what its headline is about (see ``Suite``). Read as a schema
    only: the defaults of ``headline_size`` and ``primary`` depend on the rest of the file (``parse_suite``)."""

    name: str = toml_field(REQUIRED, str, _slug_check)
    version: str = toml_field("1", (str, int), convert=str)
    description: str = toml_field("", str)
    focus: str = toml_field("kd-marl", str)
    headline_size: str = toml_field("auto", str)
    primary: str = toml_field("final", object, one_of(
        "primary metric", _primary_metrics, " (auc = mean retention over the learning curve's points, "
        "final = retention at the last point)"))


@dataclass(frozen=True)
class Suite:
    path: str
    name: str
    version: str
    description: str
    tasks: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    teacher: TeacherSource
    sizes: tuple[StudentSize, ...]
    budget: Budget
    eval: EvalSettings
    profile: ProfileSettings
    method_config: dict[str, dict[str, Any]]
    """Per-method overrides of config dataclass fields (``[method.kd-marl]``, and each variant's)."""
    method_base: dict[str, str]
    """Method name → registered method id (itself, or a variant's base, ``[variant.NAME] method = ...``)."""
    task_overrides: dict[str, TaskOverride]
    """Per-task overrides (``[task."smax/3m"]``): env_steps, eval_at, eval_episodes, teacher, view, seeds."""
    sha256: str
    method_sizes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Method or variant → the ``students.sizes`` labels it runs at (``sizes = [...]`` in ``[variant.X]`` or
    ``[method.X]``); others run at every size."""
    focus: str = "kd-marl"
    """The method under test (``[suite] focus``): the headline, the report and the probability of
    improvement are about it; recorded in the leaderboard's ``suite.focus``."""
    headline_size: str = "auto"
    """The student size the headline is about (``[suite] headline_size``, a ``students.sizes`` label)."""
    primary: str = "final"
    """The pre-registered primary metric (``[suite] primary``: ``auc`` or ``final``; default ``auc`` when
    the suite has learning curves, ``[budget] eval_at``): what the headline, PoI and ``gate`` judge."""
    tune: Any = None
    """``[tune]``: the tuning seeds, trial budget and search spaces (``kdmarl_bench.tune_spec.TuneSettings``);
    None when the suite has no such section."""

    def only_tasks(self, task_ids: tuple[str, ...] | list[str]) -> Suite:
        """This suite restricted to some of its tasks (``run --task``: split a suite across processes or
        machines; every cell keeps its key, so a later full run finds the finished ones)."""
        # A task is named by its id or by ``TASK@VIEW`` as tables print it (the view it has in this suite).
        labels = {t: t for t in self.tasks}
        labels.update({f"{t}@{self.view_for(t)}": t for t in self.tasks if self.view_for(t) != "full"})
        for t in task_ids:
            if t not in labels:
                raise UsageError(f"{self.path}: --task {t!r} is not a task of suite {self.name!r}"
                                 f"{suggest(t, list(labels))}; valid choices: {', '.join(labels)}")
        chosen = {labels[t] for t in task_ids}
        return replace(self, tasks=tuple(t for t in self.tasks if t in chosen))

    def only_methods(self, names: tuple[str, ...] | list[str]) -> Suite:
        """This suite restricted to some of its methods (``run --method``: run the headline pair of a
        large board first; every cell keeps its key, so a later full run finds the finished ones). The
        teacher, every retention's denominator, always stays."""
        for m in names:
            if m not in self.methods:
                raise UsageError(f"{self.path}: --method {m!r} is not a method of suite {self.name!r}"
                                 f"{suggest(m, list(self.methods))}; valid choices: {', '.join(self.methods)}")
        chosen = set(names) | {m for m in self.methods if self.method_base.get(m, m) == "teacher"}
        return replace(self, methods=tuple(m for m in self.methods if m in chosen))

    def sizes_for(self, method: str) -> tuple[StudentSize, ...]:
        labels = self.method_sizes.get(method)
        return self.sizes if labels is None else tuple(s for s in self.sizes if s.label in labels)

    def info(self) -> dict:
        out = {"name": self.name, "version": self.version, "sha256": self.sha256, "path": self.path,
               "focus": self.focus}
        if self.headline_size != "auto":
            out["headline_size"] = self.headline_size
        out["primary"] = self.primary
        if self.tune is not None:
            out["tuning"] = self.tune.budget()
        return out

    def eval_seed_count(self, task_id: str) -> int:
        """Eval seeds a record of this task spreads its episodes over (``[eval] seeds_per_record``)."""
        return int(self.eval.seeds_per_record.get(task_id.split("/", 1)[0], 1))

    def override(self, task_id: str) -> TaskOverride:
        """The task's ``[task."ID"]`` table (every field None when the suite has none)."""
        return self.task_overrides.get(task_id, NO_OVERRIDE)

    def eval_episodes(self, task_id: str) -> int:
        given = self.override(task_id).eval_episodes
        return self.eval.episodes[task_id.split("/", 1)[0]] if given is None else given

    def env_steps(self, task_id: str) -> int:
        given = self.override(task_id).env_steps
        return self.budget.env_steps if given is None else given

    def eval_points(self, task_id: str) -> tuple[int, ...]:
        """The budget points of a task's students: ``eval_at`` (``[task.X]`` or ``[budget]``) with the
        task's ``env_steps`` as the last one; ``(env_steps,)`` when the suite sets none."""
        given = self.override(task_id).eval_at
        return eval_points(self.budget.eval_at if given is None else given, self.env_steps(task_id))

    def seeds_for(self, task_id: str) -> tuple[int, ...]:
        """The training seeds of a task's cells (``[task."ID"] seeds``, default the suite's ``seeds``)."""
        given = self.override(task_id).seeds
        return self.seeds if given is None else given

    def task_seeds(self) -> dict[str, list[int]] | None:
        """Tasks that run fewer seeds than the suite lists → their seeds (None when every task runs all)."""
        out = {t: list(self.seeds_for(t)) for t in self.tasks if self.seeds_for(t) != self.seeds}
        return out or None

    def teacher_for(self, task_id: str) -> TeacherSource:
        return self.override(task_id).teacher_source(self.teacher)

    def view_for(self, task_id: str) -> str:
        """The students' observation view of a task (``[task."ID"] view``, default ``full``)."""
        return self.override(task_id).view


@dataclass(frozen=True)
class Cell:
    """One unit of work: a (task, method, size, seed) to distill (or evaluate) and measure."""

    task: str
    method: str
    size: StudentSize | None
    """None for the teacher itself."""
    seed: int
    env_steps: int
    num_envs: int
    eval_episodes: int
    eval_seed: int
    teacher: TeacherSource
    method_config: dict[str, Any]
    base_method: str = ""
    """Registered method id that runs this cell (differs from ``method`` for suite variants)."""
    view: str = "full"
    """The students' observation view of the task (``[task."ID"] view``; ``kdmarl_bench/envs/views.py``)."""
    eval_at: tuple[int, ...] = ()
    """Budget points the student is evaluated at (the last is ``env_steps``); empty for the teacher."""
    eval_seeds: int = 1
    """Eval seeds the ``eval_episodes`` are spread over (``eval_seed_list``)."""

    @property
    def eval_seed_list(self) -> list[int]:
        """``eval_seed``, then every ``EVAL_SEED_STRIDE`` after it (mod 2**31): the same for every method."""
        return [(self.eval_seed + k * EVAL_SEED_STRIDE) % (SEED_MAX + 1) for k in range(self.eval_seeds)]

    @property
    def size_label(self) -> str:
        return self.size.label if self.size else "full"

    def config(self) -> dict:
        """Everything that determines the result; its hash keys the result file. Fields at the defaults
        they had before they existed are left out, so cells of older suites keep their keys:
        ``view = "full"``, a ``local`` teacher, and ``eval_at`` with one point (the final evaluation
        every cell always had)."""
        d = asdict(self)
        d["size"] = asdict(self.size) if self.size else None
        if d["size"] is not None and d["size"]["flops_reduction"] is None:
            del d["size"]["flops_reduction"]
        if d["view"] == "full":
            del d["view"]
        if d["teacher"]["kind"] == "local":
            del d["teacher"]["kind"]
        if len(self.eval_at) <= 1:
            del d["eval_at"]
        else:
            d["eval_at"] = list(self.eval_at)
        if self.eval_seeds == 1:
            del d["eval_seeds"]
        return d

    def label(self) -> str:
        return f"{self.task} · {self.method} · {self.size_label} · seed {self.seed}"


def eval_points(given: tuple[int, ...] | list[int], env_steps: int) -> tuple[int, ...]:
    """``given`` budget points with ``env_steps`` appended when it is not the last one."""
    points = tuple(int(p) for p in given)
    return points if points and points[-1] == env_steps else (*points, env_steps)


def eval_at_problem(vals: Any, env_steps: int) -> str | None:
    """Why a list of budget points cannot be a learning curve's, or None: strictly increasing positive
    integers, none above ``env_steps``, at most ``MAX_EVAL_POINTS`` with ``env_steps`` added last."""
    rule = (f"a list of strictly increasing positive integers <= env_steps ({env_steps:,}), at most "
            f"{MAX_EVAL_POINTS} points counting the final env_steps (added when missing)")
    if not isinstance(vals, (list, tuple)) or not vals:
        return f"expected {rule}, got {vals!r}"
    for v in vals:
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            return f"point {v!r} is not a positive integer; expected {rule}"
        if v > env_steps:
            return f"point {v:,} is above env_steps ({env_steps:,}); expected {rule}"
    if any(b <= a for a, b in zip(vals, vals[1:], strict=False)):
        return f"points {list(vals)} are not strictly increasing; expected {rule}"
    if len(eval_points(vals, env_steps)) > MAX_EVAL_POINTS:
        return f"{len(eval_points(vals, env_steps))} points counting the final env_steps; expected {rule}"
    return None


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file (or a bundled suite name like ``quickstart``)."""
    p = resolve_suite_path(path)
    if not p.exists():
        hint = ""
        if not Path(path).suffix:
            names = bundled_suites()
            hint = f"; not a bundled suite either{suggest(str(path), names)} (bundled: {', '.join(names)})"
        raise UsageError(f"{path}: cannot read suite file: No such file or directory{hint}")
    raw_bytes = read_bytes_bounded(p, "suite file", MAX_SUITE_BYTES)  # a FIFO, a device or 1 GB: exit 2
    too_deep = UsageError(f"{p}: suite nests tables/arrays deeper than {MAX_SUITE_DEPTH} levels; refusing to read it")
    try:
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise too_deep from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{p}: not valid TOML: {exc}") from exc
    if json_depth(data, MAX_SUITE_DEPTH) > MAX_SUITE_DEPTH:  # dotted keys and [a.b.c] headers nest without recursion
        raise too_deep
    return parse_suite(data, str(p), hashlib.sha256(raw_bytes).hexdigest())


def _suite_dirs() -> list[Path]:
    # ./suites in the working directory first (a user's own suite of a bundled name overrides it),
    # then the bundled suites: inside an installed wheel kdmarl_bench/suites/ (setup.py copies them
    # there), in a source checkout or editable install the repository's top-level suites/ (their
    # one source).
    package = Path(__file__).resolve().parent
    shipped = package / "suites"
    return [Path("suites"), shipped if shipped.is_dir() else package.parent / "suites"]


def bundled_suites() -> list[str]:
    """Names of the suites a bare name can refer to (shipped with the package, or in ./suites)."""
    return sorted({p.stem for d in _suite_dirs() if d.is_dir() for p in d.glob("*.toml")})


def resolve_suite_path(path: str | Path) -> Path:
    """A suite file path as given, or for a bare name (``quickstart``) ``./suites/NAME.toml`` if it
    exists, else the bundled ``NAME.toml`` (the repository's ``suites/``, or ``kdmarl_bench/suites/``
    inside a wheel); unresolved names come back as given."""
    p = Path(path)
    if p.exists() or p.suffix:
        return p
    for cand in (d / f"{p}.toml" for d in _suite_dirs()):
        if cand.is_file():
            # Relative to the working directory when below it: the leaderboard records this path.
            return cand.relative_to(Path.cwd()) if cand.is_relative_to(Path.cwd()) else cand
    return p


def parse_suite(data: dict, path: str = "<suite>", sha256: str = "") -> Suite:
    """A suite file's TOML as a ``Suite``. Every problem of the file is reported at once: one
    ``UsageError`` (exit 2), one line per problem, each naming the file and the field. A check that
    needs a value with a problem of its own is skipped (one mistake, one message)."""
    from kdmarl_bench.methods import METHODS  # imports torch: only a parse pays for it

    p = Problems(path)
    p.unknown_keys(data, SUITE_KEYS, "")
    meta, data = _split_meta(p, data)
    m = read_table(p, meta, SuiteMeta, "suite.") if meta is not None else None
    tasks = p.attempt(_tasks, p, data)
    variants = _variants(p, data, METHODS)
    methods = p.attempt(_methods, p, data, variants)
    seeds = p.attempt(_seeds, p, data)
    teacher = _table(p, data, "teacher", TeacherSource)
    sizes = p.attempt(_sizes, p, data)
    budget = _budget(p, data)
    ev = _eval(p, data, seeds)
    profile = _table(p, data, "profile", ProfileSettings)
    method_config = _method_tables(p, data, variants, sizes, METHODS)
    task_overrides = _task_overrides(p, data, tasks, budget, seeds)
    if good(teacher, task_overrides):
        for name, ov in task_overrides.items():
            source = ov.teacher_source(teacher).source
            if ov.teacher_sha256 is not None and not source.startswith("zoo"):
                p.add(f"task.{name}.teacher_sha256", f"pins a zoo teacher, but the task's teacher is {source!r}; "
                                                     "leave it out (a trained or given teacher is its own file)")
    if m is not None:
        _check_meta(p, m, methods, sizes)
    tune = None
    if "tune" in data and good(methods, seeds, tasks) and not variants.broken:
        tune = p.attempt(parse_tune, p, data["tune"], methods, variants.base, seeds, SEED_MAX, tasks)
    p.raise_all()
    suite = Suite(
        path=path,
        name=m["name"],
        version=m.get("version", "1"),
        description=m.get("description", ""),
        tasks=tuple(tasks),
        methods=tuple(methods),
        seeds=tuple(seeds),
        teacher=teacher,
        sizes=sizes,
        budget=budget,
        eval=ev,
        profile=profile,
        method_config=method_config,
        method_base={x: variants.base[x] for x in methods},
        task_overrides=task_overrides,
        sha256=sha256,
        method_sizes={x: variants.sizes[x] for x in methods if x in variants.sizes},
        focus=m.get("focus", "kd-marl"),
        # default: auto when the suite has it, else its first size
        headline_size=m.get("headline_size", "auto" if any(s.label == "auto" for s in sizes) else sizes[0].label),
        tune=tune,
    )
    # default primary: auc for a learning-curve suite (a task with two or more budget points)
    curves = any(len(suite.eval_points(t)) >= 2 for t in suite.tasks)
    return replace(suite, primary=m.get("primary", "auc" if curves else "final"))


# ---------------------------------------------------------------------------------
# the sections of a suite file (each records its problems in ``p`` and returns None when it has one)
def _split_meta(p: Problems, data: dict) -> tuple[dict | None, dict]:
    """``[suite]``, and the top-level keys with tasks/methods/seeds moved up from it (TOML puts keys
    written after a ``[suite]`` header into that table, an easy slip)."""
    meta = p.attempt(p.typed, data, "suite", dict, "")
    if meta is None:
        return None, data
    meta, data = dict(meta), dict(data)
    for key in ("tasks", "methods", "seeds"):
        if key in meta:
            if key in data:
                p.add(f"suite.{key}", f"'{key}' is given both at the top level and in [suite]")
                del meta[key]
            else:
                data[key] = meta.pop(key)
    return meta, data


def _table(p: Problems, data: dict, key: str, cls: type) -> Any:
    """A plain table read by its dataclass's rules (``[teacher]``, ``[profile]``); None on a problem."""
    raw = p.attempt(p.typed, data, key, dict, "", {})
    if raw is None:
        return None
    values = read_table(p, raw, cls, f"{key}.")
    return cls(**values) if good(*values.values()) else None


def _task_problem(t: Any) -> str | None:
    from kdmarl_bench.envs import TASKS  # imports the env families (jax)

    if not isinstance(t, str):
        return f"expected a task id string, got {t!r}"
    if t not in TASKS:
        family = t.split("/", 1)[0]
        families = sorted({n.split("/", 1)[0] for n in TASKS.names()})
        if "/" not in t or family not in families:
            return (f"unknown env family {family!r} in {t!r}{suggest(family, families)}; "
                    f"valid families: {', '.join(families)}; task ids look like 'smax/3m'")
        return TASKS.unknown_message(t)
    try:  # a registered id is safe; checked anyway, since it names the run's folders
        task_dirname(t)
    except UsageError as exc:
        return str(exc)
    return None


def _tasks(p: Problems, data: dict) -> list[str] | None:
    tasks = p.typed(data, "tasks", list, "")
    if not tasks:
        raise p.err("tasks", "must name at least one task")
    bad = [(i, why) for i, why in ((i, _task_problem(t)) for i, t in enumerate(tasks)) if why]
    for i, why in bad:
        p.add(f"tasks[{i}]", why)
    if bad:
        return None
    if len(set(tasks)) != len(tasks):
        raise p.err("tasks", "lists a task twice")
    return tasks


@dataclass
class _Variants:
    """``[variant.NAME] method = "kd-marl", <config fields>``: named configurations of registered methods
    (ablations, sweep points) that run like any other method."""

    base: dict[str, str]
    """Method or variant name → registered method id."""
    config: dict[str, dict[str, Any]] = field(default_factory=dict)
    sizes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Variant (or ``[method.X]``) → the size labels it runs at."""
    broken: set[str] = field(default_factory=set)
    """Variants whose definition has a problem (the methods list does not report them again)."""


def _variants(p: Problems, data: dict, methods: Registry) -> _Variants:
    out = _Variants(base={x: x for x in methods.names()})
    for vname, vdef in (p.attempt(p.typed, data, "variant", dict, "", {}) or {}).items():
        if p.attempt(_variant, p, out, vname, vdef, methods, failed=False) is False:
            out.broken.add(vname)
    return out


def _variant(p: Problems, out: _Variants, vname: str, vdef: Any, methods: Registry) -> None:
    where = f"variant.{vname}"
    problem = slug_problem(vname)  # names students/<task>/<variant>/
    if problem:
        raise p.err(where, problem)
    if vname in methods:
        raise p.err(where, f"a variant may not reuse the registered method id {vname!r}")
    if not isinstance(vdef, dict):
        raise p.err(where, "expected a table with 'method' and config fields")
    base = p.typed(vdef, "method", str, where + ".")
    if base not in methods:
        raise p.err(where + ".method", methods.unknown_message(base))
    out.base[vname] = base
    if "sizes" in vdef:  # ablations and sweep points are often only needed at the default size
        labels = p.attempt(_size_labels, p, vdef["sizes"], where + ".sizes")
        if labels is not None:
            out.sizes[vname] = labels
    out.config[vname] = {k: v for k, v in vdef.items() if k not in ("method", "sizes")}
    _check_config(p, methods.get(base), out.config[vname], where)


def _check_config(p: Problems, method: Any, overrides: dict[str, Any], where: str) -> None:
    """Each config field of a ``[method.X]`` or ``[variant.X]`` table, checked on its own."""
    for key, val in overrides.items():
        p.attempt(method.validate_overrides, {key: val}, lambda f, msg: p.err(f"{where}.{f}", msg))


def _methods(p: Problems, data: dict, variants: _Variants) -> list[str] | None:
    methods = p.typed(data, "methods", list, "")
    if not methods:
        raise p.err("methods", "must name at least one method")
    names = sorted(variants.base)
    ok = True
    for i, x in enumerate(methods):
        if not isinstance(x, str):
            p.add(f"methods[{i}]", f"expected a method id string, got {x!r}")
        elif x in variants.broken:
            pass  # its [variant] table's problem is reported
        elif x not in variants.base:
            p.add(f"methods[{i}]", f"unknown method {x!r}{suggest(x, names)}; valid choices: {', '.join(names)}")
        elif slug_problem(x):  # names students/<task>/<method>/
            p.add(f"methods[{i}]", slug_problem(x))
        else:
            continue
        ok = False
    if not ok:
        return None
    if len(set(methods)) != len(methods):
        raise p.err("methods", "lists a method twice")
    return methods


def _seeds(p: Problems, data: dict) -> list[int]:
    seeds = p.typed(data, "seeds", list, "", [0])
    if len(seeds) > MAX_SEEDS:
        raise p.err("seeds", f"lists {len(seeds):,} seeds; at most {MAX_SEEDS:,} are accepted (every seed is a "
                             "full set of cells)")
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= SEED_MAX for s in seeds):
        raise p.err("seeds", f"expected a non-empty list of integers in [0, {SEED_MAX}], got {seeds!r}")
    dup = _repeated_seed(seeds)
    if dup is not None:
        raise p.err("seeds", f"lists seed {dup} twice: each seed must be distinct (a repeated seed is the same "
                             "run twice, not another sample)")
    return seeds


def _repeated_seed(seeds: list[int]) -> int | None:
    """The smallest seed listed more than once, or None."""
    return min((s for s, n in collections.Counter(seeds).items() if n > 1), default=None)


def _sizes(p: Problems, data: dict) -> tuple[StudentSize, ...] | None:
    """``[students] sizes``: ``"auto"``, ``{label="auto-x0.5", scale=0.5}``, ``{label="w64", hidden=[64, 64]}``
    or ``{label="x20", flops_reduction=20}`` (team FLOPs ≈ the teacher's / 20)."""
    st = p.typed(data, "students", dict, "", {})
    p.unknown_keys(st, {"sizes"}, "students.")
    raw = p.typed(st, "sizes", list, "students.", ["auto"])
    if not raw:
        raise p.err("students.sizes", "must list at least one size")
    sizes = [p.attempt(_size, p, s, f"students.sizes[{i}]") for i, s in enumerate(raw)]
    if not good(*sizes):
        return None
    labels = [s.label for s in sizes]
    if len(set(labels)) != len(labels):
        raise p.err("students.sizes", f"labels must be unique, got {labels}")
    return tuple(sizes)


def _size(p: Problems, raw: Any, where: str) -> StudentSize | None:
    if raw == "auto":
        return StudentSize("auto")
    if not isinstance(raw, dict):
        raise p.err(where, f'expected "auto" or a table {{label=..., hidden=[..]}} / {{label=..., scale=..}}, got {raw!r}')
    values = read_table(p, raw, StudentSize, where + ".")
    if not good(*values.values()):
        return None
    if "hidden" in raw and "scale" in raw:
        raise p.err(where, "give either hidden or scale, not both")
    if "flops_reduction" in raw and ("hidden" in raw or "scale" in raw):
        raise p.err(where, "flops_reduction picks the widths itself: give it without hidden or scale")
    return StudentSize(**values)


def _size_labels(p: Problems, labels: Any, where: str) -> tuple[str, ...]:
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise p.err(where, f"expected a non-empty list of students.sizes labels, got {labels!r}")
    return tuple(labels)


def _budget(p: Problems, data: dict) -> Budget | None:
    budget = _table(p, data, "budget", Budget)
    if budget is not None and "eval_at" in data.get("budget", {}):
        problem = eval_at_problem(list(budget.eval_at), budget.env_steps)
        if problem:
            p.add("budget.eval_at", problem)
            return None
    return budget


def _eval(p: Problems, data: dict, seeds: list[int] | None) -> EvalSettings | None:
    raw = p.attempt(p.typed, data, "eval", dict, "", {})
    if raw is None:
        return None
    values = read_table(p, raw, EvalSettings, "eval.")
    episodes = _per_family(p, values.get("episodes"), dict(family_eval_episodes()), "eval.episodes")
    seed_base = values.get("seed_base", 10_000)
    if good(seed_base):
        top = SEED_MAX - max(seeds or [0])
        if not 0 <= seed_base <= top:
            largest = f"largest seed {max(seeds)}" if seeds else "largest seed unknown"
            p.add("eval.seed_base", f"must be in [0, {top}] so that every eval seed (seed_base + seed, {largest}) "
                                    f"is in [0, {SEED_MAX}]; got {seed_base}")
            seed_base = BAD
    if not good(episodes, values.get("seeds_per_record", 1)):
        return None
    # A family whose episodes the suite pins (without seeds_per_record) keeps the one seed committed suites ran.
    given = raw.get("episodes")
    pinned = set(episodes) if isinstance(given, int) else set(given or {})
    defaults = {k: 1 if k in pinned else v for k, v in family_eval_seeds().items()}
    spr = _per_family(p, values.get("seeds_per_record"), defaults, "eval.seeds_per_record", positive_=False)
    if not good(spr, seed_base):
        return None
    for k, n in spr.items():
        if not 1 <= n <= episodes.get(k, 1):
            where = "eval.seeds_per_record" + (f".{k}" if isinstance(raw.get("seeds_per_record"), dict) else "")
            p.add(where, f"must be >= 1 and <= the family's eval episodes ({episodes.get(k, 1)}), got {n}")
            return None
    return EvalSettings(episodes=episodes, seed_base=seed_base, seeds_per_record=spr)


def _per_family(p: Problems, given: Any, defaults: dict[str, int], where: str, positive_: bool = True) -> Any:
    """An int (every family) or a table family → int over ``defaults``; ``BAD`` on a problem."""
    if given is BAD:
        return BAD
    check = positive(MAX_COUNT) if positive_ else (lambda v: None)
    if isinstance(given, int):
        problem = check(given)
        if problem:
            p.add(where, problem)
            return BAD
        return {k: given for k in defaults}
    out = dict(defaults)
    if isinstance(given, dict):
        p.unknown_keys(given, set(defaults), where + ".")
        for k, v in given.items():
            if k in defaults:
                out[k] = read_value(p, v, Rule(int, (check,)), f"{where}.{k}")
    return out if good(*out.values()) and not set(given or {}) - set(defaults) else BAD


def _method_tables(p: Problems, data: dict, variants: _Variants, sizes: tuple[StudentSize, ...] | None,
                   methods: Registry) -> dict[str, dict[str, Any]]:
    """``[method.X]`` overrides of config fields (and ``sizes``), then each variant's: its base method's
    overrides with its own on top."""
    config: dict[str, dict[str, Any]] = {}
    for name, overrides in (p.attempt(p.typed, data, "method", dict, "", {}) or {}).items():
        if name not in methods:
            p.add(f"method.{name}", methods.unknown_message(name))
            continue
        if not isinstance(overrides, dict):
            p.add(f"method.{name}", "expected a table of config fields")
            continue
        overrides = dict(overrides)
        if "sizes" in overrides:  # e.g. a control method run at the default size only
            labels = p.attempt(_size_labels, p, overrides.pop("sizes"), f"method.{name}.sizes")
            if labels is not None:
                variants.sizes.setdefault(name, labels)
        _check_config(p, methods.get(name), overrides, f"method.{name}")
        config[name] = overrides
    if sizes is not None:
        size_labels = [s.label for s in sizes]
        for name, labels in variants.sizes.items():
            table = "variant" if name in variants.config else "method"
            for j, lab in enumerate(labels):
                if lab not in size_labels:
                    p.add(f"{table}.{name}.sizes[{j}]", f"unknown size label {lab!r}{suggest(lab, size_labels)}; "
                                                        f"valid choices: {', '.join(size_labels)}")
    for name, overrides in variants.config.items():
        config[name] = {**config.get(variants.base[name], {}), **overrides}
    return config


def _task_overrides(p: Problems, data: dict, tasks: list[str] | None, budget: Budget | None,
                    seeds: list[int] | None) -> dict[str, TaskOverride] | None:
    table = p.attempt(p.typed, data, "task", dict, "", {})
    if table is None:
        return None
    out = {name: p.attempt(_task_override, p, name, ov, tasks, budget, seeds) for name, ov in table.items()}
    return out if good(*out.values()) else None


def _task_override(p: Problems, name: str, raw: Any, tasks: list[str] | None,
                   budget: Budget | None, seeds: list[int] | None) -> TaskOverride | None:
    where = f"task.{name}"
    if tasks is not None and name not in tasks:
        raise p.err(where, f"overrides a task the suite does not list{suggest(name, tasks)}")
    if not isinstance(raw, dict):
        raise p.err(where, "expected a table")
    values = read_table(p, raw, TaskOverride, where + ".")
    if tasks is not None and "view" in values and good(values["view"]):
        p.attempt(_check_view, p, name, values["view"])
    env_steps = values.get("env_steps", budget.env_steps if budget else BAD)
    if "eval_at" in values and good(values["eval_at"], env_steps):
        problem = eval_at_problem(list(values["eval_at"]), env_steps)
        if problem:
            raise p.err(f"{where}.eval_at", problem)
    elif "eval_at" not in values and budget is not None and budget.eval_at and "env_steps" in values:
        p.attempt(_check_budget_points, p, name, budget, env_steps)
    if "seeds" in values and good(values["seeds"]) and seeds is not None:
        p.attempt(_check_task_seeds, p, where + ".seeds", list(values["seeds"]), seeds)
    return TaskOverride(**values) if good(*values.values()) else None


def _check_task_seeds(p: Problems, where: str, given: list[Any], seeds: list[int]) -> None:
    """A task's ``seeds``: a non-empty selection of the suite's seeds, each once (tuning seeds stay apart
    from every board seed, so a task may not bring new ones)."""
    if not given:
        raise p.err(where, f"expected a non-empty list of the suite's seeds {seeds}, got []")
    for s in given:
        if not isinstance(s, int) or isinstance(s, bool) or s not in seeds:
            raise p.err(where, f"seed {s!r} is not one of the suite's seeds; valid choices: "
                               f"{', '.join(map(str, seeds))}")
    dup = _repeated_seed(given)
    if dup is not None:
        raise p.err(where, f"lists seed {dup} twice: each seed must be distinct")


def _check_view(p: Problems, task_id: str, view: str) -> None:
    from kdmarl_bench.envs.registry import get_view  # imports the env families (jax)

    try:
        get_view(task_id, view, students=True)
    except UsageError as exc:
        raise p.err(f"task.{task_id}.view", str(exc)) from None


def _check_budget_points(p: Problems, task_id: str, budget: Budget, env_steps: Any) -> None:
    """``[budget] eval_at`` must also fit a task whose own budget is smaller."""
    problem = eval_at_problem(list(budget.eval_at), env_steps) if good(env_steps) else None
    if problem:
        raise p.err("budget.eval_at", f"{problem} (task {task_id!r} sets env_steps = {env_steps:,}; "
                                      f"give it its own task.\"{task_id}\".eval_at)")


def _check_meta(p: Problems, m: dict[str, Any], methods: list[str] | None,
                sizes: tuple[StudentSize, ...] | None) -> None:
    """``[suite] focus`` (a student method the suite runs; default ``kd-marl``, which need not run) and
    ``headline_size`` (a ``students.sizes`` label)."""
    focus = m.get("focus")
    if methods is not None and good(focus) and (focus not in methods or focus == "teacher"):
        choices = [x for x in methods if x != "teacher"]
        p.add("suite.focus", f"unknown method {focus!r} (not a student method this suite runs)"
                             f"{suggest(focus, choices)}; valid choices: {', '.join(choices)}")
    headline = m.get("headline_size")
    if sizes is not None and good(headline):
        labels = [s.label for s in sizes]
        if headline not in labels:
            p.add("suite.headline_size", f"unknown size label {headline!r}{suggest(headline, labels)}; "
                                         f"valid choices: {', '.join(labels)}")


def plan(suite: Suite) -> list[Cell]:
    """Expand a suite into cells: the teacher once per (task, seed), every student
    method once per (task, size, seed)."""
    cells = []
    for task in suite.tasks:
        for method in suite.methods:
            base = suite.method_base.get(method, method)
            sizes: tuple[StudentSize | None, ...] = (None,) if base == "teacher" else suite.sizes_for(method)
            for size in sizes:
                for seed in suite.seeds_for(task):
                    cells.append(
                        Cell(
                            task=task,
                            method=method,
                            size=size,
                            seed=seed,
                            env_steps=0 if base == "teacher" else suite.env_steps(task),
                            num_envs=suite.budget.num_envs,
                            eval_episodes=suite.eval_episodes(task),
                            eval_seed=suite.eval.seed_base + seed,
                            teacher=suite.teacher_for(task),
                            method_config=dict(suite.method_config.get(method, {})),
                            base_method=base,
                            view=suite.view_for(task),
                            eval_at=() if base == "teacher" else suite.eval_points(task),
                            eval_seeds=suite.eval_seed_count(task),
                        )
                    )
    return cells
