"""The smax/3m teachers on the same fresh episodes: a card's 100 episodes cannot tell 0.95 from 0.97.

Every teacher plays ``--episodes`` greedy episodes on each of ``--seeds`` eval seeds from
``--seed-base`` (default 4 x 1000 from 50000: seeds no board and no card evaluates on), the same
episodes for all; the table gives each seed's win rate, the mean and its 95% interval over the
episodes (``results.analysis.stats.mean_ci``). Written to ``baselines/measurements/smax_3m-teachers.json``
(``--out``); the README's table is made from it.

    python benchmarks/teacher_fresh.py [--episodes 1000] [--seeds 4] [--seed-base 50000]
    python benchmarks/teacher_fresh.py --selection   # the stage-3 candidates on seeds 1-4, the pick

``--selection`` plays the three last-stage candidates of the zoo teacher on eval seeds 1-4 (the
episodes the zoo's was picked on: the best of them) into ``baselines/measurements/smax_3m-selection.json``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kdmarl_bench.executors.base import WORKER_ENV

os.environ.update(WORKER_ENV)  # one thread, as in a `run` worker (before torch and jax load)

from kdmarl_bench.evaluate import evaluate  # noqa: E402
from kdmarl_bench.results.analysis.stats import mean_ci  # noqa: E402
from kdmarl_bench.safeio import write_json_atomic  # noqa: E402
from kdmarl_bench.teachers.zoo import load_policy_ref  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "baselines" / "measurements" / "smax_3m-teachers.json"
SELECTION_OUT = ROOT / "baselines" / "measurements" / "smax_3m-selection.json"
CANDIDATES = {
    "zoo:smax/3m": "stage 3 from stage 2 at lr 3e-4 (the zoo's)",
    "baselines/teachers/jax/smax_3m-s3-lr1e-4.safetensors": "stage 3 from stage 2 at lr 1e-4, 256 envs",
    "baselines/teachers/jax/smax_3m-s2-lr2e-4.safetensors": "stage 2 from stage 1 at lr 2e-4, 256 envs",
}
TEACHERS = {
    "zoo:smax/3m": "the zoo teacher: `--trainer jax`, 3 stages, 50M env-steps",
    "baselines/teachers/jax/smax_3m-s3-lr1e-4.safetensors": "the other stage-3 candidate (lr 1e-4, 256 envs)",
    "baselines/teachers/jax/smax_3m-s2.safetensors": "its first two stages (40M env-steps)",
    "baselines/teachers/jax/smax_3m-s1.safetensors": "its first stage (30M env-steps)",
    "kdmarl_bench/zoo/superseded/smax_3m-c6ca7ee2bb37.safetensors": "the zoo teacher until 2026-12-07: torch, 2M env-steps",
    "baselines/teachers/smax_3m-v2.safetensors": "smax_3m-v2: torch, 7.5M env-steps in 4 stages",
    "baselines/teachers/attempts/smax_3m-w4.safetensors": "smax_3m-w4: torch, smax_3m-v2 + 5M with a win bonus",
}


def play(ref: str, episodes: int, seeds: list[int], what: dict[str, str] = TEACHERS) -> dict:
    policy, _ = load_policy_ref(ref if ref.startswith("zoo:") else str(ROOT / ref))
    per_seed, scores = [], []
    for s in seeds:
        res = evaluate(policy, "smax/3m", episodes, s)
        per_seed.append(res.score)
        scores += res.episode_scores
    mean, lo, hi = mean_ci(scores, random_state=seeds[0])
    return {"teacher": ref, "what": what.get(ref, ""), "per_seed": per_seed, "win_rate": mean, "ci95": [lo, hi]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--seed-base", type=int, default=50_000)
    ap.add_argument("--out", type=Path, default=None, help=f"default: {OUT.relative_to(ROOT)}")
    ap.add_argument("--selection", action="store_true", help="the stage-3 candidates on seeds 1-4 instead")
    args = ap.parse_args()
    teachers = CANDIDATES if args.selection else TEACHERS
    base = 1 if args.selection else args.seed_base
    out = args.out or (SELECTION_OUT if args.selection else OUT)
    seeds = [base + k for k in range(args.seeds)]
    rows = []
    for ref in teachers:
        rows.append(play(ref, args.episodes, seeds, teachers))
        r = rows[-1]
        print(f"{ref}: {r['win_rate']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]  {r['per_seed']}", flush=True)
    command = "python benchmarks/teacher_fresh.py" + (" --selection" if args.selection else "")
    write_json_atomic(out, {"task": "smax/3m", "greedy": True, "episodes_per_seed": args.episodes,
                            "eval_seeds": seeds, "command": command, "rows": rows})


if __name__ == "__main__":
    main()
