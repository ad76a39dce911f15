"""Report section ``headline``: the focus method against the best baseline per task at the auto size."""

from __future__ import annotations

from pathlib import Path

from kdmarl_bench.results.headline import display_name, headline, headline_markdown
from kdmarl_bench.results.records import CLAIM_FLOPS_REDUCTION, CLAIM_RETENTION, Leaderboard
from kdmarl_bench.results.report.base import Section, SectionOutput, register_section


def headline_section(board: Leaderboard, out_dir: Path | None) -> SectionOutput:
    name = display_name(board.focus)
    lines = [
        "## Headline",
        "",
        f"{name} (the suite's method under test) at the default (`auto`) student size against the baseline "
        f"with the best mean retention at that size, per task; the last column checks the claim "
        f"(≥ {100 * CLAIM_RETENTION:.0f}% retention at ≥ {CLAIM_FLOPS_REDUCTION:.0f}× fewer team FLOPs) "
        "with the mean and with the CI's lower bound.",
        "",
        headline_markdown(headline(board), board.focus),
    ]
    return SectionOutput("\n".join(lines))


register_section(Section("headline", headline_section))
