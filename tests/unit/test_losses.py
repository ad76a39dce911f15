"""Distillation losses on small inputs checkable by hand (kdmarl_bench.methods.losses)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from kdmarl_bench.methods.base import NonFiniteLoss, check_finite
from kdmarl_bench.methods.kd_marl import teacher_guided_advantage
from kdmarl_bench.methods.losses import (
    ce_to_teacher,
    kl_distill,
    logit_mse,
    masked_entropy,
    normalize_advantages,
    ppo_clip_loss,
    relation_loss,
    role_alignment_loss,
)

LN3 = math.log(3.0)


def hetero_batch(seed: int = 0, b: int = 6):
    """Two agents with different action counts; agent 1 has some unavailable actions."""
    g = torch.Generator().manual_seed(seed)
    zs = [torch.randn(b, 3, generator=g), torch.randn(b, 5, generator=g)]
    zt = [torch.randn(b, 3, generator=g), torch.randn(b, 5, generator=g)]
    avail = [torch.ones(b, 3, dtype=torch.bool), torch.rand(b, 5, generator=g) > 0.3]
    avail[1][:, 0] = True  # at least one available action per row
    return zs, zt, avail


def dup(x):
    if isinstance(x, list):
        return [torch.cat([t, t]) for t in x]
    return torch.cat([x, x])


# ---- KL ---------------------------------------------------------------------------------


def test_kl_zero_for_identical_logits():
    _, zt, avail = hetero_batch()
    assert kl_distill(zt, zt, avail).item() == pytest.approx(0.0, abs=1e-6)
    assert kl_distill(zt, [z + 5.0 for z in zt], avail).item() == pytest.approx(0.0, abs=1e-5)  # shift-invariant
    assert kl_distill(zt[0], zt[0], None, tau=0.5).item() == pytest.approx(0.0, abs=1e-6)


def test_kl_hand_value_and_temperature():
    # teacher uniform over 2 actions, student (1/4, 3/4): KL = ½ln(0.5/0.25) + ½ln(0.5/0.75) = ½ln(4/3)
    zt = torch.tensor([[0.0, 0.0]])
    zs = torch.tensor([[0.0, LN3]])
    assert kl_distill(zs, zt).item() == pytest.approx(0.5 * math.log(4 / 3), rel=1e-5)
    # τ²·KL(z/τ): doubling both logits and τ = 2 gives 4× the τ = 1 value of the original logits
    assert kl_distill(2 * zs, 2 * zt, tau=2.0).item() == pytest.approx(4 * 0.5 * math.log(4 / 3), rel=1e-5)


def test_kl_ignores_unavailable_actions():
    zs, zt, avail = hetero_batch()
    base = kl_distill(zs, zt, avail).item()
    masked = ~avail[1]
    assert masked.any()
    zs2 = [zs[0], zs[1].masked_fill(masked, 123.0)]
    zt2 = [zt[0], zt[1].masked_fill(masked, -77.0)]
    assert kl_distill(zs2, zt2, avail).item() == pytest.approx(base, rel=1e-6)
    # a teacher whose only preference is on masked actions is uniform over the available ones
    zt_masked_pref = torch.tensor([[0.0, 0.0, 50.0]])
    m = torch.tensor([[True, True, False]])
    assert kl_distill(torch.zeros(1, 3), zt_masked_pref, m).item() == pytest.approx(0.0, abs=1e-6)
    # no gradient flows into masked student logits
    zs_grad = zs[1].clone().requires_grad_(True)
    kl_distill([zs[0], zs_grad], zt, avail).backward()
    assert torch.all(zs_grad.grad[masked] == 0)


# ---- CE ---------------------------------------------------------------------------------


def test_ce_student_equal_teacher_is_teacher_entropy_of_greedy_action():
    # CE's minimum is 0 (all mass on the teacher's greedy action); a student equal to the teacher
    # scores −log p_T(greedy): here p = (1/4, 3/4) → −log 0.75.
    zt = torch.tensor([[0.0, LN3]])
    assert ce_to_teacher(zt, zt).item() == pytest.approx(-math.log(0.75), rel=1e-5)
    onehot = torch.tensor([[0.0, 50.0]])
    assert ce_to_teacher(onehot, zt).item() == pytest.approx(0.0, abs=1e-6)
    assert ce_to_teacher(onehot, zt).item() < ce_to_teacher(zt, zt).item()


def test_ce_target_is_best_available_action():
    zt = torch.tensor([[0.0, 1.0, 9.0]])  # greedy overall = 2, but 2 is unavailable
    m = torch.tensor([[True, True, False]])
    zs = torch.tensor([[0.0, 40.0, 0.0]])  # all mass on action 1
    assert ce_to_teacher(zs, zt, m).item() == pytest.approx(0.0, abs=1e-6)
    assert ce_to_teacher(zs, zt, None).item() > 10.0


# ---- logit MSE --------------------------------------------------------------------------


def test_logit_mse_zero_when_equal_and_shift_invariant():
    _, zt, avail = hetero_batch()
    assert logit_mse(zt, zt, avail).item() == pytest.approx(0.0, abs=1e-7)
    shifted = [z + torch.randn(z.shape[0], 1) for z in zt]  # per-row constants
    assert logit_mse(shifted, zt, avail).item() == pytest.approx(0.0, abs=1e-6)


def test_logit_mse_hand_value_and_mask():
    zt = torch.tensor([[0.0, 0.0, 7.0]])
    zs = torch.tensor([[1.0, -1.0, -30.0]])
    m = torch.tensor([[True, True, False]])
    # over the 2 available actions: centred student (1, −1), teacher (0, 0) → mean sq error 1
    assert logit_mse(zs, zt, m).item() == pytest.approx(1.0, rel=1e-6)
    zs2 = zs.clone()
    zs2[0, 2] = 99.0
    assert logit_mse(zs2, zt, m).item() == pytest.approx(1.0, rel=1e-6)


# ---- relation (Park et al. distance form) -------------------------------------------------


def test_relation_zero_for_identical_and_scaled_embeddings():
    g = torch.Generator().manual_seed(1)
    t = torch.randn(4, 3, 8, generator=g)
    assert relation_loss(t, t).item() == pytest.approx(0.0, abs=1e-7)
    assert relation_loss(3.7 * t, t).item() == pytest.approx(0.0, abs=1e-6)
    assert relation_loss(3.7 * t, t, per_timestep=False).item() == pytest.approx(0.0, abs=1e-6)
    # different widths: an isometric embedding of the teacher into a wider space keeps distances
    q, _ = torch.linalg.qr(torch.randn(16, 8, generator=g))  # (16, 8), orthonormal columns
    wide = 0.5 * t @ q.T  # (4, 3, 16)
    assert relation_loss(wide, t).item() == pytest.approx(0.0, abs=1e-6)
    assert relation_loss(torch.randn(4, 3, 8, generator=g), t).item() > 1e-3


def test_relation_per_timestep_scale():
    # per timestep: each timestep may have its own scale; per batch: it may not.
    g = torch.Generator().manual_seed(2)
    t = torch.randn(2, 3, 4, generator=g)
    s = t * torch.tensor([1.0, 5.0]).view(2, 1, 1)
    assert relation_loss(s, t).item() == pytest.approx(0.0, abs=1e-6)
    assert relation_loss(s, t, per_timestep=False).item() > 1e-3


def test_relation_single_and_two_agents():
    g = torch.Generator().manual_seed(3)
    one = torch.randn(5, 1, 4, generator=g, requires_grad=True)
    loss = relation_loss(one, torch.randn(5, 1, 6, generator=g))
    assert loss.item() == 0.0
    loss.backward()  # stays in the graph
    # two agents, per timestep: one distance divided by itself → always 0
    assert relation_loss(torch.randn(5, 2, 4, generator=g), torch.randn(5, 2, 6, generator=g)).item() == 0.0
    assert relation_loss(torch.randn(5, 2, 4, generator=g), torch.randn(5, 2, 6, generator=g),
                         per_timestep=False).item() > 0.0


def test_relation_gradient_finite_when_embeddings_coincide():
    s = torch.zeros(2, 3, 4, requires_grad=True)  # all agents at one point: zero distances
    t = torch.randn(2, 3, 5)
    relation_loss(s, t).backward()
    assert torch.isfinite(s.grad).all()


# ---- role alignment (InfoNCE across agents) ---------------------------------------------------


def test_role_alignment_minimal_at_identity():
    g = torch.Generator().manual_seed(4)
    t = torch.randn(3, 3, 6, generator=g)
    at_identity = role_alignment_loss(t, t, kappa=0.1).item()
    for perm in itertools.permutations(range(3)):
        if perm == (0, 1, 2):
            continue
        assert at_identity < role_alignment_loss(t[:, list(perm)], t, kappa=0.1).item()
    # hand value with orthogonal unit embeddings, κ = 0.5: logits 2 on the diagonal, 0 elsewhere
    eye = torch.eye(3).unsqueeze(0)
    expected = math.log((math.exp(2.0) + 2.0) / math.exp(2.0))
    assert role_alignment_loss(eye, eye, kappa=0.5).item() == pytest.approx(expected, rel=1e-5)
    # cosine: scale-invariant
    assert role_alignment_loss(4.0 * t, t).item() == pytest.approx(role_alignment_loss(t, t).item(), rel=1e-5)


def test_role_alignment_single_agent_is_zero():
    assert role_alignment_loss(torch.randn(4, 1, 5), torch.randn(4, 1, 5)).item() == pytest.approx(0.0, abs=1e-7)


# ---- PPO ----------------------------------------------------------------------------------


def test_ppo_at_ratio_one_is_minus_mean_advantage():
    adv = torch.tensor([1.0, -2.0, 0.5, 3.0])
    logp = torch.log(torch.tensor([0.2, 0.5, 0.9, 0.3]))
    assert ppo_clip_loss(logp, logp, adv).item() == pytest.approx(-adv.mean().item(), rel=1e-6)
    # per-agent log-probs (B, N) with a team advantage (B,) broadcast over agents
    logp2 = logp[:, None].expand(4, 3)
    assert ppo_clip_loss(logp2, logp2, adv).item() == pytest.approx(-adv.mean().item(), rel=1e-6)


def test_ppo_clipping():
    old = torch.zeros(2)
    new = torch.log(torch.tensor([2.0, 0.5]))
    # A>0 with ratio 2 is clipped to 1.2; A<0 with ratio 0.5 is clipped to 0.8
    adv = torch.tensor([1.0, -1.0])
    expected = (-(1.2 * 1.0) + -(-1.0 * 0.8)) / 2
    assert ppo_clip_loss(new, old, adv, clip=0.2).item() == pytest.approx(expected, rel=1e-6)


def test_masked_entropy():
    m = torch.tensor([[True, True, False, False]])
    assert masked_entropy(torch.zeros(1, 4), m).item() == pytest.approx(math.log(2), rel=1e-6)


# ---- batch-size invariance (means, never sums) ----------------------------------------------


def test_losses_invariant_to_duplicated_batch():
    zs, zt, avail = hetero_batch(b=5)
    g = torch.Generator().manual_seed(5)
    es, et = torch.randn(5, 3, 4, generator=g), torch.randn(5, 3, 7, generator=g)
    ps, pt = torch.randn(5, 3, 4, generator=g), torch.randn(5, 3, 4, generator=g)
    new, old, adv = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g), torch.randn(5, generator=g)
    cases = [
        (kl_distill, (zs, zt, avail)),
        (ce_to_teacher, (zs, zt, avail)),
        (logit_mse, (zs, zt, avail)),
        (masked_entropy, (zs, avail)),
        (relation_loss, (es, et)),
        (lambda a, b: relation_loss(a, b, per_timestep=False), (es, et)),
        (role_alignment_loss, (ps, pt)),
        (ppo_clip_loss, (new, old, adv)),
    ]
    for fn, args in cases:
        once = fn(*args).item()
        twice = fn(*[dup(a) for a in args]).item()
        assert twice == pytest.approx(once, rel=1e-5, abs=1e-7), fn


# ---- teacher-guided GAE ------------------------------------------------------------------


def test_teacher_guided_gae_hand_computation():
    # 3 steps, one env copy, the episode ends at t=1 (γ=0.9, λ=0.8)
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    values = torch.tensor([[0.5], [1.0], [1.5]])  # V_T(s_t)
    next_value = torch.tensor([2.0])  # V_T(s_3)
    dones = torch.tensor([[False], [True], [False]])
    adv = teacher_guided_advantage(rewards, values, next_value, dones, gamma=0.9, lam=0.8)
    a2 = 3.0 + 0.9 * 2.0 - 1.5  # 3.3
    a1 = 2.0 - 1.0  # terminal: no bootstrap, trace cut → 1.0
    a0 = (1.0 + 0.9 * 1.0 - 0.5) + 0.9 * 0.8 * a1  # 1.4 + 0.72 = 2.12
    assert adv.squeeze(-1).tolist() == pytest.approx([a0, a1, a2], rel=1e-6)


def test_normalize_advantages():
    a = normalize_advantages(torch.tensor([1.0, 2.0, 3.0, 10.0]))
    assert a.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert a.std().item() == pytest.approx(1.0, rel=1e-5)


# ---- check_finite ------------------------------------------------------------------------


def test_check_finite_raises_on_nan_and_inf():
    check_finite({"kl": torch.tensor(0.5), "ce": torch.tensor([1.0, 2.0])})
    with pytest.raises(NonFiniteLoss, match="kl"):
        check_finite({"ce": torch.tensor(1.0), "kl": torch.tensor(float("nan"))})
    with pytest.raises(NonFiniteLoss, match="pg"):
        check_finite({"pg": torch.tensor(float("inf"))})
    nan_logits = torch.tensor([[float("nan"), 0.0]])
    with pytest.raises(NonFiniteLoss):
        check_finite({"kl": kl_distill(nan_logits, torch.zeros(1, 2))})
