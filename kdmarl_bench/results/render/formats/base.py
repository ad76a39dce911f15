"""The export-format registry: one ``ExportFormat`` per name, registered once by its module.

A format either renders one text (printed, or written to ``--out FILE``) or, like
``gh-benchmark``, owns several files derived from ``--out`` and writes them itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kdmarl_bench.registry import Registry

if TYPE_CHECKING:
    from kdmarl_bench.results.model.records import Leaderboard


@dataclass(frozen=True)
class ExportFormat:
    """How one ``export --format NAME`` turns a leaderboard into text or files."""

    name: str
    """The ``--format`` value (kebab case)."""
    help: str
    """One clause for the CLI's ``--format`` help: what the output is."""
    render: Callable[[Leaderboard], tuple[str, list[str]]] | None = None
    """``(text, warnings)`` for stdout or one file; None when the format only writes files."""
    write: Callable[[Leaderboard, Path], list[Path]] | None = None
    """Writes the format's own files derived from ``--out`` and returns them; None for one-text formats."""

    @property
    def needs_out(self) -> bool:
        """True when the format writes several files and so cannot print to stdout."""
        return self.render is None


FORMATS: Registry[ExportFormat] = Registry("export format")


def register_format(fmt: ExportFormat) -> ExportFormat:
    """Add ``fmt`` to ``FORMATS`` under its name (once; a second registration raises)."""
    if fmt.render is None and fmt.write is None:
        raise ValueError(f"export format {fmt.name!r} neither renders text nor writes files")
    FORMATS.add(fmt.name, fmt)
    return fmt
