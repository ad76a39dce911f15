"""How much of a FLOP reduction becomes a latency reduction, per deployment path, against the floor.

Builds a SMAX 3m-sized team (3 agents, obs 75, 8 actions) twice with the package's own policy
classes: a teacher (one parameter-shared 512-512-512 MLP fed obs ++ agent one-hot, as trained) and a
student (a 64-64 MLP per agent). Then, in this one run, on the CPU with 1 thread at batch 1, times
one decentralized team decision (every agent's policy once, in turn) of both through every path:

* eager            the nn.Module in torch.inference_mode
* torchscript      script -> freeze -> optimize_for_inference (legacy)
* onnxruntime      torch.export -> ONNX -> ONNX Runtime CPU EP, 1 thread, spinning off
* executorch       torch.export -> ExecuTorch, XNNPACK delegate, Python runtime, 1 thread
* onnxruntime-int8 the ONNX model after quantize_dynamic (QInt8 weights)
* numpy            the same matmuls in plain numpy (no framework at all)

and prints p50 per agent call for student and teacher, their ratio next to the FLOP ratio, and each
path's multiple of the floor (FLOPs / measured 1-thread matmul peak; weight bytes / measured copy
bandwidth, for weights larger than the last-level cache). Every exported path is checked against eager before it is timed.

    python benchmarks/latency_paths.py [--iters 2000] [--repeats 5] [--markdown]
    python benchmarks/latency_paths.py --device cuda    # eager on CUDA (needs a GPU)
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from kdmarl_bench.deploy_runtimes.base import missing_modules
from kdmarl_bench.deploy_runtimes.onnxruntime import export_onnx
from kdmarl_bench.deploy_runtimes.onnxruntime_int8 import quantize_int8
from kdmarl_bench.models.policy import StudentPolicy, TeacherPolicy
from kdmarl_bench.profiling import count_policy_cost, time_decentralized
from kdmarl_bench.profiling.deploy import deploy
from kdmarl_bench.profiling.floor import dram_weight_bytes, floor_ms, machine_peak
from kdmarl_bench.profiling.latency import cpu_name, cuda_available, latency_stats, sample_cpu
from kdmarl_bench.profiling.memory import memory_footprint
from kdmarl_bench.profiling.runtimes import (
    RuntimeTeam,
    check_equivalence,
    export_units,
    random_observations,
    time_team,
)

N_AGENTS, OBS, ACTIONS = 3, 75, 8


def numpy_team(actors: list[torch.nn.Module], obs_dims: list[int]):
    """Per-agent closures doing the actors' matmuls in numpy (the framework-free baseline)."""
    units = export_units(actors, obs_dims)
    calls = []
    obs = random_observations(obs_dims, 1, seed=1)
    for unit in units:
        layers = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
                  for m in unit.module.modules() if isinstance(m, torch.nn.Linear)]
        for i in unit.agents:
            x0 = obs[i]
            if unit.append_agent_id:
                one_hot = np.zeros((1, len(obs_dims)), dtype=np.float32)
                one_hot[0, i] = 1.0
            else:
                one_hot = None

            def call(x0=x0, one_hot=one_hot, layers=layers):
                x = x0 if one_hot is None else np.concatenate([x0, one_hot], axis=1)
                for k, (w, b) in enumerate(layers):
                    x = x @ w + b
                    if k < len(layers) - 1:
                        np.maximum(x, 0.0, out=x)
                return x
            calls.append(call)
    return calls


def time_calls(calls, warmup: int, iters: int, repeats: int) -> dict:
    def decision():
        for c in calls:
            c()
    for _ in range(warmup):
        decision()
    return latency_stats([sample_cpu(decision, iters) for _ in range(repeats)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--markdown", action="store_true", help="Also print the table as Markdown (for README).")
    args = ap.parse_args()
    t_start = time.perf_counter()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    dims = [OBS] * N_AGENTS
    teacher = TeacherPolicy(dims, [ACTIONS] * N_AGENTS, state_dim=1, actor_hidden=(512, 512, 512),
                            critic_hidden=(8,)).eval()
    student = StudentPolicy(dims, [ACTIONS] * N_AGENTS, [(64, 64)] * N_AGENTS).eval()
    teams = {"teacher": teacher.deploy_actors(), "student": student.deploy_actors()}
    cost = {k: count_policy_cost(a, dims) for k, a in teams.items()}
    flop_ratio = cost["teacher"]["flops"] / cost["student"]["flops"]
    mem = {k: memory_footprint(a, dims) for k, a in teams.items()}
    console = Console(width=160)

    if args.device == "cuda":
        if not cuda_available():
            print("--device cuda: no CUDA device here; nothing timed", file=sys.stderr)
            return 3
        timing = {"warmup": args.warmup, "iters": args.iters, "repeats": args.repeats, "threads": None}
        r = {k: time_decentralized(a, dims, device="cuda", **timing) for k, a in teams.items()}
        console.print(f"CUDA eager ({r['teacher']['device_name']}): student {r['student']['p50_ms'] * 1e3 / N_AGENTS:.1f}"
                      f" us/agent, teacher {r['teacher']['p50_ms'] * 1e3 / N_AGENTS:.1f} us/agent, ratio "
                      f"{r['teacher']['p50_ms'] / r['student']['p50_ms']:.2f}x (FLOP ratio {flop_ratio:.1f}x)")
        return 0

    peak = machine_peak()
    traffic = {k: dram_weight_bytes(a, peak) for k, a in teams.items()}
    timing = {"warmup": args.warmup, "iters": args.iters, "repeats": args.repeats}
    rows: list[tuple[str, dict, dict, str]] = []  # (path, teacher stats, student stats, check)
    for path in ("eager", "torchscript"):
        r = {k: time_decentralized(deploy(a, path), dims, threads=1, **timing) for k, a in teams.items()}
        rows.append((path, r["teacher"], r["student"], "reference" if path == "eager" else "-"))
    runtime_paths = [p for p in ("onnxruntime", "executorch") if not missing_modules(p)]
    for path in runtime_paths:
        r, checks = {}, []
        for k, a in teams.items():
            team = RuntimeTeam.build(a, dims, path)
            eq = check_equivalence(a, team)
            checks.append(f"{k[0]} {'ok' if eq.passed else 'FAIL'} {eq.max_abs_diff:.0e}")
            r[k] = time_team(team, **timing)
        rows.append((path, r["teacher"], r["student"], ", ".join(checks)))
    if "onnxruntime" in runtime_paths:
        r, checks = {}, []
        for k, a in teams.items():
            models = [quantize_int8(export_onnx(u.module, u.in_dim)) for u in export_units(a, dims)]
            team = RuntimeTeam.build(a, dims, "onnxruntime", models=models)
            eq = check_equivalence(a, team, atol=None)
            checks.append(f"{k[0]} actions {eq.action_agreement:.0%}")
            r[k] = time_team(team, **timing)
        rows.append(("onnxruntime-int8", r["teacher"], r["student"], ", ".join(checks)))
    r = {k: time_calls(numpy_team(a, dims), **timing) for k, a in teams.items()}
    rows.append(("numpy matmuls", r["teacher"], r["student"], "-"))

    floors = {k: floor_ms(cost[k]["flops"], traffic[k], peak) for k in teams}
    compute = {k: floor_ms(cost[k]["flops"], 0, peak) for k in teams}
    eager_student = rows[0][2]["p50_ms"]
    title = (f"p50 per agent call, CPU 1 thread, batch 1: {cpu_name()} · torch {torch.__version__} · "
             f"peak {peak.matmul_gflops:.1f} GFLOP/s, {peak.bandwidth_gbs:.1f} GB/s, LLC {peak.llc_bytes / 2**20:.0f} MiB")
    cols = ("path", "student µs", "teacher µs", "latency ratio", "student vs eager", "student x floor",
            "teacher x floor", "check vs eager")
    table = Table(title=title)
    for c in cols:
        table.add_column(c, justify="right")
    md = ["| " + " | ".join(cols) + " |", "|---|" + "---:|" * (len(cols) - 1)]

    def add(cells: list[str]) -> None:
        table.add_row(*cells)
        md.append("| " + " | ".join(cells) + " |")

    for path, rt, rs, check in rows:
        add([path, f"{rs['p50_ms'] * 1e3 / N_AGENTS:.1f}", f"{rt['p50_ms'] * 1e3 / N_AGENTS:.1f}",
             f"{rt['p50_ms'] / rs['p50_ms']:.1f}x", f"{rs['p50_ms'] / eager_student:.2f}x",
             f"{rs['p50_ms'] / floors['student']:.1f}x", f"{rt['p50_ms'] / floors['teacher']:.1f}x", check])
    add(["floor: FLOPs / matmul peak", f"{compute['student'] * 1e3 / N_AGENTS:.2f}",
         f"{compute['teacher'] * 1e3 / N_AGENTS:.2f}", f"{flop_ratio:.1f}x", "-", "-", "-", "-"])
    add(["floor: max(FLOP term, DRAM weight bytes / bandwidth)", f"{floors['student'] * 1e3 / N_AGENTS:.2f}",
         f"{floors['teacher'] * 1e3 / N_AGENTS:.2f}", f"{floors['teacher'] / floors['student']:.1f}x", "-", "1x", "1x",
         "-"])
    console.print(table)
    console.print(f"FLOPs per team decision: teacher {cost['teacher']['flops']:,}, student {cost['student']['flops']:,} "
                  f"({flop_ratio:.1f}x); weights: teacher {mem['teacher'].weights_fp32_bytes:,} B fp32 / "
                  f"{mem['teacher'].weights_int8_bytes:,} B int8, student {mem['student'].weights_fp32_bytes:,} B fp32 / "
                  f"{mem['student'].weights_int8_bytes:,} B int8; peak activations teacher "
                  f"{mem['teacher'].peak_activation_bytes:,} B, student {mem['student'].peak_activation_bytes:,} B")
    best = min(rows[1:], key=lambda row: row[2]["p50_ms"])
    console.print(f"best student path: {best[0]} at {best[2]['p50_ms'] / eager_student:.2f}x eager's p50 "
                  f"(iters {args.iters} x repeats {args.repeats}, total {time.perf_counter() - t_start:.0f} s)")
    if args.markdown:
        print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
