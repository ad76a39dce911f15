"""Distillation methods: KD-MARL and the action-imitation baselines (one module each)."""

from kdmarl_bench.methods import teacher  # noqa: F401  (registers "teacher")
from kdmarl_bench.methods.base import (
    METHODS,
    DistillContext,
    DistillMethod,
    MethodConfig,
    TrainStats,
    register_method,
)

# Each module registers itself; the list is the only place to add a new method's file.
_METHOD_MODULES = ("kd_marl", "kd_marl_offline", "bc", "pd_kl", "dagger", "logit_mse", "scratch")
for _m in _METHOD_MODULES:
    __import__(f"kdmarl_bench.methods.{_m}")

__all__ = ["METHODS", "DistillContext", "DistillMethod", "MethodConfig", "TrainStats", "register_method"]
