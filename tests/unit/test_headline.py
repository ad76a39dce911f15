"""The headline: KD-MARL vs the best non-KD-MARL baseline per task, and the claim check."""

from __future__ import annotations

import pytest

from kdmarl_bench.results.analysis.headline import headline
from kdmarl_bench.results.render.markdown import headline_markdown
from kdmarl_bench.results.render.text import verdict_lines
from tests.factories import make_leaderboard, make_record, typed


def _records(kd_scores, kd_flops=300.0):
    recs = []
    for seed in range(3):
        recs.append(make_record("smax/3m", "teacher", seed, 1.0, flops=8000.0))
        recs.append(make_record("smax/3m", "kd-marl", seed, kd_scores[seed], 1.0, kd_flops, size="auto"))
        recs.append(make_record("smax/3m", "bc", seed, 0.8, 1.0, 300.0, size="auto"))
        recs.append(make_record("smax/3m", "pd-kl", seed, 0.85, 1.0, 300.0, size="auto"))
        # a better bc at another size, and a KD-MARL ablation: neither is "the best baseline at auto"
        recs.append(make_record("smax/3m", "bc", seed, 0.99, 1.0, 300.0, size="w16"))
        recs.append(make_record("smax/3m", "kd-marl-no-rel", seed, 1.0, 1.0, 300.0, size="auto",
                                base_method="kd-marl"))
    return recs


def test_picks_best_baseline_at_the_same_size_and_skips_kd_variants():
    (row,) = headline(typed(make_leaderboard(_records([0.95, 0.95, 0.95]), n_resamples=200)))
    assert row.task == "smax/3m" and row.size == "auto" and row.n_seeds == 3
    assert row.best_baseline == "pd-kl"
    assert row.baseline_retention == pytest.approx(0.85)
    assert row.retention == pytest.approx(0.95)
    assert row.flops_reduction == pytest.approx(8000 / 300)
    assert row.metric == "win_rate" and row.teacher_score == pytest.approx(1.0)
    assert row.claim_met and row.claim_met_ci


def test_claim_is_90_percent_inside_the_papers_flop_range():
    (low,) = headline(typed(make_leaderboard(_records([0.85, 0.88, 0.89]))))  # 27x: inside the range, below 90%
    assert not low.claim_met and not low.claim_met_ci and low.claim == "fails"
    (cheap,) = headline(typed(make_leaderboard(_records([0.95, 0.95, 0.95], kd_flops=1000.0))))  # 8x: inside
    assert cheap.claim_met and cheap.claim == "holds"
    (tiny,) = headline(typed(make_leaderboard(_records([0.85, 0.88, 0.89], kd_flops=20.0))))  # 400x: beyond 28.6x
    assert tiny.claim == "beyond range" and not tiny.claim_met
    (tiny_ok,) = headline(typed(make_leaderboard(_records([0.95, 0.95, 0.95], kd_flops=20.0))))
    assert tiny_ok.claim == "holds beyond range" and tiny_ok.claim_met
    (same,) = headline(typed(make_leaderboard(_records([0.95, 0.95, 0.95], kd_flops=8000.0))))  # not smaller at all
    assert same.claim == "n/a" and not same.claim_met
    # mean above 0.9 but a seed far below: met on the mean, not at the CI's lower bound
    (wide,) = headline(typed(make_leaderboard(_records([1.0, 1.0, 0.75]))))
    assert wide.retention == pytest.approx(0.9166, abs=1e-3)
    assert wide.claim_met and not wide.claim_met_ci


def test_only_action_imitation_is_a_baseline_and_poi_is_over_seeds():
    recs = _records([0.95, 0.80, 0.90])
    for seed in range(3):  # a stronger control and a stronger structure method: neither is a baseline
        recs.append(make_record("smax/3m", "scratch", seed, 0.99, 1.0, 300.0, size="auto"))
        recs.append(make_record("smax/3m", "dagger", seed, 0.5 + 0.4 * seed / 2, 1.0, 300.0, size="auto"))
    (row,) = headline(typed(make_leaderboard(recs, n_resamples=500)))
    assert row.best_baseline == "pd-kl"  # 0.85 > dagger's mean 0.7; scratch (control) never counts
    # kd-marl seeds 0.95, 0.80, 0.90 vs pd-kl 0.85 ×3: two of three above → P = 2/3
    assert row.poi == pytest.approx(2 / 3)
    assert row.poi_ci95[0] <= row.poi <= row.poi_ci95[1] and row.beats_baseline == "inconclusive"
    assert row.regime == "same view" and row.env_steps is not None


def test_limited_regime_is_named():
    recs = [dict(r, view="near2") for r in _records([0.95, 0.95, 0.95])]
    (row,) = headline(typed(make_leaderboard(recs)))
    assert row.regime == "limited" and row.view == "near2"
    assert "smax/3m@near2 | limited |" in headline_markdown([row])


def test_markdown_and_missing_kd():
    md = headline_markdown(headline(typed(make_leaderboard(_records([0.95, 0.95, 0.95])))))
    assert "| smax/3m | same view | 100.0% | 95.0% | 27× | pd-kl | 85.0% | 1.00 [1.00, 1.00] | holds / holds |" in md
    no_kd = [r for r in _records([0.9] * 3) if not r["method"].startswith("kd-marl")]
    assert headline(typed(make_leaderboard(no_kd))) == []
    assert "No KD-MARL results" in headline_markdown([])


def test_headline_carries_retention_per_budget_point_and_auc():
    from kdmarl_bench.results.render.markdown import headline_curve_markdown

    recs = []
    for seed in range(3):
        recs.append(make_record("smax/3m", "teacher", seed, 1.0))
        for method, final in (("kd-marl", 0.8), ("bc", 0.7)):
            curve = [{"env_steps": e, "env_steps_used": e, "score": final * e / 4000,
                      "episode_scores": [final * e / 4000]} for e in (1000, 2000, 4000)]
            recs.append(make_record("smax/3m", method, seed, final, 1.0, 300.0, size="auto", curve=curve))
    (row,) = headline(typed(make_leaderboard(recs)))
    assert [p[0] for p in row.curve] == [1000, 2000, 4000]
    assert row.curve[0][1] == pytest.approx(0.2) and row.curve[0][2] == pytest.approx(0.175)
    # trapezoid over [1000, 4000] of 0.2 → 0.4 → 0.8, divided by 3000
    assert row.auc == pytest.approx((0.5 * (0.2 + 0.4) * 1000 + 0.5 * (0.4 + 0.8) * 2000) / 3000)
    assert row.baseline_auc == pytest.approx(row.auc * 0.7 / 0.8)
    md = headline_curve_markdown([row])
    assert "| smax/3m | bc | 20.0% / 17.5% | 40.0% / 35.0% | 80.0% / 70.0% |" in md


def test_verdict_lines_say_the_answer_in_words():
    worse = headline(typed(make_leaderboard(_records([0.5, 0.55, 0.6]), n_resamples=200)))
    lines = verdict_lines(worse, "board.json")
    assert lines[0].startswith("Verdict on retention at size auto: KD-MARL is worse than pd-kl on 1 of 1 task")
    assert "better on 0, not separable on 0" in lines[0] and "holds on 0 of 1" in lines[0]
    assert lines[1].startswith("  smax/3m: worse: KD-MARL 55.0%") and "vs pd-kl 85.0%" in lines[1]
    assert "claim fails" in lines[1]
    assert lines[-1].startswith("Next: kdmarl-bench report board.json") and "gate board.json" in lines[-1]
    better = verdict_lines(headline(typed(make_leaderboard(_records([0.95, 0.96, 0.97]), n_resamples=200))))
    assert "is worse than pd-kl on 0 of 1 task, better on 1" in better[0] and "holds on 1 of 1" in better[0]
    assert better[1].startswith("  smax/3m: better:")


def test_no_verdict_without_a_baseline():
    recs = [r for r in _records([0.9, 0.9, 0.9]) if r["method"] in ("teacher", "kd-marl")]
    assert verdict_lines(headline(typed(make_leaderboard(recs)))) == []


def test_verdict_withholds_judgement_below_three_seeds():
    recs = [r for r in _records([0.5, 0.55, 0.6]) if r["seed"] < 2]
    lines = verdict_lines(headline(typed(make_leaderboard(recs, n_resamples=200))))
    assert "worse than pd-kl on 0 of 1 task" in lines[0] and "1 with too few seeds (< 3) to judge" in lines[0]
    assert lines[1].startswith("  smax/3m: too few seeds:")
