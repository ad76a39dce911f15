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
from kdmarl_bench.results.render.report.base import (
    SECTIONS,
    Section,
    SectionOutput,
    ordered_sections,
    register_section,
)
from kdmarl_bench.results.render.report.style import RC
from kdmarl_bench.safeio import MAX_CARD_BYTES, read_json, slug_problem, write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from kdmarl_bench.results.model.records import Leaderboard

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


def build_markdown(data: Leaderboard, notes: Iterable[str] = (), source: str | None = None) -> str:
    """The report text without plots (every section's markdown, nothing drawn or written)."""
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


MANIFEST = ".kdmarl-report.json"
"""The list of files a report wrote into its folder: the next report deletes only those (never a file of
the user's that happens to match a plot's name) and overwrites ``report.md`` only when it is listed."""


def _check_not_link(path: Path) -> None:
    if path.is_symlink():
        raise UsageError(f"{path}: is a symlink; the report refuses to write or delete through links "
                         "(remove it or choose another --out)")


def _read_manifest(out: Path) -> set[str]:
    """Names an earlier report listed in ``out`` (empty when none)."""
    path = out / MANIFEST
    _check_not_link(path)
    if not path.exists():
        return set()
    data = read_json(path, "report manifest", max_bytes=MAX_CARD_BYTES)
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list) or any(slug_problem(f) for f in files):
        raise UsageError(f"{path}: corrupt report manifest (expected {{\"files\": [plain file names]}}); delete it "
                         "to start the folder afresh")
    return set(files)


def _remove_stale(out: Path, owned: set[str], written: list[Path]) -> list[str]:
    """Delete the files the earlier report listed in its manifest that this one did not write (nothing else)."""
    keep = {p.name for p in written}
    removed = []
    for name in sorted(owned - keep - {"report.md", MANIFEST}):
        f = out / name
        if f.is_symlink() or f.is_file():  # a link is removed itself, never its target
            f.unlink()
            removed.append(name)
    return removed


def write_report(data: Leaderboard, out_dir: str | os.PathLike, source: str | None = None,
                 on_section: Callable[[str], None] | None = None, force: bool = False) -> Report:
    """Write every section's plots and ``report.md`` into ``out_dir`` (created); UsageError when it
    cannot. ``on_section(name)`` is called as each section starts (for a progress line).

    The report owns only what it wrote: the manifest ``MANIFEST`` lists its files; a later report deletes
    only those, refuses a folder, ``report.md`` or manifest that is a symlink, and overwrites a ``report.md``
    it did not write only with ``force``. Every file is written atomically (no truncated PNG on a full disk)."""
    import matplotlib  # heavy: only when a report is drawn

    out = Path(out_dir)
    _check_not_link(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out}: cannot create the report directory: {exc.strerror or exc}") from exc
    owned = _read_manifest(out)
    md = out / "report.md"
    _check_not_link(md)
    if md.exists() and "report.md" not in owned and not force:
        raise UsageError(f"{md}: exists and was not written by kdmarl-bench report (not in {MANIFEST}); refusing to "
                         "overwrite it: pass --force, or choose another --out")
    report = Report(out_dir=out, markdown=md)
    try:
        with matplotlib.rc_context(RC):
            outputs = _render_sections(data, out, on_section)
        for o in outputs:
            report.plots += o.files
            report.notes += o.notes
        write_text_atomic(md, _join(data, outputs, report.notes, source))
        write_json_atomic(out / MANIFEST, {"files": sorted({"report.md", *(p.name for p in report.plots)})})
        removed = _remove_stale(out, owned, report.plots)
        if removed:
            report.notes.append(f"removed stale plots of an earlier report: {', '.join(removed)}")
    except OSError as exc:
        raise UsageError(f"{exc.filename or out}: cannot write the report: {exc.strerror or exc}") from exc
    return report
