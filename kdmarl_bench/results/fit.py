"""Tables that fit the terminal: never break a word, drop what matters least instead.

A table is declared as columns with a priority (lower = more important). Rendered at a
width, every cell stays on one line; when the table is wider than the screen, the
least important columns go first (their names are returned so the caller can say what
was hidden), and a column may offer a *compact* form of its cells (e.g. a score without
its CI) that is tried before the column is dropped.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Column:
    name: str
    priority: int = 0
    """Lower is more important; the highest priority numbers are dropped first."""
    right: bool = False
    compact: int | None = None
    """Index of this column's compact form in each row's ``alt`` cells (None: none)."""


@dataclass(frozen=True)
class FitResult:
    table: Table
    hidden: tuple[str, ...]
    """Columns left out to fit the width (most important first)."""
    compacted: tuple[str, ...]
    """Columns shown in their compact form."""

    def note(self) -> str:
        parts = []
        if self.compacted:
            parts.append(f"compact: {', '.join(self.compacted)}")
        if self.hidden:
            parts.append(f"hidden to fit the terminal: {', '.join(self.hidden)} (widen it, or use --json)")
        return "; ".join(parts)


def _build(title: str | None, columns: Sequence[Column], rows: Sequence[Sequence[str]],
           alt: Sequence[Sequence[str]] | None, keep: Sequence[int], compact: set[int],
           sections: Sequence[bool] | None, styles: Sequence[str | None] | None) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for i in keep:
        table.add_column(columns[i].name, justify="right" if columns[i].right else "left", no_wrap=True,
                         overflow="ellipsis")
    for r, row in enumerate(rows):
        cells = [alt[r][columns[i].compact] if i in compact and alt is not None else row[i] for i in keep]
        table.add_row(*cells, end_section=bool(sections and sections[r]), style=styles[r] if styles else None)
    return table


def _width(table: Table) -> int:
    """Columns the table needs with every cell on one line."""
    return Console(file=io.StringIO(), width=10_000).measure(table).maximum


def fit_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int, *, title: str | None = None,
              alt: Sequence[Sequence[str]] | None = None, sections: Sequence[bool] | None = None,
              styles: Sequence[str | None] | None = None) -> FitResult:
    """The table at ``width`` columns: compact forms first, then drop low-priority columns.

    ``alt[r]`` holds row r's compact cells (indexed by ``Column.compact``); ``sections[r]``
    ends a section after row r; ``styles[r]`` styles the row.
    """
    keep = list(range(len(columns)))
    compact: set[int] = set()
    # Give up width in this order: compact forms (least important column first), then whole
    # columns (least important first); priority-0 columns are never dropped.
    least_first = sorted(range(len(columns)), key=lambda i: -columns[i].priority)
    steps = [("compact", i) for i in least_first if columns[i].compact is not None and alt is not None]
    steps += [("drop", i) for i in least_first if columns[i].priority > 0]
    table = _build(title, columns, rows, alt, keep, compact, sections, styles)
    for action, i in steps:
        if _width(table) <= width:
            break
        if action == "compact":
            compact.add(i)
        elif i in keep:
            keep.remove(i)
        table = _build(title, columns, rows, alt, keep, compact, sections, styles)
    hidden = tuple(c.name for j, c in enumerate(columns) if j not in keep)
    return FitResult(table, hidden, tuple(columns[i].name for i in sorted(compact) if i in keep))
