"""The noise of an honest rerun, as pure functions (arrays in, numbers out).

A cell (task, method, size) is run once per training seed; each seed's student is evaluated on
``m`` episodes. Its score per seed is ``x_i = mu + b_i + ebar_i``:

- ``b_i`` — *seed-to-seed training variance*, ``Var = sigma_b^2``. It includes cross-host float
  drift: on another CPU the same seed trains a different student (the 4th decimal of a loss
  turns into a few lost episodes), so a rerun elsewhere is a fresh draw of ``b``. Seeds, not
  episodes, are the unit of replication.
- ``ebar_i`` — *episode sampling* within a seed, ``Var = sigma_w^2 / m``, known precisely from
  the per-episode scores every record keeps (``n (m - 1)`` degrees of freedom).

The variance of a seed's score is ``v = sigma_b^2 + sigma_w^2 / m``. What the gate needs is an
interval for ``current − baseline`` (means over seeds of two boards) that is honest at n = 2.

**Choices, and why**

1. *Student t on seed means with the variance pooled over both boards* (``pooled_variance``):
   under the null of an honest rerun both boards draw seeds from the same distribution, so they
   share ``v``; pooling gives ``n_c + n_b − 2`` degrees of freedom (2 at n = 2 per board, where
   t_0.975 = 4.30 — wide, as it must be; the range of two numbers is not a 95% interval).
   Welch's df would be ~1 at n = 2 (t = 12.7), uselessly wide for the same coverage.
2. *An episode-sampling floor* (``episode_floor``): ``v`` cannot be below ``sigma_w^2 / m``,
   which the episodes estimate well. Two seeds that happen to agree do not make a cell look
   noiseless. The gate feeds it the per-episode *student − teacher* differences in retention
   units: every method plays the same eval episodes (paired eval seeds), and a rerun replays
   them, so their shared difficulty is not noise (unpaired, the floor on MPE would be 30× the
   observed seed variance). The floor only widens intervals: coverage ≥ nominal (simulated: up
   to 99.9% at n = 2 when episode noise equals seed noise — a deliberate trade of power for
   never calling a 2-seed cell noiseless; without it the t interval covers 95%).
3. *Partial pooling across the task's other cells* (``fit_variance_prior`` +
   ``moderated_variance``): the empirical-Bayes "moderated t" of Smyth (2004, limma). Each
   cell's pooled variance ``s_g^2`` (``d_g`` df) is shrunk towards a prior ``s0^2`` fitted to
   the variances of all the methods/sizes of the same task (both boards; the cell itself included,
   as in limma): ``(d0 s0^2 + d_g s_g^2) /
   (d0 + d_g)``, with ``d0 + d_g`` df. ``d0`` is estimated from how much the cells' log
   variances spread beyond what chi-square sampling explains: when the task's cells really
   differ (3×8 students on speaker_listener vary 80× more than 3×32 ones) ``d0`` is small and
   each cell keeps its own spread; when they agree, ``d0`` is large and a 2-seed cell borrows
   their df. ``d0`` is capped at the degrees of freedom actually behind the prior (never more
   pooling than data), and fewer than three cells with a positive variance give no prior.
   Under the model (variances of a task drawn from a scaled inverse chi-square) the moderated t
   has exactly ``d0 + d_g`` df, so the 95% interval keeps ~95% coverage.
4. The interval treats the two boards' episodes as independent although a rerun uses the same
   eval seeds (paired initial states): conservative.

**Verdicts** (``drop_verdict``) for "did the quantity drop by more than ``threshold``?", from
the two-sided interval ``[lo, hi]`` of ``current − baseline``:
``fail`` when ``hi < −threshold`` (a drop beyond the threshold is established), ``pass`` when
``lo ≥ −threshold`` (any drop beyond it is excluded), ``inconclusive`` otherwise — the data
cannot tell a drop of ``threshold`` from noise. A gate judges many cells at once (60 on the
MPE board), and 60 intervals each missing low 1 time in 200 would fail a quarter of honest
reruns. So the ``fail`` side is a multiple test: each check's one-sided p-value of "no drop
beyond the threshold" (``drop_pvalue``), rejected by Benjamini–Hochberg at q = 0.05
(``benjamini_hochberg``). On an honest rerun every null is true, and then BH rejects *any* with
probability ≤ q: the gate's false-alarm rate per run, not per check. When a change breaks many
cells at once (an untrained student everywhere) BH keeps the power Bonferroni would lose at
2 seeds (t quantiles at 2 df explode). ``seeds_needed`` then says how many seeds per
board would: the smallest ``n`` with ``(t_{0.975, df(n)} + z_power) · s · sqrt(2 / n) ≤
threshold``, at which an unchanged cell passes and a cell that lost twice the threshold fails,
each with probability ``power``. An honest rerun fails a check only when the interval misses
the true difference on the low side *and* by more than the threshold.

``prediction_interval`` is the same model for one *new* seed (``verify --retrain``):
``mean ± t · s · sqrt(1 + 1/n)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


def _special():
    """``scipy.special``, imported on the first test: the CLI (and ``gate``'s table) start without scipy."""
    from scipy import special  # heavy (~0.5 s): only when a statistic is computed

    return special


def _scipy_stats():
    """``scipy.stats``, imported on the first Benjamini–Hochberg step-up."""
    from scipy import stats  # heavy (~0.5 s): only when a statistic is computed

    return stats


@dataclass(frozen=True)
class VariancePrior:
    """A prior on a cell's seed variance: ``s2`` worth ``df`` degrees of freedom (df 0 = none)."""

    s2: float = 0.0
    df: float = 0.0


@dataclass(frozen=True)
class Interval:
    """An estimate with its two-sided interval and what it rests on."""

    estimate: float
    lo: float
    hi: float
    se: float
    """Standard error of the estimate."""
    df: float
    """Degrees of freedom of the t quantile (inf: normal; 0: no variance estimate at all)."""
    s2: float
    """Variance of one seed's score used (pooled, floored, moderated)."""


# ---------------------------------------------------------------------------------------------
# variance components


def pooled_variance(groups: Sequence[Sequence[float]]) -> tuple[float, int]:
    """Within-group sample variance pooled over groups: ``(s2, df)``, ``df = Σ (n_g − 1)``.

    Groups of one value add nothing; ``(0.0, 0)`` when no group has two values.
    """
    ss, df = 0.0, 0
    for g in groups:
        a = np.asarray(g, dtype=float)
        if a.size >= 2:
            ss += float(np.sum((a - a.mean()) ** 2))
            df += a.size - 1
    return (ss / df if df else 0.0), df


def episode_floor(episode_scores: Sequence[Sequence[float]], scale: Sequence[float] | float = 1.0) -> float:
    """The episode-sampling variance of one seed's mean, ``sigma_w^2 / m``, averaged over seeds.

    ``episode_scores[i]`` are seed i's per-episode scores; ``scale[i]`` converts them to the
    compared unit (retention: ``1 / (teacher − random)``). Seeds with < 2 episodes are skipped.
    """
    n = len(episode_scores)
    scales = np.broadcast_to(np.asarray(scale, dtype=float), (n,))
    terms = []
    for eps, k in zip(episode_scores, scales, strict=True):
        a = np.asarray(eps, dtype=float)
        if a.size >= 2 and math.isfinite(k):
            terms.append(float(np.var(a, ddof=1)) * k * k / a.size)
    return float(np.mean(terms)) if terms else 0.0


def fit_variance_prior(variances: Sequence[float], dfs: Sequence[float]) -> VariancePrior:
    """Empirical-Bayes prior of cell variances (Smyth 2004): ``s_g^2 ~ s0^2 F(d_g, d0)``.

    Method of moments on ``log s_g^2``; ``d0`` is capped at ``Σ d_g`` (the prior never counts
    for more than the data behind it). Fewer than three cells with a positive variance and
    df > 0 → no prior (``VariancePrior()``).
    """
    s2 = np.asarray(variances, dtype=float)
    d = np.asarray(dfs, dtype=float)
    keep = np.isfinite(s2) & (s2 > 0) & (d > 0)
    s2, d = s2[keep], d[keep]
    if s2.size < 3:
        return VariancePrior()
    e = np.log(s2) - _special().digamma(d / 2) + np.log(d / 2)
    excess = float(np.var(e, ddof=1) - np.mean(_special().polygamma(1, d / 2)))
    cap = float(d.sum())
    d0 = cap if excess <= 0 else min(cap, 2.0 * _trigamma_inverse(excess))
    s0 = float(np.exp(e.mean() + _special().digamma(d0 / 2) - math.log(d0 / 2)))
    return VariancePrior(s0, d0)


def _trigamma_inverse(x: float) -> float:
    """y with trigamma(y) = x (Newton's method, as in limma)."""
    if x > 1e7:
        return 1.0 / math.sqrt(x)
    if x < 1e-6:
        return 1.0 / x
    y = 0.5 + 1.0 / x
    for _ in range(50):
        tri = float(_special().polygamma(1, y))
        step = tri * (1.0 - tri / x) / float(_special().polygamma(2, y))
        y += step
        if -step / y < 1e-8:
            break
    return y


def moderated_variance(s2: float, df: float, prior: VariancePrior, floor: float = 0.0) -> tuple[float, float]:
    """``(variance, df)`` of one cell: its own ``s2`` shrunk towards the prior, never below ``floor``."""
    own = max(s2, floor) if df > 0 else 0.0
    total = df + prior.df
    if total <= 0:
        return max(floor, 0.0), 0.0
    return max((prior.df * prior.s2 + df * own) / total, floor), total


# ---------------------------------------------------------------------------------------------
# intervals


def _t(confidence: float, df: float) -> float:
    """Two-sided t quantile (``special.stdtrit``: the ufunc, ~100× faster than ``stats.t.ppf``)."""
    q = 0.5 + confidence / 2
    return float(_special().ndtri(q)) if math.isinf(df) else float(_special().stdtrit(df, q))


def difference_interval(
    current: Sequence[float],
    baseline: Sequence[float],
    *,
    floor: float = 0.0,
    prior: VariancePrior = VariancePrior(),
    confidence: float = 0.95,
) -> Interval:
    """Interval for ``mean(current) − mean(baseline)`` of per-seed values (pooled-variance t).

    ``floor`` is the episode-sampling variance of one seed (``episode_floor``); ``prior`` a
    partial-pooling prior (``fit_variance_prior``). With no degrees of freedom at all (one seed
    per board, no prior) the interval is infinite unless the floor alone is trusted (never).
    """
    c = np.asarray(current, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if c.size == 0 or b.size == 0:
        raise ValueError("difference_interval needs at least one value on each side")
    est = float(c.mean() - b.mean())
    s2, df = pooled_variance([c, b])
    v, dof = moderated_variance(s2, df, prior, floor)
    if dof <= 0:
        return Interval(est, -math.inf, math.inf, math.inf, 0.0, v)
    se = math.sqrt(v * (1 / c.size + 1 / b.size))
    h = _t(confidence, dof) * se
    return Interval(est, est - h, est + h, se, dof, v)


def welch_interval(current: Sequence[float], baseline: Sequence[float], confidence: float = 0.95) -> Interval:
    """Welch t interval for a difference of means of two independent samples (e.g. the episodes
    of a fixed policy: a teacher has no training variance, only episode sampling)."""
    c = np.asarray(current, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if c.size < 2 or b.size < 2:
        raise ValueError("welch_interval needs at least two values on each side")
    est = float(c.mean() - b.mean())
    vc, vb = float(np.var(c, ddof=1)) / c.size, float(np.var(b, ddof=1)) / b.size
    se2 = vc + vb
    if se2 == 0:
        return Interval(est, est, est, 0.0, math.inf, 0.0)
    df = se2**2 / (vc**2 / (c.size - 1) + vb**2 / (b.size - 1))
    h = _t(confidence, df) * math.sqrt(se2)
    return Interval(est, est - h, est + h, math.sqrt(se2), df, se2)


def paired_interval(differences: Sequence[float], confidence: float = 0.95) -> Interval:
    """One-sample t interval for the mean of paired differences (e.g. a teacher's score per eval
    episode on two boards that played the same episodes: identical play gives [0, 0])."""
    d = np.asarray(differences, dtype=float)
    if d.size < 2:
        raise ValueError("paired_interval needs at least two differences")
    est = float(d.mean())
    v = float(np.var(d, ddof=1))
    if v == 0:
        return Interval(est, est, est, 0.0, math.inf, 0.0)
    se = math.sqrt(v / d.size)
    h = _t(confidence, d.size - 1) * se
    return Interval(est, est - h, est + h, se, float(d.size - 1), v)


def prediction_interval(
    values: Sequence[float],
    *,
    floor: float = 0.0,
    prior: VariancePrior = VariancePrior(),
    confidence: float = 0.95,
) -> Interval:
    """Where one *new* seed's value should fall, from the cell's ``values`` (one per seed):
    ``mean ± t · s · sqrt(1 + 1/n)``; infinite with no degrees of freedom."""
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        raise ValueError("prediction_interval needs at least one value")
    m = float(a.mean())
    s2, df = pooled_variance([a])
    v, dof = moderated_variance(s2, df, prior, floor)
    if dof <= 0:
        return Interval(m, -math.inf, math.inf, math.inf, 0.0, v)
    se = math.sqrt(v * (1 + 1 / a.size))
    h = _t(confidence, dof) * se
    return Interval(m, m - h, m + h, se, dof, v)


# ---------------------------------------------------------------------------------------------
# verdicts


def drop_verdict(interval: Interval, threshold: float, rejected: bool | None = None) -> str:
    """``fail`` / ``pass`` / ``inconclusive`` for "current − baseline < −threshold".

    ``rejected``: the multiplicity-adjusted decision that the drop exceeds the threshold (from
    ``benjamini_hochberg`` over a gate's checks); default: ``interval.hi < −threshold``.
    """
    if (interval.hi < -threshold) if rejected is None else rejected:
        return FAIL
    if interval.lo >= -threshold:
        return PASS
    return INCONCLUSIVE


def drop_pvalue(interval: Interval, threshold: float) -> float:
    """One-sided p-value of "the true difference is ≥ −threshold" (no drop beyond it): the
    chance of an estimate this low if the truth sat exactly at −threshold."""
    excess = interval.estimate + threshold
    if interval.df <= 0 or not math.isfinite(interval.se):
        return 1.0
    if interval.se == 0:
        return 0.0 if excess < 0 else 1.0
    z = excess / interval.se
    return float(_special().ndtr(z) if math.isinf(interval.df) else _special().stdtr(interval.df, z))


def benjamini_hochberg(pvalues: Sequence[float], q: float) -> list[bool]:
    """Which hypotheses the Benjamini–Hochberg step-up rejects at level ``q`` (scipy's BH-adjusted
    p-values ``<= q``; a NaN p-value is never rejected). When every null is true (an honest rerun)
    it rejects any at all with probability ≤ q; when many cells regress it keeps far more power
    than Bonferroni."""
    p = np.asarray(pvalues, dtype=float)
    if p.size == 0:
        return []
    adjusted = _scipy_stats().false_discovery_control(np.nan_to_num(p, nan=1.0), method="bh")
    return (adjusted <= q).tolist()


def seeds_needed(
    s2: float,
    threshold: float,
    *,
    prior_df: float = 0.0,
    confidence: float = 0.95,
    power: float = 0.8,
    max_n: int = 1000,
) -> int | None:
    """Seeds per board at which a drop of ``threshold`` is told from noise: the smallest ``n``
    with ``(t_{df} + z_power) · sqrt(s2 · 2 / n) ≤ threshold`` (``df = 2n − 2 + prior_df``).

    None when even ``max_n`` seeds do not suffice (or ``threshold`` is 0 with noise).
    """
    if s2 <= 0:
        return 2
    if threshold <= 0:
        return None
    n = np.arange(2, max_n + 1)
    t = _special().stdtrit(2 * n - 2 + prior_df, 0.5 + confidence / 2)
    ok = (t + _special().ndtri(power)) * np.sqrt(s2 * 2 / n) <= threshold
    return int(n[np.argmax(ok)]) if ok.any() else None
