"""Report section ``learning-curves``: retention vs env-steps per task (boards with ``[budget] eval_at``)."""

from __future__ import annotations

from pathlib import Path

from kdmarl_bench.results.curves import CURVES_FILE, curve_lines, curves_markdown, plot_curves
from kdmarl_bench.results.records import Leaderboard
from kdmarl_bench.results.report.base import Section, SectionOutput, register_section


def curves_section(board: Leaderboard, out_dir: Path | None) -> SectionOutput:
    """The curves plot and its table; nothing on a board whose students have one budget point."""
    if out_dir is None:
        lines = curve_lines(board)
        return SectionOutput(curves_markdown(lines, CURVES_FILE) if lines else "")
    markdown, files = plot_curves(board, out_dir)
    return SectionOutput(markdown, files)


register_section(Section("learning-curves", curves_section, owns=(CURVES_FILE,)))
