"""Task registry: every task id → its spec, a factory and an availability check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kdmarl_bench.envs.base import EnvSpec, VecEnv
from kdmarl_bench.envs.family import get_family
from kdmarl_bench.envs.views import FULL, PRIVILEGED, View, full_view, privileged_view
from kdmarl_bench.errors import BackendUnavailable, UsageError
from kdmarl_bench.registry import Registry, suggest


@dataclass(frozen=True)
class Task:
    spec: EnvSpec
    factory: Callable[..., VecEnv]
    """``factory(num_envs, **options)``; imports its backend lazily."""
    availability: Callable[[], str | None]
    """Returns None when the backend works here, else how to install it."""
    versions: Callable[[], dict[str, str]]
    """Backend package versions, recorded with every result."""

    def views(self) -> dict[str, View]:
        """``full``, the views the task's family declares for it, then ``privileged`` (teachers only)."""
        out = {"full": full_view(self.spec.obs_dims)}
        declared = get_family(self.spec.family).views
        for v in declared(self.spec) if declared else []:
            out[v.name] = v
        out["privileged"] = privileged_view(self.spec.obs_dims, self.spec.state_dim)
        return out

    @property
    def family(self):
        """The task's ``Family`` (eval episodes, teacher defaults, views)."""
        return get_family(self.spec.family)

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


# ---- views by name (the data is in envs/views.py) ----------------------------------------


def task_views(task_id: str) -> dict[str, View]:
    """Every view of a task, ``full`` first (UsageError for an unknown task)."""
    return get_task(task_id).views()


def get_view(task_id: str, name: str, where: str = "", students: bool = False) -> View:
    """A task's view by name; an unknown name (or ``privileged`` for a student) is a UsageError
    that lists the task's views."""
    views = task_views(task_id)
    allowed = [n for n, v in views.items() if not (students and v.teacher_only)]
    if name not in allowed:
        at = f"{where}: " if where else ""
        what = "student view" if students else "view"
        raise UsageError(f"{at}unknown {what} {name!r} for task {task_id!r}{suggest(name, allowed)}; "
                         f"views of {task_id}: {', '.join(allowed)}")
    return views[name]


def policy_view(task_id: str, policy) -> View:
    """The view a policy acts through (``policy.view``; ``full`` for None or a policy without one).
    ``full`` and ``privileged`` are the same for every task; other views come from the task."""
    name = getattr(policy, "view", FULL)
    dims = tuple(getattr(policy, "obs_dims", ()))
    if name == FULL:
        return full_view(dims)
    if name == PRIVILEGED:  # the policy's obs sizes already include the state
        return privileged_view(dims, 0)
    return get_view(task_id, name)
