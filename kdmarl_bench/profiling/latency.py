"""Inference latency of deployed policies (CPU and CUDA).

One *team decision* = every agent's own policy called once, in sequence, on its own observation
(``actors[i](obs_i)``, obs_i of shape ``(batch, obs_dims[i])``), in ``torch.inference_mode`` and
eval mode, on deep copies of the actors (the given modules are never touched; modules shared
between agents stay shared in the copies and are still called once per agent).

* ``time_decentralized``: the decentralized-execution profile, batch 1 by default.
* ``time_batched``: the same call sequence with ``batch`` environments at once; throughput is
  ``batch / p50`` team decisions per second.

Method: ``warmup`` untimed team decisions, then ``repeats`` blocks of ``iters`` timed team
decisions. On the CPU each decision is timed with ``time.perf_counter_ns``; on CUDA with a pair of
``torch.cuda.Event(enable_timing=True)`` around it followed by ``torch.cuda.synchronize()`` (one
decision never overlaps the next: an agent needs its action back before acting again).
``p50/p90/p99/mean_ms`` are ``numpy.percentile``/mean over all ``repeats * iters`` samples, so
p50 <= p90 <= p99 always holds; ``cv`` is the coefficient of variation (sample std / mean) of the
per-repeat medians (0.0 with one repeat). ``timer_median_ms`` is
``torch.utils.benchmark.Timer(...).blocked_autorange(min_run_time=0.2).median`` for the same
decision call and thread count (a median of block means, so slightly above a per-call p50 when the
tail is heavy); ``timer_mismatch`` is true when it differs from p50 by more than 20% of p50.

``torch.set_num_threads(threads)`` holds during the measurement (``threads=None``: all cores,
``os.cpu_count()``) and the previous value is restored afterwards, also on error.
"""

from __future__ import annotations

import copy
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from kdmarl_bench.errors import BackendUnavailable
from kdmarl_bench.profiling.flops import input_dtype, to_device
from kdmarl_bench.results.analysis.stats import timer_mismatch

__all__ = ["cpu_name", "cuda_available", "time_batched", "time_decentralized", "time_interleaved"]

TIMER_MIN_RUN_TIME_S = 0.2


def cuda_available() -> bool:
    """True when a CUDA device can be used by torch here."""
    try:
        return bool(torch.cuda.is_available())
    except Exception:  # a broken driver install must not crash the caller's check
        return False


def cpu_name() -> str:
    """CPU model name from /proc/cpuinfo, else platform.processor(), else the machine type."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _resolve_device(device: str | torch.device) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda":
        if not cuda_available():
            raise BackendUnavailable(
                f"device={str(device)!r} was requested but CUDA is not available here "
                f"(torch {torch.__version__}); check kdmarl_bench.profiling.cuda_available() first "
                "or time on device='cpu'"
            )
        return dev
    if dev.type != "cpu":
        raise ValueError(f"unsupported device {str(device)!r}: use 'cpu' or 'cuda'")
    return dev




def _build_decision(
    actors: list[nn.Module], obs_dims: list[int], batch: int, dev: torch.device, extra_inputs: list[dict] | None
) -> Callable[[], None]:
    models = copy.deepcopy(list(actors))  # one memo: shared modules stay shared
    for m in models:
        m.to(dev).eval()
    gen = torch.Generator().manual_seed(0)
    calls = []
    extras = extra_inputs if extra_inputs is not None else [None] * len(models)
    for m, dim, extra in zip(models, obs_dims, extras, strict=True):
        obs = torch.randn(batch, int(dim), generator=gen).to(device=dev, dtype=input_dtype(m))
        kwargs = {k: to_device(v, dev) for k, v in (extra or {}).items()}
        calls.append((m, obs, kwargs))

    def decision() -> None:
        for m, obs, kwargs in calls:
            m(obs, **kwargs)

    return decision


def timer_median_ms(decision: Callable[[], None], threads: int) -> float:
    """The cross-check: ``torch.utils.benchmark.Timer`` median of ``decision()`` in ms."""
    from torch.utils.benchmark import Timer

    timer = Timer(stmt="decision()", globals={"decision": decision}, num_threads=threads)
    with torch.inference_mode():
        return float(timer.blocked_autorange(min_run_time=TIMER_MIN_RUN_TIME_S).median) * 1e3


def sample_cpu(decision: Callable[[], None], iters: int) -> np.ndarray:
    """``iters`` wall-clock timings of ``decision()`` in ms (perf_counter_ns around each call)."""
    out = np.empty(iters, dtype=np.float64)
    clock = time.perf_counter_ns
    for i in range(iters):
        t0 = clock()
        decision()
        out[i] = clock() - t0
    return out / 1e6  # ns -> ms


def _sample_cuda(decision: Callable[[], None], iters: int) -> np.ndarray:
    out = np.empty(iters, dtype=np.float64)
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    for i in range(iters):
        start.record()
        decision()
        end.record()
        torch.cuda.synchronize()
        out[i] = start.elapsed_time(end)  # ms
    return out


def _time(
    actors: list[nn.Module],
    obs_dims: list[int],
    *,
    mode: str,
    device: str | torch.device,
    threads: int | None,
    warmup: int,
    iters: int,
    repeats: int,
    batch: int,
    extra_inputs: list[dict] | None,
) -> dict:
    actors = list(actors)
    obs_dims = [int(d) for d in obs_dims]
    if len(actors) != len(obs_dims):
        raise ValueError(f"{len(actors)} actors but {len(obs_dims)} obs_dims")
    if not actors:
        raise ValueError("no actors to time")
    if extra_inputs is not None and len(extra_inputs) != len(actors):
        raise ValueError(f"{len(actors)} actors but {len(extra_inputs)} extra_inputs")
    if iters < 1 or repeats < 1 or warmup < 0 or batch < 1:
        raise ValueError(f"need iters >= 1, repeats >= 1, warmup >= 0, batch >= 1 (got {iters}, {repeats}, "
                         f"{warmup}, {batch})")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    dev = _resolve_device(device)
    n_threads = int(threads) if threads is not None else (os.cpu_count() or 1)

    previous = torch.get_num_threads()
    decision = None
    try:
        torch.set_num_threads(n_threads)
        decision = _build_decision(actors, obs_dims, batch, dev, extra_inputs)
        sample = _sample_cuda if dev.type == "cuda" else sample_cpu
        with torch.inference_mode():
            for _ in range(warmup):
                decision()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            blocks = [sample(decision, iters) for _ in range(repeats)]
        timer_ms = timer_median_ms(decision, n_threads)
    finally:
        torch.set_num_threads(previous)
        del decision

    return latency_entry(blocks, timer_ms, dev, n_threads, batch, mode, iters, repeats)


def latency_stats(blocks: list[np.ndarray]) -> dict:
    """p50/p90/p99/mean over all samples and the cv of the per-block medians (pure)."""
    all_ms = np.concatenate(blocks)
    p50, p90, p99 = (float(v) for v in np.percentile(all_ms, [50, 90, 99]))
    medians = np.array([np.median(b) for b in blocks])
    cv = float(np.std(medians, ddof=1) / np.mean(medians)) if len(blocks) > 1 and np.mean(medians) > 0 else 0.0
    return {"p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "mean_ms": float(np.mean(all_ms)), "cv": cv}


def latency_entry(blocks: list[np.ndarray], timer_ms: float, dev: torch.device, n_threads: int, batch: int,
                  mode: str, iters: int, repeats: int) -> dict:
    """One latency entry from timed blocks and the Timer cross-check (every timing path builds it here)."""
    stats = latency_stats(blocks)
    p50 = stats["p50_ms"]
    device_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_name()
    return {
        "device": dev.type,
        "device_name": device_name,
        "threads": n_threads,
        "batch": int(batch),
        "mode": mode,
        "p50_ms": p50,
        "p90_ms": stats["p90_ms"],
        "p99_ms": stats["p99_ms"],
        "mean_ms": stats["mean_ms"],
        "iters": int(iters),
        "repeats": int(repeats),
        "cv": stats["cv"],
        "timer_median_ms": timer_ms,
        "timer_mismatch": timer_mismatch(timer_ms, p50),
        "throughput_decisions_per_s": float(batch / (p50 / 1e3)) if p50 > 0 else float("inf"),
        "torch": torch.__version__,
    }


def time_decentralized(
    actors: list[nn.Module],
    obs_dims: list[int],
    *,
    device: str = "cpu",
    threads: int | None = 1,
    warmup: int = 100,
    iters: int = 1000,
    repeats: int = 3,
    batch: int = 1,
    extra_inputs: list[dict] | None = None,
) -> dict:
    """Latency of one decentralized team decision: each agent's policy at batch ``batch`` (1), in turn.

    ``extra_inputs[i]`` (optional) are keyword inputs for agent i, e.g. ``{"h": hidden}`` for a GRU
    actor ``actor(obs, h)``; shape them for ``batch``. Raises
    :class:`kdmarl_bench.errors.BackendUnavailable` for ``device="cuda"`` without CUDA.
    """
    return _time(actors, obs_dims, mode="decentralized", device=device, threads=threads, warmup=warmup,
                 iters=iters, repeats=repeats, batch=batch, extra_inputs=extra_inputs)


def time_batched(
    actors: list[nn.Module],
    obs_dims: list[int],
    *,
    device: str = "cpu",
    threads: int | None = 1,
    batch: int = 256,
    warmup: int = 100,
    iters: int = 1000,
    repeats: int = 3,
    extra_inputs: list[dict] | None = None,
) -> dict:
    """Latency and throughput of one team decision for ``batch`` environments at once.

    ``throughput_decisions_per_s = batch / p50`` (team decisions per second).
    """
    return _time(actors, obs_dims, mode="batched", device=device, threads=threads, warmup=warmup,
                 iters=iters, repeats=repeats, batch=batch, extra_inputs=extra_inputs)


def time_interleaved(
    policies: list[tuple[list[nn.Module], list[int]]],
    *,
    mode: str = "decentralized",
    device: str = "cpu",
    threads: int | None = 1,
    batch: int = 1,
    warmup: int = 100,
    iters: int = 1000,
    repeats: int = 3,
) -> list[dict]:
    """Time several policies side by side: block r of every policy runs before block r+1 of any.

    ``policies`` are ``(actors, obs_dims)`` pairs. Each gets the same entry ``time_decentralized`` /
    ``time_batched`` would give, but its ``repeats`` blocks alternate with the other policies'
    blocks (A1 B1 A2 B2 A3 B3), so a change in machine load during the measurement hits every
    policy alike and cancels in their latency ratios.
    """
    if not policies:
        return []
    if mode not in ("decentralized", "batched"):
        raise ValueError(f"unknown mode {mode!r}: use 'decentralized' or 'batched'")
    if iters < 1 or repeats < 1 or warmup < 0 or batch < 1:
        raise ValueError(f"need iters >= 1, repeats >= 1, warmup >= 0, batch >= 1 (got {iters}, {repeats}, "
                         f"{warmup}, {batch})")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    for actors, obs_dims in policies:
        if not actors or len(list(actors)) != len(list(obs_dims)):
            raise ValueError(f"{len(list(actors))} actors but {len(list(obs_dims))} obs_dims")
    dev = _resolve_device(device)
    n_threads = int(threads) if threads is not None else (os.cpu_count() or 1)
    sample = _sample_cuda if dev.type == "cuda" else sample_cpu

    previous = torch.get_num_threads()
    decisions: list[Callable[[], None]] = []
    try:
        torch.set_num_threads(n_threads)
        decisions = [_build_decision(list(a), [int(d) for d in o], batch, dev, None) for a, o in policies]
        blocks: list[list[np.ndarray]] = [[] for _ in decisions]
        with torch.inference_mode():
            for decision in decisions:
                for _ in range(warmup):
                    decision()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            for _ in range(repeats):
                for i, decision in enumerate(decisions):
                    blocks[i].append(sample(decision, iters))
        timer_ms = [timer_median_ms(decision, n_threads) for decision in decisions]
    finally:
        torch.set_num_threads(previous)
        del decisions
    return [latency_entry(b, t, dev, n_threads, batch, mode, iters, repeats)
            for b, t in zip(blocks, timer_ms, strict=True)]
