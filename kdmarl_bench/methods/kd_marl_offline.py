"""``kd-marl-offline``: the offline reading of KD-MARL (REFERENCE.md, "The method under test").

One AI-written summary of the paper reads its distillation as offline: students learn from expert
data, with the teacher's advantages weighting the imitation. This is that reading, beside the
on-policy reconstruction in ``kd_marl.py``:

- data: the whole env-step budget is spent rolling out the frozen teacher, exactly as ``bc`` does
  (same ``teacher_sampling``, ``max_dataset`` reservoir and budget accounting: one step of B env
  copies costs B env-steps); every row holds the student's view of the state, the avail masks, the
  teacher's logits (from its own view of the same state), the action the teacher executed, and the
  teacher's GAE advantage of it;
- advantage: GAE(γ, λ) from env rewards and the teacher's centralized critic V_T(s), over the
  *sequential* rollout, per collection chunk of ``rollout_len`` steps with the bootstrap V_T(s_T)
  of the state where the next chunk starts (``teacher_guided_advantage``), before the rows enter
  the reservoir (which shuffles them). Before each fit the stored advantages are normalised to
  zero mean and unit std over the dataset collected so far;
- weights (advantage-weighted regression, Peng et al. 2019 "AWR"; Nair et al. 2020 "AWAC"):
  ``w = min(exp(Â/β), w_max)`` with β = ``adv_temperature`` and w_max = ``adv_weight_max`` (AWR's
  clip, 20). exp(A/β) is the closed form of the policy that maximises advantage under a KL
  constraint to the data's policy; here the data's policy is the teacher, so the student is pulled
  towards the teacher's better-than-expected actions. Every weighted term is a self-normalised
  weighted mean ``Σ w·ℓ / Σ w`` over the minibatch, so its scale is that of the unweighted term;
- L_awr: advantage-weighted cross-entropy −log π_S(a_T | o_S) of the action the teacher executed
  (the AWR policy loss, with the teacher's action as the data);
- L_kl:  τ²·KL(softmax(z_T/τ) ‖ softmax(z_S/τ)) over available actions, advantage-weighted
  (``weight_kl``) or plain;
- L_rel, L_role: the structural-relation and role-alignment terms of kd-marl (same functions, same
  training-only ``ProjectionHeads``), on the teacher's last hidden features of the same state;
- total: λ_awr·L_awr + λ_kl·L_kl + λ_rel·L_rel + λ_role·L_role.

Learning curves (``[budget] eval_at``): like the offline baselines (``bc.py``), the budget is
spent in stages, one per point: collect up to the point, fit ``epochs`` passes over everything
collected so far (continuing the student, heads and optimizer), evaluate. One point = one stage.

Teacher hidden features: each row stores the teacher's **own-view observation**, not its hidden
features: a row then costs Σ_i obs_T_i floats (3m: 225; spread: 54) instead of N·512 (1,536 on 3m,
4,096 on 8-agent maps), which at ``max_dataset`` = 200k rows is ~0.2 GB instead of ~1.2–3.3 GB.
Once collection ends, the features of every stored row are computed in one pass and kept when they
fit in ``feature_cache_mb`` (40k rows of 3 agents: ~0.25 GB); otherwise they are recomputed per
minibatch (one frozen-teacher forward per minibatch, which measured ~2× this method's wall time at
10 epochs on simple_spread). Only when L_rel or L_role is on.

Heterogeneous student views work as in every method (per-agent observation lists, per-agent widths
mapped to ``proj_dim`` by the heads). With two agents L_rel is 0 under ``rel_per_timestep`` (see
``kd_marl.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from kdmarl_bench.envs.registry import policy_view
from kdmarl_bench.errors import UsageError
from kdmarl_bench.methods.base import (
    DistillContext,
    DistillMethod,
    TrainStats,
    check_finite,
    register_method,
)
from kdmarl_bench.methods.bc import OfflineConfig
from kdmarl_bench.methods.kd_marl import (
    ProjectionHeads,
    StructureTermsConfig,
    check_role_term,
    teacher_guided_advantage,
)
from kdmarl_bench.methods.losses import (
    ce_to_actions,
    kl_distill,
    normalize_advantages,
)
from kdmarl_bench.methods.rollout import LabelledBuffer, TeacherCollector, plan_num_envs, teacher_outputs


@dataclass
class KdMarlOfflineConfig(OfflineConfig, StructureTermsConfig):
    """Offline KD-MARL: advantage-weighted imitation of teacher rollouts + relation and role terms."""

    lr: float = 3e-3
    """Adam learning rate (default 0.003, bc's: same data and epochs; not swept for this method)."""
    rollout_len: int = 32
    """Steps per env copy per collection chunk; GAE runs per chunk with the bootstrap V_T(s_T) (default 32)."""
    gamma: float = 0.99
    """Discount of the teacher's GAE (default 0.99)."""
    gae_lambda: float = 0.95
    """λ of the teacher's GAE (default 0.95)."""
    adv_temperature: float = 1.0
    """β of the AWR weight min(exp(Â/β), w_max) on normalised advantages; larger = flatter (default 1.0)."""
    adv_weight_max: float = 20.0
    """w_max, the clip of the AWR weight (Peng et al. 2019 use 20) (default 20.0)."""
    use_awr: bool = True
    """Advantage-weighted CE to the teacher's executed action on (default True)."""
    lambda_awr: float = 0.5
    """Weight λ_awr of L_awr (default 0.5)."""
    use_kl: bool = True
    """KL(teacher ‖ student) term on (default True)."""
    lambda_kl: float = 1.0
    """Weight λ_kl of L_kl (default 1.0)."""
    tau: float = 1.0
    """Softmax temperature τ of L_kl (default 1.0)."""
    weight_kl: bool = True
    """Advantage-weight L_kl too; False = plain KL, only L_awr carries the advantage (default True)."""
    feature_cache_mb: int = 1024
    """Keep the teacher's hidden features of the whole dataset when they fit in this many MB, else recompute per minibatch (default 1024)."""


def awr_weights(adv: torch.Tensor, temperature: float, max_weight: float) -> torch.Tensor:
    """Advantage-weighted-regression weights ``min(exp(adv / temperature), max_weight)``: positive and
    non-decreasing in the advantage (strictly increasing below the clip)."""
    return torch.exp((adv / temperature).clamp(max=torch.log(torch.tensor(max_weight)).item())).clamp(max=max_weight)


@register_method("kd-marl-offline")
class KdMarlOffline(DistillMethod):
    """Teacher rollouts (the whole budget), then epochs of advantage-weighted KL/CE + L_rel + L_role."""

    config_cls = KdMarlOfflineConfig
    kind = "structure"

    def train(self, ctx: DistillContext) -> TrainStats:
        cfg = self.config
        check_role_term(cfg, "kd-marl-offline")
        use_awr = cfg.use_awr and cfg.lambda_awr != 0
        use_kl = cfg.use_kl and cfg.lambda_kl != 0
        use_rel = cfg.use_rel and cfg.lambda_rel != 0
        use_role = cfg.use_role and cfg.lambda_role != 0
        if not (use_awr or use_kl or use_rel or use_role):
            raise UsageError("kd-marl-offline: every loss term is switched off (use_awr, use_kl, use_rel, use_role "
                             "or their weights); nothing would be trained")
        need_hidden = use_rel or use_role
        t_start = self.clock()
        torch.manual_seed(ctx.seed)
        gen = torch.Generator().manual_seed(ctx.seed)
        device = torch.device(ctx.device)
        student = ctx.student.to(device)
        teacher = ctx.teacher.eval()
        n_agents = ctx.spec.n_agents

        def progress(done: int, metrics: dict[str, float]) -> None:
            if ctx.progress is not None:
                ctx.progress(done, metrics)

        # ---- the student's training-only projection heads and optimizer (kept across stages) -----
        params = list(student.parameters())
        heads = None
        if need_hidden:
            heads = ProjectionHeads.for_team(student, teacher, cfg.proj_dim, "kd-marl-offline",
                                                 role_term=cfg.role_term).to(device)
            params += list(heads.parameters())
        optim = torch.optim.Adam(params, lr=cfg.lr, eps=1e-5)
        t_splits = list(teacher.obs_dims)

        def teacher_hidden(t_obs: torch.Tensor) -> torch.Tensor:
            """``(rows, Σ obs_T)`` teacher own-view obs → ``(rows, N, H_T)`` last hidden features."""
            return torch.stack(teacher_outputs(teacher, list(t_obs.split(t_splits, -1)), device)[1], 1)

        num_envs = plan_num_envs(ctx.env_steps, ctx.num_envs)
        n_steps = ctx.env_steps // num_envs
        data = LabelledBuffer(policy_view(ctx.spec.id, student).obs_dims, ctx.spec.n_actions,
                              max(1, min(cfg.max_dataset, n_steps * num_envs)), "reservoir", device, gen)
        env = ctx.make_env(num_envs)
        env_steps, updates = 0, 0
        final: dict[str, float] = {}
        try:
            collector = TeacherCollector(env, teacher, ctx.seed, gen, device, policy_view(ctx.spec.id, student),
                                         sample=cfg.teacher_sampling)
            # One stage per budget point (one stage without a learning curve): collect up to the point,
            # then fit ``epochs`` passes over everything collected so far, as the offline baselines do.
            for point in ctx.budget_points():
                # ---- rollout: the teacher's dataset up to this point, GAE per chunk --------------------
                stage_steps = min(point, ctx.env_steps) // num_envs
                while env_steps < stage_steps * num_envs:
                    ro = collector.collect(min(cfg.rollout_len, stage_steps - env_steps // num_envs))
                    env_steps += ro.env_steps
                    adv = teacher_guided_advantage(ro.rewards, ro.teacher_values, ro.next_teacher_value, ro.dones,
                                                   cfg.gamma, cfg.gae_lambda)
                    extras = {"adv": ro.flat(adv), "action": ro.flat(ro.actions)}
                    if need_hidden:
                        extras["teacher_obs"] = torch.cat([ro.flat(o) for o in ro.teacher_obs], -1)
                    data.add([ro.flat(o) for o in ro.obs], [ro.flat(m) for m in ro.avail],
                             [ro.flat(z) for z in ro.teacher_logits], extras)
                    progress(env_steps, {})
                # advantages normalised over the dataset so far (raw ones stay stored for later stages)
                stage_adv = normalize_advantages(data.extras["adv"][:data.size].clone())
                cached_hidden = None
                if heads is not None and data.size * n_agents * heads.teacher_width * 4 <= cfg.feature_cache_mb * 2**20:
                    rows = data.extras["teacher_obs"][:data.size]
                    cached_hidden = torch.cat([teacher_hidden(chunk) for chunk in rows.split(4096)])

                # ---- supervised training over the dataset so far ----------------------------------------
                student.train()
                for _ in range(cfg.epochs):
                    sums: dict[str, float] = {}
                    n_mb = 0
                    for mb_idx in data.epoch(cfg.minibatch_size):
                        mb_obs, mb_avail, mb_tlogits = data.get(mb_idx)
                        mb_extra = data.get_extras(mb_idx)
                        weights = awr_weights(stage_adv[mb_idx.to(stage_adv.device)], cfg.adv_temperature,
                                              cfg.adv_weight_max)
                        logits, hidden = student.features(mb_obs)
                        losses: dict[str, torch.Tensor] = {}
                        loss = torch.zeros((), device=device)
                        if use_awr:
                            mb_act = [mb_extra["action"][:, i] for i in range(n_agents)]
                            losses["awr"] = ce_to_actions(logits, mb_act, mb_avail, weights)
                            loss = loss + cfg.lambda_awr * losses["awr"]
                        if use_kl:
                            losses["kl"] = kl_distill(logits, mb_tlogits, mb_avail, cfg.tau,
                                                      weights if cfg.weight_kl else None)
                            loss = loss + cfg.lambda_kl * losses["kl"]
                        if heads is not None:
                            mb_thidden = (cached_hidden[mb_idx.to(device)] if cached_hidden is not None
                                          else teacher_hidden(mb_extra["teacher_obs"]))  # (mb, N, H_T)
                            losses.update(heads.structure_losses(hidden, mb_thidden, use_rel, use_role,
                                                                 cfg.rel_per_timestep, cfg.kappa))
                            if use_rel:
                                loss = loss + cfg.lambda_rel * losses["rel"]
                            if use_role:
                                loss = loss + cfg.lambda_role * losses["role"]
                        losses["total"] = loss
                        check_finite({k: v.detach() for k, v in losses.items()})
                        optim.zero_grad(set_to_none=True)
                        loss.backward()
                        nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                        optim.step()
                        updates += 1
                        n_mb += 1
                        for k, v in losses.items():
                            sums[k] = sums.get(k, 0.0) + v.item()
                    final = {k: v / max(n_mb, 1) for k, v in sums.items()}
                    progress(env_steps, dict(final))
                ctx.reached(env_steps, budget_spent=point)  # learning curve: this stage's student
        finally:
            env.close()
        student.eval()
        return TrainStats(env_steps=env_steps, wall_s=self.clock() - t_start, updates=updates, final_losses=final)
