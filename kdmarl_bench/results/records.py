"""Typed leaderboard data: records, summaries, latency entries, learning curves, aggregates and the board itself.

A leaderboard file is read once (``results.io.read_leaderboard``: read → validate → migrate →
``Leaderboard.from_dict``); every reader works on these dataclasses and never re-checks a field
with ``.get``. ``to_dict`` gives the schema-version-3 JSON form back. Fields the schema leaves
open (a record's ``eval_seed``, ``teacher_sha256``, ``method_config`` ...) travel unchanged in
each object's ``extra``, so a round trip loses nothing.

This module also holds the few rules every reader shares: which CI counts (``has_ci``), what a
"successful" record is (``Record.ok``), the method order of tables (``method_sort_key``) and the
claim thresholds (``CLAIM_RETENTION``, ``CLAIM_FLOPS_REDUCTION``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any

# ---------------------------------------------------------------------------------------------
# constants shared by every reader

TEACHER = "teacher"
"""Method id of the teacher's records (``student`` null)."""
TEACHER_SIZE = "full"
"""Size label of the teacher."""
DEFAULT_FOCUS = "kd-marl"
"""The method under test when a suite does not name one (``[suite] focus``)."""
CLAIM_RETENTION = 0.90
"""The claim's retention: a student keeps >= 90% of the teacher's score (REFERENCE.md)."""
CLAIM_FLOPS_REDUCTION = 28.6
"""The paper's FLOP range: students keep >= 90% "at up to 28.6x fewer FLOPs" (arXiv 2604.06691). A
student at most this many times cheaper than the teacher tests the claim; a cheaper one is beyond it."""
DEFAULT_BOOTSTRAP = {"n_resamples": 2000, "random_state": 0, "confidence": 0.95}
"""Bootstrap settings a protocol without them gets (and records)."""

PRIMARY_METRICS = ("auc", "final")
"""A suite's pre-registered primary metric (``[suite] primary``): ``auc`` = mean retention over the
learning curve's budget points (the area / env-step range), ``final`` = retention at the last point."""
GREEDY_SAMPLED_FLAG = 0.30
"""A seed whose greedy and sampled retention (or win rate) differ by more than this is flagged: a
near-tie in the policy decides its greedy score."""

Key = tuple[str, str, str]
"""(task, method, size) of a summary row."""


def is_finite_number(x: Any) -> bool:
    """A real number (not a bool), neither NaN nor infinite: a value the leaderboard can rank."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def finite_or_none(x: Any) -> float | None:
    """``float(x)`` for a finite number, else None."""
    return float(x) if is_finite_number(x) else None


def method_sort_key(method: str, focus: str = DEFAULT_FOCUS) -> tuple[int, str]:
    """Teacher first, then the focus method, then the rest alphabetically."""
    rank = 0 if method == TEACHER else 1 if method == focus else 2
    return (rank, method)


# ---------------------------------------------------------------------------------------------
# confidence intervals: the one validity rule


@dataclass(frozen=True)
class CI:
    """A [lo, hi] confidence interval of two finite numbers."""

    lo: float
    hi: float

    @property
    def is_point(self) -> bool:
        """One seed (or equal seeds) gives [v, v]: an interval with nothing to show."""
        return self.lo == self.hi

    def contains(self, x: float) -> bool:
        return self.lo <= x <= self.hi

    def to_list(self) -> list[float]:
        return [self.lo, self.hi]

    @classmethod
    def parse(cls, value: Any) -> CI | None:
        """A CI from ``[lo, hi]`` (or a CI); None unless both bounds are finite numbers."""
        if isinstance(value, CI):
            return value
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(is_finite_number(v) for v in value):
            return cls(value[0], value[1])
        return None


def has_ci(ci: Any, *, informative: bool = True) -> bool:
    """Whether ``ci`` (a CI, ``[lo, hi]`` or None) is a valid interval.

    With ``informative`` (the default) a point interval [v, v] does not count: it is what one
    seed, or equal seeds, give, and tables show no brackets for it.
    """
    parsed = CI.parse(ci)
    return parsed is not None and not (informative and parsed.is_point)


def _ci_out(ci: CI | None) -> list[float] | None:
    return None if ci is None else ci.to_list()


# ---------------------------------------------------------------------------------------------
# helpers for from_dict / to_dict


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls)) - {"extra"}


def _split(data: dict, cls: type) -> tuple[dict, dict]:
    """(known fields, extra fields) of ``data`` for dataclass ``cls`` (its ``extra`` excluded)."""
    names = _field_names(cls)
    known = {k: v for k, v in data.items() if k in names}
    extra = {k: v for k, v in data.items() if k not in names}
    return known, extra


def _with_optional(out: dict, obj: Any, names: Iterable[str]) -> dict:
    """Add the optional fields ``names`` of ``obj`` to ``out`` when they are not None."""
    for name in names:
        value = getattr(obj, name)
        if value is not None:
            out[name] = value
    return out


# ---------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class LatencyEntry:
    """One latency profile of a record: a device, thread count, batch and mode."""

    device: str
    device_name: str | None
    threads: int | None
    batch: int
    mode: str
    """``decentralized`` (every agent's actor at batch 1, one after another) or ``batched``."""
    p50_ms: float
    p90_ms: float
    p99_ms: float
    path: str | None = None
    """Deployment path (``eager``, ``torchscript``, ``onnxruntime``, ``executorch``); None = eager (older files)."""
    mean_ms: float | None = None
    iters: int | None = None
    repeats: int | None = None
    cv: float | None = None
    """Coefficient of variation of the per-repeat medians."""
    timer_median_ms: float | None = None
    """``torch.utils.benchmark.Timer`` median of the same call (the cross-check)."""
    timer_mismatch: bool | None = None
    """The Timer median differs from p50 by more than the profiler's tolerance."""
    throughput_decisions_per_s: float | None = None
    torch: str | None = None
    arch: str | None = None
    """Short sha256 of the deployed architecture: rows sharing it are one measurement."""
    timing: dict[str, Any] | None = None
    """Where and how it was timed: ``where``, ``phase``, ``interleaved_with``, ``shared_by``."""
    noisy: bool | None = None
    """The timer cross-check or the CV disagrees: not a number to judge a regression on."""
    extra: dict[str, Any] = field(default_factory=dict)

    _OPTIONAL = ("path", "mean_ms", "iters", "repeats", "cv", "timer_median_ms", "timer_mismatch",
                 "throughput_decisions_per_s", "torch", "arch", "timing", "noisy")

    @property
    def deploy_path(self) -> str:
        return self.path or "eager"

    @property
    def device_kind(self) -> str:
        """``cpu`` or ``cuda`` (``cuda:1`` → ``cuda``)."""
        return self.device.split(":")[0]

    @classmethod
    def from_dict(cls, data: dict) -> LatencyEntry:
        known, extra = _split(data, cls)
        entry = cls(**known, extra=extra)
        if entry.noisy is None and entry.timer_mismatch is not None:
            entry = replace(entry, noisy=bool(entry.timer_mismatch))
        return entry

    def to_dict(self) -> dict:
        out = {
            "device": self.device,
            "device_name": self.device_name,
            "threads": self.threads,
            "batch": self.batch,
            "mode": self.mode,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
        }
        _with_optional(out, self, self._OPTIONAL)
        return {**out, **self.extra}


@dataclass(frozen=True)
class Cost:
    """Parameters and FLOPs per team decision (all agents' deployed actors)."""

    params: int
    macs: float | None
    flops: float
    flops_thop: float | None
    agree: bool | None
    """The analytic count and thop's agree."""
    per_agent: list[Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> Cost:
        known, extra = _split(data, cls)
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        return {
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "flops_thop": self.flops_thop,
            "agree": self.agree,
            "per_agent": list(self.per_agent),
            **self.extra,
        }


@dataclass(frozen=True)
class TrainStats:
    """Wall time and env-step throughput of a student's training."""

    wall_s: float | None
    env_steps_per_s: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> TrainStats:
        known, extra = _split(data, cls)
        return cls(wall_s=known.get("wall_s"), env_steps_per_s=known.get("env_steps_per_s"), extra=extra)

    def to_dict(self) -> dict:
        return {"wall_s": self.wall_s, "env_steps_per_s": self.env_steps_per_s, **self.extra}


@dataclass(frozen=True)
class Student:
    widths: list[Any]
    """Hidden widths, one entry per agent (an int or a list of layer widths)."""
    size: str
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> Student:
        known, extra = _split(data, cls)
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        return {"widths": list(self.widths), "size": self.size, **self.extra}


@dataclass(frozen=True)
class CurvePoint:
    """A student's score at one budget point of its training run (``[budget] eval_at``)."""

    env_steps: int
    """The budget point."""
    score: float
    episode_scores: list[float]
    env_steps_used: int | None = None
    """Env-steps the student had used when evaluated (an on-policy update may pass the point)."""
    retention: float | None = None
    """Retention of ``score`` against the teacher on the same (task, seed), filled with the record's."""
    score_sampled: float | None = None
    """The score when the student samples its actions (same episodes and eval seeds); None on older boards."""
    episode_scores_sampled: list[float] | None = None
    retention_sampled: float | None = None
    """``score_sampled`` against the teacher's sampled score on the same (task, seed)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> CurvePoint:
        known, extra = _split(data, cls)
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        out = {"env_steps": self.env_steps, "score": self.score, "episode_scores": list(self.episode_scores)}
        _with_optional(out, self, ("env_steps_used", "retention", "score_sampled", "episode_scores_sampled",
                                   "retention_sampled"))
        return {**out, **self.extra}


@dataclass(frozen=True)
class Record:
    """One (task, method, size, seed) cell: its score, retention, cost and latency."""

    task: str
    backend: str
    backend_versions: dict[str, str | None]
    metric: str
    """``win_rate`` or ``return``."""
    method: str
    student: Student | None
    """None for the teacher."""
    seed: int
    score: float | None
    """None only for a failed cell (``error`` set)."""
    episode_scores: list[float]
    win_rate: float | None
    teacher_score: float | None
    random_score: float | None
    retention: float | None
    budget: dict[str, Any]
    train: TrainStats | None
    cost: Cost | None
    latency: list[LatencyEntry]
    checkpoint: str | None
    error: str | None
    base_method: str | None = None
    """The registered method a variant configures (None: ``method`` itself)."""
    view: str = "full"
    """The students' observation view of the task (``kdmarl_bench/envs/views.py``); boards from before
    views existed are ``full``. Numbers under different views are never compared in one column."""
    teacher_kind: str = "local"
    """``local`` (the teacher's actor sees each agent's own observation) or ``privileged`` (also the
    global state: the centralized expert)."""
    method_kind: str | None = None
    """The method's ``kind`` when the cell ran (``teacher``, ``action-imitation``, ``structure``,
    ``control``); None on boards made before it was recorded."""
    curve: list[CurvePoint] | None = None
    """The learning curve: the score at every budget point, the last one the final score (None: the
    teacher, or a record written before curves existed)."""
    score_sampled: float | None = None
    """The score when the policy samples its actions, on the same episodes and eval seeds as ``score``
    (which is greedy); None on boards made before both were recorded."""
    episode_scores_sampled: list[float] | None = None
    teacher_score_sampled: float | None = None
    """The teacher's sampled score on the same (task, seed): the base of ``retention_sampled``."""
    retention_sampled: float | None = None
    """``score_sampled`` / ``teacher_score_sampled`` (win rate), or normalised by the random score (return)."""
    extra: dict[str, Any] = field(default_factory=dict)

    _SAMPLED = ("score_sampled", "episode_scores_sampled", "teacher_score_sampled", "retention_sampled")

    # ---- derived views

    @property
    def greedy_sampled_gap(self) -> float | None:
        """|greedy − sampled| as the board normalises it: retention when both retentions are known,
        else the win rate (already in [0, 1]); None without a sampled score or a comparable scale."""
        if is_finite_number(self.retention) and is_finite_number(self.retention_sampled):
            return abs(float(self.retention) - float(self.retention_sampled))
        if self.metric == "win_rate" and is_finite_number(self.score) and is_finite_number(self.score_sampled):
            return abs(float(self.score) - float(self.score_sampled))
        return None

    def curve_auc(self, sampled: bool = False) -> float | None:
        """This seed's area under its (greedy or sampled) retention curve / env-step range; None
        without a curve of two or more points with every retention known."""
        if not self.curve or len(self.curve) < 2:
            return None
        vals = [c.retention_sampled if sampled else c.retention for c in self.curve]
        if not all(is_finite_number(v) for v in vals):
            return None
        from kdmarl_bench.results.stats import curve_auc  # stats imports scipy: only when a curve is read

        return finite_or_none(curve_auc([c.env_steps for c in self.curve], vals))

    def primary_value(self, metric: str, sampled: bool = False) -> float | None:
        """The seed's value of a primary metric (``PRIMARY_METRICS``): ``auc`` is its curve's
        ``curve_auc`` (the final retention when it has no curve), ``final`` its retention."""
        if metric == "auc":
            auc = self.curve_auc(sampled)
            if auc is not None:
                return auc
        value = self.retention_sampled if sampled else self.retention
        return float(value) if is_finite_number(value) else None

    @property
    def flagged(self) -> bool:
        """Greedy and sampled differ by more than ``GREEDY_SAMPLED_FLAG`` (30 points)."""
        gap = self.greedy_sampled_gap
        return gap is not None and gap > GREEDY_SAMPLED_FLAG

    @property
    def size(self) -> str:
        """The student's size label; the teacher is ``"full"``."""
        return self.student.size if self.student is not None and self.student.size else TEACHER_SIZE

    @property
    def base(self) -> str:
        return self.base_method or self.method

    @property
    def key(self) -> Key:
        return (self.task, self.method, self.size)

    @property
    def ok(self) -> bool:
        """Counts in the statistics: no error and a finite score."""
        return self.error is None and is_finite_number(self.score)

    @property
    def env_steps(self) -> int:
        return int(self.budget.get("env_steps") or 0)

    @property
    def weights_bytes(self) -> float | None:
        """fp32 weight bytes of the deployed team (the record's ``memory``; None on older records)."""
        mem = self.extra.get("memory")
        val = mem.get("weights_fp32_bytes") if isinstance(mem, dict) else None
        return float(val) if is_finite_number(val) else None

    def latency_entry(self, device: str, threads: int | None = 1, path: str = "eager") -> LatencyEntry | None:
        """The decentralized latency entry on ``device`` ('cpu' or 'cuda'), batch 1 preferred.

        On the CPU only entries timed with ``threads`` threads count; CUDA entries ignore threads.
        """
        candidates = [
            e for e in self.latency
            if e.device_kind == device and e.mode == "decentralized" and e.deploy_path == path
            and (device != "cpu" or e.threads == threads) and is_finite_number(e.p50_ms)
        ]
        candidates.sort(key=lambda e: (e.batch != 1, e.batch or 0))
        return candidates[0] if candidates else None

    @property
    def cpu_p50_ms(self) -> float | None:
        """The 1-thread decentralized eager CPU p50 in ms."""
        entry = self.latency_entry("cpu", threads=1)
        return float(entry.p50_ms) if entry else None

    # ---- (de)serialisation

    @classmethod
    def from_dict(cls, data: dict) -> Record:
        """A record from its JSON form; nullable fields a runner's cell may leave out default to null."""
        data = {**_RECORD_DEFAULTS, **data}
        known, extra = _split(data, cls)
        student = known.pop("student")
        train = known.pop("train")
        cost = known.pop("cost")
        latency = known.pop("latency") or []
        curve = known.pop("curve", None)
        return cls(
            **known,
            curve=None if curve is None else [c if isinstance(c, CurvePoint) else CurvePoint.from_dict(c) for c in curve],
            student=Student.from_dict(student) if isinstance(student, dict) else None,
            train=TrainStats.from_dict(train) if isinstance(train, dict) else None,
            cost=Cost.from_dict(cost) if isinstance(cost, dict) else None,
            latency=[e if isinstance(e, LatencyEntry) else LatencyEntry.from_dict(e) for e in latency],
            extra=extra,
        )

    def to_dict(self) -> dict:
        out = {
            "task": self.task,
            "backend": self.backend,
            "backend_versions": dict(self.backend_versions),
            "metric": self.metric,
            "method": self.method,
        }
        if self.base_method is not None:
            out["base_method"] = self.base_method
        out.update({
            "student": None if self.student is None else self.student.to_dict(),
            "seed": self.seed,
            "score": self.score,
            "episode_scores": list(self.episode_scores),
            "win_rate": self.win_rate,
            "teacher_score": self.teacher_score,
            "random_score": self.random_score,
            "retention": self.retention,
            "budget": dict(self.budget),
            "train": None if self.train is None else self.train.to_dict(),
            "cost": None if self.cost is None else self.cost.to_dict(),
            "latency": [e.to_dict() for e in self.latency],
            "checkpoint": self.checkpoint,
            "error": self.error,
        })
        if self.view != "full" or self.teacher_kind != "local":  # older boards stay byte-identical
            out.update(view=self.view, teacher_kind=self.teacher_kind)
        if self.method_kind is not None:
            out["method_kind"] = self.method_kind
        if self.curve is not None:
            out["curve"] = [c.to_dict() for c in self.curve]
        _with_optional(out, self, self._SAMPLED)
        return {**out, **self.extra}


_RECORD_DEFAULTS: dict[str, Any] = {
    "student": None,
    "episode_scores": [],
    "win_rate": None,
    "teacher_score": None,
    "random_score": None,
    "retention": None,
    "budget": {"env_steps": 0},
    "train": None,
    "cost": None,
    "latency": [],
    "checkpoint": None,
    "error": None,
    "backend_versions": {},
    "score": None,
}


# ---------------------------------------------------------------------------------------------
# summaries


@dataclass(frozen=True)
class LatencyGroup:
    """Means over seeds of one latency profile of a (task, method, size)."""

    device: str
    device_name: str | None
    threads: int | None
    batch: int | None
    mode: str
    n_seeds: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    timer_median_ms: float | None
    timer_mismatch: bool | None
    """Any seed's Timer cross-check disagreed."""
    cv_max: float | None
    throughput_decisions_per_s: float | None = None
    noisy: bool | None = None
    """Any seed's measurement is noisy (see ``LatencyEntry.noisy``)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> LatencyGroup:
        known, extra = _split(data, cls)
        group = cls(**known, extra=extra)
        if group.noisy is None and group.timer_mismatch is not None:
            group = replace(group, noisy=bool(group.timer_mismatch))
        return group

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**out, **self.extra}


@dataclass(frozen=True)
class LatencySummary:
    """The 1-thread CPU and the CUDA decentralized latency over seeds (None: not timed)."""

    cpu: LatencyGroup | None = None
    cuda: LatencyGroup | None = None

    def devices(self) -> list[tuple[str, LatencyGroup]]:
        return [(name, g) for name, g in (("cpu", self.cpu), ("cuda", self.cuda)) if g is not None]

    @classmethod
    def from_dict(cls, data: dict) -> LatencySummary:
        return cls(*(LatencyGroup.from_dict(data[k]) if isinstance(data.get(k), dict) else None
                     for k in ("cpu", "cuda")))

    def to_dict(self) -> dict:
        return {"cpu": self.cpu and self.cpu.to_dict(), "cuda": self.cuda and self.cuda.to_dict()}


@dataclass(frozen=True)
class CurveSummaryPoint:
    """One budget point of a (task, method, size): means over seeds with bootstrap CIs over seeds."""

    env_steps: int
    n_seeds: int
    score_mean: float | None
    score_ci95: CI | None
    retention_mean: float | None
    retention_ci95: CI | None
    retention_sampled_mean: float | None = None
    """Mean sampled retention over seeds (None on boards without sampled scores)."""
    retention_sampled_ci95: CI | None = None

    @classmethod
    def from_dict(cls, data: dict) -> CurveSummaryPoint:
        return cls(data["env_steps"], data["n_seeds"], data["score_mean"], CI.parse(data["score_ci95"]),
                   data["retention_mean"], CI.parse(data["retention_ci95"]), data.get("retention_sampled_mean"),
                   CI.parse(data.get("retention_sampled_ci95")))

    def to_dict(self) -> dict:
        out = {"env_steps": self.env_steps, "n_seeds": self.n_seeds, "score_mean": self.score_mean,
               "score_ci95": _ci_out(self.score_ci95), "retention_mean": self.retention_mean,
               "retention_ci95": _ci_out(self.retention_ci95)}
        if self.retention_sampled_mean is not None:
            out.update(retention_sampled_mean=self.retention_sampled_mean,
                       retention_sampled_ci95=_ci_out(self.retention_sampled_ci95))
        return out


@dataclass(frozen=True)
class Summary:
    """Per (task, method, size): means over seeds with bootstrap CIs, cost and latency."""

    task: str
    method: str
    size: str
    n_seeds: int
    score_mean: float | None
    score_ci95: CI | None
    retention_mean: float | None
    retention_ci95: CI | None
    flops: float | None
    params: int | None
    flops_reduction: float | None
    """Teacher FLOPs / these FLOPs."""
    latency_cpu_p50_ms: float | None
    latency_speedup_cpu: float | None
    metric: str | None = None
    backend: str | None = None
    n_failed: int = 0
    latency_summary: LatencySummary = field(default_factory=LatencySummary)
    weights_bytes: float | None = None
    """fp32 weight bytes of the deployed team (shared modules once; the records' ``memory``)."""
    best_path: str | None = None
    """The deployment path with the lowest 1-thread decentralized CPU p50 (among those whose
    equivalence check passed; eager is the reference and always qualifies)."""
    best_path_p50_ms: float | None = None
    view: str = "full"
    """The students' observation view of the task (the records'; one per task on a board)."""
    teacher_kind: str = "local"
    retention_curve: list[CurveSummaryPoint] | None = None
    """Retention (and score) per budget point over seeds, when the records carry curves of >= 2 points."""
    curve_auc: float | None = None
    """Area under the retention curve divided by its env-step range (first to last point): the mean
    retention over the budget range; mean over seeds."""
    curve_auc_ci95: CI | None = None
    """CI over seeds of ``curve_auc``."""
    ci_kind: str | None = None
    """How the CIs over seeds were built (``stats.ci_kind``): ``t`` (Student t, fewer than 5 seeds),
    ``bootstrap`` or ``none`` (one seed); None on boards made before it was recorded."""
    score_sampled_mean: float | None = None
    """Mean over seeds of the sampled score (None: the records carry no sampled score)."""
    score_sampled_ci95: CI | None = None
    retention_sampled_mean: float | None = None
    retention_sampled_ci95: CI | None = None
    curve_auc_sampled: float | None = None
    """``curve_auc`` of the sampled retention curve."""
    curve_auc_sampled_ci95: CI | None = None
    n_flagged: int = 0
    """Seeds whose greedy and sampled scores differ by more than 30 points (``Record.flagged``)."""
    extra: dict[str, Any] = field(default_factory=dict)

    _SAMPLED = ("score_sampled_mean", "score_sampled_ci95", "retention_sampled_mean", "retention_sampled_ci95",
                "curve_auc_sampled", "curve_auc_sampled_ci95")
    _CIS = ("score_ci95", "retention_ci95", "curve_auc_ci95", "score_sampled_ci95", "retention_sampled_ci95",
            "curve_auc_sampled_ci95")

    def primary(self, metric: str) -> tuple[float | None, CI | None]:
        """(value, CI) of the primary metric: ``auc`` (mean retention over the curve; the final
        retention when the row has no curve) or ``final``."""
        if metric == "auc" and self.curve_auc is not None:
            return self.curve_auc, self.curve_auc_ci95
        return self.retention_mean, self.retention_ci95

    @property
    def key(self) -> Key:
        return (self.task, self.method, self.size)

    @classmethod
    def from_dict(cls, data: dict) -> Summary:
        known, extra = _split(data, cls)
        known["score_ci95"] = CI.parse(known.get("score_ci95"))
        known["retention_ci95"] = CI.parse(known.get("retention_ci95"))
        for name in cls._CIS:
            known[name] = CI.parse(known.get(name))
        if known.get("retention_curve") is not None:
            known["retention_curve"] = [CurveSummaryPoint.from_dict(c) for c in known["retention_curve"]]
        known["latency_summary"] = LatencySummary.from_dict(known.get("latency_summary") or {})
        if known.get("n_failed") is None:
            known["n_failed"] = 0
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "method": self.method,
            "size": self.size,
            "metric": self.metric,
            "backend": self.backend,
            "n_seeds": self.n_seeds,
            "n_failed": self.n_failed,
            "score_mean": self.score_mean,
            "score_ci95": _ci_out(self.score_ci95),
            "retention_mean": self.retention_mean,
            "retention_ci95": _ci_out(self.retention_ci95),
            "flops": self.flops,
            "params": self.params,
            "flops_reduction": self.flops_reduction,
            "latency_cpu_p50_ms": self.latency_cpu_p50_ms,
            "latency_speedup_cpu": self.latency_speedup_cpu,
            "latency_summary": self.latency_summary.to_dict(),
            **({"weights_bytes": self.weights_bytes} if self.weights_bytes is not None else {}),
            **({"best_path": self.best_path, "best_path_p50_ms": self.best_path_p50_ms}
               if self.best_path is not None else {}),
            **({"view": self.view, "teacher_kind": self.teacher_kind}
               if self.view != "full" or self.teacher_kind != "local" else {}),
            **({"retention_curve": [c.to_dict() for c in self.retention_curve], "curve_auc": self.curve_auc,
                "curve_auc_ci95": _ci_out(self.curve_auc_ci95)} if self.retention_curve is not None else {}),
            **({"ci_kind": self.ci_kind} if self.ci_kind is not None else {}),
            **({k: _ci_out(getattr(self, k)) if k.endswith("ci95") else getattr(self, k) for k in self._SAMPLED}
               if self.score_sampled_mean is not None else {}),
            **({"n_flagged": self.n_flagged} if self.n_flagged else {}),
            **self.extra,
        }


# ---------------------------------------------------------------------------------------------
# aggregates


@dataclass(frozen=True)
class PerformanceProfile:
    """Fraction of runs with retention > tau, with stratified-bootstrap CI bands."""

    taus: list[float]
    fraction: list[float | None]
    ci95_lo: list[float | None]
    ci95_hi: list[float | None]

    def at(self, tau: float) -> float | None:
        return dict(zip(self.taus, self.fraction, strict=False)).get(tau)

    @classmethod
    def from_dict(cls, data: dict) -> PerformanceProfile:
        return cls(list(data["taus"]), list(data["fraction"]), list(data["ci95_lo"]), list(data["ci95_hi"]))

    def to_dict(self) -> dict:
        return {"taus": list(self.taus), "fraction": list(self.fraction), "ci95_lo": list(self.ci95_lo),
                "ci95_hi": list(self.ci95_hi)}


@dataclass(frozen=True)
class Improvement:
    """P(this method > ``method`` at ``size``) averaged over ``n_tasks`` common tasks, with a CI."""

    method: str
    size: str
    n_tasks: int
    value: float | None
    ci95: CI | None

    @classmethod
    def from_dict(cls, data: dict) -> Improvement:
        return cls(data["method"], data["size"], data["n_tasks"], data["value"], CI.parse(data["ci95"]))

    def to_dict(self) -> dict:
        return {"method": self.method, "size": self.size, "n_tasks": self.n_tasks, "value": self.value,
                "ci95": _ci_out(self.ci95)}


@dataclass(frozen=True)
class Aggregate:
    """Per (method, size) across tasks: IQM and mean retention, performance profile, PoI."""

    method: str
    size: str
    n_tasks: int
    n_runs: int
    iqm_retention: float | None
    iqm_retention_ci95: CI | None
    mean_retention: float | None
    mean_retention_ci95: CI | None
    performance_profile: PerformanceProfile | None = None
    probability_of_improvement: list[Improvement] | None = None
    """Only on the focus method's entries: P(focus > other) per other (method, size)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> Aggregate:
        known, extra = _split(data, cls)
        known["iqm_retention_ci95"] = CI.parse(known.get("iqm_retention_ci95"))
        known["mean_retention_ci95"] = CI.parse(known.get("mean_retention_ci95"))
        prof = known.get("performance_profile")
        known["performance_profile"] = PerformanceProfile.from_dict(prof) if isinstance(prof, dict) else None
        pois = known.get("probability_of_improvement")
        known["probability_of_improvement"] = (
            None if pois is None else [Improvement.from_dict(p) for p in pois]
        )
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {
            "method": self.method,
            "size": self.size,
            "n_tasks": self.n_tasks,
            "n_runs": self.n_runs,
            "iqm_retention": self.iqm_retention,
            "iqm_retention_ci95": _ci_out(self.iqm_retention_ci95),
            "mean_retention": self.mean_retention,
            "mean_retention_ci95": _ci_out(self.mean_retention_ci95),
        }
        if self.performance_profile is not None:
            out["performance_profile"] = self.performance_profile.to_dict()
        if self.probability_of_improvement is not None:
            out["probability_of_improvement"] = [p.to_dict() for p in self.probability_of_improvement]
        return {**out, **self.extra}


# ---------------------------------------------------------------------------------------------
# the board


@dataclass(frozen=True)
class SuiteInfo:
    name: str
    version: str | int | float
    sha256: str
    focus: str = DEFAULT_FOCUS
    """The method under test (``[suite] focus``): headline, report and PoI are about it."""
    headline_size: str = "auto"
    """The student size the headline is about (``[suite] headline_size``)."""
    primary: str = "final"
    """The pre-registered primary metric (``[suite] primary``, ``PRIMARY_METRICS``); boards made before
    it existed were read on the final point."""
    tuning: dict[str, int] | None = None
    """Optuna trials each method was tuned with (``[tune] trials``); None: not tuned."""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> SuiteInfo:
        known, extra = _split(data, cls)
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        out = {"name": self.name, "version": self.version, "sha256": self.sha256, "focus": self.focus}
        if self.headline_size != "auto":  # older boards stay byte-identical
            out["headline_size"] = self.headline_size
        out["primary"] = self.primary
        if self.tuning is not None:
            out["tuning"] = dict(self.tuning)
        return {**out, **self.extra}


@dataclass(frozen=True)
class Bootstrap:
    n_resamples: int
    random_state: int
    confidence: float

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the ``stats`` resampling functions."""
        return {"n_resamples": self.n_resamples, "random_state": self.random_state,
                "confidence": self.confidence}

    @classmethod
    def from_dict(cls, data: dict | None) -> Bootstrap:
        merged = {**DEFAULT_BOOTSTRAP, **(data or {})}
        return cls(merged["n_resamples"], merged["random_state"], merged["confidence"])

    def to_dict(self) -> dict:
        return {"n_resamples": self.n_resamples, "random_state": self.random_state,
                "confidence": self.confidence}


@dataclass(frozen=True)
class Protocol:
    eval_episodes: int | dict[str, int]
    seeds: list[int]
    greedy: bool
    eval_seed_base: int
    bootstrap: Bootstrap
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> Protocol:
        known, extra = _split(data, cls)
        known["bootstrap"] = Bootstrap.from_dict(known.get("bootstrap"))
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        return {"eval_episodes": self.eval_episodes, "seeds": list(self.seeds), "greedy": self.greedy,
                "eval_seed_base": self.eval_seed_base, "bootstrap": self.bootstrap.to_dict(), **self.extra}


@dataclass(frozen=True)
class Provenance:
    """Where and with what a leaderboard was made."""

    kdmarl_bench: str
    git_commit: str
    python: str
    torch: str | None
    jax: str | None
    mpe2: str | None
    platform: str
    cpu: str | None
    gpu: str | None
    threads: int | None
    created_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> Provenance:
        known, extra = _split(data, cls)
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        return {**{f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}, **self.extra}


@dataclass(frozen=True)
class Leaderboard:
    """A whole leaderboard (schema version 3)."""

    suite: SuiteInfo
    provenance: Provenance
    protocol: Protocol
    records: list[Record]
    summary: list[Summary]
    aggregate: list[Aggregate]

    @property
    def focus(self) -> str:
        return self.suite.focus

    @property
    def bootstrap(self) -> Bootstrap:
        return self.protocol.bootstrap

    @property
    def tasks(self) -> list[str]:
        """Tasks with a summary row, sorted."""
        return sorted({s.task for s in self.summary})

    def summary_index(self) -> dict[Key, Summary]:
        return {s.key: s for s in self.summary}

    def teacher_summary(self, task: str) -> Summary | None:
        return next((s for s in self.summary if s.task == task and s.method == TEACHER), None)

    def method_kind(self, method: str) -> str:
        """A method's kind as its records say; for boards made before kinds were recorded, the registry's
        (via the variant's base); an id the registry does not know counts as action imitation."""
        kinds = {r.method_kind for r in self.records if r.method == method and r.method_kind}
        if kinds:
            return kinds.pop()
        if method == TEACHER:
            return "teacher"
        from kdmarl_bench.methods import METHODS  # imports torch: only for boards without recorded kinds

        base = self.base_methods().get(method, method)
        for name in (method, base):
            if name in METHODS:
                return METHODS.get(name).kind
        return "action-imitation"

    def base_methods(self) -> dict[str, str]:
        """Method → its registered base (a variant's base, or itself)."""
        out: dict[str, str] = {}
        for r in self.records:
            out.setdefault(r.method, r.base)
        return out

    def sort_key(self, method: str) -> tuple[int, str]:
        return method_sort_key(method, self.focus)

    def ordered_summary(self) -> list[Summary]:
        """By task, teacher first, then the focus method, the rest by name; larger students first."""
        return sorted(self.summary, key=lambda r: (r.task, self.sort_key(r.method), -(r.flops or 0.0), r.size))

    @classmethod
    def from_dict(cls, data: dict) -> Leaderboard:
        """From a schema-version-3 dict (``results.schema.migrate`` brings older ones there)."""
        return cls(
            suite=SuiteInfo.from_dict(data["suite"]),
            provenance=Provenance.from_dict(data["provenance"]),
            protocol=Protocol.from_dict(data["protocol"]),
            records=[Record.from_dict(r) for r in data["records"]],
            summary=[Summary.from_dict(s) for s in data["summary"]],
            aggregate=[Aggregate.from_dict(a) for a in data["aggregate"]],
        )

    def to_dict(self) -> dict:
        from kdmarl_bench.results.schema import SCHEMA_ID, SCHEMA_VERSION

        return {
            "schema": SCHEMA_ID,
            "schema_version": SCHEMA_VERSION,
            "suite": self.suite.to_dict(),
            "provenance": self.provenance.to_dict(),
            "protocol": self.protocol.to_dict(),
            "records": [r.to_dict() for r in self.records],
            "summary": [s.to_dict() for s in self.summary],
            "aggregate": [a.to_dict() for a in self.aggregate],
        }
