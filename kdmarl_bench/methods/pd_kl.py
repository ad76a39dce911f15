"""``pd-kl``: policy distillation (Rusu et al., ICLR 2016) on teacher rollouts (offline).

Same teacher-rollout dataset and training loop as ``bc``; the loss is the temperature-softened
KL τ²·KL(softmax(z_T/τ) ‖ softmax(z_S/τ)) over available actions. Rusu et al. sharpen the
teacher with τ < 1 (e.g. 0.01 for their DQN Q-values); our teachers are stochastic policies
already, so the default is τ = 1 (plain KL to the teacher's policy).
"""

from __future__ import annotations

from dataclasses import dataclass

from kdmarl_bench.methods.base import register_method
from kdmarl_bench.methods.bc import OfflineConfig, OfflineDistillMethod
from kdmarl_bench.methods.losses import kl_distill


@dataclass
class PolicyDistillConfig(OfflineConfig):
    """Policy distillation: KL to the teacher's temperature-softened policy."""

    tau: float = 1.0
    """Softmax temperature τ; τ < 1 sharpens the teacher as in Rusu et al. (default 1.0; sweep: 0.5 tied, 2 lower)."""


@register_method("pd-kl")
class PolicyDistillKL(OfflineDistillMethod):
    """τ²·KL(teacher ‖ student) over available actions, on teacher rollouts."""

    config_cls = PolicyDistillConfig
    loss_name = "kl"

    def loss(self, student_logits, teacher_logits, avail):
        return kl_distill(student_logits, teacher_logits, avail, self.config.tau)
