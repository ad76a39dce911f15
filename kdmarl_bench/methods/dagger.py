"""``dagger``: online imitation (Ross, Gordon & Bagnell, AISTATS 2011).

Each iteration: (1) collect ``rollout_len`` steps with a β-mixture policy — per step and per
env copy, with probability β the team executes the teacher's greedy actions, otherwise the
student's sampled ones; (2) the teacher labels every visited state (its logits); (3) the labelled
states join an aggregated dataset (capped at ``max_dataset`` rows, oldest dropped first);
(4) the student takes ``updates_per_iter`` gradient steps of τ²·KL(teacher ‖ student) on
minibatches drawn uniformly from the aggregate. β starts at ``beta_start`` and decays to 0 over
the budget (linearly in env-steps) or geometrically per iteration (β_k = β_0·decay^k, Ross et
al.'s β_i = p^(i−1)). A fixed number of gradient steps per iteration keeps the compute linear
in the budget instead of re-fitting the whole, growing aggregate every time.

Budget: whole rollouts only (``rollout.plan_rollouts``, the rule of every on-policy method): the
budget is rounded down to whole ``num_envs · rollout_len`` iterations and the record's
``train.env_steps`` says what was used.

Learning curves: after every iteration's update the method reports the env-steps used
(``ctx.reached_rollout``); each ``[budget] eval_at`` point is scored on the student of the whole
iterations ≤ the point.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from kdmarl_bench.errors import UsageError
from kdmarl_bench.methods.base import (
    FIELD_CHOICES,
    DistillContext,
    DistillMethod,
    MethodConfig,
    TrainStats,
    check_finite,
    register_method,
)
from kdmarl_bench.methods.losses import kl_distill
from kdmarl_bench.methods.rollout import LabelledBuffer, OnPolicyCollector, plan_num_envs, plan_rollouts
from kdmarl_bench.results.model.records import WHOLE_ROLLOUTS

BETA_SCHEDULES = FIELD_CHOICES["beta_schedule"]


@dataclass
class DaggerConfig(MethodConfig):
    """DAgger: β-mixture rollouts, teacher labels, KL on the aggregated dataset."""

    rollout_len: int = 32
    """Steps per env copy per collection iteration (default 32)."""
    beta_start: float = 1.0
    """Initial probability of executing the teacher's action (default 1.0)."""
    beta_schedule: str = "linear"
    """How β decays: 'linear' (to 0 at the end of the budget) or 'geometric' (default 'linear'; sweep: tied)."""
    beta_decay: float = 0.9
    """Per-iteration factor of the geometric schedule (default 0.9)."""
    updates_per_iter: int = 16
    """Gradient steps after each collection iteration (default 16)."""
    minibatch_size: int = 256
    """Rows drawn uniformly from the aggregate per gradient step (default 256)."""
    max_dataset: int = 200_000
    """Cap on aggregated rows; the oldest are dropped first (FIFO) (default 200000)."""
    tau: float = 1.0
    """Temperature τ of the KL to the teacher (default 1.0)."""


def dagger_beta(cfg: DaggerConfig, iteration: int, steps_done: int, budget: int) -> float:
    """β for the iteration starting after ``steps_done`` env-steps."""
    if cfg.beta_schedule == "linear":
        return max(0.0, cfg.beta_start * (1.0 - steps_done / budget))
    return cfg.beta_start * cfg.beta_decay**iteration


@register_method("dagger")
class Dagger(DistillMethod):
    """Online imitation with a decaying β-mixture and an aggregated, teacher-labelled dataset."""

    config_cls = DaggerConfig
    revision = 2

    def train(self, ctx: DistillContext) -> TrainStats:
        cfg = self.config
        if cfg.beta_schedule not in BETA_SCHEDULES:
            raise UsageError(f"dagger: beta_schedule must be one of {', '.join(BETA_SCHEDULES)}; "
                             f"got {cfg.beta_schedule!r}")
        t_start = self.clock()
        torch.manual_seed(ctx.seed)
        gen = torch.Generator().manual_seed(ctx.seed)
        device = torch.device(ctx.device)
        student = ctx.student.to(device)
        ctx.teacher.eval()
        num_envs = plan_num_envs(ctx.env_steps, ctx.num_envs)
        rollout_len, n_iters = plan_rollouts(ctx.env_steps, num_envs, cfg.rollout_len)
        spec = ctx.spec
        capacity = max(1, min(cfg.max_dataset, ctx.env_steps))
        data = LabelledBuffer(student.obs_dims, spec.n_actions, capacity, "fifo", device, gen)
        optim = torch.optim.Adam(student.parameters(), lr=cfg.lr, eps=1e-5)

        env = ctx.make_env(num_envs)
        env_steps, updates, iteration = 0, 0, 0
        final: dict[str, float] = {}
        try:
            collector = OnPolicyCollector(env, student, ctx.teacher, ctx.seed, gen, device)
            ctx.reached_rollout(0, rollout_len * num_envs)  # curve points before the first whole iteration
            for _ in range(n_iters):
                beta = dagger_beta(cfg, iteration, env_steps, ctx.env_steps)

                # ---- rollout: β-mixture, teacher labels every visited state -------------------
                ro = collector.collect(rollout_len, beta=beta)
                env_steps += ro.env_steps
                data.add([ro.flat(o) for o in ro.obs], [ro.flat(m) for m in ro.avail],
                         [ro.flat(z) for z in ro.teacher_logits])

                # ---- update: KL to the teacher on the aggregate ---------------------------------
                student.train()
                kl_sum = 0.0
                for _ in range(cfg.updates_per_iter):
                    mb_idx = data.sample(cfg.minibatch_size)
                    mb_obs, mb_avail, mb_tlogits = data.get(mb_idx)
                    kl_loss = kl_distill(student.logits(mb_obs), mb_tlogits, mb_avail, cfg.tau)
                    check_finite({"kl": kl_loss.detach()})
                    optim.zero_grad(set_to_none=True)
                    kl_loss.backward()
                    nn.utils.clip_grad_norm_(student.parameters(), cfg.max_grad_norm)
                    optim.step()
                    updates += 1
                    kl_sum += kl_loss.item()
                final = {"kl": kl_sum / max(cfg.updates_per_iter, 1)}
                iteration += 1
                if ctx.progress is not None:
                    ctx.progress(env_steps, {**final, "beta": beta})
                ctx.reached_rollout(env_steps, ro.env_steps)  # learning curve: points before the next iteration
        finally:
            env.close()
        student.eval()
        return TrainStats(env_steps=env_steps, wall_s=self.clock() - t_start, updates=updates, final_losses=final,
                          budget_rule=WHOLE_ROLLOUTS)
