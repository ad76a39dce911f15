"""kd-marl-offline: the teacher's GAE on chunked teacher rollouts, AWR weights, weighted losses, extras."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from kdmarl_bench.errors import UsageError
from kdmarl_bench.methods import METHODS
from kdmarl_bench.methods.bc import OfflineConfig
from kdmarl_bench.methods.kd_marl import teacher_guided_advantage
from kdmarl_bench.methods.kd_marl_offline import KdMarlOffline, KdMarlOfflineConfig, awr_weights
from kdmarl_bench.methods.losses import ce_to_actions, ce_to_teacher, kl_distill
from kdmarl_bench.methods.rollout import LabelledBuffer, TeacherCollector
from tests.unit.test_methods import FAKE_SPEC, FakeEnv, make_ctx, make_policies


def test_registered_with_documented_config():
    cls = METHODS.get("kd-marl-offline")
    assert cls is KdMarlOffline and cls.trains_student and cls.uses_teacher
    assert cls.kind == "structure"  # a reading of KD-MARL: never the headline's action-imitation baseline
    assert issubclass(KdMarlOfflineConfig, OfflineConfig)  # bc's dataset fields: same budget, reservoir, epochs


def test_gae_matches_a_hand_computation():
    # T = 3, one env copy; the episode ends after step 1 (so step 1 does not bootstrap from V(s_2)).
    gamma, lam = 0.9, 0.5
    r = torch.tensor([[1.0], [0.0], [2.0]])
    v = torch.tensor([[0.5], [1.0], [0.2]])
    v_next = torch.tensor([3.0])
    done = torch.tensor([[False], [True], [False]])
    d2 = 2.0 + 0.9 * 3.0 - 0.2  # 4.5
    a2 = d2
    d1 = 0.0 - 1.0  # terminal: no bootstrap
    a1 = d1  # trace cut
    d0 = 1.0 + 0.9 * 1.0 - 0.5  # 1.4
    a0 = d0 + gamma * lam * a1  # 1.4 - 0.45
    adv = teacher_guided_advantage(r, v, v_next, done, gamma, lam)
    assert torch.allclose(adv.squeeze(1), torch.tensor([a0, a1, a2]))


def test_teacher_collector_keeps_the_sequence_across_chunks():
    teacher, _ = make_policies()
    env = FakeEnv(4)
    gen = torch.Generator().manual_seed(0)
    col = TeacherCollector(env, teacher, seed=5, generator=gen)
    first, second = col.collect(3), col.collect(2)
    assert first.env_steps == 12 and second.env_steps == 8 and env.steps_taken == 20
    # bootstrap of chunk 1 = V_T of the first state of chunk 2; V_T is the teacher's critic on the state
    assert torch.allclose(first.next_teacher_value, second.teacher_values[0])
    state0 = torch.cat([o[0] for o in first.teacher_obs], -1)  # the fake env's state is obs_0 ⊕ obs_1
    assert torch.allclose(first.teacher_values[0], teacher.value(state0).detach())
    # executed actions were available, and the teacher's logits are from its own view
    for i in range(FAKE_SPEC.n_agents):
        assert first.avail[i].gather(-1, first.actions[..., i:i + 1]).all()
        assert torch.allclose(first.teacher_logits[i][1], teacher.logits([o[1] for o in first.teacher_obs])[i])


def test_awr_weights_are_monotone_positive_and_clipped():
    adv = torch.linspace(-6, 6, 101)
    for beta in (0.3, 1.0, 3.0):
        w = awr_weights(adv, beta, 20.0)
        assert (w > 0).all() and (w <= 20.0).all()
        assert (w[1:] >= w[:-1]).all()
        below = w < 20.0
        assert (w[1:][below[1:]] > w[:-1][below[1:]]).all()  # strictly increasing below the clip
    assert torch.allclose(awr_weights(torch.tensor([0.0, 1.0]), 1.0, 20.0), torch.tensor([1.0, torch.e]))
    assert awr_weights(torch.tensor([1e4]), 1.0, 20.0).item() == 20.0  # no overflow


def test_weighted_losses():
    torch.manual_seed(0)
    zs = [torch.randn(6, 3), torch.randn(6, 4)]
    zt = [torch.randn(6, 3), torch.randn(6, 4)]
    avail = [torch.ones(6, 3, dtype=torch.bool), torch.rand(6, 4) > 0.2]
    avail[1][:, 1] = True
    greedy = [torch.where(m, z, torch.tensor(-1e9)).argmax(-1) for z, m in zip(zt, avail, strict=True)]
    ones = torch.ones(6)
    assert torch.allclose(kl_distill(zs, zt, avail, 2.0, ones), kl_distill(zs, zt, avail, 2.0))
    assert torch.allclose(ce_to_actions(zs, greedy, avail), ce_to_teacher(zs, zt, avail))
    assert torch.allclose(ce_to_actions(zs, greedy, avail, 3 * ones), ce_to_teacher(zs, zt, avail))
    # a weight on one row only = that row's loss
    w = torch.zeros(6)
    w[2] = 1.0
    assert torch.allclose(kl_distill(zs, zt, avail, 1.0, w), kl_distill([z[2:3] for z in zs], [z[2:3] for z in zt],
                                                                        [m[2:3] for m in avail]))


def test_buffer_extras_follow_their_rows_through_the_reservoir():
    buf = LabelledBuffer((1,), (2,), capacity=8, mode="reservoir", generator=torch.Generator().manual_seed(0))
    for start in range(0, 64, 4):
        ids = torch.arange(start, start + 4, dtype=torch.float32)
        buf.add([ids[:, None]], [torch.ones(4, 2, dtype=torch.bool)], [torch.zeros(4, 2)],
                {"adv": ids * 10, "action": ids.long()[:, None].repeat(1, 3)})
    idx = torch.arange(len(buf))
    (obs,), _, _ = buf.get(idx)
    extra = buf.get_extras(idx)
    assert len(buf) == 8 and obs.max() > 8  # later rows were sampled in
    assert torch.equal(extra["adv"], obs[:, 0] * 10)
    assert torch.equal(extra["action"][:, 2], obs[:, 0].long())
    with pytest.raises(ValueError, match="extras"):
        buf.add([torch.zeros(1, 1)], [torch.ones(1, 2, dtype=torch.bool)], [torch.zeros(1, 2)])


def test_budget_and_losses_follow_switches():
    ctx, envs = make_ctx(budget=150, num_envs=4)
    stats = KdMarlOffline().train(ctx)
    assert stats.env_steps == 148 == sum(e.steps_taken for e in envs)  # 37 steps of 4 copies, as bc
    assert set(stats.final_losses) == {"awr", "kl", "rel", "role", "total"}
    assert METHODS.get("bc")().train(make_ctx(budget=150, num_envs=4)[0]).env_steps == stats.env_steps
    ctx, _ = make_ctx(budget=64)
    cfg = dataclasses.replace(KdMarlOfflineConfig(), use_rel=False, lambda_role=0.0)
    assert set(KdMarlOffline(cfg).train(ctx).final_losses) == {"awr", "kl", "total"}
    off = dataclasses.replace(cfg, use_awr=False, use_kl=False)
    with pytest.raises(UsageError, match="switched off"):
        KdMarlOffline(off).train(make_ctx(budget=32)[0])


def test_advantage_weighting_changes_the_student():
    # β → ∞ flattens every weight to 1: a different student than with sharp weights (same data, same seed).
    results = []
    for beta in (0.2, 1000.0):
        ctx, _ = make_ctx(budget=96, seed=3)
        KdMarlOffline(dataclasses.replace(KdMarlOfflineConfig(), adv_temperature=beta)).train(ctx)
        results.append(torch.cat([p.detach().flatten() for p in ctx.student.parameters()]))
    assert not torch.allclose(results[0], results[1])


def test_bad_config_values_are_refused():
    def err(field, msg):
        return UsageError(f"{field}: {msg}")

    for bad in ({"adv_temperature": 0.0}, {"adv_weight_max": 0.5}, {"lambda_awr": -1.0}):
        with pytest.raises(UsageError, match=next(iter(bad))):
            KdMarlOffline.validate_overrides(bad, err)


def test_cached_teacher_features_match_recomputed_ones():
    # 4,400 rows x 2 agents x 32 features x 4 B ≈ 1.1 MB: cached under 1024 MB, recomputed per minibatch under 1 MB.
    runs = []
    for cache_mb in (1024, 1):
        ctx, _ = make_ctx(budget=4400, num_envs=8, seed=2)
        cfg = dataclasses.replace(KdMarlOfflineConfig(), epochs=1, feature_cache_mb=cache_mb)
        stats = KdMarlOffline(cfg).train(ctx)
        runs.append((stats.final_losses, torch.cat([p.detach().flatten() for p in ctx.student.parameters()])))
    (loss_a, w_a), (loss_b, w_b) = runs
    assert loss_a.keys() == loss_b.keys()
    for k in loss_a:
        assert loss_a[k] == pytest.approx(loss_b[k], rel=1e-4, abs=1e-6), k
    assert torch.allclose(w_a, w_b, atol=1e-4)
