"""Render leaderboards as a rich table or a GitHub markdown table (and compare tables).

Every function takes a typed ``Leaderboard`` (or a leaderboard dict, typed once on entry).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from kdmarl_bench.results.io import as_leaderboard
from kdmarl_bench.results.records import CI, TEACHER, Leaderboard, Summary, has_ci
from kdmarl_bench.results.records import is_finite_number as _ok

DASH = "—"

LEADERBOARD_COLUMNS = (
    "task",
    "method",
    "size",
    "score (95% CI)",
    "retention (95% CI)",
    "FLOPs",
    "reduction ×",
    "CPU p50 ms",
    "speed-up ×",
)
_NUMERIC_FROM = 3  # columns from this index on are right-aligned


def human_count(x: Any) -> str:
    """1234 → '1.2k', 1.2e6 → '1.2M' (FLOPs, params)."""
    if not _ok(x):
        return DASH
    for factor, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.1f}{unit}"
    return f"{x:.0f}"


def _shown_ci(ci: Any) -> CI | None:
    """The CI to print in brackets: a valid one whose bounds differ (``records.has_ci``)."""
    return CI.parse(ci) if has_ci(ci) else None


def fmt_score(mean: Any, ci: Any, metric: str | None) -> str:
    """Win rates as %, returns with 2 decimals; the CI in brackets (omitted when degenerate)."""
    if not _ok(mean):
        return DASH
    shown = _shown_ci(ci)
    if metric == "win_rate":
        text = f"{100 * mean:.1f}%"
        if shown:
            text += f" [{100 * shown.lo:.1f}, {100 * shown.hi:.1f}]"
        return text
    text = f"{mean:.2f}"
    if shown:
        text += f" [{shown.lo:.2f}, {shown.hi:.2f}]"
    return text


def fmt_retention(mean: Any, ci: Any) -> str:
    if not _ok(mean):
        return DASH
    shown = _shown_ci(ci)
    text = f"{100 * mean:.1f}%"
    if shown:
        text += f" [{100 * shown.lo:.1f}, {100 * shown.hi:.1f}]"
    return text


def fmt_ratio(x: Any, digits: int = 1) -> str:
    return f"{x:.{digits}f}×" if _ok(x) else DASH


def fmt_ms(x: Any) -> str:
    return f"{x:.3f}" if _ok(x) else DASH


def ordered_summary(board: Leaderboard | dict) -> list[Summary]:
    """Summary rows by task, teacher first, then the focus method, the rest by name; larger students first."""
    return as_leaderboard(board).ordered_summary()


def leaderboard_rows(board: Leaderboard | dict) -> list[list[str]]:
    """The formatted cells of the leaderboard table, one list per summary row."""
    rows = []
    for r in ordered_summary(board):
        score = fmt_score(r.score_mean, r.score_ci95, r.metric)
        if score == DASH and r.n_failed:
            score = f"failed ({r.n_failed})"
        rows.append(
            [
                r.task,
                r.method,
                r.size,
                score,
                fmt_retention(r.retention_mean, r.retention_ci95),
                human_count(r.flops),
                fmt_ratio(r.flops_reduction),
                fmt_ms(r.latency_cpu_p50_ms),
                fmt_ratio(r.latency_speedup_cpu, 2),
            ]
        )
    return rows


def _title(board: Leaderboard) -> str:
    version = board.suite.version
    return f"kdmarl-bench · {board.suite.name}" + (f" v{version}" if version not in (None, "") else "")


def leaderboard_table(board: Leaderboard | dict) -> Table:
    """A rich table of a leaderboard's summary (teacher row first per task)."""
    data = as_leaderboard(board)
    table = Table(title=_title(data), show_lines=False)
    for i, col in enumerate(LEADERBOARD_COLUMNS):
        table.add_column(col, justify="right" if i >= _NUMERIC_FROM else "left", overflow="fold")
    rows = leaderboard_rows(data)
    for i, row in enumerate(rows):
        last_of_task = i + 1 == len(rows) or rows[i + 1][0] != row[0]
        style = "bold" if row[1] == TEACHER else None
        table.add_row(*row, style=style, end_section=last_of_task)
    return table


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def markdown_table(
    header: list[str] | tuple[str, ...], rows: list[list[str]], right: Iterable[int] = ()
) -> str:
    """A GitHub markdown table; the columns whose indexes are in ``right`` are right-aligned."""
    right = set(right)
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def leaderboard_markdown(data: Leaderboard | dict) -> str:
    """The leaderboard table as GitHub markdown."""
    return markdown_table(
        LEADERBOARD_COLUMNS, leaderboard_rows(data), range(_NUMERIC_FROM, len(LEADERBOARD_COLUMNS))
    )


def print_table(console: Console, table: Table, max_width: int = 240) -> None:
    """Print a wide table; when stdout is not a terminal, do not squeeze it into 80 columns."""
    if not console.is_terminal and console.width < max_width:
        console.width = max_width  # the table still takes only the width it needs
    console.print(table)


# ---------------------------------------------------------------------------------------------
# compare

COMPARE_COLUMNS = (
    "task",
    "method",
    "size",
    "leaderboard",
    "score",
    "Δ score",
    "retention",
    "Δ retention",
    "FLOPs",
    "Δ FLOPs",
    "CPU p50 ms",
    "Δ p50",
)


def _signed(x: Any, fmt: str) -> str:
    return format(x, "+" + fmt) if _ok(x) else DASH


def compare_rows(rows: list[dict]) -> list[list[str]]:
    """Formatted cells for ``compare.compare`` output: one line per row × leaderboard."""
    out = []
    for row in rows:
        metric = row.get("metric")
        for i, e in enumerate(row["entries"]):
            head = [row["task"], row["method"], row["size"]] if i == 0 else ["", "", ""]
            if not e["present"]:
                out.append([*head, e["label"], "absent", "", "", "", "", "", "", ""])
                continue
            if metric == "win_rate":
                d_score = _signed(None if e["delta_score"] is None else 100 * e["delta_score"], ".1f")
                d_score += " pp" if d_score != DASH else ""
            else:
                d_score = _signed(e["delta_score"], ".2f")
            d_ret = _signed(None if e["delta_retention"] is None else 100 * e["delta_retention"], ".1f")
            d_ret += " pp" if d_ret != DASH else ""
            out.append(
                [
                    *head,
                    e["label"],
                    fmt_score(e["score_mean"], e["score_ci95"], metric),
                    d_score if i else "",
                    fmt_retention(e["retention_mean"], e["retention_ci95"]),
                    d_ret if i else "",
                    human_count(e["flops"]),
                    (fmt_ratio(e["flops_ratio"], 2) if _ok(e["flops_ratio"]) else DASH) if i else "",
                    fmt_ms(e["latency_cpu_p50_ms"]),
                    _signed(e["delta_latency_cpu_p50_ms"], ".3f") if i else "",
                ]
            )
    return out


def compare_table(rows: list[dict], title: str = "kdmarl-bench compare") -> Table:
    """A rich table of a comparison; deltas are against the first leaderboard."""
    table = Table(title=title)
    for i, col in enumerate(COMPARE_COLUMNS):
        table.add_column(col, justify="right" if i >= 4 else "left", overflow="fold")
    n = len(rows[0]["entries"]) if rows else 0
    for j, line in enumerate(compare_rows(rows)):
        table.add_row(*line, end_section=n > 0 and (j + 1) % n == 0)
    return table
