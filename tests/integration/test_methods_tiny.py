"""Every distillation method on real envs with tiny budgets.

MPE speaker-listener is heterogeneous (speaker obs 3 / 3 actions, listener obs 11 / 5 actions);
SMAX 3m has masked actions. The teacher is a small random TeacherPolicy whose output layers are
scaled up so that its policy is decisive (a fresh head has gain 0.01: a near-uniform policy
leaves little to imitate). SMAX tests are ``slow``: the first jitted reset/step compiles for ~10 s.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from kdmarl_bench.envs import get_task, make_env
from kdmarl_bench.methods import METHODS, DistillContext
from kdmarl_bench.methods import bc as bc_module
from kdmarl_bench.methods import kd_marl as kd_marl_module
from kdmarl_bench.methods.kd_marl import KdMarl, KdMarlConfig
from kdmarl_bench.methods.losses import kl_distill
from kdmarl_bench.methods.rollout import collect_teacher_dataset
from kdmarl_bench.models.mlp import masked_logits
from kdmarl_bench.models.policy import StudentPolicy, TeacherPolicy
from kdmarl_bench.teachers.mappo import MappoConfig, train_mappo

MPE_SL = "mpe/simple_speaker_listener_v4"
SMAX_3M = "smax/3m"
TASKS = [pytest.param(MPE_SL, id="mpe-speaker-listener"), pytest.param(SMAX_3M, id="smax-3m", marks=pytest.mark.slow)]
METHOD_IDS = ("kd-marl", "kd-marl-offline", "bc", "pd-kl", "dagger", "logit-mse", "scratch")
IMITATORS = ("kd-marl", "kd-marl-offline", "bc", "pd-kl", "dagger", "logit-mse")


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny networks: extra threads only contend (badly so on a busy 2-core machine).
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def require(task_id: str):
    task = get_task(task_id)
    if not task.available:
        pytest.skip(task.availability())
    return task.spec


def make_teacher(spec, seed: int = 0) -> TeacherPolicy:
    torch.manual_seed(seed)
    teacher = TeacherPolicy(spec.obs_dims, spec.n_actions, spec.state_dim, (32,), (32,)).eval()
    with torch.no_grad():
        for actor in teacher.actors:
            actor.head.weight.mul_(300.0)
    return teacher


def make_student(spec, seed: int = 1) -> StudentPolicy:
    torch.manual_seed(seed)
    return StudentPolicy(spec.obs_dims, spec.n_actions, [(16,)] * spec.n_agents)


def make_ctx(task_id: str, teacher, student, budget: int, num_envs: int = 2, seed: int = 0) -> DistillContext:
    spec = get_task(task_id).spec
    return DistillContext(spec=spec, make_env=lambda n: make_env(task_id, n), teacher=teacher, student=student,
                          env_steps=budget, num_envs=num_envs, seed=seed)


def _teacher_states(task_id: str, teacher, steps: int, seed: int):
    env = make_env(task_id, 2)
    try:
        data, _ = collect_teacher_dataset(env, teacher, steps, seed, torch.Generator().manual_seed(seed), steps)
    finally:
        env.close()
    return data.get(torch.arange(len(data)))


def kl_on_teacher_states(task_id: str, teacher, student, steps: int = 400, seed: int = 123) -> float:
    """KL(teacher ‖ student) over available actions on fresh states the teacher visits."""
    obs, avail, t_logits = _teacher_states(task_id, teacher, steps, seed)
    with torch.no_grad():
        return kl_distill(student.logits(obs), t_logits, avail).item()


def agreement_on_teacher_states(task_id: str, teacher, student, steps: int = 400, seed: int = 123) -> float:
    """Fraction of (state, agent) pairs where the student's greedy action is the teacher's."""
    obs, avail, t_logits = _teacher_states(task_id, teacher, steps, seed)
    with torch.no_grad():
        s_act = student.act(obs, avail)
    t_act = [masked_logits(z, m).argmax(-1) for z, m in zip(t_logits, avail, strict=True)]
    return torch.cat([(a == b).float() for a, b in zip(s_act, t_act, strict=True)]).mean().item()


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("task_id", TASKS)
@pytest.mark.parametrize("mid", METHOD_IDS)
def test_method_runs_on_real_env(task_id, mid):
    spec = require(task_id)
    teacher, student = make_teacher(spec), make_student(spec)
    before = weights(student)
    stats = METHODS.get(mid)().train(make_ctx(task_id, teacher, student, budget=300))
    assert 0 < stats.env_steps <= 300
    assert stats.updates > 0
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.final_losses.values())
    after = weights(student)
    assert set(after) == set(before)
    assert any(not torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("mid", IMITATORS)
def test_student_moves_towards_teacher(mid):
    spec = require(MPE_SL)
    teacher, student = make_teacher(spec), make_student(spec)
    if mid == "bc":
        # BC fits the teacher's greedy action, not its distribution: measure action agreement.
        before = agreement_on_teacher_states(MPE_SL, teacher, student)
        stats = METHODS.get(mid)().train(make_ctx(MPE_SL, teacher, student, budget=2000))
        after = agreement_on_teacher_states(MPE_SL, teacher, student)
        assert stats.env_steps <= 2000
        assert after > before + 0.3 and after > 0.5, f"bc: greedy agreement {before:.3f} -> {after:.3f}"
        return
    kl_before = kl_on_teacher_states(MPE_SL, teacher, student)
    stats = METHODS.get(mid)().train(make_ctx(MPE_SL, teacher, student, budget=2000))
    assert stats.env_steps <= 2000
    kl_after = kl_on_teacher_states(MPE_SL, teacher, student)
    assert kl_after < 0.8 * kl_before, f"{mid}: KL {kl_before:.4f} -> {kl_after:.4f}"


@pytest.mark.parametrize("task_id", TASKS)
def test_kd_marl_ablation_without_structure_or_advantage_still_trains(task_id):
    spec = require(task_id)
    teacher, student = make_teacher(spec), make_student(spec)
    cfg = dataclasses.replace(KdMarlConfig(), lambda_rel=0.0, lambda_role=0.0, teacher_advantage=False)
    budget = 2000 if task_id == MPE_SL else 600
    kl_before = kl_on_teacher_states(task_id, teacher, student)
    stats = KdMarl(cfg).train(make_ctx(task_id, teacher, student, budget=budget))
    assert set(stats.final_losses) == {"kl", "ce", "entropy", "total"}
    assert 0 < stats.env_steps <= budget
    assert kl_on_teacher_states(task_id, teacher, student) < kl_before


def test_kd_marl_relation_term_with_two_agents():
    # Speaker-listener has 2 agents: a per-timestep normalised distance matrix holds a single
    # distance divided by itself, so L_rel is exactly 0; normalising by the minibatch mean is not.
    spec = require(MPE_SL)
    teacher = make_teacher(spec)
    per_step = KdMarl().train(make_ctx(MPE_SL, teacher, make_student(spec), budget=128))
    assert per_step.final_losses["rel"] == 0.0
    cfg = dataclasses.replace(KdMarlConfig(), rel_per_timestep=False)
    per_batch = KdMarl(cfg).train(make_ctx(MPE_SL, teacher, make_student(spec), budget=128))
    assert per_batch.final_losses["rel"] > 0.0


# ---- the on-policy budget rule: whole rollouts only (no tail update) ---------------------------------


def count_rows_per_update(policy, optim_cls=torch.optim.Adam):
    """Rows of the last gradient-carrying forward of ``policy`` before each ``optim_cls.step``."""
    seen: dict[str, int] = {}
    rows: list[int] = []
    features = policy.features

    def counting_features(obs):
        if torch.is_grad_enabled():
            seen["rows"] = obs[0].shape[0]
        return features(obs)

    policy.features = counting_features  # instance attribute: logits() and features() both go through it
    step = optim_cls.step

    def counting_step(self, *args, **kwargs):
        rows.append(seen["rows"])
        return step(self, *args, **kwargs)

    return rows, counting_step


ON_POLICY = ("kd-marl", "dagger", "scratch")


@pytest.mark.parametrize("mid", ON_POLICY)
def test_on_policy_budget_not_a_multiple_of_the_rollout_has_no_tail_update(mid, monkeypatch):
    # 2 envs × 32 steps = 64 rows a rollout; 160 = 2.5 rollouts → 2 whole rollouts (128 env-steps), and
    # no update on fewer rows than a minibatch of a full rollout (64 / 4 = 16; the old tail was 32 rows
    # of 8-row minibatches)
    spec = require(MPE_SL)
    student = make_student(spec)
    rows, counting_step = count_rows_per_update(student)
    monkeypatch.setattr(torch.optim.Adam, "step", counting_step)
    stats = METHODS.get(mid)().train(make_ctx(MPE_SL, make_teacher(spec), student, budget=160))
    assert stats.env_steps == 128 and stats.budget_rule == "whole-rollouts"
    assert rows and min(rows) >= 16, rows
    assert len(rows) == stats.updates


def test_mappo_trainer_runs_whole_batches_only(monkeypatch):
    spec = require(MPE_SL)
    torch.manual_seed(0)
    pol = TeacherPolicy(spec.obs_dims, spec.n_actions, spec.state_dim, (16,), (16,))
    rows, counting_step = count_rows_per_update(pol)
    monkeypatch.setattr(torch.optim.Adam, "step", counting_step)
    cfg = MappoConfig(total_steps=2 * 32 * 2 + 40, num_envs=2, rollout_len=32, epochs=2, minibatches=4, seed=3)
    env = make_env(MPE_SL, cfg.num_envs)
    try:
        log = train_mappo(pol, pol.critic, pol.value_norm, env, cfg)
    finally:
        env.close()
    assert log.env_steps == 128 and log.updates == 2
    assert rows == [16] * (2 * 2 * 4)


@pytest.mark.parametrize("mid", ON_POLICY)
def test_on_policy_curve_points_are_scored_on_whole_rollouts_up_to_the_point(mid):
    # points 100 and 130 lie between the 1st (64) and 2nd (128) whole rollouts, 20 before the 1st:
    # each is scored on the student of the whole rollouts <= the point (20: the untrained student)
    spec = require(MPE_SL)
    evaluated: list[int] = []
    ctx = make_ctx(MPE_SL, make_teacher(spec), make_student(spec), budget=200)
    ctx.eval_at = (20, 100, 130, 200)
    ctx.evaluate = lambda pol: evaluated.append(1) or SimpleNamespace(score=0.0, episode_scores=[0.0])
    stats = METHODS.get(mid)().train(ctx)
    assert stats.env_steps == 192
    assert [(c.env_steps, c.env_steps_used) for c in ctx.curve] == [(20, 0), (100, 64), (130, 128)]
    assert len(evaluated) == 3


# ---- kd-marl's equal-supervision switches ---------------------------------------------------------------


def count_imitation_rows(monkeypatch, module, name: str) -> list[int]:
    """Rows of every gradient-carrying call of ``module.name`` (an imitation loss)."""
    rows: list[int] = []
    fn = getattr(module, name)

    def counting(student_logits, *args, **kwargs):
        if torch.is_grad_enabled() and student_logits[0].requires_grad:
            rows.append(student_logits[0].shape[0])
        return fn(student_logits, *args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return rows


def test_kd_marl_with_replay_makes_at_least_bcs_imitation_row_gradients(monkeypatch):
    spec = require(MPE_SL)
    budget = 640  # 10 whole rollouts of 2 × 32: kd-marl and bc use the same env-steps
    bc_rows = count_imitation_rows(monkeypatch, bc_module, "ce_to_teacher")
    bc_stats = METHODS.get("bc")().train(make_ctx(MPE_SL, make_teacher(spec), make_student(spec), budget=budget))
    kd_rows = count_imitation_rows(monkeypatch, kd_marl_module, "kl_distill")
    v1 = KdMarl().train(make_ctx(MPE_SL, make_teacher(spec), make_student(spec), budget=budget))
    v1_rows = sum(kd_rows)
    kd_rows.clear()
    cfg = dataclasses.replace(KdMarlConfig(), imitation_replay=True, imitation_epochs=10, imitation_lr=3e-3)
    replay = KdMarl(cfg).train(make_ctx(MPE_SL, make_teacher(spec), make_student(spec), budget=budget))
    assert bc_stats.env_steps == v1.env_steps == replay.env_steps == budget
    assert sum(bc_rows) == 10 * budget  # bc: 10 epochs over every row
    assert v1_rows == 4 * budget < sum(bc_rows)  # v1: each fresh batch 4 times
    assert sum(kd_rows) >= sum(bc_rows)
    assert {"kl", "ce", "pg", "rel", "role"} <= set(replay.final_losses)


def test_kd_marl_replay_learns_the_teacher():
    spec = require(MPE_SL)
    teacher, student = make_teacher(spec), make_student(spec)
    kl_before = kl_on_teacher_states(MPE_SL, teacher, student)
    cfg = dataclasses.replace(KdMarlConfig(), imitation_replay=True, imitation_epochs=10, role_term="across-time",
                              warm_start_frac=0.5)
    KdMarl(cfg).train(make_ctx(MPE_SL, teacher, student, budget=1280))
    assert kl_on_teacher_states(MPE_SL, teacher, student) < 0.8 * kl_before
