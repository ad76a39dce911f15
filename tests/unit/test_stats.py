"""Statistics on tiny inputs checkable by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kdmarl_bench.results.analysis import stats


def test_iqm_of_one_to_eight_is_mean_of_middle_half():
    assert stats.iqm(np.arange(1, 9)) == pytest.approx(4.5)  # mean of [3, 4, 5, 6]
    assert stats.iqm(np.arange(1, 9).reshape(4, 2)) == pytest.approx(4.5)  # flattened
    assert stats.iqm([[1, 100], [2, 3], [4, -50], [5, 6]]) == pytest.approx(np.mean([2, 3, 4, 5]))


def test_aggregate_mean_and_iqm():
    m = np.array([[1.0, 10.0], [3.0, 20.0]])
    assert stats.aggregate_mean(m) == pytest.approx(8.5)
    assert stats.aggregate_iqm(m) == pytest.approx(6.5)  # middle of [1, 3, 10, 20]
    # ragged columns: mean of task means
    assert stats.aggregate_mean([np.array([1.0, 3.0]), np.array([10.0])]) == pytest.approx(6.0)


def test_mean_ci_contains_mean_and_is_deterministic():
    x = [0.2, 0.4, 0.5, 0.9, 0.7, 0.3]
    a = stats.mean_ci(x)
    b = stats.mean_ci(x)
    assert a == b
    mean, lo, hi = a
    assert mean == pytest.approx(np.mean(x))
    assert lo < mean < hi
    assert 0.2 <= lo and hi <= 0.9
    y = [0.13, 0.52, 0.91, 0.27, 0.66, 0.35, 0.78, 0.44, 0.09, 0.58]
    assert stats.mean_ci(y, random_state=1)[1:] != stats.mean_ci(y, random_state=0)[1:]
    narrow = stats.mean_ci(x, confidence=0.5)
    assert lo <= narrow[1] <= narrow[2] <= hi


def test_mean_ci_degenerate_cases():
    assert stats.mean_ci([0.7]) == (0.7, 0.7, 0.7)
    assert stats.mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
    assert stats.mean_ci([0.5, float("nan")]) == (0.5, 0.5, 0.5)  # non-finite dropped
    assert all(math.isnan(v) for v in stats.mean_ci([]))


def test_stratified_bootstrap_is_within_columns():
    # Column 0 always 1, column 1 always 3: any within-column resample keeps the mean 2.
    m = np.array([[1.0, 3.0], [1.0, 3.0], [1.0, 3.0]])
    assert stats.stratified_bootstrap_ci(m, stats.aggregate_mean) == (2.0, 2.0, 2.0)
    m2 = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0]])
    point, lo, hi = stats.stratified_bootstrap_ci(m2, stats.aggregate_mean, n_resamples=500)
    assert point == pytest.approx(10.5)
    # column 0 mean in [0, 2], column 1 mean in [10, 30]
    assert 5.0 <= lo <= point <= hi <= 16.0
    assert stats.stratified_bootstrap_ci(m2, stats.aggregate_mean, n_resamples=500) == (point, lo, hi)


def test_stratified_bootstrap_passes_matrix_to_stat_fn():
    seen = []

    def fn(mat):
        seen.append(np.asarray(mat).shape)
        return float(np.sum(mat))

    stats.stratified_bootstrap_ci(np.ones((3, 2)), fn, n_resamples=5)
    assert set(seen) == {(3, 2)}


def test_probability_of_improvement_hand_values():
    x, y = [[1.0], [2.0], [3.0]], [[2.0], [2.0], [2.0]]
    point, lo, hi = stats.probability_of_improvement(x, y)
    assert point == pytest.approx((0 + 0.5 + 1) / 3)
    assert 0.0 <= lo <= point <= hi <= 1.0
    # two tasks: task 0 as above (0.5), task 1 x always better (1.0) → 0.75
    x2 = np.array([[1.0, 5.0], [2.0, 6.0], [3.0, 7.0]])
    y2 = np.array([[2.0, 1.0], [2.0, 2.0], [2.0, 3.0]])
    assert stats.probability_of_improvement(x2, y2)[0] == pytest.approx(0.75)
    # symmetric
    assert stats.probability_of_improvement(y2, x2)[0] == pytest.approx(0.25)
    assert stats.probability_of_improvement(x2, y2) == stats.probability_of_improvement(x2, y2)


def test_probability_of_improvement_matches_scipy_u():
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=7), rng.normal(size=5)
    expected = mannwhitneyu(x, y).statistic / (7 * 5)
    assert stats.probability_of_improvement(x[:, None], y[:, None])[0] == pytest.approx(expected)


def test_performance_profile():
    m = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert stats.performance_profile(m, [0.0, 2.0, 2.5, 4.0]).tolist() == [1.0, 0.5, 0.5, 0.0]


def test_retention_examples():
    assert stats.retention(0.75, 1.0, "win_rate") == pytest.approx(0.75)
    assert stats.retention(0.45, 0.9, "win_rate") == pytest.approx(0.5)
    assert math.isnan(stats.retention(0.5, 0.0, "win_rate"))
    # return: (S − R) / (T − R) = (−30 − −100) / (−20 − −100) = 70 / 80
    assert stats.retention(-30.0, -20.0, "return", random_score=-100.0) == pytest.approx(0.875)
    assert stats.retention(-100.0, -20.0, "return", random_score=-100.0) == pytest.approx(0.0)
    assert math.isnan(stats.retention(-5.0, -20.0, "return", random_score=-20.0))
    arr = stats.retention(np.array([0.5, 1.0]), 1.0, "win_rate")
    assert arr.tolist() == [0.5, 1.0]
    with pytest.raises(ValueError, match="random-policy"):
        stats.retention(1.0, 2.0, "return")
    with pytest.raises(ValueError, match="unknown metric"):
        stats.retention(1.0, 2.0, "wins")


def test_profile_taus_grid():
    assert stats.PROFILE_TAUS[0] == 0.0 and stats.PROFILE_TAUS[-1] == 1.2
    assert len(stats.PROFILE_TAUS) == 25
    assert np.allclose(np.diff(stats.PROFILE_TAUS), 0.05)


def test_performance_profile_ci_on_a_2x2_matrix_by_hand():
    # runs × tasks: task 0 = [0.5, 0.9], task 1 = [1.0, 1.1]
    m = np.array([[0.5, 1.0], [0.9, 1.1]])
    taus = [0.0, 0.5, 0.95, 1.0, 1.1]
    point, lo, hi = stats.performance_profile_ci(m, taus, n_resamples=2000, random_state=0)
    # > 0: all 4; > 0.5: 0.9, 1.0, 1.1; > 0.95: 1.0, 1.1; > 1.0: 1.1; > 1.1: none
    assert point.tolist() == [1.0, 0.75, 0.5, 0.25, 0.0]
    # tau 0, 0.95 and 1.1: every within-task resample gives the same count → no width
    assert (lo[0], hi[0]) == (1.0, 1.0)
    assert (lo[2], hi[2]) == (0.5, 0.5)
    assert (lo[4], hi[4]) == (0.0, 0.0)
    # tau 0.5: task 0 contributes 0, 1 or 2 of its runs (p = 1/4, 1/2, 1/4), task 1 always 2
    #   → fraction 0.5, 0.75 or 1.0; the 2.5th / 97.5th percentiles are the extremes
    assert (lo[1], hi[1]) == (0.5, 1.0)
    # tau 1.0: task 1 contributes 0, 1 or 2 (only 1.1 counts) → 0, 0.25, 0.5
    assert (lo[3], hi[3]) == (0.0, 0.5)
    # deterministic for a fixed random_state
    again = stats.performance_profile_ci(m, taus, n_resamples=2000, random_state=0)
    assert all(np.array_equal(a, b) for a, b in zip((point, lo, hi), again, strict=True))


def test_performance_profile_ci_degenerate_and_ragged():
    point, lo, hi = stats.performance_profile_ci([np.array([0.8]), np.array([1.2])], [0.9])
    assert point.tolist() == lo.tolist() == hi.tolist() == [0.5]  # one run per task: no resampling
    point, lo, hi = stats.performance_profile_ci([np.array([])], [0.5])
    assert math.isnan(point[0]) and math.isnan(lo[0]) and math.isnan(hi[0])
    # ragged columns: 3 runs and 1 run; NaN dropped
    cols = [np.array([0.2, 0.6, float("nan"), 1.0]), np.array([0.7])]
    point, lo, hi = stats.performance_profile_ci(cols, [0.5])
    assert point.tolist() == [0.75]  # 0.6, 1.0, 0.7 of 4 runs
    assert lo[0] <= 0.75 <= hi[0] and 0.25 <= lo[0] and hi[0] <= 1.0


def test_pareto_front_by_hand():
    # (cost, value): the cheapest best-so-far points, by increasing cost
    pts = [(8000, 1.0), (1000, 0.95), (1000, 0.6), (250, 0.35), (2000, 0.9), (4000, 0.95)]
    assert stats.pareto_front(pts) == [3, 1, 0]
    assert stats.pareto_front([(1.0, 0.5), (1.0, 0.5)]) == [0]  # equal points: first kept
    assert stats.pareto_front([(1.0, float("nan")), (2.0, 0.1)]) == [1]
    assert stats.pareto_front([]) == []


def test_diff_ci_centres_on_the_difference_and_is_deterministic():
    a = [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0]
    assert stats.diff_ci(a, a)[0] == 0.0
    lo, hi = stats.diff_ci(a, a)[1:]
    assert lo < 0 < hi
    d, lo, hi = stats.diff_ci([x + 1.0 for x in a], a)
    assert d == pytest.approx(1.0) and lo > 0
    assert stats.diff_ci(a, [x + 1 for x in a], random_state=3) == stats.diff_ci(a, [x + 1 for x in a], random_state=3)
    assert all(math.isnan(v) for v in stats.diff_ci([], a))


def test_fresh_sample_agreement_needs_the_difference_ci():
    # Two samples of one policy: the difference CI covers 0 ~95% of the time, while one sample's
    # mean falls in the other's CI only ~83% of the time (why verify judges on the difference).
    rng = np.random.default_rng(0)
    trials, in_diff, in_ci = 300, 0, 0
    for i in range(trials):
        x, y = rng.normal(size=32), rng.normal(size=32)
        _, lo, hi = stats.diff_ci(x, y, n_resamples=500, random_state=i)
        in_diff += lo <= 0 <= hi
        _, clo, chi = stats.mean_ci(y, n_resamples=500, random_state=i)
        in_ci += clo <= x.mean() <= chi
    assert 0.90 <= in_diff / trials <= 0.99
    assert 0.75 <= in_ci / trials <= 0.90
