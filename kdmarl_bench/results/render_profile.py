"""What ``kdmarl-bench profile`` prints: the cost and memory lines and the latency table (rich).

The latency table goes through ``results.fit`` so it fits the terminal: at 80 columns the
path, settings and p50 stay whole and the least important columns are named as hidden. A p50
that its own Timer cross-check (or its repeat-to-repeat spread) disagrees with is marked ``⚠``.
"""

from __future__ import annotations

from typing import Any

from kdmarl_bench.results.fit import Column, FitResult, fit_table
from kdmarl_bench.results.render import task_label
from kdmarl_bench.results.stats import CV_NOISY, TIMER_MISMATCH_RTOL, is_noisy

NOISY_MARK = "⚠"


def fmt_kib(n: int | None) -> str:
    """Bytes as KiB below 1 MiB, else MiB; '-' when unknown."""
    if n is None:
        return "-"
    return f"{n / 1024:,.1f} KiB" if n < 2**20 else f"{n / 2**20:,.2f} MiB"


def profile_lines(out: dict[str, Any]) -> list[str]:
    """The two summary lines: counts (params, MACs, FLOPs) and memory with the machine's floor."""
    cost, memory, peak = out["cost"], out["memory"], out["peak"]
    return [
        f"{out['checkpoint']} ({out.get('kind')}, {task_label(out['task'], out.get('view') or 'full')}): params {cost['params']:,} · MACs {cost['macs']:,} "
        f"(thop) · FLOPs {cost['flops']:,} (FlopCounterMode) · agree {cost['agree']}",
        f"memory: weights {fmt_kib(memory['weights_fp32_bytes'])} fp32 / {fmt_kib(memory['weights_int8_bytes'])} "
        f"int8 · peak activations {memory['peak_activation_bytes']:,} B at batch 1 · floor: "
        f"{peak['matmul_gflops']:.1f} GFLOP/s matmul, {peak['bandwidth_gbs']:.1f} GB/s copy, "
        f"LLC {peak['llc_bytes'] / 2**20:.0f} MiB (1 thread)",
    ]


def disagrees(entry: dict[str, Any]) -> bool:
    """The entry's p50 is not to be trusted as is: marked ``noisy``, or its Timer cross-check
    disagrees (``timer_mismatch``), or its repeats spread more than ``CV_NOISY``."""
    return bool(entry.get("noisy")) or is_noisy(entry)


_LATENCY_FIT = (
    Column("path"), Column("device"), Column("threads", 3, right=True), Column("mode", 4),
    Column("batch", 2, right=True), Column("p50 ms", 0, right=True), Column("p90 ms", 8, right=True),
    Column("p99 ms", 7, right=True), Column("Timer ms", 1, right=True), Column("cv", 9, right=True),
    Column("decisions/s", 6, right=True), Column("x floor", 10, right=True),
    Column("equivalence", 5, compact=0, compact_name="equiv.", compact_means="verdict only"), Column("file", 11, right=True),
)
_MODE_SHORT = {"decentralized": "decentr.", "centralized": "central."}


def latency_table(latency: list[dict[str, Any]], width: int = 240) -> FitResult:
    """One row per latency entry (path, device, threads, mode, batch), with its equivalence check,
    fitted to ``width``; a p50 that disagrees with its cross-check carries ``NOISY_MARK``."""
    rows, alt = [], []
    for e in latency:
        eq = e.get("equivalence")
        eq_txt = "-" if eq is None else (f"{'ok' if eq['passed'] else '[red]FAILED[/]'} "
                                         f"(max diff {eq['max_abs_diff']:.1e}, n {eq['n']})")
        eq_short = "-" if eq is None else ("ok" if eq["passed"] else "[red]FAILED[/]")
        x_floor = e.get("x_floor")
        mark = f" {NOISY_MARK}" if disagrees(e) else ""
        rows.append([e["path"], e["device"], str(e["threads"]), _MODE_SHORT.get(e["mode"], e["mode"]),
                     str(e["batch"]), f"{e['p50_ms']:.4f}{mark}", f"{e['p90_ms']:.4f}", f"{e['p99_ms']:.4f}",
                     f"{e['timer_median_ms']:.4f}", f"{e['cv']:.3f}", f"{e['throughput_decisions_per_s']:,.0f}",
                     "-" if x_floor is None else f"{x_floor:,.1f}x", eq_txt, fmt_kib(e.get("file_bytes"))])
        alt.append([eq_short])
    return fit_table(_LATENCY_FIT, rows, width, title="latency per team decision", alt=alt)


def latency_notes(latency: list[dict[str, Any]]) -> list[str]:
    """Footnotes under the latency table: what the noise mark means, when one is shown."""
    flagged = [e for e in latency if disagrees(e)]
    if not flagged:
        return []
    return [f"{NOISY_MARK} {len(flagged)} of {len(latency)} p50s disagree with their own cross-check (Timer median "
            f"off by >{TIMER_MISMATCH_RTOL:.0%} or repeat cv >{CV_NOISY:.2f}): the machine was busy; rerun before "
            "trusting them"]
