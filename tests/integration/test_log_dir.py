"""``run --log-dir``: TensorBoard events per cell, read back with tensorboard's own reader."""

from __future__ import annotations

import json

import pytest

from kdmarl_bench.cli import main
from tests.factories import tiny_suite_toml

pytest.importorskip("tensorboard")


def _scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_run_log_dir_writes_losses_and_the_curve_per_cell(runner, tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text(tiny_suite_toml(task="mpe/simple_spread_v3", methods=("teacher", "kd-marl", "bc"),
                                     env_steps=1000, extra="").replace(
        "num_envs = 4", "num_envs = 4\neval_at = [500, 1000]"))
    out, logs = tmp_path / "run", tmp_path / "tb"
    res = runner.invoke(main, ["-q", "run", str(suite), "--out", str(out), "--jobs", "1", "--log-dir", str(logs)])
    assert res.exit_code == 0, res.output
    board = json.loads((out / "leaderboard.json").read_text())
    for method in ("kd-marl", "bc"):
        folder = logs / "mpe_simple_spread_v3" / method / "auto" / "seed0"
        scalars = _scalars(folder)
        rec = next(r for r in board["records"] if r["method"] == method)
        assert [step for step, _ in scalars["eval/score"]] == [500, 1000]
        assert scalars["eval/final_score"][0][1] == pytest.approx(rec["score"], rel=1e-6)
        assert any(tag.startswith("loss/") for tag in scalars), scalars.keys()
        assert all(step <= 1000 for tag in scalars for step, _ in scalars[tag])
    assert not (logs / "mpe_simple_spread_v3" / "teacher").exists()  # the teacher is not trained


def test_run_without_log_dir_writes_no_events(runner, tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text(tiny_suite_toml(task="mpe/simple_spread_v3", methods=("teacher", "bc"), env_steps=400))
    out = tmp_path / "run"
    res = runner.invoke(main, ["-q", "run", str(suite), "--out", str(out), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert not list(tmp_path.rglob("events.out.tfevents.*"))
