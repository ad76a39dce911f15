"""``scratch``: the no-teacher control — the student architecture trained by MAPPO from scratch.

Same env-step budget as every other method; the algorithm is the project's MAPPO trainer
(``teachers.mappo.train_mappo``, the one that trained the teachers), with a fresh small
centralized critic on the global state. The critic and its value normaliser are
training-only: they are discarded afterwards, so the deployed policy is exactly the student.

Budget: whole rollouts only (``rollout.plan_rollouts``, the rule of every on-policy method; MAPPO
itself runs whole batches only): the record's ``train.env_steps`` says what was used.

Learning curves: after every PPO update (``train_mappo``'s progress callback) the method reports the
env-steps used (``ctx.reached_rollout``); each ``[budget] eval_at`` point is scored on the student of
the whole rollouts ≤ the point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from kdmarl_bench.methods.base import (
    DistillContext,
    DistillMethod,
    MethodConfig,
    TrainStats,
    register_method,
)
from kdmarl_bench.methods.rollout import plan_num_envs, plan_rollouts
from kdmarl_bench.models.mlp import MLP
from kdmarl_bench.models.value_norm import ValueNorm
from kdmarl_bench.results.model.records import WHOLE_ROLLOUTS
from kdmarl_bench.teachers.mappo import MappoConfig, TrainLog, train_mappo


@dataclass
class ScratchConfig(MethodConfig):
    """MAPPO from scratch on the student architecture (no teacher)."""

    max_grad_norm: float = 10.0
    """Global gradient-norm clip; MAPPO's usual value, as for the teachers (default 10.0)."""
    rollout_len: int = 32
    """Steps per env copy per PPO update, as in kd-marl (default 32)."""
    epochs: int = 4
    """PPO epochs over each batch (default 4)."""
    minibatches: int = 4
    """Minibatches per epoch (default 4)."""
    gamma: float = 0.99
    """Discount factor (default 0.99)."""
    gae_lambda: float = 0.95
    """GAE λ (default 0.95)."""
    clip: float = 0.2
    """PPO ratio clip ε, also the value clip (default 0.2)."""
    ent_coef: float = 0.01
    """Entropy bonus weight (default 0.01)."""
    vf_coef: float = 1.0
    """Value-loss weight (default 1.0)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over training, as MAPPO does (default True)."""
    critic_hidden: int = 64
    """Width of the two hidden layers of the training-only critic V(s) (default 64)."""


@register_method("scratch")
class Scratch(DistillMethod):
    """The student trained by MAPPO with its own throw-away critic; never sees the teacher."""

    config_cls = ScratchConfig
    uses_teacher = False
    kind = "control"
    revision = 2

    def train(self, ctx: DistillContext) -> TrainStats:
        cfg = self.config
        t_start = self.clock()
        torch.manual_seed(ctx.seed)
        num_envs = plan_num_envs(ctx.env_steps, ctx.num_envs)
        # train_mappo runs whole rollouts of num_envs·rollout_len steps, as many as fit the budget.
        rollout_len, _ = plan_rollouts(ctx.env_steps, num_envs, cfg.rollout_len)
        batch = num_envs * rollout_len
        mcfg = MappoConfig(
            total_steps=ctx.env_steps, num_envs=num_envs, rollout_len=rollout_len, epochs=cfg.epochs,
            minibatches=cfg.minibatches, lr=cfg.lr, anneal_lr=cfg.anneal_lr, gamma=cfg.gamma,
            gae_lambda=cfg.gae_lambda, clip=cfg.clip, ent_coef=cfg.ent_coef, vf_coef=cfg.vf_coef,
            max_grad_norm=cfg.max_grad_norm, seed=ctx.seed,
        )
        # train_mappo steps CPU env tensors through the networks directly: train on the CPU.
        student = ctx.student.to("cpu")
        critic = MLP(ctx.spec.state_dim, (cfg.critic_hidden, cfg.critic_hidden), 1, out_gain=1.0)

        def on_log(log: TrainLog) -> None:  # after every PPO update (log_every=1)
            if ctx.progress is not None:
                ctx.progress(log.env_steps, dict(log.losses))
            ctx.reached_rollout(log.env_steps, batch)  # learning curve: points before the next rollout

        ctx.reached_rollout(0, batch)  # curve points before the first whole rollout
        env = ctx.make_env(num_envs)
        try:
            log = train_mappo(student, critic, ValueNorm(), env, mcfg, progress=on_log)
        finally:
            env.close()
        student.to(ctx.device)
        mb_per_epoch = math.ceil(batch / max(1, batch // cfg.minibatches))
        return TrainStats(
            env_steps=log.env_steps,
            wall_s=self.clock() - t_start,
            updates=log.updates * cfg.epochs * mb_per_epoch,
            final_losses=dict(log.losses),
            budget_rule=WHOLE_ROLLOUTS,
        )
