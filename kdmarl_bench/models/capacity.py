"""Student capacity rule: each agent's width follows its observation size.

REFERENCE.md: width from the observation size, rounded to a multiple of 8 and
clamped (18 → 32, 75 → 64, 205 → 128). We use width = clamp(round8(obs · 0.85), 32, 128)
for obs ≥ 40 and 32 below — it reproduces those three anchors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kdmarl_bench.errors import UsageError

MIN_WIDTH = 32
MAX_WIDTH = 128


def _round8(x: float) -> int:
    return max(8, int(round(x / 8.0)) * 8)


def auto_width(obs_dim: int, scale: float = 1.0) -> int:
    """Hidden width for an agent whose observation has ``obs_dim`` features."""
    base = _round8(obs_dim * 0.85)
    base = min(max(base, MIN_WIDTH), MAX_WIDTH)
    return max(8, _round8(base * scale))


def student_widths(obs_dims: tuple[int, ...], hidden: tuple[int, ...] | None = None, scale: float = 1.0,
                   depth: int = 2) -> list[tuple[int, ...]]:
    """Per-agent hidden layer widths: explicit ``hidden`` for all, or the capacity rule."""
    if hidden is not None:
        return [tuple(hidden) for _ in obs_dims]
    return [(auto_width(d, scale),) * depth for d in obs_dims]


# ---- sizes by FLOP target ([students] sizes: {label = "x20", flops_reduction = 20}) ----------

FLOPS_REDUCTION_RTOL = 0.10
"""A FLOP-target size is accepted when the achieved team reduction is within ±10% of the target
(``|achieved / target − 1| <= 0.10``). Widths move in steps of 8, so near the paper's range (10–30×,
widths ~100–250) the closest width set is typically within 2–6%; far outside it (a few units of width
left) no width set may come close and the size is refused."""
MAX_TARGET_WIDTH = 4096
"""Largest per-agent width the FLOP-target search considers."""


def mlp_flops(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> int:
    """FLOPs of one MLP decision at batch 1, as ``profiling/flops.py`` ``count_policy_cost`` counts them:
    2 × the multiply-accumulates of the matrix products (bias adds and activations count 0)."""
    dims = [int(in_dim), *map(int, hidden), int(out_dim)]
    return 2 * sum(a * b for a, b in zip(dims[:-1], dims[1:], strict=False))


def student_team_flops(obs_dims, n_actions, widths) -> int:
    """Team FLOPs of a ``StudentPolicy`` (sum over agents of each agent's own actor)."""
    return sum(mlp_flops(d, w, a) for d, a, w in zip(obs_dims, n_actions, widths, strict=True))


def teacher_team_flops(architecture: dict) -> int:
    """Team FLOPs of a ``TeacherPolicy`` from its card's ``architecture``: each agent's decision runs its
    group's shared actor on ``obs ⊕ one-hot agent id`` (``_SharedActorView``)."""
    obs_dims, n_actions = architecture["obs_dims"], architecture["n_actions"]
    n = len(obs_dims)
    hidden = tuple(architecture["actor_hidden"])
    return sum(mlp_flops(d + n, hidden, a) for d, a in zip(obs_dims, n_actions, strict=True))


@dataclass(frozen=True)
class FlopsFit:
    """The width set chosen for a FLOP-reduction target."""

    widths: list[tuple[int, ...]]
    scale: float
    """The common multiplier on the capacity-rule widths that gives ``widths``."""
    student_flops: int
    teacher_flops: int
    target: float

    @property
    def reduction(self) -> float:
        """Achieved team reduction: teacher FLOPs / student FLOPs."""
        return self.teacher_flops / self.student_flops

    @property
    def within_tolerance(self) -> bool:
        return abs(self.reduction / self.target - 1.0) <= FLOPS_REDUCTION_RTOL


def widths_for_flops_reduction(obs_dims, n_actions, teacher_flops: int, target: float,
                               depth: int = 2) -> FlopsFit:
    """Per-agent widths whose team FLOPs are closest to ``teacher_flops / target``.

    The capacity rule's shape is kept: every agent's width is ``auto_width(obs_i, s)`` (its capacity-rule
    width times one common scale ``s``, rounded to a multiple of 8, at least 8), ``depth`` layers. The
    width set is a step function of ``s``; every step (each agent's rounding boundaries
    ``(8k ± 4) / base_i``) is tried and the set whose reduction is closest to the target in ratio
    (``|log(achieved / target)|``; ties: the smaller student) is returned. The caller checks
    ``within_tolerance`` (±``FLOPS_REDUCTION_RTOL``).
    """
    if not target > 1:
        raise ValueError(f"flops_reduction target must be > 1, got {target!r}")
    bases = [auto_width(d) for d in obs_dims]
    # Scales at which some agent's rounded width changes; one probe inside each interval between them.
    bounds = sorted({(8 * k + 4) / b for b in set(bases) for k in range(0, MAX_TARGET_WIDTH // 8 + 1)})
    probes = [bounds[0] / 2] + [(lo + hi) / 2 for lo, hi in zip(bounds[:-1], bounds[1:], strict=False)]
    best: FlopsFit | None = None
    best_key: tuple[float, int] | None = None
    seen: set[tuple[int, ...]] = set()
    for s in probes:
        ws = tuple(auto_width(d, s) for d in obs_dims)
        if ws in seen or max(ws) > MAX_TARGET_WIDTH:
            continue
        seen.add(ws)
        widths = [(w,) * depth for w in ws]
        flops = student_team_flops(obs_dims, n_actions, widths)
        key = (abs(math.log(teacher_flops / flops / target)), flops)
        if best_key is None or key < best_key:
            best, best_key = FlopsFit(widths, s, flops, int(teacher_flops), float(target)), key
    assert best is not None
    return best


def resolve_widths(obs_dims, n_actions, hidden: tuple[int, ...] | None = None, scale: float = 1.0,
                   flops_reduction: float | None = None, teacher_architecture: dict | None = None,
                   where: str = "") -> tuple[list[tuple[int, ...]], FlopsFit | None]:
    """A student size's per-agent widths (the one place a size becomes widths).

    ``flops_reduction`` set: :func:`widths_for_flops_reduction` against the teacher's team FLOPs
    (``teacher_architecture``: its card's ``architecture``); a target no width set reaches within
    ±``FLOPS_REDUCTION_RTOL`` is a UsageError naming ``where``. Else :func:`student_widths`.
    """
    if flops_reduction is None:
        return student_widths(tuple(obs_dims), hidden, scale), None
    if teacher_architecture is None:
        raise ValueError("a flops_reduction size needs the teacher's architecture")
    fit = widths_for_flops_reduction(obs_dims, n_actions, teacher_team_flops(teacher_architecture), flops_reduction)
    if not fit.within_tolerance:
        at = f"{where}: " if where else ""
        raise UsageError(f"{at}flops_reduction {flops_reduction:g} cannot be reached within "
                         f"±{FLOPS_REDUCTION_RTOL:.0%} for student observation sizes {list(obs_dims)}: the closest "
                         f"widths {[w[0] for w in fit.widths]} give {fit.reduction:.1f}×")
    return fit.widths, fit
