"""The limited v2 board is declared before it runs and uses the tuning studies' best configs.

``suites/limited2.toml`` names the tuned methods; ``baselines/limited2-tune/METHOD/study.json`` are the
committed studies (``kdmarl-bench tune suites/limited2-tune.toml --method METHOD --out
baselines/limited2-tune/METHOD``). Each tuned method's fields in the board's suite must equal its
study's best config, every study must have had the same budget, and none may have tuned on a seed
the board reports.
"""

import hashlib
import json
from pathlib import Path

import pytest

from kdmarl_bench.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]
BOARD = ROOT / "suites" / "limited2.toml"
TUNE = ROOT / "suites" / "limited2-tune.toml"
STUDIES = ROOT / "baselines" / "limited2-tune"
TUNED = ("bc", "pd-kl", "dagger", "kd-marl-tuned", "kd-marl-no-adv", "kd-marl-offline")
UNTUNED = ("teacher", "kd-marl", "scratch")


def _study(method: str) -> dict:
    return json.loads((STUDIES / method / "study.json").read_text())


def test_every_student_method_is_tuned_or_declared_untuned():
    suite = load_suite(BOARD)
    assert set(suite.methods) == set(TUNED) | set(UNTUNED)
    assert suite.primary == "auc" and suite.focus == "kd-marl-tuned"


@pytest.mark.parametrize("method", TUNED)
def test_board_method_fields_equal_the_studys_best(method):
    suite = load_suite(BOARD)
    study = _study(method)
    assert study["method"] == method
    assert all(t["state"] == "complete" for t in study["trials"])
    best = study["best"]["config"]
    assert best == max((t for t in study["trials"]), key=lambda t: t["value"])["config"]
    got = suite.method_config.get(method, {})
    assert {k: got.get(k) for k in best} == best
    assert suite.method_base.get(method, method) == study["base_method"]


def test_studies_had_the_same_budget_on_seeds_the_board_never_reports():
    board = load_suite(BOARD)
    tune = load_suite(TUNE)
    studies = [_study(m) for m in TUNED]
    assert {s["budget"]["trials"] for s in studies} == {tune.tune.trials}
    assert {len(s["trials"]) for s in studies} == {tune.tune.trials}
    assert {len(s["space"]) for s in studies} == {3}
    for s in studies:
        assert not set(s["budget"]["seeds"]) & set(board.seeds)
        assert s["budget"]["env_steps"] == {"smax/3m": board.env_steps("smax/3m")}
        assert s["suite"]["sha256"] == hashlib.sha256(TUNE.read_bytes()).hexdigest()
    # the protocol the trials were scored under is the board's
    assert tune.budget == board.budget and tune.eval == board.eval
    assert tune.view_for("smax/3m") == board.view_for("smax/3m")
    assert tune.teacher_for("smax/3m") == board.teacher_for("smax/3m")


def test_every_task_hides_information_the_teacher_uses_and_its_mask_leaks_nothing():
    """baselines/measurements/limited2-views.json (benchmarks/view_information.py): on each board task some agent's
    teacher action is >= 10 points less predictable from its view than from the teacher's input."""
    views = json.loads((ROOT / "baselines" / "measurements" / "limited2-views.json").read_text())
    suite = load_suite(BOARD)
    for task in suite.tasks:
        target = f"{task}@{suite.view_for(task)}"
        rows = [r for r in views["rows"] if r["target"] == target]
        assert rows, f"no view measurement for {target}"
        assert max(r["gap_points"] for r in rows) >= 10, target
        assert all(r["hidden_attacks"] in (None, 0.0) for r in rows), target


def test_the_boards_tune_section_is_the_studys():
    """suites/limited2.toml states the tuning budget it was tuned with (the board's ``suite.tuning``, which
    ``report --headline`` prints): the same tasks, seeds, trials, sampler and spaces as the study's suite,
    for the tuned methods only."""
    board, tune = load_suite(BOARD), load_suite(TUNE)
    assert board.tune.tasks == tune.tasks
    assert (board.tune.seeds, board.tune.trials, board.tune.sampler_seed) == (
        tune.tune.seeds, tune.tune.trials, tune.tune.sampler_seed)
    assert board.tune.spaces == tune.tune.spaces and tuple(board.tune.spaces) == TUNED
    assert board.info()["tuning"] == {m: tune.tune.trials for m in TUNED}



def test_the_160k_extension_is_limited2s_headline_task_with_its_tuned_configs():
    """``suites/limited2-160k.toml``: the board's three tasks with the same views, teachers, size,
    protocol and tuned configs, 4x the budget, the final point declared as its primary metric."""
    ext = load_suite(ROOT / "suites" / "limited2-160k.toml")
    board = load_suite(BOARD)
    assert tuple(ext.tasks) == ("smax/3m", "smax/8m", "mpe/simple_spread_v3")
    assert ext.focus == "kd-marl-tuned" and ext.primary == "final"
    for task in ext.tasks:
        assert ext.env_steps(task) == 4 * board.env_steps(task) == 160_000
        assert ext.view_for(task) == board.view_for(task)
        assert ext.teacher_for(task) == board.teacher_for(task)
        assert set(ext.seeds_for(task)) <= set(board.seeds_for(task)) and len(ext.seeds_for(task)) >= 5
    assert ext.sizes == board.sizes and ext.headline_size == board.headline_size
    students = [m for m in ext.methods if m != "teacher"]
    assert "kd-marl-tuned" in students and len(students) >= 3
    for m in students:
        assert ext.method_config.get(m) == board.method_config.get(m)
        assert ext.method_base.get(m, m) == board.method_base.get(m, m)
