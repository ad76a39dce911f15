"""Report section ``leaderboard``: the summary table of every (task, method, size)."""

from __future__ import annotations

from pathlib import Path

from kdmarl_bench.results.records import Leaderboard
from kdmarl_bench.results.render import flagged_lines, leaderboard_legend, leaderboard_markdown, small_n_note
from kdmarl_bench.results.report.base import Section, SectionOutput, register_section


def leaderboard_section(board: Leaderboard, out_dir: Path | None) -> SectionOutput:
    lines = ["## Leaderboard", "", leaderboard_markdown(board)]
    legend = leaderboard_legend(board)
    if legend:
        lines += [legend, ""]
    note = small_n_note(board)
    if note:
        lines += [note + ".", ""]
    flagged = flagged_lines(board)
    if flagged:
        lines += ["Seeds whose greedy and sampled scores differ by more than 30 points:", "",
                  *[f"- {line}" for line in flagged], ""]
    return SectionOutput("\n".join(lines))


register_section(Section("leaderboard", leaderboard_section))
