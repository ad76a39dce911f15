"""The hardware floor: how fast one team decision could possibly run on this CPU with 1 thread.

``machine_peak()`` measures, once per process:

* ``matmul_gflops``: float32 matrix-multiply throughput with ``torch.set_num_threads(1)``, the best
  of several timed 512x512 @ 512x512 products (2·n³ FLOPs each);
* ``bandwidth_gbs``: memory bandwidth, the best of several copies of a 64 MiB float32 tensor
  (bytes read + bytes written per copy), far larger than any cache.

``floor_ms(flops, weight_bytes, peak) = max(flops / peak FLOP/s, weight_bytes / bandwidth)``: the
time the arithmetic alone or reading the weights alone would take. ``x_floor = p50 / floor_ms`` says
how many times slower than the hardware limit a measured latency is: at student sizes per-call
overhead, not arithmetic, dominates, so it is large.

Which weight bytes count: a policy whose weights (shared modules once) fit in the last-level cache
(``llc_bytes``, read from sysfs) keeps them there between decisions, and a matrix-vector product
from cache runs at about the matmul peak, so its floor is the FLOP term alone. Only weights larger
than the last-level cache are streamed from DRAM on every agent call (a shared actor called by k
agents is read k times) at the measured copy bandwidth. ``floor_compute_ms`` and
``floor_memory_ms`` are recorded beside ``floor_ms``.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass

import torch

from kdmarl_bench.profiling.memory import team_weight_bytes, weight_traffic_bytes

__all__ = ["MachinePeak", "annotate_floor", "dram_weight_bytes", "floor_ms", "machine_peak"]

MATMUL_N = 512
MATMUL_REPS = 8
COPY_BYTES = 64 * 2**20
COPY_REPS = 5


@dataclass(frozen=True)
class MachinePeak:
    matmul_gflops: float
    """Best measured 1-thread float32 matmul throughput, GFLOP/s."""
    bandwidth_gbs: float
    """Best measured copy bandwidth (read + write), GB/s."""
    llc_bytes: int = 0
    """Size of the largest CPU cache (sysfs); 0 when unknown (then all weights count as DRAM reads)."""
    threads: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def last_level_cache_bytes() -> int:
    """Size of cpu0's highest-level cache from sysfs (0 when unknown)."""
    from pathlib import Path

    best_level, size = 0, 0
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip().upper()
        except (OSError, ValueError):
            continue
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        try:
            value = int(text.rstrip("KMG")) * scale
        except ValueError:
            continue
        if level > best_level:
            best_level, size = level, value
    return size


def _best_seconds(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure_peak(matmul_n: int = MATMUL_N, copy_bytes: int = COPY_BYTES) -> MachinePeak:
    """Measure the 1-thread matmul peak and the copy bandwidth now (no cache)."""
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(matmul_n, matmul_n, generator=gen)
        b = torch.randn(matmul_n, matmul_n, generator=gen)
        out = torch.empty(matmul_n, matmul_n)
        torch.mm(a, b, out=out)  # warm up the kernel
        mm_s = _best_seconds(lambda: torch.mm(a, b, out=out), MATMUL_REPS)
        src = torch.ones(copy_bytes // 4)
        dst = torch.empty_like(src)
        dst.copy_(src)
        copy_s = _best_seconds(lambda: dst.copy_(src), COPY_REPS)
    finally:
        torch.set_num_threads(previous)
    return MachinePeak(matmul_gflops=2 * matmul_n**3 / mm_s / 1e9, bandwidth_gbs=2 * copy_bytes / copy_s / 1e9,
                       llc_bytes=last_level_cache_bytes())


@functools.cache
def machine_peak() -> MachinePeak:
    """This machine's peak, measured on first use and cached for the process."""
    return measure_peak()


def floor_ms(flops: float, weight_bytes: float, peak: MachinePeak) -> float:
    """max(FLOPs / matmul peak, weight bytes / bandwidth), in milliseconds (pure)."""
    compute_s = float(flops) / (peak.matmul_gflops * 1e9)
    memory_s = float(weight_bytes) / (peak.bandwidth_gbs * 1e9)
    return max(compute_s, memory_s) * 1e3


def dram_weight_bytes(actors, peak: MachinePeak | None = None) -> int:
    """Weight bytes one team decision streams from DRAM: 0 when the team's weights (shared modules
    once) fit in the last-level cache, else every agent call's weights."""
    peak = peak or machine_peak()
    actors = list(actors)
    return 0 if team_weight_bytes(actors) <= peak.llc_bytes else weight_traffic_bytes(actors)


def annotate_floor(entries: list[dict], flops_per_decision: float, weight_bytes_per_decision: float,
                   peak: MachinePeak | None = None) -> list[dict]:
    """Add ``floor_ms`` (with its two terms) and ``x_floor`` to the CPU latency entries (in place; returned).

    ``weight_bytes_per_decision`` is the DRAM weight traffic of one decision (``dram_weight_bytes``).

    Batched entries scale the floor's FLOPs by the batch (weights are read once per decision).
    CUDA entries are left alone: the CPU's peak says nothing about a GPU.
    """
    peak = peak or machine_peak()
    for e in entries:
        if e.get("device") != "cpu":
            continue
        batch = int(e.get("batch", 1))
        f_ms = floor_ms(flops_per_decision * batch, weight_bytes_per_decision, peak)
        compute_ms = floor_ms(flops_per_decision * batch, 0.0, peak)
        e["floor_ms"] = f_ms
        e["floor_compute_ms"] = compute_ms
        e["floor_memory_ms"] = floor_ms(0.0, weight_bytes_per_decision, peak)
        e["x_floor"] = float(e["p50_ms"]) / f_ms if f_ms > 0 else None
        e["peak"] = peak.to_dict()
    return entries
