"""The report-section registry: ``report.md`` is the sections' markdown in registration order.

A section is a function of the typed ``Leaderboard`` and the report folder. It draws its plots
into the folder (or none when the folder is None: markdown only), and returns its markdown, the
files it wrote and notes about what it skipped. ``owns`` names the files a section may write,
so files of an earlier report that this one no longer makes can be removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kdmarl_bench.registry import Registry

if TYPE_CHECKING:
    from kdmarl_bench.results.model.records import Leaderboard


@dataclass
class SectionOutput:
    """What one section produced."""

    markdown: str
    """The section's markdown, heading included, ending with a newline."""
    files: list[Path] = field(default_factory=list)
    """Files written into the report folder (plots), in the order they appear."""
    notes: list[str] = field(default_factory=list)
    """Why something was skipped; shown at the top of the report and by the CLI."""


@dataclass(frozen=True)
class Section:
    """One part of ``report.md``."""

    name: str
    """Registry id (kebab case)."""
    render: Callable[[Leaderboard, Path | None], SectionOutput]
    """``render(board, out_dir)``: ``out_dir`` None renders the markdown without drawing."""
    owns: tuple[str, ...] = ()
    """Glob patterns of the files this section writes (stale ones are removed)."""


SECTIONS: Registry[Section] = Registry("report section")
_ORDER: list[str] = []


def register_section(section: Section) -> Section:
    """Append ``section`` to the report (once); sections appear in the order they register."""
    SECTIONS.add(section.name, section)
    _ORDER.append(section.name)
    return section


def ordered_sections() -> list[Section]:
    """Every registered section, in registration order."""
    return [SECTIONS.get(name) for name in _ORDER]
