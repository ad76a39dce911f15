"""Evaluation on fixed eval seeds → per-episode scores (REFERENCE.md protocol).

``evaluate`` runs one policy, greedy or sampling, on one eval seed. ``evaluate_protocol`` is what a
record gets: its episodes spread over its eval seeds, each seed played greedy and then sampled from
the same reset (paired), so both scores come from the same episodes' starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from kdmarl_bench.envs import get_task, random_actions
from kdmarl_bench.envs.registry import policy_view
from kdmarl_bench.models.policy import TeamPolicy


@dataclass
class EvalResult:
    task: str
    metric: str
    episodes: int
    seed: int
    returns: list[float]
    """Team return per episode (mean over agents of their summed reward)."""
    wins: list[bool] | None
    """Win flag per episode on win-rate tasks, else None."""
    seeds: list[int] | None = None
    """The eval seeds the episodes were spread over (None: ``seed`` alone)."""
    sampled: EvalResult | None = None
    """The same episodes' starts played sampling actions (``evaluate_protocol``); None: greedy only."""

    @property
    def episode_scores(self) -> list[float]:
        """The metric per episode: 1/0 wins on win-rate tasks, returns otherwise."""
        if self.metric == "win_rate":
            return [float(w) for w in self.wins or []]
        return list(self.returns)

    @property
    def score(self) -> float:
        return float(np.mean(self.episode_scores))

    @property
    def win_rate(self) -> float | None:
        return float(np.mean(self.wins)) if self.wins is not None else None

    def to_dict(self) -> dict:
        out = {
            "task": self.task,
            "metric": self.metric,
            "episodes": self.episodes,
            "seed": self.seed,
            "score": self.score,
            "win_rate": self.win_rate,
            "mean_return": float(np.mean(self.returns)),
            "episode_scores": self.episode_scores,
            "episode_returns": self.returns,
        }
        if self.seeds is not None:
            out["eval_seeds"] = list(self.seeds)
        if self.sampled is not None:
            out.update(score_sampled=self.sampled.score, episode_scores_sampled=self.sampled.episode_scores)
        return out

    @property
    def mean_return(self) -> float:
        """Mean team return over the episodes (a record's open ``mean_return``)."""
        return float(np.mean(self.returns))

    @property
    def eval_seeds(self) -> list[int] | None:
        """The eval seeds when the episodes were spread over more than one (a record's ``eval_seeds``)."""
        return list(self.seeds) if self.seeds is not None and len(self.seeds) > 1 else None


def evaluate_protocol(policy: TeamPolicy | None, task_id: str, episodes: int, seeds: list[int],
                      sampled: bool = True) -> EvalResult:
    """A record's evaluation: ``episodes`` spread as evenly as possible over ``seeds`` (the first
    seeds get the remainder), each seed played greedy and, with ``sampled``, then sampling actions
    from the same reset seed. The greedy result carries the sampled one (``EvalResult.sampled``).
    A random policy (None) has nothing to decode greedily: it is played once."""
    seeds = list(seeds)[:max(1, episodes)]
    quota = [episodes // len(seeds) + (1 if i < episodes % len(seeds) else 0) for i in range(len(seeds))]
    modes = [True, False] if sampled and policy is not None else [True]
    parts: dict[bool, list[EvalResult]] = {g: [] for g in modes}
    for seed, n in zip(seeds, quota, strict=True):
        for greedy in modes:
            parts[greedy].append(evaluate(policy, task_id, n, seed, greedy=greedy))

    def merged(results: list[EvalResult]) -> EvalResult:
        wins = [w for r in results for w in (r.wins or [])] if results[0].wins is not None else None
        return EvalResult(task_id, results[0].metric, episodes, seeds[0], [x for r in results for x in r.returns],
                          wins, seeds=seeds)

    out = merged(parts[True])
    if False in parts:
        out.sampled = merged(parts[False])
    return out


def evaluate(policy: TeamPolicy | None, task_id: str, episodes: int, seed: int, greedy: bool = True,
             num_envs: int | None = None, progress: Callable[[int, int], None] | None = None) -> EvalResult:
    """Run ``episodes`` full episodes; ``policy=None`` = uniform random over available actions.

    The policy acts through the view it was trained on (``policy.view``: a student's limited view,
    a privileged teacher's ``obs ⊕ state``), with that view's action mask (``View.avail``).

    Copy i of B runs a fixed quota of episodes, so which episodes count never depends on
    how fast a policy finishes them (keeps evaluation paired across methods).
    ``progress(done, episodes)`` is called whenever episodes finish.
    """
    spec = get_task(task_id).spec
    view = policy_view(task_id, policy) if policy is not None else None  # what the policy may see
    b = num_envs or min(episodes, 32)
    quota = torch.tensor([episodes // b + (1 if i < episodes % b else 0) for i in range(b)])
    returns: list[list[float]] = [[] for _ in range(b)]
    wins: list[list[bool]] = [[] for _ in range(b)]
    gen = torch.Generator().manual_seed(seed)
    env = get_task(task_id).make(b)
    try:
        step = env.reset(seed)
        if policy is not None:
            policy.eval()
        while any(len(returns[i]) < quota[i] for i in range(b)):
            with torch.inference_mode():
                if policy is None:
                    actions = random_actions(step.avail, gen)
                else:
                    actions = policy.act(view(step.obs, step.state), view.avail(step.avail, step.obs, step.state),
                                         greedy=greedy, generator=gen)
            step = env.step(actions)
            finished = torch.nonzero(step.done).flatten().tolist()
            for i in finished:
                if len(returns[i]) < quota[i]:
                    returns[i].append(float(step.ep_return[i]))
                    wins[i].append(bool(step.won[i]))
            if finished and progress is not None:
                progress(sum(len(r) for r in returns), episodes)
    finally:
        env.close()
    flat_r = [r for rs in returns for r in rs]
    flat_w = [w for ws in wins for w in ws]
    return EvalResult(task_id, spec.metric, episodes, seed, flat_r, flat_w if spec.has_win else None)
