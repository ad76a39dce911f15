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
    compact_name: str | None = None
    """Header when the compact form is shown (default: ``name``)."""
    compact_means: str = "without CIs"
    """How the note describes the compact form."""
    wrap: bool = False
    """Prose (a description): may wrap between words, takes the width left over; never dropped
    to make room for it, it gives way to ``WRAP_MIN`` columns first."""


WRAP_MIN = 24
"""Width a wrapping column is measured at when deciding what fits."""


@dataclass(frozen=True)
class FitResult:
    table: Table
    hidden: tuple[str, ...]
    """Columns left out to fit the width (most important first)."""
    compacted: tuple[str, ...]
    """Columns shown in their compact form."""
    compact_means: tuple[str, ...] = ()
    """Per compacted column, how its compact form differs (``Column.compact_means``)."""
    fits: bool = True
    """The table fits the width (False: even its priority-0 columns are wider than the screen)."""

    def note(self) -> str:
        parts = []
        means = self.compact_means or ("without CIs",) * len(self.compacted)
        for what in dict.fromkeys(means):
            names = [c for c, m in zip(self.compacted, means, strict=True) if m == what]
            parts.append(f"{what}: {', '.join(names)}")
        if self.hidden:
            parts.append(f"hidden to fit: {', '.join(self.hidden)}")
        if parts:
            parts[-1] += " (a wider terminal or --json shows all)"
        return "; ".join(parts)


def _build(title: str | None, columns: Sequence[Column], rows: Sequence[Sequence[str]],
           alt: Sequence[Sequence[str]] | None, keep: Sequence[int], compact: set[int],
           sections: Sequence[bool] | None, styles: Sequence[str | None] | None,
           measuring: bool = False) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for i in keep:
        name = columns[i].compact_name if i in compact and columns[i].compact_name else columns[i].name
        if columns[i].wrap:  # prose: folds between words, squeezed to WRAP_MIN while measuring
            table.add_column(name, ratio=None if measuring else 1, max_width=WRAP_MIN if measuring else None,
                             overflow="fold")
            continue
        table.add_column(name, justify="right" if columns[i].right else "left", no_wrap=True,
                         overflow="ellipsis")
    for r, row in enumerate(rows):
        cells = [alt[r][columns[i].compact] if i in compact and alt is not None else row[i] for i in keep]
        table.add_row(*cells, end_section=bool(sections and sections[r]), style=styles[r] if styles else None)
    return table


def _width(table: Table) -> int:
    """Columns the table needs with every cell on one line (prose columns at ``WRAP_MIN``)."""
    return Console(file=io.StringIO(), width=10_000).measure(table).maximum


def _needed(title, columns, rows, alt, keep, compact, sections, styles) -> int:
    return _width(_build(title, columns, rows, alt, keep, compact, sections, styles, measuring=True))


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
    for action, i in steps:
        if _needed(title, columns, rows, alt, keep, compact, sections, styles) <= width:
            break
        if action == "compact":
            compact.add(i)
        elif i in keep:
            keep.remove(i)
    table = _build(title, columns, rows, alt, keep, compact, sections, styles)
    hidden = tuple(c.name for j, c in enumerate(columns) if j not in keep)
    shown = [i for i in sorted(compact) if i in keep]
    fits = _needed(title, columns, rows, alt, keep, compact, sections, styles) <= width
    return FitResult(table, hidden, tuple(columns[i].compact_name or columns[i].name for i in shown),
                     tuple(columns[i].compact_means for i in shown), fits)


def fit_grouped(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int, *, title: str | None = None,
                alt: Sequence[Sequence[str]] | None = None,
                styles: Sequence[str | None] | None = None) -> list[FitResult]:
    """One table when it fits ``width`` whole; else one table per distinct value of the first column
    (a task id) as the table's title, so the longest ids do not cost a column, when that hides
    fewer columns (or the one table does not fit at all). Rows must be ordered by the first column."""
    flat = fit_table(columns, rows, width, title=title, alt=alt, styles=styles)
    if (flat.fits and not flat.hidden) or not rows:
        return [flat]
    out = []
    for key in dict.fromkeys(r[0] for r in rows):
        idx = [i for i, r in enumerate(rows) if r[0] == key]
        out.append(fit_table(columns[1:], [rows[i][1:] for i in idx], width, title=key,
                             alt=None if alt is None else [alt[i] for i in idx],
                             styles=None if styles is None else [styles[i] for i in idx]))
    # Stacked only when it shows more (or the flat table does not fit at all).
    if flat.fits and max(len(f.hidden) for f in out) >= len(flat.hidden):
        return [flat]
    return out


def print_fitted(console: Console, fitted: Sequence[FitResult], notes: Sequence[str] = ()) -> None:
    """Print fitted tables, then each distinct fit note (what was hidden or compacted) and ``notes``."""
    for f in fitted:
        console.print(f.table)
    for note in dict.fromkeys([*(f.note() for f in fitted if f.note()), *notes]):
        console.print(f"[dim]{note}[/]", highlight=False)



def _md_cells(line: str) -> list[str]:
    """The cells of one markdown table line (``\\|`` is a literal bar inside a cell)."""
    cells, cur, i, text = [], "", 0, line.strip().strip("|")
    while i < len(text):
        if text.startswith("\\|", i):
            cur, i = cur + "|", i + 2
            continue
        if text[i] == "|":
            cells.append(cur.strip())
            cur = ""
        else:
            cur += text[i]
        i += 1
    cells.append(cur.strip())
    return cells


def parse_markdown_table(markdown: str) -> tuple[list[str], list[str], list[list[str]], list[str], list[str]]:
    """``(header, aligns, rows, lines before, lines after)`` of the first table in ``markdown``
    (bold marks dropped; an empty header when there is no table)."""
    lines = markdown.splitlines()
    idx = [i for i, ln in enumerate(lines) if ln.lstrip().startswith("|")]
    if len(idx) < 2:
        return [], [], [], lines, []
    first, last = idx[0], idx[-1]
    header = _md_cells(lines[first])
    aligns = _md_cells(lines[first + 1])
    rows = [(_md_cells(lines[i]) + [""] * len(header))[: len(header)] for i in idx[2:]]
    return header, aligns, [[c.replace("**", "") for c in r] for r in rows], lines[:first], lines[last + 1:]


def fit_markdown(markdown: str, width: int) -> tuple[FitResult | None, list[str], list[str]]:
    """A GitHub markdown table (with prose before or after it) as one fitted terminal table:
    ``(table, lines before, lines after)``; None when there is no table. The first column (an id)
    is never dropped, the last (a verdict) goes last, the others from the right; a cell
    ``value [lo, hi]`` has the compact form ``value`` (tried first). When the table hides columns,
    ``markdown_records`` gives every value instead, one block per row."""
    header, aligns, rows, before, after = parse_markdown_table(markdown)
    if not header:
        return None, before, after
    n = len(header)
    has_ci = [any(" [" in r[k] for r in rows) for k in range(n)]
    columns = [Column(name, 0 if k == 0 else (1 if k == n - 1 else k + 1),
                      right=k < len(aligns) and aligns[k].endswith(":"), compact=k if has_ci[k] else None,
                      compact_name=name.replace(" [95% CI]", "") if has_ci[k] else None)
               for k, name in enumerate(header)]
    alt = [[c.split(" [", 1)[0] for c in r] for r in rows]
    return fit_table(columns, rows, width, alt=alt), before, after


def markdown_records(markdown: str) -> list[tuple[str, list[str]]]:
    """Each row of the first markdown table as ``(first cell, ["header: value", ...])``: the
    narrow-terminal form of a wide table, one field per line, so nothing is cut or left out."""
    header, _, rows, _, _ = parse_markdown_table(markdown)
    return [(r[0], [f"{h}: {c}" for h, c in zip(header[1:], r[1:], strict=True)]) for r in rows]


def print_markdown_fitted(console: Console, markdown: str) -> None:
    """Print a markdown table (with its prose) fitted to the console: one table when no column has
    to be hidden, else one block per row with a field per line (nothing cut or left out)."""
    fitted, before, after = fit_markdown(markdown, console.width)
    for line in before:
        console.print(line, highlight=False, markup=False)
    if fitted is not None and not fitted.hidden:
        print_fitted(console, [fitted])
    else:
        for first, fields in markdown_records(markdown):
            console.print(f"[bold]{first}[/]", highlight=False)
            for field in fields:
                console.print(f"  {field}", highlight=False, markup=False)
    for line in after:
        console.print(line, highlight=False, markup=False)
