"""Views and teacher kinds through the CLI: envs, plan, run, evaluate, compare (real envs, tiny budgets)."""

from __future__ import annotations

import json

import pytest
import torch

from kdmarl_bench.cli import main
from tests.factories import make_leaderboard, make_record, tiny_suite_toml


def test_envs_json_lists_limited_and_heterogeneous_views(runner):
    res = runner.invoke(main, ["envs", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["id"]: r for r in json.loads(res.output)}
    for task in ("smax/3m", "mpe/simple_spread_v3"):
        views = {v["name"]: v for v in rows[task]["views"]}
        assert {"full", "privileged"} <= set(views) and len(views) >= 4
        limited = [v for v in views.values() if v["limited"]]
        assert len(limited) >= 2
        assert any(v["heterogeneous"] for v in limited)
        assert any(min(s - t for s, t in zip(v["obs_dims"], v["teacher_obs_dims"], strict=True)) < 0 for v in limited)
        assert views["privileged"]["teacher_only"]


def test_unknown_view_in_a_suite_is_exit_2_with_suggestion(runner, tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text(tiny_suite_toml(task="mpe/simple_spread_v3", extra='[task."mpe/simple_spread_v3"]\nview = "nearr2"\n'))
    res = runner.invoke(main, ["plan", str(suite)])
    assert res.exit_code == 2
    assert "task.mpe/simple_spread_v3.view" in res.output and "near2" in res.output and "hetero" in res.output


def test_privileged_teacher_missing_from_the_zoo_is_refused_at_plan(runner, tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text(tiny_suite_toml(task="mpe/simple_reference_v3", extra='[task."mpe/simple_reference_v3"]\n'
                                                                           'teacher_kind = "privileged"\n'))
    res = runner.invoke(main, ["plan", str(suite)])
    assert res.exit_code == 2
    assert "train-teacher mpe/simple_reference_v3 --privileged" in res.output


def test_a_limited_view_run_trains_students_on_their_view(runner, tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text(tiny_suite_toml(task="mpe/simple_spread_v3", methods=("teacher", "kd-marl", "bc"),
                                     extra='[task."mpe/simple_spread_v3"]\nview = "hetero"\n'))
    out = tmp_path / "run"
    res = runner.invoke(main, ["-q", "run", str(suite), "--out", str(out), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    board = json.loads((out / "leaderboard.json").read_text())
    students = [r for r in board["records"] if r["method"] != "teacher"]
    assert students and all(r["view"] == "hetero" and r["teacher_kind"] == "local" for r in board["records"])
    ck = out / students[0]["checkpoint"]
    card = json.loads(ck.with_suffix(".json").read_text())
    assert card["architecture"]["obs_dims"] == [14, 8, 6] and card["architecture"]["view"] == "hetero"
    assert all(s.get("view") == "hetero" for s in board["summary"])

    # evaluate: the trained view by default; another one is refused naming both
    res = runner.invoke(main, ["evaluate", str(ck), "--episodes", "2", "--json"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["evaluate", str(ck), "--episodes", "2", "--view", "near2"])
    assert res.exit_code == 2 and "'hetero'" in res.output and "'near2'" in res.output
    res = runner.invoke(main, ["evaluate", str(ck), "--episodes", "2", "--view", "nearr2"])
    assert res.exit_code == 2 and "near2" in res.output


def _board(view: str) -> dict:
    extra = {} if view == "full" else {"view": view}
    recs = [make_record("mpe/simple_spread_v3", "teacher", s, -10.0, **extra) for s in (0, 1)]
    recs += [make_record("mpe/simple_spread_v3", "bc", s, -12.0, teacher_score=-10.0, **extra) for s in (0, 1)]
    return make_leaderboard(recs)


def test_compare_and_gate_refuse_boards_of_different_views(runner, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_board("full")))
    b.write_text(json.dumps(_board("near2")))
    for cmd in (["compare", str(a), str(b)], ["gate", str(b), "--baseline", str(a)]):
        res = runner.invoke(main, cmd)
        assert res.exit_code == 2, (cmd, res.output)
        assert "view 'full'" in res.output and "view 'near2'" in res.output


@pytest.mark.parametrize("task", ["mpe/simple_spread_v3", "smax/3m"])
def test_privileged_warm_start_reproduces_the_local_teacher(task):
    from kdmarl_bench.envs import get_task
    from kdmarl_bench.envs.registry import policy_view
    from kdmarl_bench.models.policy import TeacherPolicy
    from kdmarl_bench.teachers.train import _warm_start
    from kdmarl_bench.teachers.zoo import load_policy_ref

    local, _ = load_policy_ref(f"zoo:{task}")
    spec = get_task(task).spec
    view = get_task(task).views()["privileged"]
    priv = TeacherPolicy(view.obs_dims, spec.n_actions, spec.state_dim, local.actor_hidden, local.critic_hidden,
                         view="privileged")
    _warm_start(priv, f"zoo:{task}", task)
    env = get_task(task).make(4)
    try:
        step = env.reset(1)
        with torch.no_grad():
            want = local.logits(step.obs)
            got = priv.logits(policy_view(task, priv)(step.obs, step.state))
            assert all(torch.allclose(w, g, atol=1e-5) for w, g in zip(want, got, strict=True))
            assert torch.allclose(local.value(step.state), priv.value(step.state))
    finally:
        env.close()
