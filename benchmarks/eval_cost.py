"""What the new evaluation protocol costs per record: SMAX 3m, the old 32 greedy episodes on one eval
seed against the new 128 episodes over 4 eval seeds, each played greedy and sampled.

The zoo's smax/3m teacher plays both protocols (a student plays the same number of steps per episode
or more, so a record costs about this much; a learning curve pays it at every budget point), one
thread as in a ``run`` worker, alternately ``--repeats`` times after one warm-up of each (the jitted
SMAX step compiles once per batch size). Printed: the median seconds per record of each protocol
and their ratio.

    python benchmarks/eval_cost.py [--task smax/3m] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from kdmarl_bench.executors.base import WORKER_ENV

os.environ.update(WORKER_ENV)  # one thread, as in a `run` worker (before torch and jax load)

import torch  # noqa: E402

from kdmarl_bench.evaluate import evaluate, evaluate_protocol  # noqa: E402
from kdmarl_bench.suite import EVAL_SEED_STRIDE  # noqa: E402
from kdmarl_bench.teachers.zoo import load_policy_ref  # noqa: E402

EVAL_SEED = 10_000


def old_protocol(policy, task: str) -> float:
    """32 greedy episodes on one eval seed (the protocol before; seconds)."""
    t0 = time.perf_counter()
    evaluate(policy, task, 32, EVAL_SEED)
    return time.perf_counter() - t0


def new_protocol(policy, task: str) -> float:
    """128 episodes over 4 eval seeds, greedy and sampled (seconds)."""
    seeds = [EVAL_SEED + k * EVAL_SEED_STRIDE for k in range(4)]
    t0 = time.perf_counter()
    evaluate_protocol(policy, task, 128, seeds)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="smax/3m")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    policy, _ = load_policy_ref(f"zoo:{args.task}")
    old_protocol(policy, args.task)  # warm-up: compile the jitted step at batch 32
    new_protocol(policy, args.task)
    old, new = [], []
    for _ in range(args.repeats):
        old.append(old_protocol(policy, args.task))
        new.append(new_protocol(policy, args.task))
    o, n = statistics.median(old), statistics.median(new)
    print(f"{args.task}: old 32 greedy episodes, 1 eval seed: {o:.2f} s/record (median of {args.repeats})")
    print(f"{args.task}: new 128 episodes over 4 eval seeds, greedy + sampled: {n:.2f} s/record "
          f"(median of {args.repeats}); {n / o:.1f}x the old")


if __name__ == "__main__":
    main()
