"""Retention of int8 students next to their fp32 twins, for every student of a leaderboard.

For each student record: loads its checkpoint, quantizes it (ONNX Runtime dynamic int8, QInt8
weights) and scores it under the record's own protocol (same task, eval seed and episodes, greedy),
then prints fp32 and int8 score and retention side by side, the share of greedy actions the int8
model keeps on random observations, and both ONNX files' bytes and 1-thread p50 latency.

    python benchmarks/int8_students.py baselines/quickstart.json [--iters 300] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from kdmarl_bench.profiling.quantize import int8_result
from kdmarl_bench.profiling.runtimes import RuntimeTeam, time_team
from kdmarl_bench.results.analysis.stats import retention
from kdmarl_bench.results.store.boards import read_leaderboard
from kdmarl_bench.teachers.zoo import load_policy_ref


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("leaderboard", type=Path)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--json", dest="json_out", type=Path, default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    board = read_leaderboard(args.leaderboard)
    rows = []
    for r in board.records:
        if r.error or r.method == "teacher" or not r.checkpoint:
            continue
        policy, _ = load_policy_ref(str(args.leaderboard.resolve().parent / r.checkpoint))
        q = int8_result(policy, r.task, r.eval_episodes, r.eval_seed, fp32_score=r.score,
                        teacher_score=r.teacher_score, random_score=r.random_score,
                        warmup=20, iters=args.iters, repeats=3)
        fp32 = RuntimeTeam.build(policy.deploy_actors(), list(policy.obs_dims), "onnxruntime")
        fp32_lat = time_team(fp32, warmup=20, iters=args.iters, repeats=3)
        retained = r.retention
        if retained is None and r.teacher_score is not None:
            retained = float(retention(r.score, r.teacher_score, r.metric, r.random_score))
        rows.append({
            "task": r.task, "method": r.method, "seed": r.seed, "episodes": r.eval_episodes,
            "fp32_score": r.score, "int8_score": q["score"], "fp32_retention": retained,
            "int8_retention": q["retention"], "action_agreement": q["equivalence"]["action_agreement"],
            "fp32_onnx_bytes": fp32.file_bytes, "int8_onnx_bytes": q["bytes"],
            "fp32_ort_p50_ms": fp32_lat["p50_ms"], "int8_ort_p50_ms": q["latency"]["p50_ms"],
        })
        print(f"{r.task} {r.method} seed {r.seed}: fp32 {r.score:.3f} -> int8 {q['score']:.3f}",
              file=sys.stderr)

    def pct(x):
        return "-" if x is None else f"{x:.1%}"

    print("| task | method | seed | fp32 score | int8 score | fp32 retention | int8 retention | int8 actions kept "
          "| ONNX KiB fp32 → int8 | ORT p50 µs fp32 → int8 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for x in rows:
        print(f"| `{x['task']}` | {x['method']} | {x['seed']} | {x['fp32_score']:.3f} | {x['int8_score']:.3f} | "
              f"{pct(x['fp32_retention'])} | {pct(x['int8_retention'])} | {x['action_agreement']:.1%} | "
              f"{x['fp32_onnx_bytes'] / 1024:.1f} → {x['int8_onnx_bytes'] / 1024:.1f} | "
              f"{x['fp32_ort_p50_ms'] * 1e3:.1f} → {x['int8_ort_p50_ms'] * 1e3:.1f} |")
    print(f"({len(rows)} students, {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
