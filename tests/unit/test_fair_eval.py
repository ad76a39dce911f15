"""The evaluation that resolves near-ties: greedy and sampled scores, honest intervals at small n,
the pre-registered primary metric (headline, PoI, gate) and the SMAX episode protocol."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import t as scipy_t

from kdmarl_bench.cli import main
from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.analysis import stats
from kdmarl_bench.results.analysis.aggregate import build
from kdmarl_bench.results.analysis.headline import headline
from kdmarl_bench.results.gate.checks import cell_samples, gate
from kdmarl_bench.results.model.schema import validate
from kdmarl_bench.results.render.markdown import headline_markdown
from kdmarl_bench.results.render.text import flagged_lines, leaderboard_rows
from kdmarl_bench.results.store.boards import leaderboard_from_dict, read_leaderboard, write_leaderboard
from kdmarl_bench.suite import load_suite
from tests.factories import make_leaderboard, make_record, typed

SUITE = """
[suite]
name = "t"
{meta}
tasks = ["smax/3m"]
methods = ["teacher", "kd-marl", "bc"]
seeds = [0, 1]
[budget]
env_steps = 1000
{budget}
{rest}
"""


def suite_file(tmp_path, meta="", budget="", rest=""):
    p = tmp_path / "s.toml"
    p.write_text(SUITE.format(meta=meta, budget=budget, rest=rest))
    return p


# ---------------------------------------------------------------------------------------------
# intervals at small n


def test_fewer_than_five_values_get_a_student_t_interval():
    x = [0.2, 0.5, 0.9]
    mean, lo, hi = stats.mean_ci(x)
    half = scipy_t.ppf(0.975, 2) * np.std(x, ddof=1) / math.sqrt(3)
    assert (mean, lo, hi) == pytest.approx((np.mean(x), np.mean(x) - half, np.mean(x) + half))
    assert lo < min(x) and hi > max(x)  # never the seeds' range a bootstrap of 3 values gives
    assert stats.ci_kind(1) == "none" and stats.ci_kind(3) == "t" and stats.ci_kind(5) == "bootstrap"
    five = [0.2, 0.5, 0.9, 0.4, 0.6]
    _, blo, bhi = stats.mean_ci(five)
    assert min(five) <= blo < bhi <= max(five)  # 5 values: the percentile bootstrap, inside the data
    assert stats.mean_ci([0.5, 0.5]) == (0.5, 0.5, 0.5)


# ---------------------------------------------------------------------------------------------
# greedy and sampled


def _board(kd_greedy, kd_sampled, *, curve=None, primary=None, teacher_sampled=0.8):
    recs = []
    for seed in range(3):
        recs.append(make_record("smax/3m", "teacher", seed, 1.0, flops=8000.0, score_sampled=teacher_sampled))
        kd = make_record("smax/3m", "kd-marl", seed, kd_greedy[seed], 1.0, 300.0, size="auto",
                         score_sampled=kd_sampled[seed], teacher_score_sampled=teacher_sampled)
        bc = make_record("smax/3m", "bc", seed, 0.7, 1.0, 300.0, size="auto",
                         score_sampled=0.6, teacher_score_sampled=teacher_sampled)
        if curve is not None:
            kd["curve"] = [{"env_steps": x, "score": v, "episode_scores": [v]} for x, v in curve["kd-marl"][seed]]
            bc["curve"] = [{"env_steps": x, "score": v, "episode_scores": [v]} for x, v in curve["bc"][seed]]
        recs += [kd, bc]
    board = make_leaderboard(recs, n_resamples=300)
    if primary is not None:  # rebuilt as a suite with [suite] primary writes it
        typed = leaderboard_from_dict(board)
        board = build(typed.records, {**typed.suite.to_dict(), "primary": primary}, typed.protocol.to_dict(),
                      typed.provenance.to_dict()).to_dict()
    return board


def test_sampled_retention_is_against_the_teachers_sampled_score_and_summarised():
    board = leaderboard_from_dict(_board([0.9, 0.1, 0.8], [0.4, 0.4, 0.6]))
    kd = [r for r in board.records if r.method == "kd-marl"]
    assert [r.retention_sampled for r in kd] == pytest.approx([0.5, 0.5, 0.75])  # / teacher sampled 0.8
    row = board.summary_index()[("smax/3m", "kd-marl", "auto")]
    assert row.retention_sampled_mean == pytest.approx(np.mean([0.5, 0.5, 0.75]))
    assert row.retention_sampled_ci95 is not None and row.ci_kind == "t"
    # greedy 0.9 vs sampled 0.5 retention (40 points) and 0.1 vs 0.5: flagged; 0.8 vs 0.75 is not
    assert [r.flagged for r in kd] == [True, True, False] and row.n_flagged == 2
    lines = flagged_lines(board)
    assert len(lines) == 2 and "seed 0" in lines[0] and "greedy 90.0% vs sampled 50.0%" in lines[0]
    shown = next(r for r in leaderboard_rows(board) if r[1] == "kd-marl")
    assert shown[5].startswith("58.3% [") and shown[5].endswith("⚑2")
    (h,) = headline(board)
    assert h.retention_sampled == pytest.approx(row.retention_sampled_mean) and h.n_flagged == 2
    assert h.baseline_retention_sampled == pytest.approx(0.75)
    md = headline_markdown([h])
    assert "| sampled |" in md and "⚑ 2 seed(s)" in md


def test_old_record_without_sampled_shows_a_dash_and_board_round_trips(tmp_path):
    recs = [make_record("smax/3m", "teacher", 0, 1.0), make_record("smax/3m", "bc", 0, 0.5, 1.0)]
    board = leaderboard_from_dict(make_leaderboard(recs))
    bc = next(r for r in leaderboard_rows(board) if r[1] == "bc")
    assert bc[5] == "—"
    sampled = leaderboard_from_dict(_board([0.9, 0.1, 0.8], [0.4, 0.4, 0.6]))
    path = write_leaderboard(tmp_path / "lb.json", sampled)
    raw = json.loads(path.read_text())
    assert validate(raw) == 3 and raw["suite"]["primary"] == "final"
    assert raw["records"][1]["score_sampled"] is not None
    assert read_leaderboard(path) == sampled


# ---------------------------------------------------------------------------------------------
# the primary metric


CURVES = {  # kd-marl: good early, collapses at the end; bc: flat 0.7
    "kd-marl": [[(1000, 0.95), (2000, 0.95), (3000, 0.4 + 0.05 * s)] for s in range(3)],
    "bc": [[(1000, 0.7), (2000, 0.7), (3000, 0.7 + 0.01 * s)] for s in range(3)],
}


def test_headline_and_poi_judge_the_primary_metric():
    final = leaderboard_from_dict(_board([0.4, 0.45, 0.5], [0.5] * 3, curve=CURVES, primary="final"))
    auc = leaderboard_from_dict(_board([0.4, 0.45, 0.5], [0.5] * 3, curve=CURVES, primary="auc"))
    (f,) = headline(final)
    (a,) = headline(auc)
    assert f.primary == "final" and f.primary_value == pytest.approx(0.45) and f.poi == pytest.approx(0.0)
    # mean retention over the curve: (0.95 + 0.95)/2 · ½ + (0.95 + 0.45)/2 · ½ = 0.825 for seed 1
    assert a.primary == "auc" and a.primary_value == pytest.approx(0.825) and a.poi == pytest.approx(1.0)
    assert a.retention == pytest.approx(0.45)  # the other metric stays beside it
    assert "curve-mean retention [95% CI]" in headline_markdown([a])
    poi = next(p for e in auc.aggregate if e.method == "kd-marl" for p in e.probability_of_improvement or []
               if p.method == "bc")
    assert poi.value == pytest.approx(1.0)  # the aggregate PoI is on the primary metric too


def test_gate_judges_the_baselines_primary_metric():
    base = _board([0.4, 0.45, 0.5], [0.5] * 3, curve=CURVES, primary="auc")
    samples = cell_samples(typed(base), "auc")
    assert samples[("smax/3m", "kd-marl", "auto")].values == pytest.approx((0.8125, 0.825, 0.8375))
    assert cell_samples(typed(base), "final")[("smax/3m", "kd-marl", "auto")].values == pytest.approx((0.4, 0.45, 0.5))
    result = gate(typed(base), typed(base))
    check = next(c for c in result.checks if c.method == "kd-marl" and c.name == "retention")
    assert check.current == pytest.approx(0.825) and "primary metric auc" in check.detail


def test_suite_primary_defaults_and_bad_value(tmp_path):
    assert load_suite(suite_file(tmp_path)).primary == "final"
    assert load_suite(suite_file(tmp_path, budget="eval_at = [500]")).primary == "auc"
    assert load_suite(suite_file(tmp_path, budget="eval_at = [1000]")).primary == "final"  # one point: no curve
    assert load_suite(suite_file(tmp_path, meta='primary = "final"', budget="eval_at = [500]")).primary == "final"
    path = suite_file(tmp_path, meta='primary = "mean"')
    with pytest.raises(UsageError) as exc:
        load_suite(path)
    msg = str(exc.value)
    assert str(path) in msg and "suite.primary" in msg and "auc, final" in msg
    assert load_suite(suite_file(tmp_path, meta='primary = "auc"')).info()["primary"] == "auc"


# ---------------------------------------------------------------------------------------------
# episodes


def test_smax_defaults_to_128_episodes_over_4_seeds_and_pinned_suites_keep_theirs(tmp_path):
    suite = load_suite(suite_file(tmp_path))
    assert suite.eval_episodes("smax/3m") == 128 and suite.eval_seed_count("smax/3m") == 4
    pinned = load_suite(suite_file(tmp_path, rest="[eval]\nepisodes = { smax = 32 }"))
    assert pinned.eval_episodes("smax/3m") == 32 and pinned.eval_seed_count("smax/3m") == 1
    both = load_suite(suite_file(tmp_path, rest="[eval]\nepisodes = { smax = 64 }\nseeds_per_record = { smax = 8 }"))
    assert both.eval_seed_count("smax/3m") == 8
    bad = suite_file(tmp_path, rest="[eval]\nepisodes = { smax = 2 }\nseeds_per_record = { smax = 4 }")
    with pytest.raises(UsageError, match="eval.seeds_per_record.smax"):
        load_suite(bad)
    limited = load_suite("limited")  # a committed suite pins 32 episodes: its cells keep their keys
    assert limited.eval_seed_count("smax/3m") == 1


def test_plan_prints_the_primary_metric_and_refuses_an_unknown_one(tmp_path):
    path = suite_file(tmp_path, budget="eval_at = [500]", rest='[teacher]\nsource = "zoo"')
    res = CliRunner().invoke(main, ["plan", str(path)])
    assert res.exit_code == 0, res.output
    assert "primary metric: auc" in " ".join(res.output.split()) and "128 × 4" in res.output
    res = CliRunner().invoke(main, ["plan", str(path), "--json"])
    assert json.loads(res.output)["primary"] == "auc"
    bad = suite_file(tmp_path, meta='primary = "best"')
    res = CliRunner().invoke(main, ["plan", str(bad)])
    assert res.exit_code == 2 and "suite.primary" in res.output and "valid choices: auc, final" in res.output
