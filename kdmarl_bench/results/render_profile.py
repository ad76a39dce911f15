"""What ``kdmarl-bench profile`` prints: the cost and memory lines and the latency table (rich)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def fmt_kib(n: int | None) -> str:
    """Bytes as KiB below 1 MiB, else MiB; '-' when unknown."""
    if n is None:
        return "-"
    return f"{n / 1024:,.1f} KiB" if n < 2**20 else f"{n / 2**20:,.2f} MiB"


def profile_lines(out: dict[str, Any]) -> list[str]:
    """The two summary lines: counts (params, MACs, FLOPs) and memory with the machine's floor."""
    cost, memory, peak = out["cost"], out["memory"], out["peak"]
    return [
        f"{out['checkpoint']} ({out.get('kind')}, {out['task']}): params {cost['params']:,} · MACs {cost['macs']:,} "
        f"(thop) · FLOPs {cost['flops']:,} (FlopCounterMode) · agree {cost['agree']}",
        f"memory: weights {fmt_kib(memory['weights_fp32_bytes'])} fp32 / {fmt_kib(memory['weights_int8_bytes'])} "
        f"int8 · peak activations {memory['peak_activation_bytes']:,} B at batch 1 · floor: "
        f"{peak['matmul_gflops']:.1f} GFLOP/s matmul, {peak['bandwidth_gbs']:.1f} GB/s copy, "
        f"LLC {peak['llc_bytes'] / 2**20:.0f} MiB (1 thread)",
    ]


def latency_table(latency: list[dict[str, Any]]) -> Table:
    """One row per latency entry (path, device, threads, mode, batch), with its equivalence check."""
    t = Table(title="latency per team decision")
    for col in ("path", "device", "threads", "mode", "batch", "p50 ms", "p90 ms", "p99 ms", "Timer ms", "cv",
                "decisions/s", "x floor", "equivalence", "file"):
        t.add_column(col, justify="right")
    for e in latency:
        eq = e.get("equivalence")
        eq_txt = "-" if eq is None else (f"{'ok' if eq['passed'] else '[red]FAILED[/]'} "
                                         f"(max diff {eq['max_abs_diff']:.1e}, n {eq['n']})")
        x_floor = e.get("x_floor")
        t.add_row(e["path"], e["device"], str(e["threads"]), e["mode"], str(e["batch"]), f"{e['p50_ms']:.4f}",
                  f"{e['p90_ms']:.4f}", f"{e['p99_ms']:.4f}", f"{e['timer_median_ms']:.4f}", f"{e['cv']:.3f}",
                  f"{e['throughput_decisions_per_s']:,.0f}", "-" if x_floor is None else f"{x_floor:,.1f}x",
                  eq_txt, fmt_kib(e.get("file_bytes")))
    return t
