"""MAPPO teacher training: resume is exact, train-teacher writes a usable checkpoint + card."""

import json

import pytest
import torch
from click.testing import CliRunner

from kdmarl_bench.cli import main
from kdmarl_bench.envs import get_task
from kdmarl_bench.models.policy import TeacherPolicy
from kdmarl_bench.teachers.mappo import MappoConfig, gae, train_mappo


def test_gae_hand_computation():
    # T=3, B=1, done after step 1: γ=0.5, λ=0.5
    r = torch.tensor([[1.0], [2.0], [3.0]])
    v = torch.tensor([[0.5], [1.0], [1.5]])
    nv = torch.tensor([2.0])
    d = torch.tensor([[False], [True], [False]])
    adv, ret = gae(r, v, nv, d, gamma=0.5, lam=0.5)
    d2 = 3 + 0.5 * 2.0 - 1.5            # 2.5
    d1 = 2 + 0 - 1.0                    # 1.0 (terminal: no bootstrap, no carry)
    d0 = 1 + 0.5 * 1.0 - 0.5            # 1.0
    a0 = d0 + 0.25 * d1                 # 1.25
    torch.testing.assert_close(adv.flatten(), torch.tensor([a0, d1, d2]))
    torch.testing.assert_close(ret, adv + v)


def _train(task, tmp_path, interrupt_at=None, resume=False):
    spec = get_task(task).spec
    torch.manual_seed(0)
    pol = TeacherPolicy(spec.obs_dims, spec.n_actions, spec.state_dim, (16,), (16,))
    cfg = MappoConfig(total_steps=4 * 4 * 8, num_envs=4, rollout_len=8, epochs=2, minibatches=2, seed=3)
    env = get_task(task).make(cfg.num_envs)
    tmp_path.mkdir(exist_ok=True)

    def progress(log):
        if interrupt_at is not None and log.updates == interrupt_at:
            raise KeyboardInterrupt

    try:
        train_mappo(pol, pol.critic, pol.value_norm, env, cfg, progress, checkpoint_path=tmp_path / "snap.safetensors",
                    checkpoint_every=2, resume=resume)
    finally:
        env.close()
    return pol


@pytest.mark.parametrize("task", ["mpe/simple_speaker_listener_v4", "smax/3m"])
def test_resume_is_bit_identical(task, tmp_path):
    full = _train(task, tmp_path / "a")
    (tmp_path / "b").mkdir()
    with pytest.raises(KeyboardInterrupt):
        _train(task, tmp_path / "b", interrupt_at=2)
    assert (tmp_path / "b" / "snap.safetensors").exists()
    resumed = _train(task, tmp_path / "b", resume=True)
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_resume_with_other_config_is_refused(tmp_path):
    (tmp_path / "b").mkdir()
    with pytest.raises(KeyboardInterrupt):
        _train("mpe/simple_speaker_listener_v4", tmp_path / "b", interrupt_at=2)
    spec = get_task("mpe/simple_speaker_listener_v4").spec
    pol = TeacherPolicy(spec.obs_dims, spec.n_actions, spec.state_dim, (16,), (16,))
    cfg = MappoConfig(total_steps=999, num_envs=4, rollout_len=8, seed=3)
    from kdmarl_bench.errors import UsageError

    with pytest.raises(UsageError, match="different config"):
        train_mappo(pol, pol.critic, pol.value_norm, get_task(spec.id).make(4), cfg,
                    checkpoint_path=tmp_path / "b" / "snap.safetensors", checkpoint_every=2, resume=True)


def test_train_teacher_cli_writes_checkpoint_and_card(tmp_path):
    out = tmp_path / "t"
    res = CliRunner().invoke(main, ["train-teacher", "mpe/simple_speaker_listener_v4", "--steps", "800",
                                    "--hidden", "32,32", "--num-envs", "4", "--rollout-len", "25",
                                    "--eval-episodes", "5", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "t.json").read_text())
    assert card["kind"] == "teacher" and card["task"] == "mpe/simple_speaker_listener_v4"
    assert card["env_steps"] == 800 and card["eval"]["episodes"] == 5
    assert card["command"].startswith("kdmarl-bench ")
    assert card["architecture"]["actor_hidden"] == [32, 32]
    assert not (tmp_path / "t.train.safetensors").exists()
    # the card's score is reproducible with the card's eval seed
    res = CliRunner().invoke(main, ["evaluate", str(tmp_path / "t.safetensors"), "--episodes", "5",
                                    "--seed", str(card["eval"]["seed"]), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["score"] == pytest.approx(card["eval"]["score"])
    # and so is its interval: the one `evaluate` prints for the same episodes
    assert json.loads(res.stdout)["score_ci95"] == pytest.approx(card["eval"]["score_ci95"])
    lo, hi = card["eval"]["score_ci95"]
    assert lo <= card["eval"]["score"] <= hi


def test_train_teacher_bad_hidden(tmp_path):
    res = CliRunner().invoke(main, ["train-teacher", "mpe/simple_spread_v3", "--hidden", "a,b"])
    assert res.exit_code == 2 and "--hidden" in res.output


def _cli_teacher(out, *extra, steps="200"):
    return CliRunner().invoke(main, ["train-teacher", "mpe/simple_speaker_listener_v4", "--steps", steps,
                                     "--hidden", "32,32", "--num-envs", "4", "--rollout-len", "25",
                                     "--eval-episodes", "2", "--out", str(out), *extra])


def test_init_warm_starts_from_a_teacher_and_records_the_stages(tmp_path):
    from kdmarl_bench.checkpoint import load_checkpoint

    assert _cli_teacher(tmp_path / "a").exit_code == 0
    # lr 0: the warm-started weights must come out equal to the init's, so they were loaded
    # (the value normaliser's running statistics keep moving, but from the init's, not from 0).
    res = _cli_teacher(tmp_path / "b", "--init", str(tmp_path / "a.safetensors"), "--lr", "0")
    assert res.exit_code == 0, res.output
    a, card_a = load_checkpoint(tmp_path / "a")
    b, card_b = load_checkpoint(tmp_path / "b")
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        if not k.startswith("value_norm."):
            assert torch.equal(x, y), k
    assert b.value_norm.debiasing > a.value_norm.debiasing
    assert card_b["env_steps"] == card_a["env_steps"] + 200
    assert [s["env_steps"] for s in card_b["stages"]] == [card_a["env_steps"], 200]
    assert card_b["stages"][0]["command"] == card_a["command"]
    assert "--init" in card_b["stages"][1]["command"] and card_b["stages"][1]["config"]["lr"] == 0
    assert card_b["init"]["env_steps"] == card_a["env_steps"]
    assert len(card_b["init"]["sha256"]) == 64
    # A third stage keeps the whole chain.
    assert _cli_teacher(tmp_path / "c", "--init", str(tmp_path / "b"), steps="100").exit_code == 0
    card_c = load_checkpoint(tmp_path / "c")[1]
    assert [s["env_steps"] for s in card_c["stages"]] == [card_a["env_steps"], 200, 100]
    assert card_c["env_steps"] == card_a["env_steps"] + 300
    # one learning curve over all stages, in total env-steps
    xs = [pt[0] for pt in card_c["train"]["curve"]]
    assert xs == sorted(xs) and xs[-1] == card_c["env_steps"]
    assert card_c["train"]["curve"][:len(card_a["train"]["curve"])] == card_a["train"]["curve"]


def test_init_refuses_another_task_or_architecture(tmp_path):
    assert _cli_teacher(tmp_path / "a").exit_code == 0
    res = CliRunner().invoke(main, ["train-teacher", "mpe/simple_spread_v3", "--steps", "100",
                                    "--init", str(tmp_path / "a"), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert "simple_speaker_listener_v4" in res.output and "not 'mpe/simple_spread_v3'" in res.output
    res = _cli_teacher(tmp_path / "y", "--init", str(tmp_path / "a"), "--hidden", "16")
    assert res.exit_code == 2 and "different architecture" in res.output and "--hidden 32,32" in res.output
    assert not (tmp_path / "x.safetensors").exists() and not (tmp_path / "y.safetensors").exists()


def test_interrupted_train_teacher_says_how_to_resume(tmp_path, monkeypatch):
    import kdmarl_bench.teachers.train as train_mod

    def interrupted(*_args, **_kwargs):
        (tmp_path / "t.train.safetensors").write_bytes(b"snapshot")  # as train_mappo leaves it
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "train_teacher", interrupted)
    res = _cli_teacher(tmp_path / "t")
    assert res.exit_code == 130
    assert f"{tmp_path / 't.train.safetensors'}" in res.output and "--resume" in res.output


def test_win_bonus_is_added_to_the_reward_ppo_learns_from_on_winning_steps_only(tmp_path, monkeypatch):
    import dataclasses

    import kdmarl_bench.teachers.mappo as mappo

    spec = get_task("smax/3m").spec
    seen = []
    real_gae = mappo.gae

    def spy_gae(rewards, *args):
        seen.append(rewards.clone())
        return real_gae(rewards, *args)

    monkeypatch.setattr(mappo, "gae", spy_gae)

    def rollout_rewards(win_bonus):
        torch.manual_seed(0)
        pol = TeacherPolicy(spec.obs_dims, spec.n_actions, spec.state_dim, (16,), (16,))
        cfg = MappoConfig(total_steps=4 * 40, num_envs=4, rollout_len=40, epochs=1, minibatches=1, seed=3,
                          win_bonus=win_bonus)
        env = get_task("smax/3m").make(cfg.num_envs)
        real_step = env.step
        ends = []

        def step_where_every_end_is_a_win(actions):  # a random team never wins 3m: count each ending as a win
            st = real_step(actions)
            ends.append(st.done.clone())
            return dataclasses.replace(st, won=st.done.clone())

        env.step = step_where_every_end_is_a_win
        seen.clear()
        try:
            train_mappo(pol, pol.critic, pol.value_norm, env, cfg)
        finally:
            env.close()
        return seen[0], torch.stack(ends)

    base, ends = rollout_rewards(0.0)
    shaped, ends2 = rollout_rewards(5.0)
    assert torch.equal(ends, ends2) and ends.any()  # same seed, same episodes, some of them ended
    torch.testing.assert_close(shaped - base, 5.0 * ends.float())


def test_win_bonus_on_a_task_without_wins_is_refused(tmp_path):
    res = _cli_teacher(tmp_path / "t", "--win-bonus", "2")
    assert res.exit_code == 2
    assert "win_bonus" in res.output and "no win" in res.output
    assert not (tmp_path / "t.safetensors").exists()


def test_win_bonus_is_recorded_on_the_card(tmp_path):
    out = tmp_path / "t"
    res = CliRunner().invoke(main, ["train-teacher", "smax/3m", "--steps", "64", "--hidden", "16",
                                    "--num-envs", "2", "--rollout-len", "32", "--eval-episodes", "2",
                                    "--win-bonus", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "t.json").read_text())
    assert card["config"]["win_bonus"] == 4.0
    assert "--win-bonus 4.0" in card["command"]


def test_a_snapshot_from_before_a_config_field_existed_still_resumes_bit_identically(tmp_path):
    """A snapshot written before ``MappoConfig.win_bonus`` existed has no such key; it resumes, with the
    field at its default (the old behaviour), and ends where an uninterrupted run ends."""
    import kdmarl_bench.teachers.mappo as mappo

    task = "mpe/simple_speaker_listener_v4"
    full = _train(task, tmp_path / "a")
    (tmp_path / "b").mkdir()
    with pytest.raises(KeyboardInterrupt):
        _train(task, tmp_path / "b", interrupt_at=2)
    snap_path = tmp_path / "b" / "snap.safetensors"
    env = get_task(task).make(4)
    env.reset(0)
    try:
        snap = mappo._load_training_state(snap_path, env)
    finally:
        env.close()
    del snap["config"]["win_bonus"]
    mappo._save_training_state(snap_path, snap)
    resumed = _train(task, tmp_path / "b", resume=True)
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
