"""limited v2 at 160k env-steps (baselines/limited2-160k.json, suites/limited2-160k.toml): the headline
task (10 seeds), smax/8m and spread (5 each) at 4x the budget, run as its suite declared — the focus method, its no-advantage ablation and three
imitation baselines, greedy and sampled along a curve to 160k, the final point as the pre-registered
metric — and the README quotes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdmarl_bench.cli import main
from kdmarl_bench.results.analysis.headline import headline
from kdmarl_bench.results.analysis.noise import welch_interval
from kdmarl_bench.results.store.boards import read_leaderboard
from kdmarl_bench.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]
BOARD = ROOT / "baselines" / "limited2-160k.json"
SUITE = ROOT / "suites" / "limited2-160k.toml"


@pytest.fixture(scope="module")
def board():
    return read_leaderboard(BOARD)


def test_board_is_its_declared_suite(board):
    suite = load_suite(SUITE)
    assert board.suite.name == "limited2-160k" and board.suite.primary == "final" and board.focus == "kd-marl-tuned"
    assert board.suite.sha256 == suite.sha256
    assert board.tasks == ["mpe/simple_spread_v3", "smax/3m", "smax/8m"]
    assert list(suite.seeds_for("smax/3m")) == list(range(10))
    assert list(suite.seeds_for("smax/8m")) == list(suite.seeds_for("mpe/simple_spread_v3")) == list(range(5))
    for task in board.tasks:
        for method in suite.methods:
            seeds = sorted(r.seed for r in board.records if r.method == method and r.task == task)
            assert seeds == list(suite.seeds_for(task)), (task, method)
    for r in board.records:
        assert r.error is None and r.view == suite.view_for(r.task)
        if r.method != "teacher":
            tuned = suite.method_config.get(r.method, {})
            assert {k: r.method_config.get(k) for k in tuned} == tuned, (r.method, r.seed)
            assert r.score_sampled is not None
            assert [p.env_steps for p in r.curve] == [10_000, 40_000, 80_000, 160_000]
            assert all(p.score_sampled is not None for p in r.curve)


def test_its_teacher_cells_are_limited2s(board):
    """Same teachers (smax/3m's privileged one), same eval seeds and episodes: the teacher's scores equal limited2's."""
    base = read_leaderboard(ROOT / "baselines" / "limited2.json")
    for task in board.tasks:
        ours = {r.seed: r.episode_scores for r in board.records if r.method == "teacher" and r.task == task}
        theirs = {r.seed: r.episode_scores for r in base.records if r.method == "teacher" and r.task == task}
        assert ours and all(ours[s] == theirs[s] for s in ours), task
        assert {r.teacher_sha256 for r in board.records if r.task == task} == {
            r.teacher_sha256 for r in base.records if r.task == task}, task


def test_report_headline_judges_the_final_point():
    res = CliRunner().invoke(main, ["report", str(BOARD), "--headline"])
    assert res.exit_code == 0, res.output
    assert "Verdict on retention at size x20" in res.output and "sampled" in res.output


def test_readme_quotes_the_boards_final_points(board):
    """The prose numbers of the README's 160k paragraph are the board's: each method's mean final
    retention, greedy and sampled, and the verdict's P."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**At 4× the budget (160k env-steps)"):readme.index("**Tuning sweep**")]
    for task in board.tasks:
        for method in ("kd-marl-tuned", "kd-marl-no-adv", "bc", "pd-kl", "dagger"):
            recs = [r for r in board.records if r.method == method and r.task == task]
            greedy = sum(r.retention for r in recs) / len(recs)
            assert f"{100 * greedy:.1f}%" in section, (task, method)
    rows = headline(board)
    assert {r.task for r in rows} == set(board.tasks)
    top = readme[:readme.index("## Contents")]  # the first screen says it too
    for row in rows:
        assert f"P = {row.poi:.2f}" in section and row.best_baseline in section, row.task
        assert f"{100 * row.primary_value:.1f}%" in top and f"{100 * row.baseline_primary:.1f}%" in top, row.task
        assert f"P = {row.poi:.2f}" in top and row.best_baseline in top, row.task


def test_readme_quotes_the_ablations_difference(board):
    """The README's ablation bullet: tuned KD-MARL minus its no-advantage ablation, final retention, with
    the 95% Welch interval over seeds, per task."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    bullet = readme[readme.index("- **The ablation:**"):readme.index("- **On all three tasks:**")]
    bullet = " ".join(bullet.split())
    for task in board.tasks:
        tuned, ablation = ([r.retention for r in board.records if r.task == task and r.method == m]
                           for m in ("kd-marl-tuned", "kd-marl-no-adv"))
        iv = welch_interval(tuned, ablation)
        assert iv.lo < 0 < iv.hi, task  # "within seed noise on every task"
        assert f"{100 * abs(iv.estimate):.1f}" in bullet, task
        assert f"{100 * iv.lo:+.1f} to {100 * iv.hi:+.1f}".replace("-", "−") in bullet, task


def test_verify_sample_4_holds():
    res = CliRunner().invoke(main, ["verify", str(BOARD), "--sample", "4", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 4 and all(r["holds"] for r in rows)


@pytest.mark.parametrize("method", ["kd-marl-tuned", "kd-marl-no-adv"])
def test_kd_marls_first_40k_steps_are_limited2s_run(board, method):
    """KD-MARL's curve does not depend on the total budget: its 10k and 40k points here are limited2's,
    seed by seed, greedy and sampled, with and without the advantage (the README says its extra budget
    buys the difference)."""
    base = read_leaderboard(ROOT / "baselines" / "limited2.json")

    def points(b, task):
        return {r.seed: {p.env_steps: (p.score, p.score_sampled) for p in r.curve if p.env_steps in (10_000, 40_000)}
                for r in b.records if r.method == method and r.task == task}

    for task in board.tasks:
        ours, theirs = points(board, task), points(base, task)
        assert ours and all(ours[s] == theirs[s] for s in ours), task
    assert len(points(board, "smax/3m")) == 10
