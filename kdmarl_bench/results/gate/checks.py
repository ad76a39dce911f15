"""Turn a leaderboard into pass / fail / inconclusive against a baseline leaderboard (for CI).

Per (task, method, size) in the baseline:

- ``present``   the row exists in the current leaderboard;
- ``retention`` did mean retention drop by more than ``max_retention_drop``? Judged on the
  noise of an honest rerun (``kdmarl_bench.results.analysis.noise``): a 95% t interval for current −
  baseline from the per-seed retentions of *both* boards (pooled seed variance, floored by the
  episode-sampling variance, partially pooled with the task's other cells). ``fail`` when the
  whole interval lies below −drop, ``pass`` when none of it does, ``inconclusive`` when it
  straddles −drop: the seeds cannot tell such a drop from noise, and the check says how many
  seeds per board would. The fail side is a multiple test over every check judged on noise
  (Benjamini–Hochberg at q = 0.05 on one-sided p-values), so an honest rerun fails *any* check
  w.p. ≤ 5% under the model. A *collapse* fails the check whatever the mean test says: a
  current seed whose retention is both below ``COLLAPSE_FRACTION`` (0.6) of the baseline's worst
  seed and below that worst seed − ``max_retention_drop`` − ``COLLAPSE_SDS`` (4) seed standard
  deviations (the baseline's own spread, partially pooled with the task's other baseline cells,
  floored by episode noise). One seed of two falling to random-policy level moves the mean by
  half the fall, which two seeds cannot separate from noise, but no honest seed lands that far
  below every baseline seed (``benchmarks/gate_calibration.py``, scenario (d));
- ``flops``     FLOPs ≤ baseline × (1 + ``max_flops_increase``);
- ``latency``   the 1-thread CPU p50 *relative to the teacher of the same leaderboard*
  ≤ baseline ratio × (1 + ``max_latency_increase``) — a ratio, so a faster or slower CI
  machine does not trip it;
- ``latency_ms`` (instead of ``latency`` with ``absolute_latency=True``, teacher included): the
  absolute 1-thread CPU p50 in ms ≤ baseline × (1 + ``max_latency_increase``), for baselines
  measured on the same machine.

Both latency checks use the *fastest seed's* p50 of a (task, method, size) among the entries
that are not marked noisy (``noisy: true``, or the older ``timer_mismatch: true``: the timer
cross-check disagreed): every seed deploys the same architecture, and a busy machine only
ever adds time. When only noisy entries exist on either side the check is ``noisy``: shown,
not judged, never a regression.

Per task with a teacher row, the teacher itself (retention is relative to it, so a weaker
teacher with its students can keep retention):

- ``teacher_sha256`` the teacher's weights digest is the baseline's (another teacher: fail —
  the students' retention is not comparable; rebuild the baseline if the change is intended);
- ``teacher_score`` the teacher's mean score did not drop by more than ``max_retention_drop``
  of the baseline's teacher-over-random gap (win rate: of its win rate). A teacher is a fixed
  policy, so only episode sampling is noise: a paired t over the eval episodes both boards
  played (same seeds and eval seeds; an identical teacher gives exactly 0), else Welch.

Verdicts: ``pass``, ``fail``, ``inconclusive``, ``noisy`` (latency not judged) and ``skipped``
(the current board lacks the measurement). A board that lists one (task, method, size, seed) twice
is refused (exit 2): a duplicated record is not another seed. ``GateResult.exit_code`` is 1 when any check fails,
or, with ``strict``, when any is inconclusive; else 0. ``gate`` refuses (``UsageError``, exit 2)
boards with non-finite values in the fields it checks, and a comparison with no checks.

``gate_markdown`` and ``gate_junit`` list every check with both values (JUnit XML: one
testcase per check, a ``failure`` per regression — and per inconclusive check with ``strict`` —
``skipped`` for skipped, noisy and, without ``strict``, inconclusive checks).
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.analysis import noise
from kdmarl_bench.results.analysis.compare import check_compatible
from kdmarl_bench.results.model.records import (
    TEACHER,
    TEACHER_SIZE,
    LatencyEntry,
    Leaderboard,
    Record,
    Summary,
    method_sort_key,
)
from kdmarl_bench.results.model.records import is_finite_number as _ok

_REL_EPS = 1e-9  # float slack for "no increase allowed"
CONFIDENCE = 0.95
COLLAPSE_SDS = 4.0
"""A current seed this many seed standard deviations below the baseline's worst seed (less the allowed drop)...
(``benchmarks/gate_calibration.py``)."""
COLLAPSE_FRACTION = 0.6
"""... and below this fraction of it is a collapse: its retention check fails without ``--strict``. Both
conditions: the sd alone is unreliable at two seeds (heavy-tailed seed spreads), the fraction alone
would flag cells whose seeds are honestly that noisy."""

PASS, FAIL, INCONCLUSIVE = noise.PASS, noise.FAIL, noise.INCONCLUSIVE
NOISY, SKIPPED = "noisy", "skipped"


@dataclass
class Check:
    task: str
    method: str
    size: str
    name: str  # present | retention | flops | latency | latency_ms | teacher_sha256 | teacher_score
    current: Any
    baseline: Any
    limit: Any
    passed: bool
    """False only for a ``fail`` verdict."""
    detail: str = ""
    verdict: str = ""
    """pass | fail | inconclusive | noisy | skipped (derived from ``passed`` when not given)."""

    def __post_init__(self) -> None:
        if not self.verdict:
            self.verdict = PASS if self.passed else FAIL

    def describe(self) -> str:
        """One line with both values, e.g. for the CLI."""
        status = {PASS: "PASS", FAIL: "FAIL", INCONCLUSIVE: "INCONCLUSIVE", NOISY: "NOISY", SKIPPED: "SKIP"}[
            self.verdict
        ]
        text = (
            f"{status} {self.task} {self.method} {self.size} {self.name}: current {fmt_value(self.name, self.current)}"
            f" vs baseline {fmt_value(self.name, self.baseline)}"
        )
        if self.limit is not None:
            text += f" (limit {fmt_limit(self.name, self.limit)})"
        if self.detail:
            text += f" — {self.detail}"
        return text


@dataclass
class GateResult:
    passed: bool
    """No check failed (inconclusive ones do not count, whatever ``strict``)."""
    checks: list[Check] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    strict: bool = False
    """Inconclusive checks make ``exit_code`` 1."""

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == FAIL]

    @property
    def inconclusive(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == INCONCLUSIVE]

    @property
    def exit_code(self) -> int:
        """1 on a regression (or, with ``strict``, an inconclusive check), else 0."""
        return 1 if self.failures or (self.strict and self.inconclusive) else 0

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "exit_code": self.exit_code,
            "strict": self.strict,
            "n_checks": len(self.checks),
            "n_failed": len(self.failures),
            "n_inconclusive": len(self.inconclusive),
            "settings": dict(self.settings),
            "checks": [dataclasses.asdict(c) for c in self.checks],
        }


def fmt_value(name: str, v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if name == "flops":
        return f"{v:,.0f}"
    if name == "latency_ms":
        return f"{v:.4f} ms"
    return f"{v:.3f}"


def fmt_limit(name: str, v: Any) -> str:
    return ("≥ " if name in ("retention", "teacher_score") else "≤ ") + fmt_value(name, v)


# ---------------------------------------------------------------------------------------------
# refusing boards the gate cannot judge

_SUMMARY_FIELDS = ("score_mean", "retention_mean", "flops", "latency_cpu_p50_ms")
_RECORD_FIELDS = ("score", "retention", "teacher_score", "random_score")


def _non_finite(v: Any) -> bool:
    return isinstance(v, float) and not math.isfinite(v)


def refuse_non_finite(board: Leaderboard, name: str) -> None:
    """UsageError naming the file and field of the first NaN/±Infinity (e.g. ``1e400``, which
    JSON reads as inf) in a field the gate checks; such a value would silently drop checks."""

    def refuse(where: str, v: Any) -> None:
        raise UsageError(
            f"{name}: field {where} is {v!r}, not a finite number; the gate refuses a board with "
            "NaN/Infinity in the values it checks (regenerate the board, or fix that field)"
        )

    for i, row in enumerate(board.summary):
        for f in _SUMMARY_FIELDS:
            if _non_finite(getattr(row, f)):
                refuse(f"summary[{i}].{f}", getattr(row, f))
        for f in ("score_ci95", "retention_ci95"):
            ci = getattr(row, f)
            for j, v in enumerate(ci.to_list() if ci is not None else []):
                if _non_finite(v):
                    refuse(f"summary[{i}].{f}[{j}]", v)
    for i, r in enumerate(board.records):
        if r.error is not None:
            continue
        for f in _RECORD_FIELDS:
            if _non_finite(getattr(r, f)):
                refuse(f"records[{i}].{f}", getattr(r, f))
        for j, v in enumerate(r.episode_scores):
            if _non_finite(v):
                refuse(f"records[{i}].episode_scores[{j}]", v)
        if r.cost is not None and _non_finite(r.cost.flops):
            refuse(f"records[{i}].cost.flops", r.cost.flops)
        for j, e in enumerate(r.latency):
            if _non_finite(e.p50_ms):
                refuse(f"records[{i}].latency[{j}].p50_ms", e.p50_ms)


# ---------------------------------------------------------------------------------------------
# per-seed samples of a board


@dataclass(frozen=True)
class CellSample:
    """One (task, method, size) of one board: per-seed retention and the episode floor."""

    values: tuple[float, ...]
    floor: float
    """Episode-sampling variance of one seed's retention (``noise.episode_floor`` of the
    student − teacher episode differences on the same eval episodes; 0 without episodes)."""


def refuse_duplicates(board: Leaderboard, name: str) -> None:
    """UsageError (exit 2) naming the board and the records when one (task, method, size, seed) appears twice:
    a copied record would otherwise count as another seed and shrink the noise estimate."""
    seen: dict[tuple, int] = {}
    for i, r in enumerate(board.records):
        key = (r.task, r.method, r.size, r.seed)
        if key in seen:
            raise UsageError(f"{name}: records {seen[key]} and {i} are both {key[0]} · {key[1]} · {key[2]} · seed "
                             f"{key[3]}; a duplicated record is not another seed — remove the copy (or rebuild the "
                             "board) before gating")
        seen[key] = i


def collapse_floor(base: CellSample, prior: noise.VariancePrior, drop: float) -> tuple[float, float] | None:
    """(floor, seed sd): a current seed below ``floor`` is a collapse — below ``COLLAPSE_FRACTION`` of the
    baseline's worst seed and ``drop`` + ``COLLAPSE_SDS`` seed sd under it. The sd is the baseline's own seed
    spread, moderated by the task's baseline prior and floored by episode noise. None without a spread estimate,
    or when the worst baseline seed is at random-policy level already (nothing to collapse from)."""
    worst = min(base.values)
    s2, df = noise.pooled_variance([base.values])
    v, dof = noise.moderated_variance(s2, df, prior, base.floor)
    if dof <= 0 or worst <= 0:
        return None
    sd = math.sqrt(max(v, 0.0))
    return min(worst - drop - COLLAPSE_SDS * sd, COLLAPSE_FRACTION * worst), sd


def _retention_scale(r: Record) -> float:
    t, rnd = r.teacher_score, r.random_score
    if not _ok(t):
        return math.nan
    gap = t - rnd if r.metric == "return" and _ok(rnd) else t
    return 1.0 / gap if gap > 0 else math.nan


def _paired_episodes(r: Record, teacher: dict[tuple, list[float]]) -> list[float]:
    """Student − teacher score per eval episode of the same (task, seed): every method is
    evaluated on the same episodes (paired eval seeds), so their shared difficulty — also shared
    by a rerun on the same eval seeds — is no noise. Unpaired scores when lengths differ."""
    eps = [float(x) for x in r.episode_scores]
    t_eps = teacher.get((r.task, r.seed))
    if t_eps is not None and len(t_eps) == len(eps) and r.method != TEACHER:
        return [a - b for a, b in zip(eps, t_eps, strict=True)]
    return eps


def board_primary(board: Leaderboard) -> str:
    """The board's pre-registered primary metric (``suite.primary``; boards before it: ``final``)."""
    return str(board.suite.primary or "final")


def cell_samples(board: Leaderboard, primary: str = "final") -> dict[tuple[str, str, str], CellSample]:
    """``{(task, method, size): CellSample}`` from a board's records that count (``Record.ok``): per seed,
    the value of the ``primary`` metric (``Record.primary_value``; ``final`` = the retention)."""
    groups: dict[tuple, list[Record]] = defaultdict(list)
    teacher: dict[tuple, list[float]] = {}
    for r in board.records:
        if r.ok and r.method == TEACHER:
            teacher[(r.task, r.seed)] = [float(x) for x in r.episode_scores]
        if r.ok and r.primary_value(primary) is not None:
            groups[r.key].append(r)
    return {
        key: CellSample(
            tuple(float(r.primary_value(primary)) for r in recs),
            noise.episode_floor([_paired_episodes(r, teacher) for r in recs], [_retention_scale(r) for r in recs]),
        )
        for key, recs in groups.items()
    }


def _task_priors(keys, cur: dict, base: dict) -> dict[str, noise.VariancePrior]:
    """Per task: the partial-pooling prior fitted to every student cell's variance (both boards)."""
    by_task: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for key in keys:
        if key[1] == TEACHER:
            continue
        parts = [s for s in (cur.get(key), base.get(key)) if s is not None]
        s2, df = noise.pooled_variance([p.values for p in parts])
        if df > 0:
            floor = float(np.mean([p.floor for p in parts]))
            by_task[key[0]][0].append(max(s2, floor))
            by_task[key[0]][1].append(df)
    return {task: noise.fit_variance_prior(v, d) for task, (v, d) in by_task.items()}


# ---------------------------------------------------------------------------------------------
# checks


def _fastest_p50(board: Leaderboard, task: str, method: str, size: str) -> tuple[float | None, bool]:
    """(lowest 1-thread CPU p50 in ms, noisy) over the seeds of (task, method, size) that count
    (``Record.ok``). Entries marked noisy are used only when nothing else exists (then noisy=True)."""
    entries = [r.latency_entry("cpu", threads=1) for r in board.records if r.key == (task, method, size) and r.ok]
    entries = [e for e in entries if e is not None and _ok(e.p50_ms)]
    clean = [float(e.p50_ms) for e in entries if not _is_noisy(e)]
    if clean:
        return min(clean), False
    if entries:
        return min(float(e.p50_ms) for e in entries), True
    return None, False


def _is_noisy(entry: LatencyEntry) -> bool:
    return entry.noisy is True or entry.timer_mismatch is True


def _relative_latency(board: Leaderboard, row: Summary) -> tuple[float | None, bool, str]:
    """(method p50 / teacher p50, noisy, explanation) in one leaderboard, fastest seed of each."""
    p50, noisy_m = _fastest_p50(board, row.task, row.method, row.size)
    t50, noisy_t = _fastest_p50(board, row.task, TEACHER, TEACHER_SIZE)
    if not _ok(p50) or not _ok(t50) or t50 <= 0:
        return None, False, "no 1-thread CPU latency for the method or its teacher"
    noisy = noisy_m or noisy_t
    why = f"{p50:.4f} ms / teacher {t50:.4f} ms (fastest seeds)"
    if noisy:
        who = " and ".join(w for w, n in (("method", noisy_m), ("teacher", noisy_t)) if n)
        why += f"; the {who} timing is noisy (timer cross-check disagreed)"
    return p50 / t50, noisy, why


def _check_retention(
    key: tuple, cur_row: Summary, cur: CellSample | None, base: CellSample | None, drop: float,
    prior: noise.VariancePrior, primary: str = "final", base_prior: noise.VariancePrior | None = None,
) -> Check | _Judged | None:
    if base is None or not base.values:
        return None
    b = float(np.mean(base.values))
    limit = b - drop
    if cur is None or not cur.values:
        n_failed = cur_row.n_failed or 0
        return Check(
            *key, "retention", None, b, limit, False, f"no successful seeds in current ({n_failed} failed)"
        )
    c = float(np.mean(cur.values))
    floor = float(np.mean([cur.floor, base.floor]))
    iv = noise.difference_interval(cur.values, base.values, floor=floor, prior=prior, confidence=CONFIDENCE)
    n_c, n_b = len(cur.values), len(base.values)
    pooled = f", partial pooling {prior.df:.1f} df" if prior.df > 0 else ""
    detail = (
        f"current − baseline {iv.estimate:+.3f}, 95% interval [{iv.lo:+.3f}, {iv.hi:+.3f}] "
        f"(t, {iv.df:.1f} df: {n_c} + {n_b} seeds{pooled})"
    )
    if primary != "final":
        detail += f"; primary metric {primary} (mean retention over the learning curve)"
    if cur_row.n_failed:
        detail += f"; {cur_row.n_failed} seed(s) failed"
    need = noise.seeds_needed(iv.s2, drop, prior_df=prior.df, confidence=CONFIDENCE)
    n = min(n_c, n_b)
    if need is not None and need <= n:
        why = f"the drop is too close to {drop:g} to call with {n} seeds"
    else:
        need_txt = f"need ≥ {need} seeds per board" if need else "more than 1000 seeds per board"
        why = f"cannot tell a drop of {drop:g} from noise with {n} seeds: {need_txt}"
    collapse = None
    fl = collapse_floor(base, base_prior or noise.VariancePrior(), drop)
    if fl is not None and min(cur.values) < fl[0]:
        worst = min(cur.values)
        b_worst = min(base.values)
        collapse = (f"a seed collapsed: retention {worst:.3f} is below the floor {fl[0]:.3f} (the lower of "
                    f"{COLLAPSE_FRACTION:g} × the baseline's worst seed {b_worst:.3f} and {b_worst:.3f} − {drop:g} − "
                    f"{COLLAPSE_SDS:g} × seed sd {fl[1]:.3f})")
    return _Judged(Check(*key, "retention", c, b, limit, True, detail, PASS), iv, why, collapse)


def _check_flops(key: tuple, cur: Summary, base: Summary, inc: float) -> Check | None:
    b = base.flops
    if not _ok(b):
        return None
    limit = b * (1.0 + inc)
    c = cur.flops
    if not _ok(c):
        return Check(*key, "flops", None, b, limit, False, "FLOPs not counted in the current leaderboard")
    passed = c <= limit * (1.0 + _REL_EPS)
    detail = "" if passed else f"{c / b:.3f}× the baseline FLOPs (allowed {1 + inc:.3f}×)"
    return Check(*key, "flops", c, b, limit, passed, detail)


def _latency_check(key: tuple, name: str, c: float | None, b: float, noisy: bool, inc: float,
                   detail: str, missing: str) -> Check:
    limit = b * (1.0 + inc)
    if c is None:
        return Check(*key, name, None, b, limit, True, f"skipped: current has {missing}", SKIPPED)
    if noisy:
        return Check(*key, name, c, b, limit, True, f"noisy, not judged: {detail}", NOISY)
    passed = c <= limit * (1.0 + _REL_EPS)
    return Check(*key, name, c, b, limit, passed, detail)


def _check_latency(
    key: tuple, cur_data: Leaderboard, cur: Summary, base_data: Leaderboard, base: Summary, inc: float
) -> Check | None:
    b, b_noisy, b_why = _relative_latency(base_data, base)
    if b is None:
        return None
    c, c_noisy, c_why = _relative_latency(cur_data, cur)
    detail = f"p50 relative to the teacher: current {c_why}, baseline {b_why}"
    return _latency_check(key, "latency", c, b, b_noisy or c_noisy, inc, detail, c_why)


def _check_latency_absolute(
    key: tuple, cur_data: Leaderboard, cur: Summary, base_data: Leaderboard, base: Summary, inc: float
) -> Check | None:
    b, b_noisy = _fastest_p50(base_data, *base.key)
    if not _ok(b):
        return None
    c, c_noisy = _fastest_p50(cur_data, *cur.key)
    detail = "absolute 1-thread CPU p50" + (f": {c / b:.3f}× the baseline (allowed {1 + inc:.3f}×)" if c else "")
    if b_noisy or c_noisy:
        detail += "; " + " and ".join(w for w, n in (("current", c_noisy), ("baseline", b_noisy)) if n) + " timing noisy"
    return _latency_check(key, "latency_ms", c, b, b_noisy or c_noisy, inc, detail, "no 1-thread CPU latency")


def _teacher_records(board: Leaderboard, task: str) -> list[Record]:
    return [r for r in board.records if r.task == task and r.method == TEACHER]


def _check_teacher_sha(key: tuple, cur_data: Leaderboard, base_data: Leaderboard) -> Check | None:
    def shas(board: Leaderboard) -> set[str]:
        return {r.teacher_sha256 for r in board.records if r.task == key[0] and r.teacher_sha256}

    b, c = shas(base_data), shas(cur_data)
    if not b or not c:
        return None
    short = lambda s: ", ".join(sorted(x[:12] for x in s))  # noqa: E731
    if c == b:
        return Check(*key, "teacher_sha256", short(c), short(b), None, True, "same teacher weights")
    detail = ("the students were distilled from another teacher, so their retention is not comparable "
              "with the baseline's; if the new teacher is intended, rebuild the baseline")
    return Check(*key, "teacher_sha256", short(c), short(b), None, False, detail)


def _episodes_by_seed(recs: list[Record]) -> dict[Any, tuple[Any, list[float]]]:
    return {r.seed: (r.eval_seed, [float(x) for x in r.episode_scores]) for r in recs}


def _check_teacher_score(key: tuple, cur_data: Leaderboard, base_data: Leaderboard,
                         drop: float) -> Check | _Judged | None:
    base_recs = [r for r in _teacher_records(base_data, key[0]) if r.ok]
    b_eps = [float(x) for r in base_recs for x in r.episode_scores]
    if len(b_eps) < 2:
        return None
    b = float(np.mean(b_eps))
    rnd = [float(r.random_score) for r in base_recs if _ok(r.random_score)]
    is_return = base_recs[0].metric == "return"
    gap = b - float(np.mean(rnd)) if is_return and rnd else b
    if gap <= 0:
        return None
    limit = b - drop * gap
    cur_recs = [r for r in _teacher_records(cur_data, key[0]) if r.ok]
    c_eps = [float(x) for r in cur_recs for x in r.episode_scores]
    if len(c_eps) < 2:
        return Check(*key, "teacher_score", None, b, limit, False, "no teacher episodes in current")
    c = float(np.mean(c_eps))
    # Same seeds, eval seeds and episode counts: both boards played the same episodes: pair them.
    by_c, by_b = _episodes_by_seed(cur_recs), _episodes_by_seed(base_recs)
    paired = by_c.keys() == by_b.keys() and all(
        by_c[s][0] == by_b[s][0] and len(by_c[s][1]) == len(by_b[s][1]) for s in by_c
    )
    if paired:
        diffs = [(x - y) / gap for s in sorted(by_c, key=str) for x, y in zip(by_c[s][1], by_b[s][1], strict=True)]
        iv = noise.paired_interval(diffs, CONFIDENCE)
        how = f"paired t over {len(diffs)} episodes played by both"
    else:
        iv = noise.welch_interval(np.asarray(c_eps) / gap, np.asarray(b_eps) / gap, CONFIDENCE)
        how = f"Welch over {len(c_eps)} + {len(b_eps)} episodes"
    unit = "teacher − random gap" if is_return else "teacher win rate"
    detail = (
        f"change {iv.estimate:+.3f} of the baseline's {unit}, 95% interval [{iv.lo:+.3f}, {iv.hi:+.3f}] "
        f"({how}: a fixed policy has only episode noise)"
    )
    why = f"cannot tell a drop of {drop:g} from episode noise"
    return _Judged(Check(*key, "teacher_score", c, b, limit, True, detail, PASS), iv, why)


@dataclass
class _Judged:
    """A check judged on noise, before the multiple test decides its fail side."""

    check: Check
    interval: noise.Interval
    inconclusive_why: str
    collapse: str | None = None
    """Why a seed of the current board counts as a collapse (``collapse_floor``): then the check fails."""


def _decide(judged: list[_Judged], drop: float) -> None:
    """Verdicts of every noise-judged check: fail by Benjamini–Hochberg at q = 1 − CONFIDENCE
    (0.05) over their one-sided p-values, pass when the 95% interval excludes a drop beyond ``drop``."""
    q = 1.0 - CONFIDENCE
    rejected = noise.benjamini_hochberg([noise.drop_pvalue(j.interval, drop) for j in judged], q)
    for j, rej in zip(judged, rejected, strict=True):
        verdict = noise.drop_verdict(j.interval, drop, rej)
        if j.collapse is not None and verdict != FAIL:
            j.check.verdict, j.check.passed = FAIL, False
            j.check.detail += f"; {j.collapse}"
            continue
        j.check.verdict, j.check.passed = verdict, verdict != FAIL
        if verdict == FAIL:
            j.check.detail += f"; a drop beyond {drop:g} is established (Benjamini–Hochberg, q = {q:g})"
        elif verdict == INCONCLUSIVE:
            j.check.detail += f"; inconclusive: {j.inconclusive_why}"


# ---------------------------------------------------------------------------------------------
# the gate


def gate(
    current: Leaderboard,
    baseline: Leaderboard,
    max_retention_drop: float = 0.05,
    max_flops_increase: float = 0.0,
    max_latency_increase: float = 0.25,
    *,
    absolute_latency: bool = False,
    strict: bool = False,
    current_name: str = "current",
    baseline_name: str = "baseline",
) -> GateResult:
    """Check ``current`` against ``baseline``; UsageError when they are not comparable, hold
    non-finite values in checked fields, or give no check at all.

    Latency is compared as a ratio to each leaderboard's own teacher unless
    ``absolute_latency`` (then absolute ms, the teacher included). ``strict`` makes an
    inconclusive check count towards exit code 1.
    """
    for opt, value in (
        ("max_retention_drop", max_retention_drop),
        ("max_flops_increase", max_flops_increase),
        ("max_latency_increase", max_latency_increase),
    ):
        if not _ok(value) or value < 0:
            raise UsageError(f"{opt} must be a number ≥ 0, got {value!r}")
    cur_suite, base_suite = current.suite.name, baseline.suite.name
    if cur_suite != base_suite:
        raise UsageError(
            f"cannot gate {current_name} (suite {cur_suite!r}) against {baseline_name} (suite {base_suite!r}): "
            "a leaderboard is only gated against a baseline of the same suite"
        )
    check_compatible(baseline_name, baseline, current_name, current)
    refuse_non_finite(baseline, baseline_name)
    refuse_non_finite(current, current_name)
    refuse_duplicates(baseline, baseline_name)
    refuse_duplicates(current, current_name)

    cur_index = current.summary_index()
    base_index = baseline.summary_index()
    primary = board_primary(baseline)  # the metric pre-registered for the baseline is the one judged
    cur_cells, base_cells = cell_samples(current, primary), cell_samples(baseline, primary)
    priors = _task_priors(base_index, cur_cells, base_cells)
    base_priors = _task_priors(base_index, {}, base_cells)  # the collapse floor rests on the baseline alone
    checks: list[Check] = []
    judged: list[_Judged] = []
    for key in sorted(base_index, key=lambda k: (k[0], method_sort_key(k[1]), k[2])):
        base = base_index[key]
        cur = cur_index.get(key)
        if cur is None:
            checks.append(
                Check(*key, "present", "missing", "present", None, False, f"missing from {current_name}")
            )
            continue
        new = []
        if key[1] == TEACHER:
            new += [_check_teacher_sha(key, current, baseline),
                    _check_teacher_score(key, current, baseline, max_retention_drop)]
        else:
            prior = priors.get(key[0], noise.VariancePrior())
            new.append(_check_retention(key, cur, cur_cells.get(key), base_cells.get(key), max_retention_drop, prior,
                                        primary, base_priors.get(key[0], noise.VariancePrior())))
        new.append(_check_flops(key, cur, base, max_flops_increase))
        if absolute_latency:
            new.append(_check_latency_absolute(key, current, cur, baseline, base, max_latency_increase))
        elif key[1] != TEACHER:
            new.append(_check_latency(key, current, cur, baseline, base, max_latency_increase))
        for c in new:
            if isinstance(c, _Judged):
                judged.append(c)
                checks.append(c.check)
            elif c is not None:
                checks.append(c)
    _decide(judged, max_retention_drop)
    if not checks:
        raise UsageError(
            f"no comparable checks between {current_name} and {baseline_name}: the baseline has "
            f"{len(base_index)} summary rows and none gives a value to check (an empty or all-null baseline "
            "proves nothing; regenerate it)"
        )
    settings = {
        "max_retention_drop": max_retention_drop,
        "max_flops_increase": max_flops_increase,
        "max_latency_increase": max_latency_increase,
        "latency": "absolute" if absolute_latency else "relative to the teacher",
        "confidence": CONFIDENCE,
        "fail_rule": "Benjamini-Hochberg q=0.05 over the noise-judged checks; or a seed below the collapse floor "
                     f"(min of {COLLAPSE_FRACTION:g} x the baseline's worst seed and that seed - drop - "
                     f"{COLLAPSE_SDS:g} seed sd)",
        "strict": strict,
        "current": current_name,
        "baseline": baseline_name,
    }
    return GateResult(passed=not any(c.verdict == FAIL for c in checks), checks=checks, settings=settings,
                      strict=strict)

