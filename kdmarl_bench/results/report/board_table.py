"""Report section ``leaderboard``: the summary table of every (task, method, size)."""

from __future__ import annotations

from pathlib import Path

from kdmarl_bench.results.records import Leaderboard
from kdmarl_bench.results.render import leaderboard_legend, leaderboard_markdown
from kdmarl_bench.results.report.base import Section, SectionOutput, register_section


def leaderboard_section(board: Leaderboard, out_dir: Path | None) -> SectionOutput:
    legend = leaderboard_legend(board)
    return SectionOutput("\n".join(["## Leaderboard", "", leaderboard_markdown(board), *([legend, ""] if legend else [])]))


register_section(Section("leaderboard", leaderboard_section))
