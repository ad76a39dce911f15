"""train-teacher --trainer jax: the JAX MAPPO's parameters become a TeacherPolicy that computes the same
logits and values, a run resumes bit for bit, and the CLI writes a teacher every command can use."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from kdmarl_bench.checkpoint import load_checkpoint
from kdmarl_bench.cli import main
from kdmarl_bench.envs.smax import heuristic_env, policy_observer
from kdmarl_bench.errors import UsageError
from kdmarl_bench.teachers.jax_mappo import (
    JaxMappoConfig,
    actor_logits,
    build,
    critic_value,
    to_teacher_policy,
    train_jax,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(num_envs=8, rollout_len=16, hidden=16, critic_hidden=16, total_steps=8 * 16 * 4)


@pytest.mark.parametrize("privileged", [False, True])
def test_the_teacher_policy_computes_what_the_jax_nets_compute(privileged):
    """After two PPO updates (weights away from their init), on real 3m states: the TeacherPolicy's logits
    for every agent and its V(s) equal the JAX actor's and critic's."""
    cfg = JaxMappoConfig(privileged=privileged, **TINY)
    prog = build(cfg, "3m")
    runner = prog.init(jax.random.PRNGKey(1))
    for _ in range(2):
        runner, _ = prog.update(runner, None)
    params = runner[0]
    policy = to_teacher_policy(params, cfg, "smax/3m")
    assert policy.view == ("privileged" if privileged else "full")

    env = heuristic_env("3m")
    observe = policy_observer(env)
    states = runner[2][1]  # the rollout's 8 env states, mid-episode
    o, ws, m = jax.vmap(observe)(states)
    n = o.shape[1]
    parts = [o, jnp.broadcast_to(ws[:, None], (ws.shape[0], n, ws.shape[-1]))] if privileged else [o]
    x = jnp.concatenate([*parts, jnp.broadcast_to(jnp.eye(n), (o.shape[0], n, n))], -1)
    want_logits, _ = actor_logits(cfg, params["actor"], x, None)
    want_v = critic_value(params["critic"], ws)

    obs = [torch.from_numpy(np.array(o[:, i])) for i in range(n)]
    if privileged:
        obs = [torch.cat([ob, torch.from_numpy(np.array(ws))], -1) for ob in obs]
    with torch.no_grad():
        got = policy.logits(obs)
        v = policy.value(torch.from_numpy(np.array(ws)))
    for i in range(n):
        np.testing.assert_allclose(got[i].numpy(), np.asarray(want_logits[:, i]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(v.numpy(), np.asarray(want_v), rtol=1e-5, atol=1e-5)
    # not a vacuous check: the logits differ between agents and states
    assert float(jnp.abs(want_logits - want_logits[:1]).max()) > 1e-4


def _params(run):
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(run.params)]


def test_resume_is_bit_identical(tmp_path):
    cfg = JaxMappoConfig(**TINY)
    full = train_jax(cfg, "3m", log_every=1)
    snap = tmp_path / "t.train.safetensors"

    def stop_at_2(log):
        if log.updates == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_jax(cfg, "3m", stop_at_2, log_every=1, snapshot=snap, checkpoint_every=2)
    assert snap.is_file()
    resumed = train_jax(cfg, "3m", log_every=1, snapshot=snap, checkpoint_every=2, resume=True)
    assert all(np.array_equal(a, b) for a, b in zip(_params(full), _params(resumed), strict=True))
    assert resumed.curve == full.curve and len(full.curve) == 4
    # a snapshot of other settings is refused, naming the file
    with pytest.raises(UsageError, match="t.train.safetensors.*another run"):
        train_jax(JaxMappoConfig(**{**TINY, "lr": 1e-3}), "3m", snapshot=snap, resume=True)


def test_train_teacher_jax_writes_a_teacher_every_command_can_use(tmp_path):
    runner = CliRunner()
    out = tmp_path / "t"
    res = runner.invoke(main, ["train-teacher", "smax/3m", "--trainer", "jax", "--steps", "1024", "--num-envs", "8",
                               "--rollout-len", "16", "--hidden", "16,16", "--eval-episodes", "4", "--out", str(out),
                               "--json"])
    assert res.exit_code == 0, res.output
    card = json.loads(res.stdout)["card"]
    assert card["algorithm"] == "mappo-jax" and card["env_steps"] == 1024 and card["teacher_kind"] == "local"
    assert card["config"]["hidden"] == 16 and card["config"]["layers"] == 2 and card["config"]["clip"] == 0.05
    assert "--trainer jax" in card["command"] and card["eval"]["episodes"] == 4
    policy, saved = load_checkpoint(out.with_suffix(".safetensors"))
    assert {k: saved[k] for k in card} == card and policy.actor_hidden == (16, 16)
    assert not out.with_name("t.train.safetensors").exists()  # the snapshot goes once the teacher is saved
    ev = runner.invoke(main, ["evaluate", str(out.with_suffix(".safetensors")), "--episodes", "4", "--seed",
                              str(card["eval"]["seed"]), "--json"])
    assert ev.exit_code == 0, ev.output
    assert json.loads(ev.stdout)["score"] == card["eval"]["score"]
    # a second stage continues it: a fresh optimizer and schedule, the card lists both stages
    res = runner.invoke(main, ["train-teacher", "smax/3m", "--trainer", "jax", "--init", str(out.with_suffix(".safetensors")),
                               "--steps", "512", "--num-envs", "8", "--rollout-len", "16", "--hidden", "16,16",
                               "--ent-coef", "0", "--eval-episodes", "4", "--out", str(tmp_path / "t2"), "--json"])
    assert res.exit_code == 0, res.output
    card2 = json.loads(res.stdout)["card"]
    assert card2["env_steps"] == 1024 + 512 and [st["env_steps"] for st in card2["stages"]] == [1024, 512]
    assert card2["init"]["from"] == str(out.with_suffix(".safetensors")) and card2["config"]["ent"] == 0.0
    assert card2["train"]["curve"][-1][0] == 1536
    # the torch trainer cannot continue it (one --hidden for actor and critic): a clear refusal
    more = runner.invoke(main, ["train-teacher", "smax/3m", "--init", str(out.with_suffix(".safetensors")), "--steps",
                                "1024", "--hidden", "16,16", "--out", str(tmp_path / "more")])
    assert more.exit_code == 2 and "critic widths [256, 256]" in more.output, more.output


@pytest.mark.parametrize("args, message", [
    (["mpe/simple_spread_v3", "--trainer", "jax"], "not a SMAX map"),
    (["smax/3m", "--trainer", "jax", "--init", str(ROOT / "baselines" / "teachers" / "smax_3m-v2.safetensors")],
     "normalised values"),
    (["smax/3m", "--trainer", "jax", "--hidden", "64,32"], "equal widths"),
])
def test_train_teacher_jax_refuses_what_it_cannot_do(args, message, tmp_path):
    res = CliRunner().invoke(main, ["train-teacher", *args, "--steps", "1024", "--out", str(tmp_path / "t")])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not any(tmp_path.iterdir())


def test_readme_states_the_jax_teachers_as_measured():
    """README, "The published settings, in JAX": the probe runs' scores and settings, the zoo teacher's
    stages and card, its fresh-episode score (which reproduces here), and its FLOPs against the old one."""
    from kdmarl_bench.checkpoint import load_card
    from kdmarl_bench.evaluate import evaluate
    from kdmarl_bench.models.capacity import teacher_team_flops
    from kdmarl_bench.teachers.zoo import ZOO_DIR, load_policy_ref

    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    section = readme[readme.index("**The published settings, in JAX**"):]
    section = section[:section.index("**Environment throughput**")]
    runs = {p.stem: json.loads(p.read_text()) for p in (ROOT / "benchmarks" / "data" / "jax_teacher").glob("*.json")}
    for name, quoted in (("published-128-lr2e-3-10M", "2×128 at lr 2e-3 for 10M env-steps **{:.3f}**"),
                         ("published-128-lr4e-3-10M", "at lr 4e-3 **{:.3f}**"),
                         ("published-256-lr2e-3-20M", "2×256 at lr 2e-3 for 20M **{:.3f}**")):
        r = runs[name]
        assert quoted.format(r["final_greedy_win_rate"]) in section, name
        assert (r["config"]["clip"], r["config"]["max_grad_norm"], r["config"]["win_bonus"]) == (0.05, 0.25, 0.0)
        assert r["final_episodes"] == 1000
    card = load_card(ZOO_DIR / "smax_3m.json")
    assert card["algorithm"] == "mappo-jax" and len(card["stages"]) == 3
    assert all("--trainer jax" in st["command"] for st in card["stages"])
    assert [st["env_steps"] for st in card["stages"]] == [29_999_104, 9_994_240, 9_994_240]
    assert f"Its card, 100 episodes on eval seed 10000, reads {card['eval']['score']:.2f}" in section
    fresh = json.loads((ROOT / "baselines" / "measurements" / "smax_3m-teachers.json").read_text())
    zoo_row = next(r for r in fresh["rows"] if r["teacher"] == "zoo:smax/3m")
    assert f"wins {zoo_row['win_rate']:.3f} [{zoo_row['ci95'][0]:.3f}, {zoo_row['ci95'][1]:.3f}]" in section
    picked = json.loads((ROOT / "baselines" / "measurements" / "smax_3m-selection.json").read_text())
    assert picked["eval_seeds"] == [1, 2, 3, 4] and not set(picked["eval_seeds"]) & set(fresh["eval_seeds"])
    scores = {r["teacher"]: r["win_rate"] for r in picked["rows"]}
    assert max(scores, key=scores.get) == "zoo:smax/3m"  # the zoo's is the best candidate on these seeds
    for ref, score in scores.items():
        assert f"({score:.3f}" in section, ref
    policy, _ = load_policy_ref("zoo:smax/3m")
    first = fresh["eval_seeds"][0]
    assert evaluate(policy, "smax/3m", fresh["episodes_per_seed"], first).score == zoo_row["per_seed"][0]
    new, old = (teacher_team_flops(load_card(p)["architecture"]) for p in
                (ZOO_DIR / "smax_3m.json", ZOO_DIR / "superseded" / "smax_3m-c6ca7ee2bb37.json"))
    assert f"{new / 6 / 1000:.1f}k multiply-accumulates per agent and step" in section  # 3 agents, 2 FLOPs each
    assert f"against {old / 6 / 1000:.0f}k" in section and f"({old / new:.1f}× fewer)" in section
