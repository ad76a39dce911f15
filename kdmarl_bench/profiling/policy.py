"""Cost of one deployed team policy: FLOPs/params plus the latency grid a suite asks for."""

from __future__ import annotations

import os
from collections.abc import Callable

from kdmarl_bench.errors import UsageError
from kdmarl_bench.models.policy import TeamPolicy
from kdmarl_bench.profiling.deploy import deploy_entry
from kdmarl_bench.profiling.floor import annotate_floor, dram_weight_bytes
from kdmarl_bench.profiling.flops import count_policy_cost
from kdmarl_bench.profiling.latency import cuda_available, time_batched, time_decentralized
from kdmarl_bench.suite_tables import batch_sizes_problem, threads_problem


def profile_policy(policy: TeamPolicy, *, iters: int = 1000, warmup: int = 100, threads: tuple[int, ...] = (1, 0),
                   batch_sizes: tuple[int, ...] = (), cuda: str = "auto", repeats: int = 3,
                   paths: tuple[str, ...] = ("eager",), recorded=None,
                   on_step: Callable[[str], None] | None = None) -> tuple[dict, list[dict]]:
    """Return (cost, latency entries) for the policy's deployed actors only.

    Training-only parts (critics, projection heads) are not in ``deploy_actors`` and so are
    never counted. ``threads`` 0 means all cores. The full grid is timed on the eager path;
    other deployment ``paths`` (``torchscript``, ``onnxruntime``, ``executorch``) add a 1-thread
    decentralized CPU entry each, tagged with ``path`` and carrying ``equivalence`` (checked on
    random and ``recorded`` per-agent observations) and ``file_bytes``. CPU entries get
    ``floor_ms``/``x_floor`` (:mod:`kdmarl_bench.profiling.floor`). ``on_step(text)`` is told as
    each step starts (the CLI shows it: exporting and timing every path takes a minute).
    """
    step = on_step or (lambda text: None)
    # torch.set_num_threads(100000) segfaults: refuse before timing anything.
    problem = threads_problem(list(threads)) or batch_sizes_problem(list(batch_sizes))
    if problem:
        raise UsageError(f"profile: {problem}")
    actors = policy.deploy_actors()
    obs_dims = list(policy.obs_dims)
    step("counting FLOPs and params")
    cost = count_policy_cost(actors, obs_dims)
    latency: list[dict] = []
    for path in paths:
        if path != "eager":
            step(f"{path}: export, equivalence check, timing")
            latency.append(deploy_entry(actors, obs_dims, path, warmup=warmup, iters=iters, repeats=repeats,
                                        recorded=recorded))
    all_cores = os.cpu_count() or 1
    for t in dict.fromkeys(t if t > 0 else all_cores for t in threads):
        step(f"eager: timing on {t} CPU thread{'s' if t > 1 else ''}")
        latency.append(time_decentralized(actors, obs_dims, device="cpu", threads=t, warmup=warmup, iters=iters,
                                          repeats=repeats))
        for b in batch_sizes:
            step(f"eager: timing batch {b} on {t} CPU thread{'s' if t > 1 else ''}")
            latency.append(time_batched(actors, obs_dims, device="cpu", threads=t, batch=b, warmup=warmup,
                                        iters=max(iters // 4, 10), repeats=repeats))
    if cuda == "auto" and cuda_available():
        step("eager: timing on CUDA")
        latency.append(time_decentralized(actors, obs_dims, device="cuda", threads=None, warmup=warmup, iters=iters,
                                          repeats=repeats))
        for b in batch_sizes:
            latency.append(time_batched(actors, obs_dims, device="cuda", threads=None, batch=b, warmup=warmup,
                                        iters=max(iters // 4, 10), repeats=repeats))
    for e in latency:
        e.setdefault("path", "eager")
    annotate_floor(latency, cost["flops"], dram_weight_bytes(actors))
    return cost, latency
