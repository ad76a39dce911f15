"""Suite files: TOML → frozen dataclasses → a plan of cells.

Every validation message names the file and the field (and the TOML line when the
parser gives one) and, for names, the valid choices with "did you mean".
"""

from __future__ import annotations

import collections
import hashlib
import os
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from kdmarl_bench.errors import UsageError
from kdmarl_bench.registry import suggest
from kdmarl_bench.safeio import MAX_WIDTH, json_depth, read_bytes_bounded, task_dirname
from kdmarl_bench.tune_spec import parse_tune

# Ranges, checked by `plan` so that `run` never finds out after hours of work.
SEED_MAX = 2**31 - 1
"""Largest seed (and eval seed = seed_base + seed): every backend takes a 32-bit seed."""
MAX_COUNT = 2**40
"""Largest env-step budget, teacher steps, episode or iteration count accepted."""
MAX_NUM_ENVS = 65_536
BATCH_RANGE = (1, 65_536)
"""Batched-latency batch sizes accepted (``profile.batch_sizes``, ``profile --batch``)."""
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


@dataclass(frozen=True)
class StudentSize:
    """One student size: ``auto`` (capacity rule) or explicit hidden widths."""

    label: str
    hidden: tuple[int, ...] | None = None
    """Hidden widths shared by every agent; None = the capacity rule per agent."""
    scale: float = 1.0
    """Multiplier on the capacity rule's width (``auto`` sizes only)."""
    flops_reduction: float | None = None
    """Target team FLOP reduction vs the teacher (``{label = "x20", flops_reduction = 20}``): the widths are
    the capacity rule's times one common scale, chosen so teacher FLOPs / student FLOPs is closest to it
    (``models/capacity.py`` ``resolve_widths``; within ±10% or the cell is refused)."""


@dataclass(frozen=True)
class TeacherSource:
    source: str = "zoo"
    """``zoo`` (bundled), ``train`` (train with the suite), or a checkpoint path."""
    steps: int = 200_000
    """Env steps when ``source = "train"``."""
    kind: str = "local"
    """``local``: the actor sees each agent's own observation; ``privileged``: the centralized expert,
    whose actor also sees the global state (``train-teacher --privileged``)."""


@dataclass(frozen=True)
class Budget:
    env_steps: int = 50_000
    """Environment steps each student may use (same for every method on a task)."""
    num_envs: int = 16
    """Parallel env copies used for rollouts."""
    eval_at: tuple[int, ...] = ()
    """Env-steps at which each student is evaluated during its one training run (a learning curve),
    as written in the suite; empty = only at the end. ``Suite.eval_points(task)`` adds the task's
    ``env_steps`` as the final point."""


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
    episodes: dict[str, int] = field(default_factory=lambda: family_eval_episodes())
    """Eval episodes per seed, by env family (defaults: each family's ``eval_episodes``)."""
    seed_base: int = 10_000
    """Eval seeds are seed_base + seed: the same for every method on a task (paired)."""
    seeds_per_record: dict[str, int] = field(default_factory=lambda: family_eval_seeds())
    """Eval seeds each record's episodes are spread over, by env family (``seed_base + seed`` and
    every ``EVAL_SEED_STRIDE`` after it). Defaults: each family's ``eval_seeds``, except for a family
    whose ``episodes`` the suite sets without setting this: one seed (the protocol committed suites
    were run under)."""


@dataclass(frozen=True)
class ProfileSettings:
    iters: int = 1000
    warmup: int = 100
    threads: tuple[int, ...] = (1, 0)
    """CPU thread counts to time; 0 = all cores."""
    batch_sizes: tuple[int, ...] = (1,)
    """Batched team latency at these env batch sizes (besides decentralized batch 1)."""
    cuda: str = "auto"
    """``auto`` (time on CUDA when present), ``off``."""
    paths: tuple[str, ...] = ("eager",)
    """Deployment paths to time (``eager``, ``torchscript``, ``onnxruntime``, ``executorch``); the full
    grid runs eager, each other path adds a 1-thread decentralized entry with its equivalence check."""
    quantize: tuple[str, ...] = ()
    """Quantized students to score and time besides fp32 (``int8``: ONNX Runtime dynamic quantization)."""


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
    task_overrides: dict[str, dict[str, Any]]
    """Per-task overrides (``[task."smax/3m"]``): env_steps, eval_at, eval_episodes, teacher."""
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

    def eval_episodes(self, task_id: str) -> int:
        ov = self.task_overrides.get(task_id, {})
        if "eval_episodes" in ov:
            return int(ov["eval_episodes"])
        return self.eval.episodes[task_id.split("/", 1)[0]]

    def env_steps(self, task_id: str) -> int:
        return int(self.task_overrides.get(task_id, {}).get("env_steps", self.budget.env_steps))

    def eval_points(self, task_id: str) -> tuple[int, ...]:
        """The budget points of a task's students: ``eval_at`` (``[task.X]`` or ``[budget]``) with the
        task's ``env_steps`` as the last one; ``(env_steps,)`` when the suite sets none."""
        given = self.task_overrides.get(task_id, {}).get("eval_at", self.budget.eval_at)
        return eval_points(given, self.env_steps(task_id))

    def teacher_for(self, task_id: str) -> TeacherSource:
        ov = self.task_overrides.get(task_id, {})
        if "teacher" in ov or "teacher_steps" in ov or "teacher_kind" in ov:
            return TeacherSource(ov.get("teacher", self.teacher.source), int(ov.get("teacher_steps", self.teacher.steps)),
                                 ov.get("teacher_kind", self.teacher.kind))
        return self.teacher

    def view_for(self, task_id: str) -> str:
        """The students' observation view of a task (``[task."ID"] view``, default ``full``)."""
        return str(self.task_overrides.get(task_id, {}).get("view", "full"))


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


# ---------------------------------------------------------------------------------
# validation helpers
class _Ctx:
    def __init__(self, path: str):
        self.path = path

    def err(self, field_name: str, msg: str) -> UsageError:
        return UsageError(f"{self.path}: field '{field_name}': {msg}")

    def typed(self, data: dict, key: str, typ: type | tuple, where: str, default: Any = ...) -> Any:
        if key not in data:
            if default is ...:
                raise self.err(f"{where}{key}", "required field is missing")
            return default
        val = data[key]
        ok = isinstance(val, typ) and not (typ in (int, float, (int, float)) and isinstance(val, bool))
        if not ok:
            tname = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            raise self.err(f"{where}{key}", f"expected {tname}, got {type(val).__name__} ({val!r})")
        return val

    def unknown_keys(self, data: dict, allowed: set[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                raise self.err(
                    f"{where}{key}", f"unknown field{suggest(key, sorted(allowed))}; valid fields: {', '.join(sorted(allowed))}"
                )


def _positive(ctx: _Ctx, val: int, name: str, high: int = MAX_COUNT) -> int:
    if val <= 0 or val > high:
        raise ctx.err(name, f"must be > 0 and <= {high:,}, got {val}")
    return val


def max_threads() -> int:
    """Most CPU threads a timing may ask for: 4× this machine's cores (0 means all cores)."""
    return 4 * (os.cpu_count() or 1)


def threads_problem(vals: Any) -> str | None:
    """Why a list of thread counts cannot be timed, or None (shared by suites and ``profile --threads``)."""
    hi = max_threads()
    if not isinstance(vals, (list, tuple)) or not vals:
        return f"expected a non-empty list of thread counts in [0, {hi}] (0 = all cores), got {vals!r}"
    for v in vals:
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= hi:
            return f"thread count {v!r} is outside the allowed range [0, {hi}] (0 = all cores; at most 4× the {os.cpu_count() or 1} cores here)"
    return None


def batch_sizes_problem(vals: Any) -> str | None:
    lo, hi = BATCH_RANGE
    if not isinstance(vals, (list, tuple)):
        return f"expected a list of batch sizes in [{lo}, {hi}], got {vals!r}"
    for v in vals:
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            return f"batch size {v!r} is outside the allowed range [{lo}, {hi}]"
    return None


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


def _slug(ctx: _Ctx, name: Any, where: str) -> str:
    from kdmarl_bench.safeio import slug_problem

    problem = slug_problem(name)
    if problem:
        raise ctx.err(where, problem)
    return name


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
    from kdmarl_bench.envs import TASKS
    from kdmarl_bench.methods import METHODS

    ctx = _Ctx(path)
    ctx.unknown_keys(data, SUITE_KEYS, "")
    meta = dict(ctx.typed(data, "suite", dict, ""))
    # tasks/methods/seeds may sit at the top level or inside [suite] (TOML puts keys
    # written after a [suite] header into that table, an easy slip).
    data = dict(data)
    for key in ("tasks", "methods", "seeds"):
        if key in meta:
            if key in data:
                raise ctx.err(f"suite.{key}", f"'{key}' is given both at the top level and in [suite]")
            data[key] = meta.pop(key)
    ctx.unknown_keys(meta, {"name", "version", "description", "focus", "headline_size", "primary"}, "suite.")
    name = _slug(ctx, ctx.typed(meta, "name", str, "suite."), "suite.name")  # names runs/<name>
    version = str(ctx.typed(meta, "version", (str, int), "suite.", "1"))
    description = ctx.typed(meta, "description", str, "suite.", "")

    tasks = ctx.typed(data, "tasks", list, "")
    if not tasks:
        raise ctx.err("tasks", "must name at least one task")
    for i, t in enumerate(tasks):
        if not isinstance(t, str):
            raise ctx.err(f"tasks[{i}]", f"expected a task id string, got {t!r}")
        if t not in TASKS:
            family = t.split("/", 1)[0]
            families = sorted({n.split("/", 1)[0] for n in TASKS.names()})
            if "/" not in t or family not in families:
                raise ctx.err(
                    f"tasks[{i}]",
                    f"unknown env family {family!r} in {t!r}{suggest(family, families)}; "
                    f"valid families: {', '.join(families)}; task ids look like 'smax/3m'",
                )
            raise ctx.err(f"tasks[{i}]", TASKS.unknown_message(t))
        try:  # a registered id is safe; checked anyway, since it names the run's folders
            task_dirname(t)
        except UsageError as exc:
            raise ctx.err(f"tasks[{i}]", str(exc)) from None
    if len(set(tasks)) != len(tasks):
        raise ctx.err("tasks", "lists a task twice")

    # [variant.NAME] method = "kd-marl", <config fields>: a named configuration of a
    # registered method (ablations, sweep points) that runs like any other method.
    method_base = {m: m for m in METHODS.names()}
    variant_config: dict[str, dict] = {}
    variant_sizes: dict[str, tuple[str, ...]] = {}
    for vname, vdef in ctx.typed(data, "variant", dict, "", {}).items():
        where = f"variant.{vname}"
        _slug(ctx, vname, where)  # names students/<task>/<variant>/
        if vname in METHODS:
            raise ctx.err(where, f"a variant may not reuse the registered method id {vname!r}")
        if not isinstance(vdef, dict):
            raise ctx.err(where, "expected a table with 'method' and config fields")
        base = ctx.typed(vdef, "method", str, where + ".")
        if base not in METHODS:
            raise ctx.err(where + ".method", METHODS.unknown_message(base))
        if "sizes" in vdef:
            # Ablations and sweep points are often only needed at the default size.
            variant_sizes[vname] = _size_labels(ctx, vdef["sizes"], where + ".sizes")
        overrides = {k: v for k, v in vdef.items() if k not in ("method", "sizes")}
        METHODS.get(base).validate_overrides(overrides, lambda f, msg, w=where: ctx.err(f"{w}.{f}", msg))
        method_base[vname] = base
        variant_config[vname] = overrides

    methods = ctx.typed(data, "methods", list, "")
    if not methods:
        raise ctx.err("methods", "must name at least one method")
    for i, m in enumerate(methods):
        if not isinstance(m, str):
            raise ctx.err(f"methods[{i}]", f"expected a method id string, got {m!r}")
        if m not in method_base:
            names = sorted(method_base)
            raise ctx.err(f"methods[{i}]", f"unknown method {m!r}{suggest(m, names)}; valid choices: {', '.join(names)}")
        _slug(ctx, m, f"methods[{i}]")  # names students/<task>/<method>/
    if len(set(methods)) != len(methods):
        raise ctx.err("methods", "lists a method twice")

    seeds = ctx.typed(data, "seeds", list, "", [0])
    if len(seeds) > MAX_SEEDS:
        raise ctx.err("seeds", f"lists {len(seeds):,} seeds; at most {MAX_SEEDS:,} are accepted (every seed is a "
                               "full set of cells)")
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= SEED_MAX for s in seeds):
        raise ctx.err("seeds", f"expected a non-empty list of integers in [0, {SEED_MAX}], got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        dup = sorted(s for s, n in collections.Counter(seeds).items() if n > 1)
        raise ctx.err("seeds", f"lists seed {dup[0]} twice: each seed must be distinct (a repeated seed is the same "
                               "run twice, not another sample)")

    t = ctx.typed(data, "teacher", dict, "", {})
    ctx.unknown_keys(t, {"source", "steps", "kind"}, "teacher.")
    teacher = TeacherSource(
        source=ctx.typed(t, "source", str, "teacher.", "zoo"),
        steps=_positive(ctx, ctx.typed(t, "steps", int, "teacher.", 200_000), "teacher.steps"),
        kind=_teacher_kind(ctx, ctx.typed(t, "kind", str, "teacher.", "local"), "teacher.kind"),
    )

    st = ctx.typed(data, "students", dict, "", {})
    ctx.unknown_keys(st, {"sizes"}, "students.")
    sizes = tuple(_parse_sizes(ctx, ctx.typed(st, "sizes", list, "students.", ["auto"])))

    b = ctx.typed(data, "budget", dict, "", {})
    ctx.unknown_keys(b, {"env_steps", "num_envs", "eval_at"}, "budget.")
    budget = Budget(
        env_steps=_positive(ctx, ctx.typed(b, "env_steps", int, "budget.", Budget.env_steps), "budget.env_steps"),
        num_envs=_positive(ctx, ctx.typed(b, "num_envs", int, "budget.", Budget.num_envs), "budget.num_envs",
                           MAX_NUM_ENVS),
        eval_at=tuple(ctx.typed(b, "eval_at", list, "budget.", [])),
    )
    if "eval_at" in b:
        problem = eval_at_problem(list(budget.eval_at), budget.env_steps)
        if problem:
            raise ctx.err("budget.eval_at", problem)

    e = ctx.typed(data, "eval", dict, "", {})
    ctx.unknown_keys(e, {"episodes", "seed_base", "seeds_per_record"}, "eval.")
    episodes = dict(EvalSettings().episodes)
    ep = e.get("episodes", None)
    if isinstance(ep, int) and not isinstance(ep, bool):
        episodes = {k: _positive(ctx, ep, "eval.episodes") for k in episodes}
    elif isinstance(ep, dict):
        ctx.unknown_keys(ep, set(episodes), "eval.episodes.")
        for k in ep:
            episodes[k] = _positive(ctx, ctx.typed(ep, k, int, "eval.episodes."), f"eval.episodes.{k}")
    elif ep is not None:
        raise ctx.err("eval.episodes", f"expected int or table of family → int, got {ep!r}")
    seed_base = ctx.typed(e, "seed_base", int, "eval.", 10_000)
    if not 0 <= seed_base <= SEED_MAX - max(seeds):
        raise ctx.err("eval.seed_base", f"must be in [0, {SEED_MAX - max(seeds)}] so that every eval seed "
                                        f"(seed_base + seed, largest seed {max(seeds)}) is in [0, {SEED_MAX}]; got {seed_base}")
    ev = EvalSettings(episodes=episodes, seed_base=seed_base,
                      seeds_per_record=_seeds_per_record(ctx, e, episodes))

    pr = ctx.typed(data, "profile", dict, "", {})
    ctx.unknown_keys(pr, {"iters", "warmup", "threads", "batch_sizes", "cuda", "paths", "quantize"}, "profile.")
    from kdmarl_bench.profiling.deploy import DEPLOY_PATHS

    paths = ctx.typed(pr, "paths", list, "profile.", ["eager"])
    for i, pth in enumerate(paths):
        if pth not in DEPLOY_PATHS:
            raise ctx.err(f"profile.paths[{i}]", f"unknown deployment path {pth!r}{suggest(str(pth), list(DEPLOY_PATHS))}; "
                          f"valid choices: {', '.join(DEPLOY_PATHS)}")
    from kdmarl_bench.profiling.quantize import QUANTIZE_MODES

    quantize = ctx.typed(pr, "quantize", list, "profile.", [])
    for i, q in enumerate(quantize):
        if q not in QUANTIZE_MODES:
            raise ctx.err(f"profile.quantize[{i}]", f"unknown quantization {q!r}{suggest(str(q), list(QUANTIZE_MODES))}; "
                          f"valid choices: {', '.join(QUANTIZE_MODES)}")
    cuda = ctx.typed(pr, "cuda", str, "profile.", "auto")
    if cuda not in ("auto", "off"):
        raise ctx.err("profile.cuda", f"unknown value {cuda!r}; valid choices: auto, off")
    threads = ctx.typed(pr, "threads", list, "profile.", [1, 0])
    batch_sizes = ctx.typed(pr, "batch_sizes", list, "profile.", [1])
    for fname, problem in (("threads", threads_problem(threads)), ("batch_sizes", batch_sizes_problem(batch_sizes))):
        if problem:
            raise ctx.err(f"profile.{fname}", problem)
    warmup = ctx.typed(pr, "warmup", int, "profile.", 100)
    if not 0 <= warmup <= MAX_COUNT:
        raise ctx.err("profile.warmup", f"must be in [0, {MAX_COUNT:,}] (untimed calls before timing), got {warmup}")
    profile = ProfileSettings(
        iters=_positive(ctx, ctx.typed(pr, "iters", int, "profile.", 1000), "profile.iters", 10**9),
        warmup=warmup,
        threads=tuple(threads),
        batch_sizes=tuple(batch_sizes),
        cuda=cuda,
        paths=tuple(dict.fromkeys(["eager", *paths])),
        quantize=tuple(dict.fromkeys(quantize)),
    )

    mc = ctx.typed(data, "method", dict, "", {})
    method_config: dict[str, dict] = {}
    for mname, overrides in mc.items():
        if mname not in METHODS:
            raise ctx.err(f"method.{mname}", METHODS.unknown_message(mname))
        if not isinstance(overrides, dict):
            raise ctx.err(f"method.{mname}", "expected a table of config fields")
        overrides = dict(overrides)
        if "sizes" in overrides:  # e.g. a control method run at the default size only
            variant_sizes.setdefault(mname, _size_labels(ctx, overrides.pop("sizes"), f"method.{mname}.sizes"))
        METHODS.get(mname).validate_overrides(overrides, lambda f, msg, m=mname: ctx.err(f"method.{m}.{f}", msg))
        method_config[mname] = overrides
    size_labels = [sz.label for sz in sizes]
    for vname, labels in variant_sizes.items():
        table = "variant" if vname in variant_config else "method"
        for j, lab in enumerate(labels):
            if lab not in size_labels:
                raise ctx.err(f"{table}.{vname}.sizes[{j}]",
                              f"unknown size label {lab!r}{suggest(lab, size_labels)}; valid choices: {', '.join(size_labels)}")
    # A variant starts from its base method's [method.X] overrides, then applies its own.
    for vname, overrides in variant_config.items():
        method_config[vname] = {**method_config.get(method_base[vname], {}), **overrides}

    to = ctx.typed(data, "task", dict, "", {})
    task_overrides: dict[str, dict] = {}
    for tname, ov in to.items():
        if tname not in tasks:
            raise ctx.err(f"task.{tname}", f"overrides a task the suite does not list{suggest(tname, tasks)}")
        if not isinstance(ov, dict):
            raise ctx.err(f"task.{tname}", "expected a table")
        ctx.unknown_keys(ov, {"env_steps", "eval_episodes", "teacher", "teacher_steps", "teacher_kind", "view", "eval_at"},
                         f"task.{tname}.")
        for k in ("env_steps", "eval_episodes", "teacher_steps"):
            if k in ov:
                _positive(ctx, ctx.typed(ov, k, int, f"task.{tname}."), f"task.{tname}.{k}")
        if "teacher" in ov:
            ctx.typed(ov, "teacher", str, f"task.{tname}.")
        if "teacher_kind" in ov:
            _teacher_kind(ctx, ov["teacher_kind"], f"task.{tname}.teacher_kind")
        if "view" in ov:
            from kdmarl_bench.envs.registry import get_view

            view_name = ctx.typed(ov, "view", str, f"task.{tname}.")
            try:
                get_view(tname, view_name, students=True)
            except UsageError as exc:
                raise ctx.err(f"task.{tname}.view", str(exc)) from None
        task_overrides[tname] = dict(ov)
        if "eval_at" in ov:
            ov_at = ctx.typed(ov, "eval_at", list, f"task.{tname}.")
            problem = eval_at_problem(ov_at, int(ov.get("env_steps", budget.env_steps)))
            if problem:
                raise ctx.err(f"task.{tname}.eval_at", problem)
            task_overrides[tname]["eval_at"] = tuple(ov_at)
        elif budget.eval_at and "env_steps" in ov:
            # [budget] eval_at must also fit a task whose own budget is smaller.
            problem = eval_at_problem(list(budget.eval_at), int(ov["env_steps"]))
            if problem:
                raise ctx.err("budget.eval_at", f"{problem} (task {tname!r} sets env_steps = {ov['env_steps']:,}; "
                                                f"give it its own task.\"{tname}\".eval_at)")

    focus = _focus(ctx, meta, methods)
    # default: auto when the suite has it, else its first size
    headline_size = ctx.typed(meta, "headline_size", str, "suite.", "auto" if "auto" in size_labels else size_labels[0])
    if headline_size not in size_labels:
        raise ctx.err("suite.headline_size", f"unknown size label {headline_size!r}{suggest(headline_size, size_labels)}; "
                                             f"valid choices: {', '.join(size_labels)}")
    primary = _primary(ctx, meta, budget, task_overrides, tasks)
    tune = parse_tune(ctx, data.get("tune"), methods, method_base, seeds, SEED_MAX) if "tune" in data else None
    return Suite(
        path=path,
        name=name,
        version=version,
        description=description,
        tasks=tuple(tasks),
        methods=tuple(methods),
        seeds=tuple(seeds),
        teacher=teacher,
        sizes=sizes,
        budget=budget,
        eval=ev,
        profile=profile,
        method_config=method_config,
        method_base={m: method_base[m] for m in methods},
        task_overrides=task_overrides,
        sha256=sha256,
        method_sizes={m: variant_sizes[m] for m in methods if m in variant_sizes},
        focus=focus,
        headline_size=headline_size,
        primary=primary,
        tune=tune,
    )


def _seeds_per_record(ctx: _Ctx, e: dict, episodes: dict[str, int]) -> dict[str, int]:
    """``[eval] seeds_per_record``: an int or a table family → int, each in [1, that family's episodes]."""
    given = e.get("episodes")
    pinned = set(episodes) if isinstance(given, int) and not isinstance(given, bool) else set(given or {})
    out = {k: 1 if k in pinned else v for k, v in family_eval_seeds().items()}
    sp = e.get("seeds_per_record")
    if isinstance(sp, int) and not isinstance(sp, bool):
        out = {k: sp for k in out}
    elif isinstance(sp, dict):
        ctx.unknown_keys(sp, set(out), "eval.seeds_per_record.")
        for k in sp:
            out[k] = ctx.typed(sp, k, int, "eval.seeds_per_record.")
    elif sp is not None:
        raise ctx.err("eval.seeds_per_record", f"expected int or table of family → int, got {sp!r}")
    for k, n in out.items():
        if not 1 <= n <= episodes.get(k, 1):
            raise ctx.err(f"eval.seeds_per_record.{k}" if isinstance(sp, dict) else "eval.seeds_per_record",
                          f"must be >= 1 and <= the family's eval episodes ({episodes.get(k, 1)}), got {n}")
    return out


def _primary(ctx: _Ctx, meta: dict, budget: Budget, task_overrides: dict[str, dict], tasks: list[str]) -> str:
    """``[suite] primary``: ``auc`` or ``final``; default ``auc`` for a learning-curve suite (a task
    with two or more budget points)."""
    from kdmarl_bench.results.records import PRIMARY_METRICS

    curves = any(len(eval_points(task_overrides.get(t, {}).get("eval_at", budget.eval_at),
                                 int(task_overrides.get(t, {}).get("env_steps", budget.env_steps)))) >= 2 for t in tasks)
    if "primary" not in meta:
        return "auc" if curves else "final"
    value = meta["primary"]
    if value not in PRIMARY_METRICS:
        raise ctx.err("suite.primary", f"unknown primary metric {value!r}{suggest(str(value), list(PRIMARY_METRICS))}; "
                                       f"valid choices: {', '.join(PRIMARY_METRICS)} (auc = mean retention over the "
                                       "learning curve's points, final = retention at the last point)")
    return str(value)


def _teacher_kind(ctx: _Ctx, val: Any, where: str) -> str:
    from kdmarl_bench.envs.views import TEACHER_KINDS

    if val not in TEACHER_KINDS:
        raise ctx.err(where, f"unknown teacher kind {val!r}{suggest(str(val), list(TEACHER_KINDS))}; "
                             f"valid choices: {', '.join(TEACHER_KINDS)}")
    return str(val)


def _focus(ctx: _Ctx, meta: dict, methods: list[str]) -> str:
    """``[suite] focus``: one of the suite's methods (default ``kd-marl``, which need not run)."""
    if "focus" not in meta:
        return "kd-marl"
    focus = ctx.typed(meta, "focus", str, "suite.")
    if focus not in methods or focus == "teacher":
        choices = [m for m in methods if m != "teacher"]
        raise ctx.err("suite.focus", f"unknown method {focus!r} (not a student method this suite runs)"
                      f"{suggest(focus, choices)}; valid choices: {', '.join(choices)}")
    return focus


def _size_labels(ctx: _Ctx, labels: Any, where: str) -> tuple[str, ...]:
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ctx.err(where, f"expected a non-empty list of students.sizes labels, got {labels!r}")
    return tuple(labels)


def _parse_sizes(ctx: _Ctx, sizes: list) -> list[StudentSize]:
    """``"auto"``, ``{label="auto-x0.5", scale=0.5}``, ``{label="w64", hidden=[64, 64]}`` or
    ``{label="x20", flops_reduction=20}`` (team FLOPs ≈ the teacher's / 20)."""
    out = []
    if not sizes:
        raise ctx.err("students.sizes", "must list at least one size")
    for i, s in enumerate(sizes):
        where = f"students.sizes[{i}]"
        if s == "auto":
            out.append(StudentSize("auto"))
            continue
        if not isinstance(s, dict):
            raise ctx.err(where, f'expected "auto" or a table {{label=..., hidden=[..]}} / {{label=..., scale=..}}, got {s!r}')
        ctx.unknown_keys(s, {"label", "hidden", "scale", "flops_reduction"}, where + ".")
        label = _slug(ctx, ctx.typed(s, "label", str, where + "."), where + ".label")  # names students/../<label>/
        hidden = s.get("hidden")
        if hidden is not None:
            if (not isinstance(hidden, list) or not hidden or len(hidden) > MAX_LAYERS
                    or not all(isinstance(h, int) and not isinstance(h, bool) and 0 < h <= MAX_WIDTH for h in hidden)):
                raise ctx.err(where + ".hidden", f"expected a list of 1 to {MAX_LAYERS} widths in [1, {MAX_WIDTH}], "
                                                 f"got {hidden!r}")
            hidden = tuple(hidden)
        scale = float(ctx.typed(s, "scale", (int, float), where + ".", 1.0))
        if not 0 < scale <= 64:
            raise ctx.err(where + ".scale", f"must be > 0 and <= 64, got {scale}")
        if hidden is not None and "scale" in s:
            raise ctx.err(where, "give either hidden or scale, not both")
        target = None
        if "flops_reduction" in s:
            target = float(ctx.typed(s, "flops_reduction", (int, float), where + "."))
            if not (1 < target <= MAX_FLOPS_REDUCTION):
                raise ctx.err(where + ".flops_reduction",
                              f"must be a number > 1 and <= {MAX_FLOPS_REDUCTION:g} (teacher FLOPs / student FLOPs), "
                              f"got {s['flops_reduction']!r}")
            if hidden is not None or "scale" in s:
                raise ctx.err(where, "flops_reduction picks the widths itself: give it without hidden or scale")
        out.append(StudentSize(label, hidden, scale, target))
    labels = [s.label for s in out]
    if len(set(labels)) != len(labels):
        raise ctx.err("students.sizes", f"labels must be unique, got {labels}")
    return out


def plan(suite: Suite) -> list[Cell]:
    """Expand a suite into cells: the teacher once per (task, seed), every student
    method once per (task, size, seed)."""
    cells = []
    for task in suite.tasks:
        for method in suite.methods:
            base = suite.method_base.get(method, method)
            sizes: tuple[StudentSize | None, ...] = (None,) if base == "teacher" else suite.sizes_for(method)
            for size in sizes:
                for seed in suite.seeds:
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
