"""Student capacity rule: each agent's width follows its observation size.

REFERENCE.md: width from the observation size, rounded to a multiple of 8 and
clamped (18 → 32, 75 → 64, 205 → 128). We use width = clamp(round8(obs · 0.85), 32, 128)
for obs ≥ 40 and 32 below — it reproduces those three anchors.
"""

from __future__ import annotations

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
