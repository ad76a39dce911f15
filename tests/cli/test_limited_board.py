"""The limited-observation reference board (baselines/limited.json, suites/limited.toml): the regime
the method is about, learning curves, the paper's FLOP range, no saturated task."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdmarl_bench.results.analysis.headline import headline
from kdmarl_bench.results.store.boards import read_leaderboard

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def board():
    return read_leaderboard(ROOT / "baselines" / "limited.json")


def test_every_task_is_in_the_limited_regime(board):
    families = {}
    for r in board.records:
        assert r.view != "full" or r.teacher_kind == "privileged", (r.task, r.view, r.teacher_kind)
        families.setdefault(r.task.split("/")[0], set()).add(r.task)
    assert len(families["smax"]) >= 2 and len(families["mpe"]) >= 2
    assert {r.teacher_kind for r in board.records} == {"local", "privileged"}


def test_every_student_record_has_four_budget_points_ending_at_its_score(board):
    students = [r for r in board.records if r.method != "teacher"]
    assert students and all(r.error is None for r in students)
    for r in students:
        assert r.curve is not None and len(r.curve) >= 4, (r.task, r.method, r.size, r.seed)
        assert [p.env_steps for p in r.curve] == sorted(p.env_steps for p in r.curve)
        assert r.curve[-1].score == pytest.approx(r.score)


def test_the_headline_size_sits_in_the_papers_flop_range(board):
    assert board.suite.headline_size == "x20"
    rows = headline(board)
    assert len(rows) == len(board.tasks)
    for row in rows:
        assert 10 <= row.flops_reduction <= 28.6, (row.task, row.flops_reduction)
        assert row.regime == "limited" and row.best_baseline is not None and row.poi is not None
        assert row.curve and len(row.curve) >= 4


def test_no_task_is_saturated(board):
    # saturated = every student within noise of the teacher at every budget point; on each task at
    # least one method at one budget point keeps less than 90% with its whole CI below 0.95
    for task in board.tasks:
        lows = [p for s in board.summary if s.task == task and s.retention_curve
                for p in s.retention_curve if p.retention_ci95 is not None and p.retention_ci95.hi < 0.95]
        assert lows, task


def test_verify_samples_only_shipped_students_and_says_so(tmp_path):
    # a copy of the board whose seed-1 students are removed too: verify skips them, names the count,
    # and refuses a board with no student on disk at all
    import json
    import shutil

    from click.testing import CliRunner

    from kdmarl_bench.cli import main

    src = ROOT / "baselines"
    dst = tmp_path / "baselines"
    dst.mkdir()
    shutil.copy(src / "limited.json", dst / "limited.json")
    data = json.loads((src / "limited.json").read_text())
    kept = [r for r in data["records"] if r["method"] == "kd-marl" and r["seed"] == 0 and r["task"] == "smax/3m"]
    for r in kept:
        for suffix in (".safetensors", ".json"):
            f = dst / r["checkpoint"].replace(".safetensors", suffix)
            f.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src / r["checkpoint"].replace(".safetensors", suffix), f)
    res = CliRunner().invoke(main, ["verify", str(dst / "limited.json"), "--sample", "5", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert {(r["task"], r["method"], r["seed"]) for r in rows} == {("smax/3m", "kd-marl", 0)} and len(rows) == 3
    students = sum(1 for r in data["records"] if r["method"] != "teacher")
    assert f"note: {students - 3} record(s) of this board have no student file on disk" in res.stderr

    for r in kept:
        (dst / r["checkpoint"]).unlink()
    res = CliRunner().invoke(main, ["verify", str(dst / "limited.json")])
    assert res.exit_code == 2 and "none of its records' student checkpoints are on disk" in res.output
