"""Report section ``headline``: the focus method against the best action-imitation baseline per task at
the suite's headline size."""

from __future__ import annotations

from pathlib import Path

from kdmarl_bench.results.analysis.headline import headline
from kdmarl_bench.results.model.records import CLAIM_FLOPS_REDUCTION, CLAIM_RETENTION, Leaderboard
from kdmarl_bench.results.render.markdown import headline_curve_markdown, headline_markdown
from kdmarl_bench.results.render.report.base import Section, SectionOutput, register_section
from kdmarl_bench.results.render.text import display_name


def headline_section(board: Leaderboard, out_dir: Path | None) -> SectionOutput:
    name = display_name(board.focus)
    size = board.suite.headline_size
    rows = headline(board)
    lines = [
        "## Headline",
        "",
        f"{name} (the suite's method under test) at the `{size}` student size against the action-imitation "
        f"baseline with the best mean retention at that size, per task and regime (`same view`: students see "
        f"what the teacher's actor sees; `limited`: a limited student view and/or a privileged teacher). "
        f"P({name} > it) is the probability that a seed of {name} keeps more than a seed of that baseline, "
        f"with a bootstrap CI over seeds. The last column checks the paper's claim "
        f"(≥ {100 * CLAIM_RETENTION:.0f}% retention at up to {CLAIM_FLOPS_REDUCTION:g}× fewer team FLOPs) with "
        "the mean and with the CI's lower bound; a student cheaper than that is beyond the claim's range.",
        "",
        headline_markdown(rows, board.focus),
    ]
    if any(r.curve for r in rows):
        lines += [f"Per budget point (retention of {name} / of that baseline) and the area under each retention "
                  "curve divided by its env-step range:", "", headline_curve_markdown(rows)]
    return SectionOutput("\n".join(lines))


register_section(Section("headline", headline_section))
