"""How much a privileged teacher (its actor also sees the global state) beats the local one on the
same task: every zoo task that has both plays the same eval seeds, greedy and sampled, and the margin
(privileged − local) gets a 95% Welch interval over episodes (``noise.welch_interval``).

The score is the card's metric: the win rate on SMAX, the mean team return on MPE. The episodes are
spread over ``--seeds`` eval seeds (``--episodes`` in all, default 400 over 4 seeds from 20000: seeds
no committed board evaluates on). ``--write-cards`` records the result as ``margin`` on each
privileged zoo card (the weights, hence every cell key, are untouched; the card is rewritten
atomically), so the card states its margin as measured by this script.

    python benchmarks/teacher_margin.py [--episodes 400] [--seeds 4] [--seed-base 20000] [--write-cards]
"""

from __future__ import annotations

import argparse
import json
import os

from kdmarl_bench.executors.base import WORKER_ENV

os.environ.update(WORKER_ENV)  # one thread, as in a `run` worker (before torch and jax load)

from kdmarl_bench.evaluate import EvalResult, evaluate_protocol  # noqa: E402
from kdmarl_bench.results.analysis.noise import welch_interval  # noqa: E402
from kdmarl_bench.safeio import write_json_atomic  # noqa: E402
from kdmarl_bench.teachers.zoo import load_policy_ref, zoo_path, zoo_teachers  # noqa: E402


def play(ref: str, task: str, episodes: int, seeds: list[int]) -> EvalResult:
    policy, _ = load_policy_ref(ref)
    return evaluate_protocol(policy, task, episodes, seeds, sampled=True)


def margin(task: str, episodes: int, seeds: list[int]) -> dict:
    """Both teachers of ``task`` on the same eval seeds; the margin greedy and sampled."""
    local = play(f"zoo:{task}", task, episodes, seeds)
    priv = play(f"zoo:{task}@privileged", task, episodes, seeds)
    out: dict = {"vs": f"zoo:{task}", "metric": local.metric, "episodes": episodes, "eval_seeds": seeds,
                 "command": "python benchmarks/teacher_margin.py --write-cards"}
    for mode, lo, pr in (("greedy", local, priv), ("sampled", local.sampled, priv.sampled)):
        iv = welch_interval(pr.episode_scores, lo.episode_scores)
        out[mode] = {"privileged": round(pr.score, 4), "local": round(lo.score, 4), "margin": round(iv.estimate, 4),
                     "ci95": [round(iv.lo, 4), round(iv.hi, 4)]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=400)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--seed-base", type=int, default=20_000)
    ap.add_argument("--write-cards", action="store_true")
    args = ap.parse_args()
    seeds = [args.seed_base + i for i in range(args.seeds)]
    zoo = zoo_teachers()
    tasks = sorted(k.partition("@")[0] for k in zoo if k.endswith("@privileged") and k.partition("@")[0] in zoo)
    print(f"{'task':34s} {'mode':8s} {'local':>8s} {'privileged':>10s} {'margin':>8s}  95% CI")
    for task in tasks:
        m = margin(task, args.episodes, seeds)
        for mode in ("greedy", "sampled"):
            r = m[mode]
            print(f"{task:34s} {mode:8s} {r['local']:8.3f} {r['privileged']:10.3f} {r['margin']:+8.3f}  "
                  f"[{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}]")
        if args.write_cards:
            card_path = zoo_path(f"{task}@privileged").with_suffix(".json")
            card = json.loads(card_path.read_text())
            card["margin"] = m
            write_json_atomic(card_path, card)


if __name__ == "__main__":
    main()
