"""What ``kdmarl-bench verify`` finds, as data: a fresh-seed re-evaluation (``Verification``) and a
cell trained again here (``Retrained``). ``kdmarl_bench/verify.py`` computes them; the tables
(``results/render_verify.py``) and ``--json`` read them."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Verification:
    task: str
    method: str
    size: str
    seed: int
    checkpoint: str
    recorded: float
    ci95: tuple[float, float]
    fresh: float
    fresh_seed: int
    inside: bool
    """Fresh score within the recorded episodes' 95% CI (the literal check)."""
    diff_ci95: tuple[float, float]
    """95% bootstrap CI of (fresh − recorded) mean episode score."""
    holds: bool
    """``diff_ci95``'s upper bound is >= 0 (fresh not significantly worse): the verdict."""
    view: str = "full"
    """The record's observation view (tables show ``TASK@VIEW`` when not ``full``)."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Retrained:
    """One cell of a board trained again on this machine and judged against its own (task,
    method, size)'s seeds: a 95% prediction interval for a *new* seed (``noise.prediction_interval``:
    seed-to-seed variance, floored by episode sampling, partially pooled with the task's other
    cells) — reproducibility across hosts is statistical, not bit identity."""

    task: str
    method: str
    size: str
    seed: int
    recorded: float
    """The board's score for this seed."""
    retrained: float
    """The score of the student trained here from the same cell (same seed, config, budget, eval seed)."""
    cell_mean: float
    """Mean score over the board's seeds of this (task, method, size)."""
    n_seeds: int
    interval: tuple[float, float]
    """95% prediction interval for one new seed of this cell."""
    df: float
    verdict: str
    """``holds`` (inside), ``outside`` (exit 1), or ``inconclusive`` (no degrees of freedom: one seed, no prior)."""
    identical: bool
    """Bit-identical to the recorded score (expected on the host that made the board)."""
    notes: list[str]

    def to_dict(self) -> dict:
        return asdict(self)
