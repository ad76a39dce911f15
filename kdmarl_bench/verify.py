"""Re-evaluate committed students on fresh eval seeds: does each score hold off the seeds it was measured on?

For a sample of a leaderboard's records with checkpoints, the policy is loaded from its
checkpoint, evaluated with the same protocol (greedy, same episode count) on a new
eval seed, and the fresh score is checked against the 95% bootstrap CI of the recorded
per-episode scores (``inside``). A fresh sample's mean lands in that CI only ~83% of the time
even for an honest record (both samples are noisy), so the pass/fail verdict is ``holds``: the
fresh score is not significantly *below* the recorded one (the 95% bootstrap CI of fresh −
recorded episode means reaches 0). A score that only holds on the original eval seeds fails it;
a fresh score significantly above the recorded one is reported (``inside`` false) but is not an
inflated result.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

from kdmarl_bench.checkpoint import load_checkpoint
from kdmarl_bench.evaluate import evaluate
from kdmarl_bench.results.stats import diff_ci, mean_ci
from kdmarl_bench.teachers.zoo import resolve_ref


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

    def to_dict(self) -> dict:
        return asdict(self)


def verify_leaderboard(data: dict, path: str | Path, sample: int = 4, fresh_seed: int = 777_000,
                       rng_seed: int = 0, include_teacher: bool = False) -> list[Verification]:
    base = Path(path).resolve().parent
    candidates = [r for r in data["records"] if r.get("checkpoint") and not r.get("error")
                  and (include_teacher or r["method"] != "teacher")]
    picked = random.Random(rng_seed).sample(candidates, min(sample, len(candidates)))
    out = []
    for r in picked:
        ck = r["checkpoint"]
        ck_path = resolve_ref(ck) if ck.startswith("zoo:") else base / ck
        policy, _ = load_checkpoint(ck_path)
        episodes = len(r["episode_scores"])
        seed = fresh_seed + int(r["seed"])
        res = evaluate(policy, r["task"], episodes, seed)
        _, lo, hi = mean_ci(r["episode_scores"], random_state=0)
        _, dlo, dhi = diff_ci(res.episode_scores, r["episode_scores"], random_state=0)
        size = (r.get("student") or {}).get("size", "full")
        out.append(Verification(r["task"], r["method"], size, int(r["seed"]), ck, float(r["score"]), (lo, hi),
                                res.score, seed, lo <= res.score <= hi, (dlo, dhi), dhi >= 0.0))
    return out
