"""improve-teacher: the planner sees what policies see, its labels are consistent, the search resumes,
distillation keeps what the planner kept, and the command refuses what it cannot do."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from kdmarl_bench.checkpoint import load_checkpoint, save_checkpoint, weights_sha256
from kdmarl_bench.cli import main
from kdmarl_bench.envs import get_task
from kdmarl_bench.envs.smax import _compiled, import_jax
from kdmarl_bench.envs.views import PRIVILEGED
from kdmarl_bench.errors import UsageError
from kdmarl_bench.evaluate import evaluate
from kdmarl_bench.models.policy import TeacherPolicy
from kdmarl_bench.teachers.improve import (
    ImproveConfig,
    TeacherShape,
    _jax_logits,
    distil,
    improve_teacher,
    make_planner,
    search,
)
from kdmarl_bench.teachers.train import widen_for_state

TASK = "smax/3m"
TINY = ImproveConfig(episodes=2, chunk=1, rollouts=2, verify_rollouts=2, margin=0.0, verify_margin=0.0, epochs=2,
                     seed=5)


def _teacher(privileged=False, seed=0):
    torch.manual_seed(seed)
    spec = get_task(TASK).spec
    local = TeacherPolicy(spec.obs_dims, spec.n_actions, spec.state_dim, (16,), (16,))
    if not privileged:
        return local
    view = get_task(TASK).views()[PRIVILEGED]
    pol = TeacherPolicy(view.obs_dims, spec.n_actions, spec.state_dim, (16,), (16,), view=PRIVILEGED)
    widen_for_state(pol, local)
    with torch.no_grad():  # make the state columns matter, so a wrong state input would show
        pol.actors[0].body[0].weight.normal_(0, 0.5)
    return pol


def _saved(tmp_path, policy, name="teacher"):
    card = {"kind": "teacher", "task": TASK, "backend": "jaxmarl", "metric": "win_rate", "algorithm": "mappo",
            "teacher_kind": "privileged" if policy.view == PRIVILEGED else "local", "env_steps": 0,
            "eval": {"score": 0.0}, "command": "test"}
    return save_checkpoint(policy, tmp_path / name, card)


@pytest.mark.parametrize("privileged", [False, True])
def test_the_planner_sees_and_acts_as_the_policy_does_through_the_env(privileged):
    """The planner's observations, global state and masks equal the env wrapper's for the same reset key,
    and its JAX actors give the torch teacher's logits on them (local and privileged)."""
    jax = import_jax()
    pol = _teacher(privileged)
    shape = TeacherShape.of(pol)
    reset, observe, _, _ = make_planner("3m", shape, TINY)
    key = jax.random.PRNGKey(7)
    _, state = reset(key)
    o, ws, m = (np.asarray(x) for x in observe(state))
    _, reset_b, _ = _compiled("3m", 1)
    _, o_env, ws_env, m_env = (np.asarray(x) for x in reset_b(key[None]))
    np.testing.assert_array_equal(o, o_env[0])
    np.testing.assert_array_equal(ws, ws_env[0])
    np.testing.assert_array_equal(m, m_env[0])
    logits_of = _jax_logits({k: jax.numpy.asarray(v) for k, v in shape.weights.items()}, shape.group_of,
                            shape.n_layers, shape.activation, shape.privileged, jax.numpy.eye(3))
    with torch.no_grad():
        obs = [torch.tensor(o[i][None]) for i in range(3)]
        if privileged:
            obs = [torch.cat([x, torch.tensor(ws[None])], -1) for x in obs]
        want = torch.cat(pol.features(obs)[0]).numpy()
    np.testing.assert_allclose(np.asarray(logits_of(o, ws)), want, rtol=1e-4, atol=1e-5)


def test_search_labels_are_consistent_and_resume_from_chunks(tmp_path):
    pol = _teacher()
    seen = []
    data, stats = search(TASK, pol, "sha-a", TINY, tmp_path / "s", progress=lambda d, n, w: seen.append(d))
    assert seen == [0, 1, 2]
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["chunk-0000.safetensors", "chunk-0001.safetensors",
                                                                  "search.json"]
    avail = data["avail"].astype(bool)
    steps = len(data["obs"])
    assert steps == stats["decisions"] == stats["episode_env_steps"] and stats["episodes"] == 2
    assert stats["playout_env_steps"] > 0
    assert 0 <= stats["overruled_unable_to_attack"] <= stats["overruled_agent_decisions"] <= stats["agent_decisions"]
    assert 0 < stats["agent_decisions_unable_to_attack"] < stats["agent_decisions"]  # 3m starts out of range
    # every planned action is available; where the planner did not overrule, it is the teacher's
    assert avail[np.arange(steps)[:, None], np.arange(3)[None, :], data["action"]].all()
    keep = data["overrule"] == 0
    np.testing.assert_array_equal(data["action"][keep], data["greedy"][keep])
    # an overrule only where the search found an action beating the teacher's
    q_teacher = np.take_along_axis(data["q"], data["greedy"][..., None], -1)[..., 0]
    over = data["overrule"] == 1
    assert (data["q"].max(-1)[over] > q_teacher[over]).all()

    # the same call again plays nothing: both chunks are read back, identical
    seen.clear()
    again, _ = search(TASK, pol, "sha-a", TINY, tmp_path / "s", progress=lambda d, n, w: seen.append(d))
    assert seen == [2]
    for k in data:
        np.testing.assert_array_equal(again[k], data[k])
    # another teacher or other search settings never mix with these chunks
    with pytest.raises(UsageError, match="search.json"):
        search(TASK, pol, "sha-b", TINY, tmp_path / "s")


def test_distillation_keeps_what_the_planner_kept():
    """With no overrule the target is the teacher's own distribution: greedy actions stay."""
    pol = _teacher(seed=1)
    with torch.no_grad():  # a decided teacher (an untrained one is a near-tie everywhere)
        pol.actors[0].head.weight.mul_(100)
    jax = import_jax()
    shape = TeacherShape.of(pol)
    reset, observe, _, _ = make_planner("3m", shape, TINY)
    rows = [observe(reset(jax.random.PRNGKey(s))[1]) for s in range(16)]
    obs, state, avail = (np.stack([np.asarray(r[i]) for r in rows]) for i in range(3))
    with torch.no_grad():
        greedy = torch.stack([torch.cat(pol.features([torch.from_numpy(obs[:, i]) for i in range(3)])[0])
                              .reshape(3, 16, -1)[i].masked_fill(~torch.from_numpy(avail[:, i]), -1e9).argmax(-1)
                              for i in range(3)], 1).numpy()
    data = {"obs": obs, "state": state, "avail": avail.astype(np.uint8), "action": greedy, "greedy": greedy,
            "overrule": np.zeros_like(greedy, np.uint8)}
    fit = distil(pol, data, ImproveConfig(lr=1e-3, epochs=5))
    assert fit["overruled_rows"] == 0 and fit["fit_kept"] == 1.0 and fit["fit_overruled"] is None


def test_improve_teacher_writes_a_teacher_whose_card_lists_the_stage(tmp_path):
    src = _saved(tmp_path, _teacher())
    path, card = improve_teacher(str(src), tmp_path / "better", TINY, eval_episodes=4, privileged=True)
    pol, saved = load_checkpoint(path)
    assert pol.view == PRIVILEGED and saved["teacher_kind"] == "privileged"
    assert saved["algorithm"] == "mappo+rollout-improvement"
    assert saved["init"]["sha256"] == weights_sha256(src)
    stage = saved["stages"][-1]
    assert stage["algorithm"] == "rollout-improvement" and stage["config"]["rollouts"] == 2
    assert saved["improve"]["planner"]["episodes"] == 2
    # the card's score replays from the weights
    assert evaluate(pol, TASK, 4, saved["eval"]["seed"]).score == saved["eval"]["score"]
    assert (tmp_path / "better.search" / "chunk-0001.safetensors").exists()
    assert json.loads((tmp_path / "better.search" / "search.json").read_text())["teacher_sha256"] == weights_sha256(src)


def test_improve_teacher_refuses_what_it_cannot_search(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["improve-teacher", "zoo:mpe/simple_spread_v3", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "smax/*" in res.output
    src = _saved(tmp_path, _teacher())
    res = runner.invoke(main, ["improve-teacher", str(src), "--out", str(tmp_path / "y"), "--episodes", "3",
                               "--chunk", "2"])
    assert res.exit_code == 2 and "--chunk" in res.output
    assert not (tmp_path / "y.safetensors").exists()


def test_a_damaged_chunk_is_named_not_a_crash(tmp_path):
    cfg = ImproveConfig(episodes=1, chunk=1, rollouts=1, verify_rollouts=1)
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "chunk-0000.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(UsageError, match="chunk-0000.safetensors"):
        search(TASK, _teacher(), "sha-a", cfg, folder)
