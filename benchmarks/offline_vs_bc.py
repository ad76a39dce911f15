"""kd-marl-offline vs bc, side by side: train wall time and score at one budget.

    python benchmarks/offline_vs_bc.py [--task mpe/simple_spread_v3] [--view near2] [--steps 40000]
                                       [--seeds 0 1 2] [--keep DIR]

Runs one suite (teacher, bc, kd-marl-offline; quickstart's env copies and eval episodes) through
``run_suite`` into a temp dir (or ``--keep DIR``) and prints, per seed, each method's training wall
time (``record.train.wall_s``), the ratio kd-marl-offline / bc, and both scores and retentions. Cells of
one seed run back to back, so the wall-time ratio is measured side by side; absolute times belong to
this machine (and its load) and only the ratio travels.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import tomllib
from pathlib import Path

from kdmarl_bench.runner import run_suite
from kdmarl_bench.suite import parse_suite

SUITE = """
[suite]
name = "offline-vs-bc"
tasks = ["{task}"]
methods = ["teacher", "bc", "kd-marl-offline"]
seeds = {seeds}
[students]
sizes = ["auto"]
[budget]
env_steps = {steps}
num_envs = 16
[eval]
episodes = {{ mpe = 100, smax = 32 }}
seed_base = 10000
[profile]
iters = 20
warmup = 2
threads = [1]
batch_sizes = []
cuda = "off"
[task."{task}"]
view = "{view}"
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="mpe/simple_spread_v3")
    ap.add_argument("--view", default="near2")
    ap.add_argument("--steps", type=int, default=40_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()

    text = SUITE.format(task=args.task, seeds=json.dumps(args.seeds), steps=args.steps, view=args.view)
    suite = parse_suite(tomllib.loads(text), "<offline_vs_bc>")
    out = args.keep or Path(tempfile.mkdtemp(prefix="offline-vs-bc-"))
    board, _ = run_suite(suite, out)
    recs = {(r["method"], r["seed"]): r for r in board["records"]}
    print(f"{args.task} view {args.view}, {args.steps:,} env-steps, seeds {args.seeds} (run dir {out})")
    ratios = []
    for seed in args.seeds:
        bc, off = recs[("bc", seed)], recs[("kd-marl-offline", seed)]
        ratio = off["train"]["wall_s"] / bc["train"]["wall_s"]
        ratios.append(ratio)
        print(f"seed {seed}: train wall bc {bc['train']['wall_s']:.1f} s, kd-marl-offline {off['train']['wall_s']:.1f} s "
              f"(x{ratio:.2f}); score bc {bc['score']:.3f} (retention {bc.get('retention')}), "
              f"kd-marl-offline {off['score']:.3f} (retention {off.get('retention')})")
    for m in ("teacher", "bc", "kd-marl-offline"):
        sc = [recs[(m, s)]["score"] for s in args.seeds]
        ret = [recs[(m, s)].get("retention") for s in args.seeds]
        print(f"{m}: mean score {statistics.mean(sc):.3f}; retentions {ret}")
    print(f"wall-time ratio kd-marl-offline / bc: median x{statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
