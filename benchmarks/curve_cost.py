"""What a learning curve costs: one quickstart-sized cell run with 4 budget points and with 1, side by side.

For each (task, method) the same cell (quickstart's budget, 40,000 env-steps on 16 copies, and its eval
episodes: 100 on MPE, 32 on SMAX; one thread, as in a ``run`` worker) runs with ``eval_at = [5000, 10000, 20000, 40000]`` and without,
alternately, ``--repeats`` times. Printed: median wall time of the whole cell (train + final evaluation +
cost count) both ways, their ratio, the seconds the intermediate evaluations took (``train.curve_eval_s``)
and the training time without them. On-policy methods pay only the evaluations; offline methods (bc,
pd-kl, logit-mse) also refit on the growing dataset at every stage.

    python benchmarks/curve_cost.py [--tasks mpe/simple_spread_v3 smax/3m] [--methods kd-marl bc] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import tomllib

from kdmarl_bench.executors.base import WORKER_ENV

os.environ.update(WORKER_ENV)  # one thread, as in a `run` worker (before torch and jax load)

import torch  # noqa: E402

from kdmarl_bench.runner import Runner, run_one_cell  # noqa: E402
from kdmarl_bench.suite import parse_suite  # noqa: E402

POINTS = [5000, 10000, 20000, 40000]


def suite_text(task: str, method: str, eval_at: list[int] | None, env_steps: int = 40000) -> str:
    at = f"eval_at = {json.dumps(eval_at)}\n" if eval_at else ""
    return f"""
[suite]
name = "curve-cost"
tasks = ["{task}"]
methods = ["{method}"]
seeds = [0]
[budget]
env_steps = {env_steps}
num_envs = 16
{at}[eval]
episodes = {{ mpe = 100, smax = 32 }}
"""


def run_once(task: str, method: str, eval_at: list[int] | None, env_steps: int = 40000) -> tuple[float, dict]:
    suite = parse_suite(tomllib.loads(suite_text(task, method, eval_at, env_steps)), "<curve-cost>")
    with tempfile.TemporaryDirectory() as out:
        (spec,) = Runner(suite, out, device="cpu").specs()
        t0 = time.perf_counter()
        rec = run_one_cell(spec, out)
        return time.perf_counter() - t0, rec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=["mpe/simple_spread_v3", "smax/3m"])
    ap.add_argument("--methods", nargs="+", default=["kd-marl", "bc"])
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'task':22} {'method':9} {'1 point s':>10} {'4 points s':>11} {'ratio':>6} {'evals s':>8} "
          f"{'train s (1 / 4)':>16}")
    for task in args.tasks:
        # Untimed: a short cell of the same shapes compiles (SMAX) and warms up everything first.
        run_once(task, args.methods[0], [256], env_steps=512)
        for method in args.methods:
            walls: dict[str, list[float]] = {"one": [], "four": []}
            recs: dict[str, dict] = {}
            for _ in range(args.repeats):  # alternate, so drift on a shared machine hits both
                for key, at in (("one", None), ("four", POINTS)):
                    wall, recs[key] = run_once(task, method, at)
                    walls[key].append(wall)
            one, four = statistics.median(walls["one"]), statistics.median(walls["four"])
            evals = recs["four"]["train"]["curve_eval_s"]
            train = f"{recs['one']['train']['wall_s']:.1f} / {recs['four']['train']['wall_s']:.1f}"
            print(f"{task:22} {method:9} {one:10.1f} {four:11.1f} {four / one:6.2f} {evals:8.1f} {train:>16}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
