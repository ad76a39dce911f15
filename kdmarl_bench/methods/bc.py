"""``bc``: behaviour cloning on teacher rollouts (offline action imitation).

Also home of the shared offline recipe (``OfflineConfig``/``OfflineDistillMethod``) that
``pd-kl`` and ``logit-mse`` reuse: spend the whole env-step budget rolling out the frozen
teacher, store every visited state with the teacher's logits, then fit the student for
``epochs`` passes over that dataset in shuffled minibatches. Only the loss differs.

Learning curves (``[budget] eval_at``): the budget is spent in stages, one per budget point.
Stage k rolls the teacher on (the same env stream, never reset between stages) until point k,
then fits ``epochs`` passes over the whole dataset collected so far, continuing from the previous
stage's student and optimizer, and the student is evaluated at point k. With one point (no
``eval_at``) this is exactly one collection of the whole budget and one fit: the same computation,
bit for bit, as without curves. With several points the fits cost more (stage k passes over every
row collected up to point k) and the final student differs from a one-point run's: it has seen the
early rows in every stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from kdmarl_bench.envs.registry import policy_view
from kdmarl_bench.methods.base import (
    DistillContext,
    DistillMethod,
    MethodConfig,
    TrainStats,
    check_finite,
    register_method,
)
from kdmarl_bench.methods.losses import ce_to_teacher
from kdmarl_bench.methods.rollout import TeacherStream, plan_num_envs


@dataclass
class OfflineConfig(MethodConfig):
    """Fields shared by the offline methods (bc, pd-kl, logit-mse)."""

    epochs: int = 10
    """Passes over the teacher dataset (default 10)."""
    minibatch_size: int = 256
    """Rows (env-steps, all agents) per gradient step (default 256)."""
    teacher_sampling: bool = True
    """Teacher samples its masked softmax while collecting, for wider state coverage; False = greedy (default True)."""
    max_dataset: int = 200_000
    """Most rows kept in memory; beyond it a uniform reservoir sample of the whole budget (default 200000)."""


class OfflineDistillMethod(DistillMethod):
    """Collect a teacher dataset with the whole budget, then fit ``loss`` for ``epochs`` epochs
    (in stages, one per budget point, when the suite asks for a learning curve)."""

    config_cls: ClassVar[type] = OfflineConfig
    loss_name: ClassVar[str] = "loss"

    def loss(self, student_logits: list[torch.Tensor], teacher_logits: list[torch.Tensor],
             avail: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def train(self, ctx: DistillContext) -> TrainStats:
        cfg = self.config
        t_start = self.clock()
        torch.manual_seed(ctx.seed)
        gen = torch.Generator().manual_seed(ctx.seed)
        device = torch.device(ctx.device)
        student = ctx.student.to(device)
        ctx.teacher.eval()

        def on_steps(done: int) -> None:
            if ctx.progress is not None:
                ctx.progress(done, {})

        env = ctx.make_env(plan_num_envs(ctx.env_steps, ctx.num_envs))
        optim: torch.optim.Optimizer | None = None
        updates = 0
        final: dict[str, float] = {}
        try:
            stream = TeacherStream(env, ctx.teacher, ctx.env_steps, ctx.seed, gen, cfg.max_dataset,
                                   sample=cfg.teacher_sampling, device=device, on_steps=on_steps,
                                   student_view=policy_view(ctx.spec.id, student))
            for point in ctx.budget_points():
                # ---- rollout: the teacher's dataset, up to this budget point ----------------------
                env_steps = stream.collect_until(point)
                data = stream.buffer

                # ---- supervised training over the dataset so far -------------------------------------
                if optim is None:
                    optim = torch.optim.Adam(student.parameters(), lr=cfg.lr, eps=1e-5)
                student.train()
                for _ in range(cfg.epochs):
                    epoch_loss, n_mb = 0.0, 0
                    for mb_idx in data.epoch(cfg.minibatch_size):
                        mb_obs, mb_avail, mb_tlogits = data.get(mb_idx)
                        logits = student.logits(mb_obs)
                        loss = self.loss(logits, mb_tlogits, mb_avail)
                        check_finite({self.loss_name: loss.detach()})
                        optim.zero_grad(set_to_none=True)
                        loss.backward()
                        nn.utils.clip_grad_norm_(student.parameters(), cfg.max_grad_norm)
                        optim.step()
                        updates += 1
                        epoch_loss += loss.item()
                        n_mb += 1
                    final = {self.loss_name: epoch_loss / max(n_mb, 1)}
                    if ctx.progress is not None:
                        ctx.progress(env_steps, dict(final))
                ctx.reached(env_steps, budget_spent=point)  # learning curve: this stage's student
        finally:
            env.close()
        student.eval()
        return TrainStats(env_steps=env_steps, wall_s=self.clock() - t_start, updates=updates, final_losses=final)


@dataclass
class BCConfig(OfflineConfig):
    """Behaviour cloning: cross-entropy on the teacher's greedy actions over teacher rollouts."""

    lr: float = 3e-3
    """Adam learning rate (default 0.003; suites/sweep.toml → baselines/sweep.json: beat 1e-3 on both tasks)."""


@register_method("bc")
class BehaviourCloning(OfflineDistillMethod):
    """CE of the student against the teacher's greedy (masked argmax) action, on teacher rollouts."""

    config_cls = BCConfig
    loss_name = "ce"

    def loss(self, student_logits, teacher_logits, avail):
        return ce_to_teacher(student_logits, teacher_logits, avail)
