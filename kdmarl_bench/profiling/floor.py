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

The memory term assumes every agent call streams its weights from DRAM (bandwidth of a copy far
larger than any cache). A small student's weights (tens of KiB) stay in L1/L2 between calls, so
for them the memory term overstates the true floor and ``x_floor`` is a *lower bound* on how far
above the hardware limit the call runs; ``x_compute_floor = p50 / floor_compute_ms`` (FLOPs alone)
is recorded beside it.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass

import torch

__all__ = ["MachinePeak", "annotate_floor", "floor_ms", "machine_peak"]

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
    threads: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


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
    return MachinePeak(matmul_gflops=2 * matmul_n**3 / mm_s / 1e9, bandwidth_gbs=2 * copy_bytes / copy_s / 1e9)


@functools.cache
def machine_peak() -> MachinePeak:
    """This machine's peak, measured on first use and cached for the process."""
    return measure_peak()


def floor_ms(flops: float, weight_bytes: float, peak: MachinePeak) -> float:
    """max(FLOPs / matmul peak, weight bytes / bandwidth), in milliseconds (pure)."""
    compute_s = float(flops) / (peak.matmul_gflops * 1e9)
    memory_s = float(weight_bytes) / (peak.bandwidth_gbs * 1e9)
    return max(compute_s, memory_s) * 1e3


def annotate_floor(entries: list[dict], flops_per_decision: float, weight_bytes_per_decision: float,
                   peak: MachinePeak | None = None) -> list[dict]:
    """Add ``floor_ms`` and ``x_floor`` to the CPU latency entries (in place; also returned).

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
        e["x_compute_floor"] = float(e["p50_ms"]) / compute_ms if compute_ms > 0 else None
        e["peak"] = peak.to_dict()
    return entries
