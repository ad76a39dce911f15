"""Report section ``failed``: every cell that recorded an error instead of a score."""

from __future__ import annotations

from pathlib import Path

from kdmarl_bench.results.model.records import Leaderboard
from kdmarl_bench.results.render.markdown import markdown_table
from kdmarl_bench.results.render.report.base import Section, SectionOutput, register_section


def failed_markdown(board: Leaderboard) -> str:
    failed = [r for r in board.records if r.error is not None]
    if not failed:
        return "No failed cells.\n"
    rows = [[r.task, r.method, r.size, str(r.seed), str(r.error)] for r in failed]
    return markdown_table(["task", "method", "size", "seed", "error"], rows)


def failed_section(board: Leaderboard, out_dir: Path | None) -> SectionOutput:
    return SectionOutput("\n".join(["## Failed cells", "", failed_markdown(board)]))


register_section(Section("failed", failed_section))
