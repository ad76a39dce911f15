"""How much of a FLOP reduction becomes a latency reduction, per deployment path.

Builds a teacher-sized actor (obs -> 512 -> 512 -> 512 -> A, one parameter-shared module called once
per agent) and a student (obs -> 64 -> 64 -> A, one per agent) for a SMAX 3m-like team (3 agents,
obs 75, 8 actions), counts FLOPs of both with kdmarl_bench.profiling.count_policy_cost, then times one
decentralized team decision (every agent at batch 1, CPU, 1 thread) through two deployment paths,
all in this one run:

* eager:       the nn.Module in torch.inference_mode
* torchscript: torch.jit.script -> torch.jit.freeze -> torch.jit.optimize_for_inference

and prints the latency ratio teacher/student next to the FLOP ratio: at this size framework overhead
per call, not arithmetic, dominates, so the latency ratio falls far short of the FLOP ratio.

    python benchmarks/latency_paths.py [--iters 2000] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from kdmarl_bench.profiling import count_policy_cost, time_decentralized
from kdmarl_bench.profiling.deploy import torchscript

N_AGENTS, OBS, ACTIONS = 3, 75, 8


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    t_start = time.perf_counter()
    torch.manual_seed(0)

    teacher = mlp([OBS, 512, 512, 512, ACTIONS])  # shared by all agents
    students = [mlp([OBS, 64, 64, ACTIONS]) for _ in range(N_AGENTS)]
    team_t, team_s = [teacher] * N_AGENTS, students
    dims = [OBS] * N_AGENTS

    cost_t = count_policy_cost(team_t, dims)
    cost_s = count_policy_cost(team_s, dims)
    flop_ratio = cost_t["flops"] / cost_s["flops"]

    console = Console(width=140)
    costs = Table(title=f"Cost per team decision ({N_AGENTS} agents, obs {OBS}, {ACTIONS} actions, batch 1)")
    for col in ("policy", "params", "MACs (thop)", "FLOPs (FlopCounterMode)", "2*MACs", "agree"):
        costs.add_column(col, justify="right")
    for name, c in (("teacher 512x3 (shared)", cost_t), ("student 64x2 (per agent)", cost_s)):
        costs.add_row(name, f"{c['params']:,}", f"{c['macs']:,}", f"{c['flops']:,}", f"{c['flops_thop']:,}",
                      str(c["agree"]))
    console.print(costs)
    console.print(f"FLOP ratio teacher/student: [bold]{flop_ratio:.1f}x[/bold]")

    paths = {"eager": lambda team: team, "torchscript": lambda team: [torchscript(m) for m in team]}
    timing = {"warmup": args.warmup, "iters": args.iters, "repeats": args.repeats, "threads": args.threads}
    rows = []
    device_name = ""
    for path, convert in paths.items():
        # keep sharing: convert the teacher once
        t_conv = convert([teacher])[0] if path != "eager" else teacher
        r_t = time_decentralized([t_conv] * N_AGENTS, dims, **timing)
        r_s = time_decentralized(convert(team_s), dims, **timing)
        device_name = r_t["device_name"]
        rows.append((path, r_t, r_s))

    lat = Table(title=f"Decentralized team decision latency, CPU {args.threads} thread(s): {device_name}")
    for col in ("path", "teacher p50 ms", "student p50 ms", "teacher Timer ms", "student Timer ms",
                "latency ratio", "FLOP ratio", "latency/FLOP ratio", "cv t/s"):
        lat.add_column(col, justify="right")
    for path, r_t, r_s in rows:
        ratio = r_t["p50_ms"] / r_s["p50_ms"]
        lat.add_row(path, f"{r_t['p50_ms']:.4f}", f"{r_s['p50_ms']:.4f}", f"{r_t['timer_median_ms']:.4f}",
                    f"{r_s['timer_median_ms']:.4f}", f"{ratio:.2f}x", f"{flop_ratio:.1f}x",
                    f"{ratio / flop_ratio:.1%}", f"{r_t['cv']:.3f}/{r_s['cv']:.3f}")
    console.print(lat)
    for path, r_t, r_s in rows:
        ratio = r_t["p50_ms"] / r_s["p50_ms"]
        console.print(f"{path:12s}: {flop_ratio:.1f}x fewer FLOPs -> {ratio:.2f}x lower p50 latency "
                      f"({ratio / flop_ratio:.1%} of the FLOP ratio); student "
                      f"{r_s['p50_ms'] * 1e3 / N_AGENTS:.1f} us/agent, teacher "
                      f"{r_t['p50_ms'] * 1e3 / N_AGENTS:.1f} us/agent"
                      + ("  [Timer mismatch]" if r_t["timer_mismatch"] or r_s["timer_mismatch"] else ""))
    console.print(f"torch {torch.__version__}, iters {args.iters} x repeats {args.repeats}, "
                  f"total {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
