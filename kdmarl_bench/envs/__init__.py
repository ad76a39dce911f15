"""Environments: one batched interface (base.VecEnv) over MPE, SMAX and real SMAC."""

from kdmarl_bench.envs import mpe, smacv2, smax  # noqa: F401  (registers tasks)
from kdmarl_bench.envs.base import EnvSpec, Step, VecEnv, random_actions
from kdmarl_bench.envs.registry import TASKS, Task, all_tasks, get_task, make_env

__all__ = [
    "EnvSpec",
    "Step",
    "TASKS",
    "Task",
    "VecEnv",
    "all_tasks",
    "get_task",
    "make_env",
    "random_actions",
]
