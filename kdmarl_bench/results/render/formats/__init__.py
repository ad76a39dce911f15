"""``kdmarl-bench export``: a leaderboard in formats other tools read, one module per format.

Each module under this package builds its output from the typed ``Leaderboard`` and registers
one or more ``ExportFormat`` in ``FORMATS`` (``kdmarl_bench/results/formats/base.py``); the CLI reads
its ``--format`` choices and help from the registry. To add a format, write a module here that
calls ``register_format`` and add its name to ``_FORMAT_MODULES``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.render.formats.base import FORMATS, ExportFormat, register_format
from kdmarl_bench.safeio import write_text_atomic

if TYPE_CHECKING:
    from kdmarl_bench.results.model.records import Leaderboard

__all__ = ["FORMATS", "ExportFormat", "export", "export_files", "format_help", "register_format"]

_FORMAT_MODULES = ("csv_rows", "marl_eval", "gh_benchmark")

for _name in _FORMAT_MODULES:
    importlib.import_module(f"{__name__}.{_name}")


def export(board: Leaderboard, fmt: str) -> tuple[str, list[str]]:
    """``(text, warnings)`` of a leaderboard in the one-text format ``fmt``."""
    spec = FORMATS.get(fmt)
    if spec.render is None:
        raise UsageError(f"--format {fmt} writes several files; give --out FILE")
    return spec.render(board)


def export_files(board: Leaderboard, fmt: str, out: Path) -> tuple[list[Path], list[str]]:
    """Write ``fmt`` under ``out`` (one file, or the format's own files) atomically; return (paths, warnings)."""
    spec = FORMATS.get(fmt)
    if spec.write is not None:
        return spec.write(board, Path(out)), []
    assert spec.render is not None
    text, warnings = spec.render(board)
    return [write_text_atomic(out, text)], warnings


def format_help() -> str:
    """``name: help; ...`` for every registered format, in registration-independent (sorted) order."""
    return "; ".join(f"{name}: {spec.help}" for name, spec in FORMATS.items())
