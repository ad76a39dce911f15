"""Typed leaderboard data: records, summaries, latency entries, learning curves, aggregates and the board itself.

A leaderboard file is read once (``results.store.boards.read_leaderboard``: read → validate → migrate →
``Leaderboard.from_dict``); every reader works on these dataclasses and never re-checks a field
with ``.get``. ``Record`` is the one record type from ``cells.run_cell`` through the store and the
runner to every reader. ``to_dict`` / ``from_dict`` are the generic codec's (``results.model.codec``: the
JSON key order, and which keys are left out when None or default, are declared on the fields), and
give the schema-version-3 JSON form back byte for byte. Fields the schema leaves open (a record's
``eval_seed``, ``teacher_sha256``, ``method_config`` ...) travel unchanged in each object's
``extra`` (read through properties such as ``Record.eval_seed``), so a round trip loses nothing.

This module also holds the few rules every reader shares: which CI counts (``has_ci``), what a
"successful" record is (``Record.ok``), the method order of tables (``method_sort_key``) and the
claim thresholds (``CLAIM_RETENTION``, ``CLAIM_FLOPS_REDUCTION``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from kdmarl_bench.results.model.codec import (
    JsonCodec,
    from_json,
    json_field,
    omit_default,
    omit_none,
    to_json,
)

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

SCHEMA_ID = "kdmarl-bench/leaderboard"
"""The ``schema`` of every leaderboard file."""
SCHEMA_VERSION = 3
"""The version ``Leaderboard.to_dict`` writes (``results.model.schema`` migrates older ones to it)."""

LEGACY_METHOD_KINDS = {"teacher": "teacher", "bc": "action-imitation", "dagger": "action-imitation",
                       "logit-mse": "action-imitation", "pd-kl": "action-imitation", "kd-marl": "structure",
                       "kd-marl-offline": "structure", "scratch": "control"}
"""The kind of every method registered when boards did not record ``method_kind`` yet (data, so the
data model needs no method registry; ``tests/unit/test_codec.py`` keeps it equal to the registry's)."""

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


def curve_auc(env_steps: Sequence[float], values: Sequence[float]) -> float:
    """Area under a piecewise-linear curve divided by its env-step range (first to last point).

    The trapezoid rule over the points in increasing ``env_steps``: the curve's mean value over the
    budget range (a constant curve's AUC is that constant). NaN with fewer than two points, a
    non-finite value, or ``env_steps`` that are not strictly increasing.
    """
    x = np.asarray(env_steps, dtype=float).reshape(-1)
    y = np.asarray(values, dtype=float).reshape(-1)
    if x.size != y.size:
        raise ValueError(f"{x.size} env-step points but {y.size} values")
    if x.size < 2 or not np.all(np.isfinite(y)) or not np.all(np.diff(x) > 0):
        return math.nan
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))
    return area / float(x[-1] - x[0])


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

    def _json_encode(self) -> list[float]:
        return self.to_list()

    @classmethod
    def _json_decode(cls, value: Any) -> CI | None:
        return cls.parse(value)

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


# ---------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class LatencyEntry(JsonCodec):
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
    path: str | None = omit_none()
    """Deployment path (``eager``, ``torchscript``, ``onnxruntime``, ``executorch``); None = eager (older files)."""
    mean_ms: float | None = omit_none()
    iters: int | None = omit_none()
    repeats: int | None = omit_none()
    cv: float | None = omit_none()
    """Coefficient of variation of the per-repeat medians."""
    timer_median_ms: float | None = omit_none()
    """``torch.utils.benchmark.Timer`` median of the same call (the cross-check)."""
    timer_mismatch: bool | None = omit_none()
    """The Timer median differs from p50 by more than the profiler's tolerance."""
    throughput_decisions_per_s: float | None = omit_none()
    torch: str | None = omit_none()
    arch: str | None = omit_none()
    """Short sha256 of the deployed architecture: rows sharing it are one measurement."""
    timing: dict[str, Any] | None = omit_none()
    """Where and how it was timed: ``where``, ``phase``, ``interleaved_with``, ``shared_by``."""
    noisy: bool | None = omit_none()
    """The timer cross-check or the CV disagrees: not a number to judge a regression on."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def deploy_path(self) -> str:
        return self.path or "eager"

    @property
    def device_kind(self) -> str:
        """``cpu`` or ``cuda`` (``cuda:1`` → ``cuda``)."""
        return self.device.split(":")[0]

    def _json_fixup(self) -> LatencyEntry:
        """A version 1 entry's ``noisy`` is its ``timer_mismatch``."""
        if self.noisy is None and self.timer_mismatch is not None:
            return replace(self, noisy=bool(self.timer_mismatch))
        return self


@dataclass(frozen=True)
class Cost(JsonCodec):
    """Parameters and FLOPs per team decision (all agents' deployed actors)."""

    params: int
    macs: float | None
    flops: float
    flops_thop: float | None
    agree: bool | None
    """The analytic count and thop's agree."""
    per_agent: list[Any]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainStats(JsonCodec):
    """A student's training: what a method's ``train`` returns, and the record's ``train``.

    A method fills ``env_steps``, ``wall_s``, ``updates``, ``final_losses`` (and ``budget_rule``);
    ``finished`` takes the intermediate evaluations' time out and adds the throughput. Older boards
    carry only ``wall_s`` and ``env_steps_per_s``."""

    wall_s: float | None = None
    """Seconds of training (intermediate evaluations excluded)."""
    env_steps_per_s: float | None = None
    env_steps: int | None = omit_none()
    """Env-steps actually used (≤ the budget)."""
    updates: int | None = omit_none()
    final_losses: dict[str, float] | None = omit_none()
    budget_rule: str | None = omit_none()
    """On-policy methods: ``"whole-rollouts"`` (``rollout.plan_rollouts``); records made before the rule
    lack it (a short last rollout was trained on). None for offline methods (not written)."""
    curve_eval_s: float | None = omit_none()
    """Seconds spent in the intermediate evaluations of the learning curve."""
    extra: dict[str, Any] = field(default_factory=dict)

    def finished(self, eval_wall_s: float) -> TrainStats:
        """The record's training stats: ``eval_wall_s`` of intermediate evaluations taken out of the
        wall time, the env-step throughput computed on what remains."""
        wall = max((self.wall_s or 0.0) - eval_wall_s, 0.0)
        rate = self.env_steps / wall if wall > 0 and self.env_steps is not None else None
        return replace(self, wall_s=wall, env_steps_per_s=rate, curve_eval_s=round(eval_wall_s, 3))


WHOLE_ROLLOUTS = "whole-rollouts"
"""``TrainStats.budget_rule`` of the on-policy methods (kd-marl, dagger, scratch)."""


@dataclass(frozen=True)
class Student(JsonCodec):
    widths: list[Any]
    """Hidden widths, one entry per agent (an int or a list of layer widths)."""
    size: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CurvePoint(JsonCodec):
    """A student's score at one budget point of its training run (``[budget] eval_at``)."""

    env_steps: int
    """The budget point."""
    score: float
    episode_scores: list[float]
    env_steps_used: int | None = omit_none()
    """Env-steps the student had used when evaluated (an on-policy update may pass the point)."""
    retention: float | None = omit_none()
    """Retention of ``score`` against the teacher on the same (task, seed), filled with the record's."""
    score_sampled: float | None = omit_none()
    """The score when the student samples its actions (same episodes and eval seeds); None on older boards."""
    episode_scores_sampled: list[float] | None = omit_none()
    retention_sampled: float | None = omit_none()
    """``score_sampled`` against the teacher's sampled score on the same (task, seed)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, env_steps: int, env_steps_used: int, result: Any) -> CurvePoint:
        """A point from an ``EvalResult`` (greedy, with its ``sampled`` twin when it has one)."""
        sampled = getattr(result, "sampled", None)
        return cls(env_steps, result.score, list(result.episode_scores), env_steps_used=env_steps_used,
                   score_sampled=None if sampled is None else sampled.score,
                   episode_scores_sampled=None if sampled is None else list(sampled.episode_scores))


def _view_written(obj: Any) -> bool:
    """``view`` and ``teacher_kind`` are written when either is not its default (older boards stay byte-identical)."""
    return obj.view != "full" or obj.teacher_kind != "local"


@dataclass(frozen=True)
class Record(JsonCodec):
    """One (task, method, size, seed) cell: its score, retention, cost and latency.

    A key a runner's cell leaves out reads as its ``read_default`` (null, or the empty value)."""

    task: str
    backend: str
    backend_versions: dict[str, str | None] = json_field(read_default={})
    metric: str
    """``win_rate`` or ``return``."""
    method: str
    student: Student | None = json_field(read_default=None)
    """None for the teacher."""
    seed: int
    score: float | None = json_field(read_default=None)
    """None only for a failed cell (``error`` set)."""
    episode_scores: list[float] = json_field(read_default=[])
    win_rate: float | None = json_field(read_default=None)
    teacher_score: float | None = json_field(read_default=None)
    random_score: float | None = json_field(read_default=None)
    retention: float | None = json_field(read_default=None)
    budget: dict[str, Any] = json_field(read_default={"env_steps": 0})
    train: TrainStats | None = json_field(read_default=None)
    cost: Cost | None = json_field(read_default=None)
    latency: list[LatencyEntry] = json_field(read_default=[])
    checkpoint: str | None = json_field(read_default=None)
    error: str | None = json_field(read_default=None)
    base_method: str | None = omit_none()
    """The registered method a variant configures (None: ``method`` itself)."""
    view: str = json_field(default="full", when=_view_written)
    """The students' observation view of the task (``kdmarl_bench/envs/views.py``); boards from before
    views existed are ``full``. Numbers under different views are never compared in one column."""
    teacher_kind: str = json_field(default="local", when=_view_written)
    """``local`` (the teacher's actor sees each agent's own observation) or ``privileged`` (also the
    global state: the centralized expert)."""
    method_kind: str | None = omit_none()
    """The method's ``kind`` when the cell ran (``teacher``, ``action-imitation``, ``structure``,
    ``control``); None on boards made before it was recorded."""
    curve: list[CurvePoint] | None = omit_none()
    """The learning curve: the score at every budget point, the last one the final score (None: the
    teacher, or a record written before curves existed)."""
    score_sampled: float | None = omit_none()
    """The score when the policy samples its actions, on the same episodes and eval seeds as ``score``
    (which is greedy); None on boards made before both were recorded."""
    episode_scores_sampled: list[float] | None = omit_none()
    teacher_score_sampled: float | None = omit_none()
    """The teacher's sampled score on the same (task, seed): the base of ``retention_sampled``."""
    retention_sampled: float | None = omit_none()
    """``score_sampled`` / ``teacher_score_sampled`` (win rate), or normalised by the random score (return)."""
    extra: dict[str, Any] = field(default_factory=dict)

    _json_order = ("task", "backend", "backend_versions", "metric", "method", "base_method", "student", "seed",
                   "score", "episode_scores", "win_rate", "teacher_score", "random_score", "retention", "budget",
                   "train", "cost", "latency", "checkpoint", "error", "view", "teacher_kind", "method_kind",
                   "curve", "score_sampled", "episode_scores_sampled", "teacher_score_sampled", "retention_sampled")

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
    def eval_seed(self) -> int | None:
        """The cell's paired eval seed (the record's open ``eval_seed``; None on hand-made records)."""
        return self.extra.get("eval_seed")

    @property
    def eval_episodes(self) -> int:
        """Episodes the cell was evaluated on (the open ``eval_episodes``; else its episode scores)."""
        return int(self.extra.get("eval_episodes") or len(self.episode_scores))

    @property
    def eval_seeds(self) -> list[int] | None:
        """The eval seeds the episodes were spread over (the open ``eval_seeds``; None: ``eval_seed`` alone)."""
        return self.extra.get("eval_seeds")

    @property
    def method_config(self) -> dict[str, Any]:
        """The method's resolved config when the cell ran (the open ``method_config``; {} when not recorded)."""
        return self.extra.get("method_config") or {}

    @property
    def teacher_sha256(self) -> str | None:
        """The digest of the teacher's weights the cell was distilled from (None when not recorded)."""
        value = self.extra.get("teacher_sha256")
        return str(value) if value else None

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

    def _json_fixup(self) -> Record:
        """A null ``latency`` reads as no entries."""
        return self if self.latency is not None else replace(self, latency=[])


# ---------------------------------------------------------------------------------------------
# summaries


@dataclass(frozen=True)
class LatencyGroup(JsonCodec):
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

    def _json_fixup(self) -> LatencyGroup:
        """A version 1 group's ``noisy`` is its ``timer_mismatch``."""
        if self.noisy is None and self.timer_mismatch is not None:
            return replace(self, noisy=bool(self.timer_mismatch))
        return self


@dataclass(frozen=True)
class LatencySummary(JsonCodec):
    """The 1-thread CPU and the CUDA decentralized latency over seeds (None: not timed)."""

    cpu: LatencyGroup | None = None
    cuda: LatencyGroup | None = None

    def devices(self) -> list[tuple[str, LatencyGroup]]:
        return [(name, g) for name, g in (("cpu", self.cpu), ("cuda", self.cuda)) if g is not None]


@dataclass(frozen=True)
class CurveSummaryPoint(JsonCodec):
    """One budget point of a (task, method, size): means over seeds with bootstrap CIs over seeds."""

    env_steps: int
    n_seeds: int
    score_mean: float | None
    score_ci95: CI | None
    retention_mean: float | None
    retention_ci95: CI | None
    retention_sampled_mean: float | None = omit_none()
    """Mean sampled retention over seeds (None on boards without sampled scores)."""
    retention_sampled_ci95: CI | None = json_field(default=None, when=lambda p: p.retention_sampled_mean is not None)


def _has_curve(summary: Any) -> bool:
    return summary.retention_curve is not None


def _has_sampled(summary: Any) -> bool:
    return summary.score_sampled_mean is not None


@dataclass(frozen=True)
class Summary(JsonCodec):
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
    metric: str = ""
    """``win_rate`` or ``return`` (required on a current-version board)."""
    backend: str = ""
    n_failed: int = 0
    latency_summary: LatencySummary = field(default_factory=LatencySummary)
    weights_bytes: float | None = omit_none()
    """fp32 weight bytes of the deployed team (shared modules once; the records' ``memory``)."""
    best_path: str | None = omit_none()
    """The deployment path with the lowest 1-thread decentralized CPU p50 (among those whose
    equivalence check passed; eager is the reference and always qualifies)."""
    best_path_p50_ms: float | None = json_field(default=None, when=lambda s: s.best_path is not None)
    view: str = json_field(default="full", when=_view_written)
    """The students' observation view of the task (the records'; one per task on a board)."""
    teacher_kind: str = json_field(default="local", when=_view_written)
    retention_curve: list[CurveSummaryPoint] | None = omit_none()
    """Retention (and score) per budget point over seeds, when the records carry curves of >= 2 points."""
    curve_auc: float | None = json_field(default=None, when=_has_curve)
    """Area under the retention curve divided by its env-step range (first to last point): the mean
    retention over the budget range; mean over seeds."""
    curve_auc_ci95: CI | None = json_field(default=None, when=_has_curve)
    """CI over seeds of ``curve_auc``."""
    ci_kind: str | None = omit_none()
    """How the CIs over seeds were built (``stats.ci_kind``): ``t`` (Student t, fewer than 5 seeds),
    ``bootstrap`` or ``none`` (one seed); None on boards made before it was recorded."""
    score_sampled_mean: float | None = omit_none()
    """Mean over seeds of the sampled score (None: the records carry no sampled score)."""
    score_sampled_ci95: CI | None = json_field(default=None, when=_has_sampled)
    retention_sampled_mean: float | None = json_field(default=None, when=_has_sampled)
    retention_sampled_ci95: CI | None = json_field(default=None, when=_has_sampled)
    curve_auc_sampled: float | None = json_field(default=None, when=_has_sampled)
    """``curve_auc`` of the sampled retention curve."""
    curve_auc_sampled_ci95: CI | None = json_field(default=None, when=_has_sampled)
    n_flagged: int = omit_default(0)
    """Seeds whose greedy and sampled scores differ by more than 30 points (``Record.flagged``)."""
    extra: dict[str, Any] = field(default_factory=dict)

    _json_order = ("task", "method", "size", "metric", "backend", "n_seeds", "n_failed", "score_mean", "score_ci95",
                   "retention_mean", "retention_ci95", "flops", "params", "flops_reduction", "latency_cpu_p50_ms",
                   "latency_speedup_cpu", "latency_summary", "weights_bytes", "best_path", "best_path_p50_ms",
                   "view", "teacher_kind", "retention_curve", "curve_auc", "curve_auc_ci95", "ci_kind",
                   "score_sampled_mean", "score_sampled_ci95", "retention_sampled_mean", "retention_sampled_ci95",
                   "curve_auc_sampled", "curve_auc_sampled_ci95", "n_flagged")

    def primary(self, metric: str) -> tuple[float | None, CI | None]:
        """(value, CI) of the primary metric: ``auc`` (mean retention over the curve; the final
        retention when the row has no curve) or ``final``."""
        if metric == "auc" and self.curve_auc is not None:
            return self.curve_auc, self.curve_auc_ci95
        return self.retention_mean, self.retention_ci95

    @property
    def key(self) -> Key:
        return (self.task, self.method, self.size)

    def _json_fixup(self) -> Summary:
        """A null ``n_failed`` reads as 0."""
        return self if self.n_failed is not None else replace(self, n_failed=0)


# ---------------------------------------------------------------------------------------------
# aggregates


@dataclass(frozen=True)
class PerformanceProfile(JsonCodec):
    """Fraction of runs with retention > tau, with stratified-bootstrap CI bands."""

    taus: list[float]
    fraction: list[float | None]
    ci95_lo: list[float | None]
    ci95_hi: list[float | None]

    def at(self, tau: float) -> float | None:
        return dict(zip(self.taus, self.fraction, strict=False)).get(tau)


@dataclass(frozen=True)
class Improvement(JsonCodec):
    """P(this method > ``method`` at ``size``) averaged over ``n_tasks`` common tasks, with a CI."""

    method: str
    size: str
    n_tasks: int
    value: float | None
    ci95: CI | None


@dataclass(frozen=True)
class Aggregate(JsonCodec):
    """Per (method, size) across tasks: IQM and mean retention, performance profile, PoI."""

    method: str
    size: str
    n_tasks: int
    n_runs: int
    iqm_retention: float | None
    iqm_retention_ci95: CI | None
    mean_retention: float | None
    mean_retention_ci95: CI | None
    performance_profile: PerformanceProfile | None = omit_none()
    probability_of_improvement: list[Improvement] | None = omit_none()
    """Only on the focus method's entries: P(focus > other) per other (method, size)."""
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# the board


@dataclass(frozen=True)
class SuiteInfo(JsonCodec):
    name: str
    version: str | int | float
    sha256: str
    focus: str = DEFAULT_FOCUS
    """The method under test (``[suite] focus``): headline, report and PoI are about it."""
    headline_size: str = omit_default("auto")
    """The student size the headline is about (``[suite] headline_size``)."""
    primary: str = "final"
    """The pre-registered primary metric (``[suite] primary``, ``PRIMARY_METRICS``); boards made before
    it existed were read on the final point."""
    tuning: dict[str, int] | None = omit_none()
    """Optuna trials each method was tuned with (``[tune] trials``); None: not tuned."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str | None:
        """The suite file the board was run from (the open ``path``; None when not recorded)."""
        return self.extra.get("path")


@dataclass(frozen=True)
class Bootstrap(JsonCodec):
    """Resampling settings of a board's bootstrap CIs; a key a protocol leaves out reads as ``DEFAULT_BOOTSTRAP``'s."""

    n_resamples: int = json_field(read_default=DEFAULT_BOOTSTRAP["n_resamples"])
    random_state: int = json_field(read_default=DEFAULT_BOOTSTRAP["random_state"])
    confidence: float = json_field(read_default=DEFAULT_BOOTSTRAP["confidence"])

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the ``stats`` resampling functions."""
        return {"n_resamples": self.n_resamples, "random_state": self.random_state,
                "confidence": self.confidence}


@dataclass(frozen=True)
class Protocol(JsonCodec):
    eval_episodes: int | dict[str, int]
    seeds: list[int]
    greedy: bool
    eval_seed_base: int
    bootstrap: Bootstrap
    task_seeds: dict[str, list[int]] | None = omit_none()
    """Tasks that run fewer training seeds than ``seeds`` (the suite's ``[task."ID"] seeds``) → theirs."""
    extra: dict[str, Any] = field(default_factory=dict)

    def seeds_for(self, task: str) -> list[int]:
        """The training seeds the board ran on ``task``."""
        return self.seeds if self.task_seeds is None or task not in self.task_seeds else self.task_seeds[task]


@dataclass(frozen=True)
class Provenance(JsonCodec):
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
        """A method's kind as its records say; for boards made before kinds were recorded, the kind of
        its registered method (via the variant's base, ``LEGACY_METHOD_KINDS``); an id not known there
        counts as action imitation."""
        kinds = {r.method_kind for r in self.records if r.method == method and r.method_kind}
        if kinds:
            return kinds.pop()
        if method == TEACHER:
            return "teacher"
        base = self.base_methods().get(method, method)
        for name in (method, base):
            if name in LEGACY_METHOD_KINDS:
                return LEGACY_METHOD_KINDS[name]
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
        """From a schema-version-3 dict (``results.model.schema.migrate`` brings older ones there)."""
        return from_json(cls, data)

    def to_dict(self) -> dict:
        return {"schema": SCHEMA_ID, "schema_version": SCHEMA_VERSION, **to_json(self)}
