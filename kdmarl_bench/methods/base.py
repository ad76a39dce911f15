"""The DistillMethod interface and the method registry.

A method is one module: a config dataclass (defaults + a docstring per field) and a
class registered once under its kebab-case id. Every method gets the same frozen
teacher, the same fresh student architecture and the same env-step budget.

Learning curves: a suite's ``[budget] eval_at`` gives budget points (the last is ``env_steps``).
A method reports the env-steps it has used with ``ctx.reached_rollout(env_steps_used, rollout_steps)``
after each whole rollout's update (on-policy methods: a point is scored on the student of the whole
rollouts ≤ the point) or ``ctx.reached`` at the end of each stage (offline methods, see ``bc.py``); the context
evaluates the student, greedy on the cell's paired eval seed, the first time each intermediate
point is passed. The final point is the cell's ordinary final evaluation. An evaluation leaves the
global torch / numpy / Python RNG states and the student's train/eval mode as it found them, so
a run's training is bit-identical with or without intermediate points.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from kdmarl_bench.envs.base import EnvSpec, VecEnv
from kdmarl_bench.errors import NonFiniteLoss
from kdmarl_bench.models.policy import StudentPolicy, TeacherPolicy
from kdmarl_bench.registry import Registry, suggest
from kdmarl_bench.results.model.records import CurvePoint, TrainStats
from kdmarl_bench.safeio import MAX_WIDTH


@dataclass
class MethodConfig:
    """Fields every method has."""

    lr: float = 1e-3
    """Adam learning rate of the student."""
    max_grad_norm: float = 1.0
    """Global gradient-norm clip."""


@dataclass
class DistillContext:
    """Everything a method may use to train a student."""

    spec: EnvSpec
    make_env: Callable[[int], VecEnv]
    """``make_env(num_envs)`` → a fresh VecEnv of the task."""
    teacher: TeacherPolicy
    """Frozen teacher (eval mode, no grad)."""
    student: StudentPolicy
    """Freshly initialised student to train in place."""
    env_steps: int
    """Budget: total env-steps (transitions of one copy) the method may take."""
    num_envs: int
    seed: int
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    progress: Callable[[int, dict[str, float]], None] | None = None
    """Called as ``progress(env_steps_done, metrics)`` now and then."""
    eval_at: tuple[int, ...] = ()
    """Budget points of the learning curve, increasing, the last one ``env_steps``; empty = only the end."""
    evaluate: Callable[[StudentPolicy], Any] | None = None
    """``evaluate(student)`` → an ``EvalResult`` under the cell's protocol (greedy, paired eval seed);
    None = no intermediate evaluation."""
    curve: list[CurvePoint] = field(default_factory=list)
    """Intermediate points evaluated so far (filled by ``reached``)."""
    eval_wall_s: float = 0.0
    """Seconds spent in intermediate evaluations (the runner takes them out of the training time)."""

    def budget_points(self) -> tuple[int, ...]:
        """The curve's points, ``(env_steps,)`` without ``eval_at``: an offline method's stage ends."""
        return self.eval_at or (self.env_steps,)

    def reached(self, env_steps_used: int, budget_spent: int | None = None) -> None:
        """The method has used ``env_steps_used`` env-steps (or, with ``budget_spent``, finished
        spending the budget up to that point): evaluate the student once for every intermediate point
        passed since the last call. The final point is left to the cell's final evaluation."""
        upto = max(env_steps_used, budget_spent or 0)
        due = [p for p in self.budget_points()[:-1] if p <= upto and p not in {c.env_steps for c in self.curve}]
        if not due or self.evaluate is None:
            return
        t0 = time.perf_counter()
        result = self._evaluate_quietly()
        for p in due:
            self.curve.append(CurvePoint.of(p, env_steps_used, result))
        self.eval_wall_s += time.perf_counter() - t0

    def reached_rollout(self, env_steps_used: int, rollout_steps: int) -> None:
        """On-policy methods, after each whole rollout's update (and once with 0 before the first):
        evaluate every intermediate point that the next rollout of ``rollout_steps`` env-steps would
        pass. A point p is thus scored on the student trained on the whole rollouts ≤ p, the same rule
        as the final point (``rollout.plan_rollouts``): no point's score has used more than p env-steps."""
        self.reached(env_steps_used, budget_spent=env_steps_used + rollout_steps - 1)

    def _evaluate_quietly(self) -> Any:
        """``evaluate(student)`` leaving every global RNG and the student's mode as they were."""
        torch_state = torch.get_rng_state()
        cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        np_state = np.random.get_state()
        py_state = random.getstate()
        was_training = self.student.training
        try:
            with torch.no_grad():
                return self.evaluate(self.student)
        finally:
            self.student.train(was_training)
            torch.set_rng_state(torch_state)
            if cuda_states is not None:
                torch.cuda.set_rng_state_all(cuda_states)
            np.random.set_state(np_state)
            random.setstate(py_state)




def check_finite(losses: dict[str, torch.Tensor]) -> None:
    for name, val in losses.items():
        val = val.detach()
        if not torch.isfinite(val).all():
            shown = float(val) if val.numel() == 1 else val[~torch.isfinite(val)].flatten()[0].item()
            raise NonFiniteLoss(f"loss '{name}' became {shown} (non-finite)")


# Ranges of config fields, by name (every method uses the same names for the same things).
# (low, low_inclusive, high): a value must be >= low (or > low) and <= high.
_UNIT = (0.0, True, 1.0)
FIELD_RANGES: dict[str, tuple[float, bool, float]] = {
    "lr": (0.0, False, 10.0),
    "max_grad_norm": (0.0, False, 1e6),
    "clip": (0.0, False, 10.0),
    "tau": (0.0, False, 1e3),
    "gamma": _UNIT,
    "gae_lambda": _UNIT,
    "beta_start": _UNIT,
    "beta_decay": _UNIT,
    "kappa": (0.0, True, 1e3),
    "adv_temperature": (0.0, False, 1e3),
    "adv_weight_max": (1.0, True, 1e6),
    "imitation_lr": (0.0, True, 10.0),  # 0 = the method's lr
    "warm_start_frac": _UNIT,
}
# The valid values of string config fields, by name (checked when a suite is loaded, as the ranges are).
FIELD_CHOICES: dict[str, tuple[str, ...]] = {
    "beta_schedule": ("linear", "geometric"),
    "role_term": ("v1", "across-time"),
}
INT_MAX = 2**31 - 1
WIDTH_FIELDS = ("proj_dim", "critic_hidden")


def field_range_problem(name: str, val: float, typ: type) -> str | None:
    """Why a method config value is out of range, or None. Learning rates, clips and temperatures must be
    > 0; discounts and mixing factors lie in [0, 1]; loss weights (``lambda_*``, ``*_coef``) are >= 0;
    counts (epochs, minibatches, rollout lengths, dataset sizes, widths) are >= 1."""
    if name in FIELD_RANGES:
        lo, inclusive, hi = FIELD_RANGES[name]
    elif name.startswith("lambda_") or name.endswith("_coef"):
        lo, inclusive, hi = 0.0, True, 1e6
    elif name.endswith("_lr"):
        lo, inclusive, hi = FIELD_RANGES["lr"]
    elif typ is int:
        lo, inclusive, hi = 1, True, MAX_WIDTH if name in WIDTH_FIELDS else INT_MAX
    else:
        return None
    if val < lo or (val == lo and not inclusive) or val > hi:
        low = f"{'>=' if inclusive else '>'} {lo:g}"
        return f"must be {low} and <= {hi:g}, got {val!r}"
    return None


class DistillMethod:
    """Base class. Subclasses set ``config_cls`` and implement ``train``."""

    id: ClassVar[str] = ""
    config_cls: ClassVar[type] = MethodConfig
    trains_student: ClassVar[bool] = True
    """False only for ``teacher`` (the expert is evaluated, not distilled)."""
    uses_teacher: ClassVar[bool] = True
    revision: ClassVar[int] = 1
    """Bumped when a method's training changes without a config field saying so; part of the cell key
    when > 1 (so older cells never resume as this revision's). 2: the on-policy methods spend their
    budget in whole rollouts only (``rollout.plan_rollouts``; before, a short last rollout was trained on)."""
    kind: ClassVar[str] = "action-imitation"
    """What the method distills, for the headline's comparisons (``METHOD_KINDS``): the focus method is
    judged against the best ``action-imitation`` baseline; ``control`` and ``teacher`` are never baselines."""

    def __init__(self, config: Any | None = None):
        self.config = config if config is not None else self.config_cls()

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any]) -> DistillMethod:
        return cls(dataclasses.replace(cls.config_cls(), **overrides))

    @classmethod
    def validate_overrides(cls, overrides: dict[str, Any], err: Callable[[str, str], Exception]) -> None:
        fields = {f.name: f for f in dataclasses.fields(cls.config_cls)}
        defaults = cls.config_cls()
        for key, val in overrides.items():
            if key not in fields:
                names = sorted(fields)
                raise err(key, f"unknown config field{suggest(key, names)}; valid fields: {', '.join(names)}")
            want = type(getattr(defaults, key))
            ok = isinstance(val, want) or (want is float and isinstance(val, int) and not isinstance(val, bool))
            if not ok or (want is not bool and isinstance(val, bool)):
                raise err(key, f"expected {want.__name__}, got {type(val).__name__} ({val!r})")
            if isinstance(val, float) and not math.isfinite(val):
                raise err(key, f"must be a finite number, got {val!r}")
            if want is str and key in FIELD_CHOICES and val not in FIELD_CHOICES[key]:
                raise err(key, f"must be one of {', '.join(FIELD_CHOICES[key])}; got {val!r}")
            if want in (int, float):
                problem = field_range_problem(key, val, want)
                if problem:
                    raise err(key, problem)

    def train(self, ctx: DistillContext) -> TrainStats:
        raise NotImplementedError

    @staticmethod
    def clock() -> float:
        return time.perf_counter()


METHOD_KINDS = {
    "teacher": "the expert itself, evaluated under the same protocol",
    "action-imitation": "the student imitates the teacher's actions or action distribution (bc, pd-kl, logit-mse, dagger)",
    "structure": "distills coordination structure besides actions (KD-MARL and its readings)",
    "control": "trained without the teacher (from-scratch RL)",
}

METHODS: Registry[type[DistillMethod]] = Registry("method")


def register_method(method_id: str):
    """Class decorator: register a DistillMethod under its kebab-case id."""

    def deco(cls: type[DistillMethod]) -> type[DistillMethod]:
        cls.id = method_id
        METHODS.add(method_id, cls)
        return cls

    return deco
