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

import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from kdmarl_bench.checkpoint import load_checkpoint
from kdmarl_bench.evaluate import evaluate
from kdmarl_bench.results.stats import diff_ci, mean_ci


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


def record_problem(r: dict, fresh_seed: int) -> str | None:
    """Why a leaderboard record cannot be re-evaluated (checked before its checkpoint is touched), or None."""
    from kdmarl_bench.envs import TASKS
    from kdmarl_bench.suite import SEED_MAX

    if not isinstance(r.get("task"), str) or r["task"] not in TASKS:
        return f"unknown task {r.get('task')!r}"
    seed = r.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= SEED_MAX - fresh_seed:
        return f"seed {seed!r} is not an integer in [0, {SEED_MAX - fresh_seed}] (fresh eval seed = {fresh_seed} + seed)"
    scores = r.get("episode_scores")
    if not isinstance(scores, list) or not scores:
        return "has no episode scores (0 episodes) to compare against"
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in scores):
        return "has a non-numeric or non-finite episode score"
    if not isinstance(r.get("score"), (int, float)) or not math.isfinite(r["score"]):
        return f"score {r.get('score')!r} is not a finite number"
    return None


def verify_leaderboard(data: dict, path: str | Path, sample: int = 4, fresh_seed: int = 777_000,
                       rng_seed: int = 0, include_teacher: bool = False,
                       allow_outside: bool = False) -> list[Verification]:
    """Re-evaluate ``sample`` records. Checkpoint paths are relative to the leaderboard's folder; one that
    leaves it (absolute, ``..``, a symlink out) is refused (UsageError) unless ``allow_outside``."""
    from kdmarl_bench.checkpoint import check_dims
    from kdmarl_bench.envs import get_task
    from kdmarl_bench.errors import UsageError
    from kdmarl_bench.safeio import resolve_checkpoint_ref

    base = Path(path).resolve().parent
    candidates = [(i, r) for i, r in enumerate(data["records"]) if r.get("checkpoint") and not r.get("error")
                  and (include_teacher or r["method"] != "teacher")]
    picked = random.Random(rng_seed).sample(candidates, min(sample, len(candidates)))
    out = []
    for i, r in picked:
        ck = r["checkpoint"]
        where = (f"{path}: record {i} ({r.get('task')} · {r.get('method')} · "
                 f"{(r.get('student') or {}).get('size', 'full')} · seed {r.get('seed')})")
        problem = record_problem(r, fresh_seed)
        if problem:
            raise UsageError(f"{where}: {problem}")
        ck_path = resolve_checkpoint_ref(ck, base, allow_outside, where)
        policy, card = load_checkpoint(ck_path)
        if card["task"] != r["task"]:
            raise UsageError(f"{where}: checkpoint {ck!r} was made for task {card['task']!r}, not the record's "
                             f"{r['task']!r}")
        check_dims(card, get_task(r["task"]).spec, ck_path)
        episodes = len(r["episode_scores"])
        seed = fresh_seed + int(r["seed"])
        res = evaluate(policy, r["task"], episodes, seed)
        _, lo, hi = mean_ci(r["episode_scores"], random_state=0)
        _, dlo, dhi = diff_ci(res.episode_scores, r["episode_scores"], random_state=0)
        size = (r.get("student") or {}).get("size", "full")
        out.append(Verification(r["task"], r["method"], size, int(r["seed"]), ck, float(r["score"]), (lo, hi),
                                res.score, seed, lo <= res.score <= hi, (dlo, dhi), dhi >= 0.0))
    return out
