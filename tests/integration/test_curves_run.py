"""Learning curves on a real environment (MPE simple_spread, zoo teacher, 2,000 env-steps): every
student record carries one point per budget point, the last its final score; a curve never moves an
on-policy method's final result, and a one-point suite is the suite without ``eval_at``."""

from __future__ import annotations

import tomllib

import pytest

from kdmarl_bench.results.model.schema import validate
from kdmarl_bench.runner import run_suite
from kdmarl_bench.suite import parse_suite
from tests.factories import board_json, load_board, tiny_suite_toml

TASK = "mpe/simple_spread_v3"
METHODS = ("teacher", "kd-marl", "dagger", "scratch", "bc")
ON_POLICY = ("kd-marl", "dagger", "scratch")


def _run(tmp_path, name: str, eval_at: str | None):
    text = tiny_suite_toml(task=TASK, methods=METHODS, env_steps=2000, name=name)
    if eval_at is not None:
        text = text.replace("[budget]\n", f"[budget]\neval_at = {eval_at}\n")
    suite = parse_suite(tomllib.loads(text), str(tmp_path / f"{name}.toml"))
    board, path = run_suite(suite, tmp_path / name)
    board = board_json(board)
    validate(load_board(path))
    return {r["method"]: r for r in board["records"]}, board


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("curves")
    return {key: _run(tmp, key, at) for key, at in
            (("three", "[500, 1000, 2000]"), ("one", "[2000]"), ("none", None))}


def test_every_student_has_a_point_per_budget_point_ending_at_its_final_score(runs):
    recs, board = runs["three"]
    assert recs["teacher"].get("curve") is None
    for method in METHODS[1:]:
        r = recs[method]
        assert r["error"] is None, r["error"]
        curve = r["curve"]
        assert [c["env_steps"] for c in curve] == [500, 1000, 2000], method
        assert curve[-1]["score"] == r["score"] and curve[-1]["episode_scores"] == r["episode_scores"]
        assert curve[-1]["retention"] == r["retention"]
        assert all(len(c["episode_scores"]) == 6 for c in curve)
        # no point's student has used more than the point: offline stages end at the last whole step of the
        # 4 copies, on-policy methods at the last whole rollout of 4 × 32 (plan_rollouts)
        step = 4 * 32 if method in ON_POLICY else 4
        # every point is scored greedy and sampled on the same episodes' starts, the last the record's own
        assert all(len(c["episode_scores_sampled"]) == 6 for c in curve)
        assert curve[-1]["score_sampled"] == r["score_sampled"]
        assert curve[-1]["retention_sampled"] == r["retention_sampled"] is not None
        for c in curve[:-1]:
            assert c["env_steps"] - step < c["env_steps_used"] <= c["env_steps"], (method, c)
        assert r["train"]["curve_eval_s"] > 0
    # the early students are not the final one: the curve measures something
    assert any(r["curve"][0]["score"] != r["score"] for r in recs.values() if r.get("curve"))
    rows = {(s["task"], s["method"]): s for s in board["summary"]}
    assert len(rows[(TASK, "bc")]["retention_curve"]) == 3 and rows[(TASK, "bc")]["curve_auc"] is not None
    assert rows[(TASK, "bc")]["curve_auc_sampled"] is not None
    assert all(p["retention_sampled_mean"] is not None for p in rows[(TASK, "bc")]["retention_curve"])
    assert board["suite"]["primary"] == "auc"  # a learning-curve suite's default


def test_intermediate_evaluations_do_not_move_on_policy_training(runs):
    three, _ = runs["three"]
    one, _ = runs["one"]
    for method in ON_POLICY:
        assert three[method]["score"] == one[method]["score"], method
        assert three[method]["episode_scores"] == one[method]["episode_scores"], method
        assert three[method]["train"]["final_losses"] == one[method]["train"]["final_losses"], method


def test_a_one_point_suite_is_the_suite_without_eval_at(runs):
    one, _ = runs["one"]
    none, _ = runs["none"]
    for method in METHODS:
        assert one[method]["score"] == none[method]["score"], method
        assert one[method]["episode_scores"] == none[method]["episode_scores"], method
        assert one[method].get("curve") == none[method].get("curve"), method
    assert [c["env_steps"] for c in none["bc"]["curve"]] == [2000]
