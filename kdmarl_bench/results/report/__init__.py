"""``kdmarl-bench report``: PNG plots and a Markdown report of one leaderboard.

``report.md`` is a short preamble (the definitions, and notes on what was skipped) followed by
the registered sections in order, one module each under this package:

- ``headline``: the focus method against the best baseline per task at the auto size;
- ``leaderboard``: the summary table;
- ``pareto``: ``pareto_<task>.png`` (and ``pareto_bytes_<task>.png``), retention vs cost per task;
- ``aggregate``: ``aggregate_retention.png``, IQM and mean retention across tasks;
- ``improvement``: ``probability_of_improvement.png``, P(focus method > baseline);
- ``profiles``: ``performance_profiles.png``, the focus method vs the best baselines per size;
- ``latency``: p50/p90/p99 with the Timer cross-check;
- ``deployment``: per-path p50 beside the teacher's on the same path, int8 twins against fp32 on
  the same runtime, equivalence verdicts, and why FLOP ratios give a few × (the per-call floor);
- ``failed``, ``provenance``: tables.

Plots are drawn on ``matplotlib.figure.Figure`` objects with the Agg renderer (no display, no
pyplot global state). To add a section, write a module here with a function
``(board, out_dir) -> SectionOutput``, call ``register_section`` once, and put the module's name in
``_SECTION_MODULES`` where the section belongs.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.report.base import (
    SECTIONS,
    Section,
    SectionOutput,
    ordered_sections,
    register_section,
)

if TYPE_CHECKING:
    from kdmarl_bench.results.records import Leaderboard

__all__ = [
    "SECTIONS",
    "Report",
    "Section",
    "SectionOutput",
    "build_markdown",
    "default_out_dir",
    "register_section",
    "write_report",
]

_SECTION_MODULES = ("headline", "board_table", "learning_curves", "pareto", "aggregate", "improvement", "profiles",
                    "latency", "deployment", "failed", "provenance")

for _name in _SECTION_MODULES:
    importlib.import_module(f"{__name__}.{_name}")


@dataclass
class Report:
    """What ``write_report`` produced: the markdown file, the plots and what was skipped."""

    out_dir: Path
    markdown: Path
    plots: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "out_dir": self.out_dir.as_posix(),
            "markdown": self.markdown.as_posix(),
            "plots": [p.as_posix() for p in self.plots],
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------------------------
# markdown


def preamble(board: Leaderboard, notes: Iterable[str], source: str | None = None) -> str:
    """The title, the definitions every section relies on, and the notes."""
    lines = [f"# kdmarl-bench report · {board.suite.name} v{board.suite.version}", ""]
    if source:
        lines += [f"Leaderboard: `{source}`", ""]
    lines += [
        "Retention = student score / teacher score on win-rate tasks and (S − R_rand) / (T − R_rand) on "
        "return tasks (R_rand: the random policy under the same protocol). Means over seeds carry 95% "
        "percentile-bootstrap CIs; aggregates across tasks use a stratified bootstrap. FLOPs are per team "
        "decision (all agents' deployed actors, summed). Latency is the decentralized 1-thread CPU profile "
        "unless stated.",
        "",
    ]
    notes = list(notes)
    if notes:
        lines += ["> **Notes:** " + " ".join(notes), ""]
    return "\n".join(lines)


def _render_sections(board: Leaderboard, out_dir: Path | None,
                     on_section: Callable[[str], None] | None = None) -> list[SectionOutput]:
    outputs = []
    for section in ordered_sections():
        if on_section is not None:
            on_section(section.name)
        outputs.append(section.render(board, out_dir))
    return outputs


def _join(board: Leaderboard, outputs: list[SectionOutput], notes: Iterable[str], source: str | None) -> str:
    return "\n".join([preamble(board, notes, source), *(o.markdown for o in outputs)])


def build_markdown(board: Leaderboard | dict, notes: Iterable[str] = (), source: str | None = None) -> str:
    """The report text without plots (every section's markdown, nothing drawn or written)."""
    from kdmarl_bench.results.io import as_leaderboard

    data = as_leaderboard(board)
    outputs = _render_sections(data, None)
    return _join(data, outputs, [*notes, *(n for o in outputs for n in o.notes)], source)


# ---------------------------------------------------------------------------------------------
# entry point


def default_out_dir(leaderboard_path: str | os.PathLike) -> Path:
    """Next to the board, one folder per board: ``runs/X/leaderboard.json`` → ``runs/X/report``;
    ``baselines/mpe.json`` → ``baselines/mpe/report`` (two boards in one folder never share one)."""
    p = Path(leaderboard_path).resolve()
    if p.is_dir():
        return p / "report"
    return p.parent / "report" if p.stem == "leaderboard" else p.parent / p.stem / "report"


def _remove_stale(out: Path, written: list[Path]) -> list[str]:
    """Delete files an earlier report wrote into ``out`` that this one did not (only the names the
    sections own)."""
    keep = {p.resolve() for p in written}
    removed = []
    for section in ordered_sections():
        for pattern in section.owns:
            for f in sorted(out.glob(pattern)):
                if f.resolve() not in keep and f.name not in removed:
                    f.unlink()
                    removed.append(f.name)
    return removed


def write_report(board: Leaderboard | dict, out_dir: str | os.PathLike, source: str | None = None,
                 on_section: Callable[[str], None] | None = None) -> Report:
    """Write every section's plots and ``report.md`` into ``out_dir`` (created); UsageError when it
    cannot. ``on_section(name)`` is called as each section starts (for a progress line)."""
    import matplotlib

    from kdmarl_bench.results.io import as_leaderboard
    from kdmarl_bench.results.report.style import RC

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out}: cannot create the report directory: {exc.strerror or exc}") from exc
    data = as_leaderboard(board)  # a dict of an older version is migrated on the way
    report = Report(out_dir=out, markdown=out / "report.md")
    try:
        with matplotlib.rc_context(RC):
            outputs = _render_sections(data, out, on_section)
        for o in outputs:
            report.plots += o.files
            report.notes += o.notes
        report.markdown.write_text(_join(data, outputs, report.notes, source), encoding="utf-8")
        removed = _remove_stale(out, report.plots)
        if removed:
            report.notes.append(f"removed stale plots of an earlier report: {', '.join(removed)}")
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the report: {exc.strerror or exc}") from exc
    return report
