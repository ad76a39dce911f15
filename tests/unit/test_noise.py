"""results/analysis/noise.py: the rerun noise model — pooled variance, floor, partial pooling, intervals,
verdicts, seeds needed — checked against closed forms and by coverage on simulated data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from kdmarl_bench.results.analysis import noise


def test_pooled_variance_matches_the_textbook_formula():
    a, b = [1.0, 2.0, 4.0], [10.0, 12.0]
    s2, df = noise.pooled_variance([a, b])
    expected = (np.var(a, ddof=1) * 2 + np.var(b, ddof=1) * 1) / 3
    assert df == 3 and s2 == pytest.approx(expected)
    assert noise.pooled_variance([[1.0], [2.0]]) == (0.0, 0)


def test_difference_interval_is_student_t_with_pooled_variance():
    cur, base = [0.80, 0.84], [0.90, 0.95]
    iv = noise.difference_interval(cur, base)
    s2 = (np.var(cur, ddof=1) + np.var(base, ddof=1)) / 2
    h = sps.t.ppf(0.975, 2) * math.sqrt(s2 * (1 / 2 + 1 / 2))
    assert iv.df == 2 and iv.estimate == pytest.approx(-0.105)
    assert (iv.lo, iv.hi) == pytest.approx((-0.105 - h, -0.105 + h))
    # two seeds per board: t with 2 df is 4.30, far wider than the range of the numbers
    assert iv.hi - iv.lo > 4 * (max(base) - min(base))


def test_floor_and_prior_widen_or_borrow():
    cur, base = [0.90, 0.90], [0.95, 0.95]  # identical seeds: no seed variance observed
    bare = noise.difference_interval(cur, base)
    assert bare.lo == bare.hi == pytest.approx(-0.05)
    floored = noise.difference_interval(cur, base, floor=0.01)
    assert floored.s2 == pytest.approx(0.01) and floored.hi > 0
    prior = noise.VariancePrior(s2=0.004, df=6)
    moderated = noise.difference_interval(cur, base, prior=prior)
    assert moderated.df == 8 and moderated.s2 == pytest.approx(6 * 0.004 / 8)


def test_one_seed_each_without_prior_is_infinite_and_inconclusive():
    iv = noise.difference_interval([0.5], [0.9])
    assert math.isinf(iv.lo) and math.isinf(iv.hi) and iv.df == 0
    assert noise.drop_verdict(iv, 0.05) == noise.INCONCLUSIVE
    assert noise.drop_pvalue(iv, 0.05) == 1.0


def test_episode_floor_is_the_variance_of_a_seed_mean():
    eps = [[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]]
    expected = np.mean([np.var(e, ddof=1) / 4 for e in eps]) * 4.0  # scale 2 → variance × 4
    assert noise.episode_floor(eps, 2.0) == pytest.approx(expected)
    assert noise.episode_floor([[1.0]], 1.0) == 0.0


def test_verdicts_and_pvalue():
    mk = lambda est, lo, hi: noise.Interval(est, lo, hi, (hi - lo) / 4, 10, 0.0)  # noqa: E731
    assert noise.drop_verdict(mk(-0.20, -0.30, -0.10), 0.05) == noise.FAIL
    assert noise.drop_verdict(mk(0.00, -0.04, 0.04), 0.05) == noise.PASS
    assert noise.drop_verdict(mk(-0.05, -0.15, 0.05), 0.05) == noise.INCONCLUSIVE
    # the multiple test's decision overrides the per-interval fail side
    assert noise.drop_verdict(mk(-0.20, -0.30, -0.10), 0.05, rejected=False) == noise.INCONCLUSIVE
    iv = noise.Interval(-0.05, -0.1, 0.0, 0.02, 5, 0.0)
    assert noise.drop_pvalue(iv, 0.05) == pytest.approx(0.5)  # estimate exactly at the threshold
    assert noise.drop_pvalue(noise.Interval(-0.3, 0, 0, 0.02, 5, 0), 0.05) < 1e-4


def test_benjamini_hochberg_step_up():
    p = [0.001, 0.02, 0.03, 0.5]
    # thresholds q·i/k at q = 0.05, k = 4: 0.0125, 0.025, 0.0375, 0.05 → first three rejected
    assert noise.benjamini_hochberg(p, 0.05) == [True, True, True, False]
    assert noise.benjamini_hochberg([0.04, 0.2], 0.05) == [False, False]
    assert noise.benjamini_hochberg([], 0.05) == []


def test_seeds_needed_is_the_smallest_n_that_resolves_the_threshold():
    s2, thr = 0.002, 0.05
    n = noise.seeds_needed(s2, thr)
    assert n is not None and n > 2

    def width(k: int) -> float:
        return (sps.t.ppf(0.975, 2 * k - 2) + sps.norm.ppf(0.8)) * math.sqrt(s2 * 2 / k)

    assert width(n) <= thr < width(n - 1)
    assert noise.seeds_needed(0.0, thr) == 2
    assert noise.seeds_needed(10.0, 0.001, max_n=50) is None
    # a prior's degrees of freedom make fewer seeds enough
    assert noise.seeds_needed(s2, thr, prior_df=20) <= n


def test_fit_variance_prior_recovers_the_scale_and_needs_three_cells():
    rng = np.random.default_rng(0)
    d = np.full(400, 2.0)
    s2 = 0.01 * rng.chisquare(2, size=400) / 2  # homogeneous cells: strong pooling, s0² ≈ 0.01
    prior = noise.fit_variance_prior(s2, d)
    assert prior.s2 == pytest.approx(0.01, rel=0.15) and prior.df >= 5 * 2  # ≥ 5× a cell's own df
    # heterogeneous true variances (over two orders of magnitude): little pooling
    sig = 10 ** rng.uniform(-4, -1, size=400)
    het = noise.fit_variance_prior(sig * rng.chisquare(2, size=400) / 2, d)
    assert het.df < 5
    assert noise.fit_variance_prior([0.1, 0.2], [1, 1]) == noise.VariancePrior()


@pytest.mark.parametrize("n", [2, 5])
def test_difference_interval_covers_95_percent_on_simulated_reruns(n):
    """Seeds ~ N(mu, sigma_b²) plus episode noise; both boards from the same cell (an honest
    rerun with a true difference of 0). The pooled t interval covers 0 ~95% of the time at n = 2
    and n = 5; the episode floor only makes it conservative (never below 95%)."""
    rng = np.random.default_rng(n)
    reps, m, sigma_b, sigma_w = 2000, 32, 0.05, 0.3
    plain = floored = 0
    for _ in range(reps):
        boards = []
        for _side in range(2):
            seeds = 0.9 + sigma_b * rng.standard_normal(n)
            boards.append(seeds[:, None] + sigma_w * rng.standard_normal((n, m)))
        cur, base = (b.mean(axis=1) for b in boards)
        iv = noise.difference_interval(cur, base)
        plain += iv.lo <= 0.0 <= iv.hi
        floor = np.mean([noise.episode_floor(b) for b in boards])
        iv = noise.difference_interval(cur, base, floor=floor)
        floored += iv.lo <= 0.0 <= iv.hi
    assert 0.935 <= plain / reps <= 0.965, plain / reps
    assert floored / reps >= 0.94, floored / reps


def test_moderated_interval_keeps_coverage_when_variances_vary_across_cells():
    """Cell variances drawn from a scaled inverse chi-square (the prior's model): the moderated
    t with d0 + d df keeps ~95% coverage at n = 2 while borrowing strength."""
    rng = np.random.default_rng(7)
    cells, n, covered, total = 30, 2, 0, 0
    for _ in range(150):
        sig2 = 0.003 * 8 / rng.chisquare(8, size=cells)
        data = [(rng.normal(0, math.sqrt(v), n), rng.normal(0, math.sqrt(v), n)) for v in sig2]
        pooled = [noise.pooled_variance([c, b]) for c, b in data]
        prior = noise.fit_variance_prior([p[0] for p in pooled], [p[1] for p in pooled])
        for c, b in data:
            iv = noise.difference_interval(c, b, prior=prior)
            covered += iv.lo <= 0.0 <= iv.hi
            total += 1
    assert 0.93 <= covered / total <= 0.97, covered / total


def test_prediction_interval_for_a_new_seed():
    vals = [0.80, 0.86, 0.83]
    iv = noise.prediction_interval(vals)
    s = np.std(vals, ddof=1)
    h = sps.t.ppf(0.975, 2) * s * math.sqrt(1 + 1 / 3)
    assert (iv.lo, iv.hi) == pytest.approx((0.83 - h, 0.83 + h))
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(3000):
        x = rng.normal(0, 1, 4)
        p = noise.prediction_interval(x[:3])
        hits += p.lo <= x[3] <= p.hi
    assert 0.935 <= hits / 3000 <= 0.965
    assert math.isinf(noise.prediction_interval([0.5]).hi)


def test_welch_interval():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 2.5, 3.0]
    iv = noise.welch_interval(a, b)
    res = sps.ttest_ind(a, b, equal_var=False)
    assert iv.df == pytest.approx(res.df)
    ci = res.confidence_interval(0.95)
    assert (iv.lo, iv.hi) == pytest.approx((ci.low, ci.high))
    same = noise.welch_interval([1.0, 1.0], [1.0, 1.0])
    assert same.lo == same.hi == 0.0


def test_paired_interval():
    d = [0.1, -0.1, 0.2, 0.0]
    iv = noise.paired_interval(d)
    res = sps.ttest_1samp(d, 0.0)
    ci = res.confidence_interval(0.95)
    assert (iv.lo, iv.hi) == pytest.approx((ci.low, ci.high)) and iv.df == 3
    same = noise.paired_interval([0.0, 0.0, 0.0])
    assert same.lo == same.hi == 0.0


def _step_up_by_hand(pvalues, q):
    """The BH step-up written out (the reference ``benjamini_hochberg`` must agree with): reject
    the ``m`` smallest p-values, ``m`` the largest rank i with ``p_(i) <= q · i / k``."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    below = p[order] <= q * np.arange(1, p.size + 1) / p.size
    reject = np.zeros(p.size, dtype=bool)
    if below.any():
        reject[order[: int(np.nonzero(below)[0].max()) + 1]] = True
    return reject.tolist()


def test_benjamini_hochberg_equals_the_step_up_on_random_and_boundary_inputs():
    rng = np.random.default_rng(3)
    cases = [(rng.uniform(0, 0.2, int(rng.integers(1, 25))), q) for q in (0.01, 0.05, 0.1) for _ in range(200)]
    cases += [(np.round(rng.uniform(0, 0.1, 12), 2), 0.05) for _ in range(100)]  # ties
    cases += [([0.0125, 0.025, 0.0375, 0.05], 0.05), ([0.05], 0.05), ([0.03 * i / 7 for i in range(1, 8)], 0.03),
              ([0.2, 0.001, 0.2, 0.04], 0.05)]  # p-values exactly on the thresholds
    for p, q in cases:
        assert noise.benjamini_hochberg(p, q) == _step_up_by_hand(p, q), (list(p), q)
    # a NaN p-value (an interval with a NaN estimate) is never rejected and leaves the others as they were
    assert noise.benjamini_hochberg([0.001, float("nan"), 0.01], 0.05) == [True, False, True]
