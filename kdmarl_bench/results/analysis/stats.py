"""Small pure statistics helpers for the leaderboard (REFERENCE.md: Evaluation protocol).

Every resampling function takes a fixed ``random_state`` (default 0) so that a leaderboard is
reproducible; callers record the value in the leaderboard's ``protocol.bootstrap``.

"Matrices" are runs × tasks (2-D arrays or nested lists, one row per run). A task may hold a
different number of runs than another (e.g. a failed seed), so every matrix argument also
accepts a list of per-task 1-D numpy arrays (columns).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Columns = list[np.ndarray]


def _st():
    """``scipy.stats``, imported on the first statistic: the CLI starts without scipy (~0.5 s)."""
    from scipy import stats  # heavy: only when a statistic is computed

    return stats


def _as_1d(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float).reshape(-1)


def _columns(matrix: Any) -> Columns:
    """Runs × tasks input → list of 1-D task columns.

    A list or tuple of numpy arrays is taken as per-task columns (they may differ in length);
    anything else goes through ``np.asarray`` and must be 2-D runs × tasks (1-D = one task).
    """
    if isinstance(matrix, (list, tuple)) and all(isinstance(c, np.ndarray) for c in matrix):
        return [_as_1d(c) for c in matrix]
    arr = np.asarray(matrix, dtype=float)
    if arr.ndim == 1:
        return [arr]
    if arr.ndim != 2:
        raise ValueError(f"expected a runs x tasks matrix, got shape {arr.shape}")
    return [arr[:, j] for j in range(arr.shape[1])]


def _flat(matrix: Any) -> np.ndarray:
    """All values of a matrix (or of a list of task columns), as 1-D."""
    cols = _columns(matrix) if not np.isscalar(matrix) else [_as_1d(matrix)]
    return np.concatenate(cols) if cols else np.zeros(0)


def _percentile_ci(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.percentile(samples, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


SMALL_N = 5
"""Below this many values a mean's interval is a Student-t interval, not a bootstrap: a percentile
bootstrap of 3 values is their range (it covers the mean far less often than it claims)."""


def ci_kind(n: int) -> str:
    """How ``mean_ci`` builds the interval of ``n`` finite values: ``t`` (2 to ``SMALL_N`` - 1
    values), ``bootstrap`` (``SMALL_N`` or more) or ``none`` (fewer than 2)."""
    return "none" if n < 2 else "t" if n < SMALL_N else "bootstrap"


def t_interval(x: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean with a Student-t interval (``scipy.stats.t``, n - 1 degrees of freedom) → ``(mean, lo, hi)``.

    mean ± t_{(1+confidence)/2, n-1} · s / sqrt(n) with s the sample standard deviation. Non-finite
    values are dropped; fewer than two values, or equal values, give ``(v, v, v)``.
    """
    arr = _as_1d(x)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(arr.mean())
    if arr.size == 1 or np.all(arr == arr[0]):
        return (mean, mean, mean)
    half = float(_st().t.ppf((1.0 + confidence) / 2.0, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return (mean, mean - half, mean + half)


def mean_ci(
    x: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    random_state: int = 0,
) -> tuple[float, float, float]:
    """Mean with its CI → ``(mean, lo, hi)``: a Student-t interval (``t_interval``) for fewer than
    ``SMALL_N`` values, else a percentile bootstrap (``scipy.stats.bootstrap``).

    Non-finite values are dropped. One sample, or all-equal samples, give ``(v, v, v)``;
    no samples give NaNs.
    """
    arr = _as_1d(x)
    arr = arr[np.isfinite(arr)]
    if ci_kind(arr.size) != "bootstrap":  # t_interval also answers no, one or all-equal samples
        return t_interval(arr, confidence)
    mean = float(arr.mean())
    if np.all(arr == arr[0]):
        return (mean, mean, mean)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = _st().bootstrap(
            (arr,),
            np.mean,
            confidence_level=confidence,
            n_resamples=n_resamples,
            method="percentile",
            vectorized=True,
            rng=np.random.default_rng(random_state),
        )
    return (mean, float(res.confidence_interval.low), float(res.confidence_interval.high))


def diff_ci(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    random_state: int = 0,
) -> tuple[float, float, float]:
    """mean(a) − mean(b) with a percentile bootstrap CI, resampling each sample independently.

    For "does a fresh sample agree with a recorded one": the CI of one sample's mean covers
    another equal-sized sample's mean only ~83% of the time, the CI of the difference covers 0
    about 95% of the time when both come from the same policy. Non-finite values are dropped.
    """
    x, y = _as_1d(a), _as_1d(b)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size == 0 or y.size == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(random_state)
    bx = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
    by = y[rng.integers(0, y.size, size=(n_resamples, y.size))].mean(axis=1)
    lo, hi = _percentile_ci(bx - by, confidence)
    return (float(x.mean() - y.mean()), lo, hi)


def iqm(x: Any) -> float:
    """Interquartile mean: the 25% trimmed mean of all values (flattened)."""
    arr = _flat(x)
    if arr.size == 0:
        return math.nan
    return float(_st().trim_mean(arr, 0.25))


def aggregate_iqm(matrix: Any) -> float:
    """IQM over all runs of all tasks (rliable's aggregate IQM)."""
    return iqm(_flat(matrix))


def aggregate_mean(matrix: Any) -> float:
    """Mean over tasks of the per-task mean (equals the plain mean for a full matrix)."""
    cols = [c for c in _columns(matrix) if c.size]
    if not cols:
        return math.nan
    return float(np.mean([c.mean() for c in cols]))


def _resample_columns(cols: Columns, rng: np.random.Generator) -> Columns:
    return [c[rng.integers(0, c.size, size=c.size)] if c.size else c for c in cols]


def _rebuild(cols: Columns, rectangular: bool) -> Any:
    return np.column_stack(cols) if rectangular else cols


def stratified_bootstrap_ci(
    matrix: Any,
    stat_fn: Callable[[Any], float],
    n_resamples: int = 2000,
    random_state: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Point estimate and percentile CI of ``stat_fn`` under a stratified bootstrap.

    Runs are resampled with replacement independently within each task column (stratified
    by task, as in Agarwal et al. 2021). ``stat_fn`` receives a runs × tasks array when every
    column has the same length, else a list of per-task arrays. Returns ``(point, lo, hi)``.
    """
    cols = _columns(matrix)
    rectangular = len({c.size for c in cols}) <= 1
    point = float(stat_fn(_rebuild(cols, rectangular)))
    if not cols or all(c.size <= 1 for c in cols):
        return (point, point, point)
    rng = np.random.default_rng(random_state)
    samples = np.empty(n_resamples)
    for i in range(n_resamples):
        samples[i] = stat_fn(_rebuild(_resample_columns(cols, rng), rectangular))
    lo, hi = _percentile_ci(samples, confidence)
    return (point, lo, hi)


def _poi_task(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) with ties counted 1/2, by direct pairwise comparison."""
    gt = (x[:, None] > y[None, :]).sum()
    eq = (x[:, None] == y[None, :]).sum()
    return float((gt + 0.5 * eq) / (x.size * y.size))


def _mann_whitney_poi(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) = U / (n·m) with U the Mann–Whitney statistic of x vs y."""
    if np.all(x == x[0]) and np.all(y == y[0]):  # scipy is fine here, but be exact and quiet
        return _poi_task(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = _st().mannwhitneyu(x, y, alternative="two-sided").statistic
    return float(u / (x.size * y.size))


def probability_of_improvement(
    x_matrix: Any,
    y_matrix: Any,
    n_resamples: int = 2000,
    random_state: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Average over tasks of P(X > Y) (Mann–Whitney U / (n·m), ties 1/2) with a stratified CI.

    ``x_matrix`` and ``y_matrix`` are runs × tasks with the same task columns in the same
    order (run counts may differ). Returns ``(point, lo, hi)``.
    """
    xs = [c[np.isfinite(c)] for c in _columns(x_matrix)]
    ys = [c[np.isfinite(c)] for c in _columns(y_matrix)]
    if len(xs) != len(ys):
        raise ValueError(f"x has {len(xs)} task columns but y has {len(ys)}")
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if x.size and y.size]
    if not pairs:
        return (math.nan, math.nan, math.nan)
    point = float(np.mean([_mann_whitney_poi(x, y) for x, y in pairs]))
    if all(x.size <= 1 and y.size <= 1 for x, y in pairs):
        return (point, point, point)
    rng = np.random.default_rng(random_state)
    per_task = np.empty((n_resamples, len(pairs)))
    for j, (x, y) in enumerate(pairs):
        xi = x[rng.integers(0, x.size, size=(n_resamples, x.size))]  # (R, n)
        yi = y[rng.integers(0, y.size, size=(n_resamples, y.size))]  # (R, m)
        gt = (xi[:, :, None] > yi[:, None, :]).sum(axis=(1, 2))
        eq = (xi[:, :, None] == yi[:, None, :]).sum(axis=(1, 2))
        per_task[:, j] = (gt + 0.5 * eq) / (x.size * y.size)
    lo, hi = _percentile_ci(per_task.mean(axis=1), confidence)
    return (point, lo, hi)


def performance_profile(matrix: Any, taus: Sequence[float] | np.ndarray) -> np.ndarray:
    """Fraction of all runs (over all tasks) whose score is strictly above each tau."""
    arr = _flat(matrix)
    arr = arr[np.isfinite(arr)]
    taus_arr = _as_1d(taus)
    if arr.size == 0:
        return np.full(taus_arr.shape, math.nan)
    return (arr[None, :] > taus_arr[:, None]).mean(axis=1)


def retention(student: Any, teacher: Any, metric: str, random_score: Any = None) -> Any:
    """Fraction of the teacher's performance a student keeps (REFERENCE.md: retention).

    ``win_rate``: student / teacher (NaN when the teacher's win rate is 0).
    ``return``: (S − R) / (T − R) with R the random-policy score (NaN when T == R).
    Works on scalars (returns a float) and on arrays (element-wise).
    """
    s = np.asarray(student, dtype=float)
    t = np.asarray(teacher, dtype=float)
    if metric == "win_rate":
        num, den = s, t
    elif metric == "return":
        if random_score is None:
            raise ValueError("retention of a 'return' metric needs the random-policy score")
        r = np.asarray(random_score, dtype=float)
        num, den = s - r, t - r
    else:
        raise ValueError(f"unknown metric {metric!r}; valid choices: return, win_rate")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den == 0, np.nan, num / np.where(den == 0, 1.0, den))
    return float(out) if out.ndim == 0 else out


# Retention thresholds of the leaderboard's performance profiles: 0.00, 0.05, ..., 1.20.
PROFILE_TAUS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(25))


def performance_profile_ci(
    matrix: Any,
    taus: Sequence[float] | np.ndarray = PROFILE_TAUS,
    n_resamples: int = 2000,
    random_state: int = 0,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Performance profile (``performance_profile``) with stratified-bootstrap CI bands.

    For every tau, the fraction of all runs whose score is strictly above tau; the band is the
    percentile CI of that fraction when runs are resampled with replacement within each task
    column (Agarwal et al. 2021, as in ``stratified_bootstrap_ci``). Non-finite values are
    dropped. Returns ``(profile, lo, hi)``, three arrays shaped like ``taus`` (NaN without data;
    ``lo == hi == profile`` when no column holds more than one run).
    """
    taus_arr = _as_1d(taus)
    cols = [c[np.isfinite(c)] for c in _columns(matrix)]
    cols = [c for c in cols if c.size]
    point = performance_profile(cols, taus_arr) if cols else np.full(taus_arr.shape, math.nan)
    if not cols or all(c.size <= 1 for c in cols):
        return point, point.copy(), point.copy()
    rng = np.random.default_rng(random_state)
    above = np.zeros((n_resamples, taus_arr.size))
    for c in cols:
        sample = c[rng.integers(0, c.size, size=(n_resamples, c.size))]  # (R, n_task)
        above += (sample[:, :, None] > taus_arr[None, None, :]).sum(axis=1)
    fractions = above / sum(c.size for c in cols)  # (R, T)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.percentile(fractions, [100 * alpha, 100 * (1 - alpha)], axis=0)
    return point, lo, hi


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indexes of the points on the cost/quality Pareto front, by increasing cost.

    ``points`` are ``(cost, value)``; lower cost and higher value are better. A point is on
    the front when no other point has a cost ≤ its cost and a strictly higher value (equal
    points: the first one is kept). Points with a non-finite coordinate are ignored.
    """
    order = sorted(
        (i for i, (c, v) in enumerate(points) if math.isfinite(c) and math.isfinite(v)),
        key=lambda i: (points[i][0], -points[i][1], i),
    )
    front: list[int] = []
    best = -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


# ---- when a latency entry is noisy ---------------------------------------------------------------

TIMER_MISMATCH_RTOL = 0.20
"""Largest relative gap between a latency entry's p50 and its ``torch.utils.benchmark.Timer`` cross-check
before the entry says ``timer_mismatch``."""
CV_NOISY = 0.10
"""Coefficient of variation of the per-block medians above which a latency entry is ``noisy``."""


def timer_mismatch(timer_ms: float, p50_ms: float) -> bool:
    """True when the Timer cross-check disagrees with the p50 by more than ``TIMER_MISMATCH_RTOL``."""
    return bool(abs(timer_ms - p50_ms) > TIMER_MISMATCH_RTOL * p50_ms)


def is_noisy(entry: dict) -> bool:
    """True when a latency entry's Timer cross-check disagreed or its repeats spread more than ``CV_NOISY``."""
    return bool(entry.get("timer_mismatch")) or float(entry.get("cv", 0.0)) > CV_NOISY
