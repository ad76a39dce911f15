"""Environment families: one place for everything a family decides.

A family module (``envs/mpe.py``, ``envs/smax.py``, ``envs/smacv2.py``) registers one ``Family``
and its tasks. Everything else asks the family instead of keeping its own table: the suite's
default eval episodes, ``train-teacher``'s MAPPO defaults, the students' views of a task and the
CLI's ``--family`` choices. Adding a family (or a view) is one module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kdmarl_bench.registry import Registry

if TYPE_CHECKING:
    from kdmarl_bench.envs.base import EnvSpec
    from kdmarl_bench.envs.views import View


@dataclass(frozen=True)
class Family:
    """A backend family of tasks."""

    name: str
    """``mpe``, ``smax``, ``smacv2``: the prefix of its task ids."""
    description: str
    eval_episodes: int
    """Evaluation episodes per record under the protocol (each scored greedy and sampled; SMAX 128,
    MPE 100; the SMAC convention of 32 greedy episodes cannot resolve a near-tie between two actions)."""
    eval_seeds: int = 1
    """Eval seeds a record's episodes are spread over (SMAX 4: one env reset seed decides a lot)."""
    teacher_defaults: dict[str, Any] = field(default_factory=dict)
    """``train-teacher``'s MAPPO settings for this family (``MappoConfig`` fields)."""
    views: Callable[[EnvSpec], list[View]] | None = None
    """The students' views of a task beyond ``full`` (``privileged`` is added for teachers)."""


FAMILIES: Registry[Family] = Registry("env family")


def register_family(family: Family) -> Family:
    FAMILIES.add(family.name, family)
    return family


def get_family(name: str, where: str = "") -> Family:
    """A family by name; an unknown one is a UsageError with "did you mean" (families register on
    ``import kdmarl_bench.envs``)."""
    return FAMILIES.get(name, where)


def family_names() -> list[str]:
    return [name for name, _ in FAMILIES.items()]
