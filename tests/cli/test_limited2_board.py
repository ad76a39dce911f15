"""The limited v2 board (baselines/limited2.json, suites/limited2.toml): what it holds so far is what the
suite declared — the tuned configs, 10 seeds for the headline pair on smax/3m@heterom, greedy and
sampled scores, learning curves — and no task on it is saturated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdmarl_bench.cli import main
from kdmarl_bench.results.analysis.headline import headline
from kdmarl_bench.results.store.boards import read_leaderboard
from kdmarl_bench.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]
BOARD = ROOT / "baselines" / "limited2.json"


@pytest.fixture(scope="module")
def board():
    return read_leaderboard(BOARD)


def test_board_is_the_declared_suite_with_its_tuned_configs(board):
    suite = load_suite(ROOT / "suites" / "limited2.toml")
    assert board.suite.name == "limited2" and board.suite.primary == "auc" and board.focus == "kd-marl-tuned"
    assert board.suite.sha256 == suite.sha256
    for r in board.records:
        assert r.view == suite.view_for(r.task)
        if r.method != "teacher":
            tuned = suite.method_config.get(r.method, {})
            assert {k: r.method_config.get(k) for k in tuned} == tuned, (r.method, r.seed)


def test_headline_pair_has_ten_seeds_on_smax_3m(board):
    for method in ("kd-marl-tuned", "kd-marl", "bc", "dagger", "pd-kl"):
        seeds = {r.seed for r in board.records if r.task == "smax/3m" and r.method == method and r.size == "x20"}
        assert seeds == set(range(10)), method


def test_every_task_and_method_ran_the_seeds_the_suite_declares(board):
    """Every (task, method) of the suite is on the board with the task's seeds: 10 on smax/3m and spread,
    the 5 that [task."smax/8m"] seeds declares on smax/8m (recorded as the protocol's task_seeds)."""
    suite = load_suite(ROOT / "suites" / "limited2.toml")
    assert board.tasks == sorted(suite.tasks)
    assert board.protocol.task_seeds == {"smax/8m": [0, 1, 2, 3, 4]}
    for task in suite.tasks:
        assert len(suite.seeds_for(task)) >= (10 if task == "smax/3m" else 5)
        for method in suite.methods:
            seeds = sorted(r.seed for r in board.records if r.task == task and r.method == method)
            assert seeds == list(suite.seeds_for(task)) == board.protocol.seeds_for(task), (task, method)


def test_every_student_is_scored_greedy_and_sampled_along_its_curve(board):
    students = [r for r in board.records if r.method != "teacher"]
    assert students and all(r.error is None for r in students)
    for r in students:
        assert r.score_sampled is not None and r.curve is not None and len(r.curve) == 4
        assert all(p.score_sampled is not None for p in r.curve)


def test_no_task_is_saturated(board):
    # saturated = every distilled student keeps >= 98% at the final budget point
    for task in board.tasks:
        finals = [r.retention for r in board.records if r.task == task and r.method != "teacher"]
        assert finals and min(finals) < 0.98, task


def test_report_headline_gives_the_verdict_on_the_primary_metric(board):
    rows = headline(board)
    assert rows and all(row.poi is not None and row.best_baseline is not None for row in rows)
    res = CliRunner().invoke(main, ["report", str(BOARD), "--headline"])
    assert res.exit_code == 0, res.output
    assert "Verdict on curve-mean retention at size x20" in res.output and "sampled" in res.output


def test_show_has_greedy_and_sampled_retention_per_cell():
    res = CliRunner().invoke(main, ["show", str(BOARD), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    rows = rows["summary"] if isinstance(rows, dict) else rows
    assert rows and all("retention_sampled" in json.dumps(r) for r in rows if r.get("method") != "teacher")


def test_readme_prose_quotes_the_boards_curve_means(board):
    """The numbers the README's limited v2 prose types out are the board's: every method's curve-mean
    retention on smax/3m, and on every task the verdict's pair (tuned KD-MARL, the best imitation
    baseline) with the probability of improvement."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### limited v2"):readme.index("**Tuning sweep**")]
    for method in ("kd-marl-tuned", "pd-kl", "dagger", "bc", "kd-marl", "kd-marl-offline", "kd-marl-no-adv",
                   "scratch"):
        vals = [r.primary_value("auc") for r in board.records if r.method == method and r.task == "smax/3m"]
        assert len(vals) == 10, method
        assert f"{100 * sum(vals) / len(vals):.1f}%" in section, method
    rows = headline(board)
    assert {r.task for r in rows} == set(board.tasks)
    for row in rows:
        for value in (row.primary_value, row.baseline_primary):
            assert f"{100 * value:.1f}%" in section, (row.task, value)
        assert f"P = {row.poi:.2f}" in section and row.best_baseline in section, row.task
    top = readme[:readme.index("## Contents")]  # the README's first screen states the same verdict
    assert all(f"{100 * row.primary_value:.1f}%" in top for row in rows)


def test_verify_sample_8_holds():
    res = CliRunner().invoke(main, ["verify", str(BOARD), "--sample", "8", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 8 and all(r["holds"] for r in rows)
