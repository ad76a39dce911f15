"""Observation views: what a policy is allowed to see of a task.

The env hands every agent its full local observation ``obs_i`` and a global ``state``. A *view*
maps those to the observation one policy acts on, per agent and batched, in torch:

- ``full``: the agent's own observation, unchanged (what today's teachers act on);
- ``privileged``: ``obs_i ⊕ state``, the *centralized expert*'s input (teachers only);
- task views that hold **less** than ``obs_i`` (a shorter sight range, the nearest landmarks
  only, per-agent feature groups of different sizes) for students.

A view is a pure function of ``(obs, state)`` of the same time step, so the teacher's labels
always come from the same state the student sees through its view.

A view that hides units may also restrict the **available-actions mask** (``View.restrict``): the
env's mask is computed from the full state, so an attack action on an enemy the view hides would
tell the student that enemy is there. ``View.avail(avail, obs, state)`` is the mask a policy acting
through the view may use (the env's mask when the view declares no restriction: ``full``,
``privileged``, MPE views); the teacher always keeps its own. Views are declared by the
task's family module (``envs/smax.py``, ``envs/mpe.py``) and looked up by name with "did you
mean" (``kdmarl_bench.envs.registry.get_view``; this module holds the data and never imports the
task registry). Every policy records the view it acts through (``TeamPolicy.view``), so a
checkpoint can only be run through the view it was trained on (``check_view``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from kdmarl_bench.errors import UsageError

FULL = "full"
PRIVILEGED = "privileged"
TEACHER_KINDS = {"local": FULL, "privileged": PRIVILEGED}
"""Teacher kind (recorded on boards) → the view its actor acts through."""

Select = Callable[[list[torch.Tensor], torch.Tensor], list[torch.Tensor]]
Restrict = Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], list[torch.Tensor]]
"""``restrict(avail, obs, state)`` → per-agent ``(B, A_i)`` bool masks, each a subset of ``avail``."""


@dataclass(frozen=True)
class View:
    """One named way of observing a task."""

    name: str
    obs_dims: tuple[int, ...]
    """Observation size of each agent under this view."""
    description: str
    select: Select
    """``select(obs, state)`` → per-agent ``(B, obs_dims[i])`` tensors."""
    limited: bool = False
    """True when at least one agent sees less than its full observation."""
    teacher_only: bool = False
    """True for ``privileged``: students are decentralized and never see the global state."""
    restrict: Restrict | None = None
    """Optional pure map ``(avail, obs, state)`` → the masks a policy acting through this view may use
    (it only ever removes actions, e.g. attacks on enemies the view hides); None: the env's mask."""

    def __call__(self, obs: list[torch.Tensor], state: torch.Tensor) -> list[torch.Tensor]:
        return self.select(obs, state)

    def avail(self, avail: list[torch.Tensor], obs: list[torch.Tensor], state: torch.Tensor) -> list[torch.Tensor]:
        """The available-actions masks of a policy acting through this view (``avail`` from the env, and
        the same step's full ``obs`` and ``state``); the env's masks themselves when nothing is restricted."""
        if self.restrict is None:
            return avail
        return [m & r for m, r in zip(avail, self.restrict(avail, obs, state), strict=True)]

    @property
    def heterogeneous(self) -> bool:
        return len(set(self.obs_dims)) > 1

    def to_dict(self, full_dims: tuple[int, ...]) -> dict:
        return {"name": self.name, "description": self.description, "obs_dims": list(self.obs_dims),
                "teacher_obs_dims": list(full_dims), "limited": self.limited,
                "heterogeneous": self.heterogeneous, "teacher_only": self.teacher_only,
                "restricts_mask": self.restrict is not None}


def concat_state(obs: list[torch.Tensor], state: torch.Tensor) -> list[torch.Tensor]:
    return [torch.cat([o, state], dim=-1) for o in obs]


def full_view(obs_dims: tuple[int, ...]) -> View:
    return View(FULL, tuple(obs_dims), "each agent's own observation, as the env gives it", lambda obs, state: list(obs))


def privileged_view(obs_dims: tuple[int, ...], state_dim: int) -> View:
    return View(PRIVILEGED, tuple(d + state_dim for d in obs_dims),
                "own observation followed by the global state (the centralized expert's input; teachers only)",
                concat_state, teacher_only=True)


def columns(index: list[list[int]]) -> Select:
    """A view that keeps, for agent i, the columns ``index[i]`` of its observation (in that order)."""
    idx = [torch.tensor(ix, dtype=torch.long) for ix in index]

    def select(obs: list[torch.Tensor], state: torch.Tensor) -> list[torch.Tensor]:
        return [o.index_select(-1, ix.to(o.device)) for o, ix in zip(obs, idx, strict=True)]

    return select


def check_view(trained: str, asked: str | None, what: str) -> str:
    """The view to run a checkpoint through: the one it was trained on. Asking for another is a UsageError."""
    if asked is not None and asked != trained:
        raise UsageError(f"{what} was trained on view {trained!r} and cannot be run through view {asked!r}; "
                         f"drop --view or pass --view {trained}")
    return trained
