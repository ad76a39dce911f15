"""``logit-mse``: regression of student logits onto teacher logits (Ba & Caruana 2014), offline.

Same teacher-rollout dataset and training loop as ``bc``. Logits are only defined up to an
additive constant (softmax is shift-invariant), so both are centred by their mean over the
available actions before the squared error, which is taken over available actions only.
This is also the policy form of CTDS's value-regression signal (Zhao et al. 2022).
"""

from __future__ import annotations

from dataclasses import dataclass

from kdmarl_bench.methods.base import register_method
from kdmarl_bench.methods.bc import OfflineConfig, OfflineDistillMethod
from kdmarl_bench.methods.losses import logit_mse


@dataclass
class LogitMseConfig(OfflineConfig):
    """Logit regression: MSE between centred student and teacher logits over available actions."""


@register_method("logit-mse")
class LogitMse(OfflineDistillMethod):
    """MSE of mean-centred logits over available actions, on teacher rollouts."""

    config_cls = LogitMseConfig
    loss_name = "mse"

    def loss(self, student_logits, teacher_logits, avail):
        return logit_mse(student_logits, teacher_logits, avail)
