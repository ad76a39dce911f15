"""Report section ``leaderboard``: the summary table of every (task, method, size)."""

from __future__ import annotations

from pathlib import Path

from kdmarl_bench.results.model.records import Leaderboard
from kdmarl_bench.results.render.markdown import leaderboard_legend, leaderboard_markdown
from kdmarl_bench.results.render.report.base import Section, SectionOutput, register_section
from kdmarl_bench.results.render.text import flagged_lines, small_n_note


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
