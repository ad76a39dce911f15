"""Task registry: every task id → its spec, a factory and an availability check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kdmarl_bench.envs.base import EnvSpec, VecEnv
from kdmarl_bench.errors import BackendUnavailable
from kdmarl_bench.registry import Registry


@dataclass(frozen=True)
class Task:
    spec: EnvSpec
    factory: Callable[..., VecEnv]
    """``factory(num_envs, **options)``; imports its backend lazily."""
    availability: Callable[[], str | None]
    """Returns None when the backend works here, else how to install it."""
    versions: Callable[[], dict[str, str]]
    """Backend package versions, recorded with every result."""

    @property
    def available(self) -> bool:
        return self.availability() is None

    def make(self, num_envs: int = 1, **options) -> VecEnv:
        why = self.availability()
        if why is not None:
            raise BackendUnavailable(f"task {self.spec.id!r} cannot run here: {why}")
        return self.factory(num_envs, **options)


TASKS: Registry[Task] = Registry("task")


def register_task(task: Task) -> None:
    TASKS.add(task.spec.id, task)


def get_task(task_id: str, where: str = "") -> Task:
    """Look up a task id; unknown ids raise UsageError with suggestions."""
    return TASKS.get(task_id, where)


def make_env(task_id: str, num_envs: int = 1, **options) -> VecEnv:
    return get_task(task_id).make(num_envs, **options)


def all_tasks() -> list[Task]:
    return [t for _, t in TASKS.items()]
