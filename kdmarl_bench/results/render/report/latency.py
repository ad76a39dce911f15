"""Report section ``latency``: p50/p90/p99 per team decision with the Timer cross-check."""

from __future__ import annotations

from pathlib import Path

from kdmarl_bench.results.model.records import Leaderboard
from kdmarl_bench.results.render.markdown import markdown_table
from kdmarl_bench.results.render.report.base import Section, SectionOutput, register_section
from kdmarl_bench.results.render.report.style import fmt
from kdmarl_bench.results.render.text import DASH


def latency_rows(board: Leaderboard) -> list[list[str]]:
    rows = []
    for r in board.ordered_summary():
        for dev, g in r.latency_summary.devices():
            mismatch = g.timer_mismatch
            rows.append(
                [
                    r.task,
                    r.method,
                    r.size,
                    dev,
                    g.device_name or DASH,
                    str(g.threads) if g.threads is not None else DASH,
                    str(g.batch) if g.batch is not None else DASH,
                    str(g.n_seeds),
                    fmt(g.p50_ms, 4),
                    fmt(g.p90_ms, 4),
                    fmt(g.p99_ms, 4),
                    fmt(g.timer_median_ms, 4),
                    DASH if mismatch is None else ("⚠ mismatch" if mismatch else "ok"),
                    fmt(g.cv_max, 3),
                    DASH if g.noisy is None else ("⚠ yes" if g.noisy else "no"),
                ]
            )
    return rows


def latency_markdown(board: Leaderboard) -> str:
    header = [
        "task",
        "method",
        "size",
        "device",
        "device name",
        "threads",
        "batch",
        "seeds",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "Timer median ms",
        "Timer check",
        "CV max",
        "noisy",
    ]
    rows = latency_rows(board)
    if not rows:
        return "No latency was measured in this leaderboard.\n"
    return markdown_table(header, rows, right=range(5, len(header)))


def latency_section(board: Leaderboard, out_dir: Path | None) -> SectionOutput:
    text = [
        "## Latency",
        "",
        "Means over seeds of p50/p90/p99 per team decision (every agent's policy at batch 1). "
        "`Timer median` is `torch.utils.benchmark.Timer.blocked_autorange` for the same call; "
        "“mismatch” flags a seed where it differs from p50 by more than 20%. CV max is the largest "
        "coefficient of variation of per-repeat medians over seeds. “noisy” marks a row where any seed's "
        "measurement is flagged noisy (its Timer cross-check or CV disagrees): not a number to judge a "
        "regression on.",
        "",
        latency_markdown(board),
    ]
    return SectionOutput("\n".join(text))


register_section(Section("latency", latency_section))
