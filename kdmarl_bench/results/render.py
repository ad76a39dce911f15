"""Render leaderboards as a rich table or a GitHub markdown table (and compare tables).

Every function takes a typed ``Leaderboard`` (or a leaderboard dict, typed once on entry).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from kdmarl_bench.deploy_runtimes import runtimes
from kdmarl_bench.results.fit import Column, FitResult, fit_table, print_fitted
from kdmarl_bench.results.records import CI, GREEDY_SAMPLED_FLAG, TEACHER, Leaderboard, Summary, has_ci
from kdmarl_bench.results.records import is_finite_number as _ok

DASH = "—"

LEADERBOARD_COLUMNS = (
    "task",
    "method",
    "size",
    "score (95% CI)",
    "retention (95% CI)",
    "sampled retention (95% CI)",
    "FLOPs",
    "reduction ×",
    "CPU p50 ms",
    "speed-up ×",
    "train s",
    "weights",
    "best path p50 ms",
)
_NUMERIC_FROM = 3  # columns from this index on are right-aligned



def path_codes() -> dict[str, str]:
    """Deployment path → its short code in the "best path" column (from the runtime registry)."""
    return {rt.name: rt.short for rt in runtimes()}


def fmt_bytes(x: Any) -> str:
    if not _ok(x):
        return DASH
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if x >= size:
            return f"{x / size:.1f} {unit}"
    return f"{int(x)} B"


def fmt_best_path(path: str | None, p50: Any) -> str:
    """``0.013 ort``: the fastest deployment path's 1-thread p50 and which path it is."""
    if path is None or not _ok(p50):
        return DASH
    return f"{p50:.3f} {path_codes().get(path, path)}"


def drop_empty_columns(header, rows, right):
    """Leave out columns that are empty (—) in every row (e.g. memory on boards made before it)."""
    keep = [i for i in range(len(header)) if any(r[i] != DASH for r in rows)] if rows else list(range(len(header)))
    return [header[i] for i in keep], [[r[i] for i in keep] for r in rows], [k for k, i in enumerate(keep) if i in right]


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


def fmt_sampled(r: Summary, ci: bool = True) -> str:
    """The sampled retention (— on boards without it), ``⚑n`` when n seeds are flagged."""
    text = fmt_retention(r.retention_sampled_mean, r.retention_sampled_ci95 if ci else None)
    return f"{text} ⚑{r.n_flagged}" if r.n_flagged else text


def flagged_lines(data: Leaderboard, tasks: Iterable[str] = (), methods: Iterable[str] = ()) -> list[str]:
    """One line per seed whose greedy and sampled scores differ by more than 30 points."""
    tasks, methods = set(tasks), set(methods)
    out = []
    for r in data.records:
        if not r.ok or not r.flagged or (tasks and r.task not in tasks) or (methods and r.method not in methods):
            continue
        both = (r.retention, r.retention_sampled) if _ok(r.retention) and _ok(r.retention_sampled) else None
        what = "retention" if both else "win rate"
        g, smp = both or (r.score, r.score_sampled)
        out.append(f"⚑ {task_label(r.task, r.view)} · {r.method} · {r.size} · seed {r.seed}: {what} greedy "
                   f"{100 * g:.1f}% vs sampled {100 * smp:.1f}% (> {100 * GREEDY_SAMPLED_FLAG:.0f} points apart: a "
                   "near-tie between actions decides the greedy score)")
    return out


def small_n_note(data: Leaderboard) -> str | None:
    """What the brackets of rows with 2 to 4 seeds are (Student t), when the board has such rows."""
    if any(s.ci_kind == "t" for s in data.summary):
        return ("95% CIs over fewer than 5 seeds are Student-t intervals (mean ± t·s/√n), not bootstraps; "
                "with 5 or more seeds, percentile bootstraps")
    return None


def fmt_ratio(x: Any, digits: int = 1) -> str:
    return f"{x:.{digits}f}×" if _ok(x) else DASH


def fmt_ms(x: Any) -> str:
    return f"{x:.3f}" if _ok(x) else DASH


def ordered_summary(board: Leaderboard) -> list[Summary]:
    """Summary rows by task, teacher first, then the focus method, the rest by name; larger students first."""
    return board.ordered_summary()


NOISY_MARK = "⚠"
SIGNIFICANT_MARK = "*"


def _train_wall(board: Leaderboard) -> dict[tuple[str, str, str], float]:
    """Mean training wall time (s) over the successful seeds of each (task, method, size)."""
    walls: dict[tuple[str, str, str], list[float]] = {}
    for r in board.records:
        wall = r.train.wall_s if r.train is not None else None
        if r.ok and _ok(wall):
            walls.setdefault(r.key, []).append(float(wall))
    return {k: sum(v) / len(v) for k, v in walls.items()}


def _noisy(s: Summary) -> bool:
    cpu = s.latency_summary.cpu
    return bool(cpu is not None and cpu.noisy)


def fmt_seconds(x: Any) -> str:
    """Training wall time: ``12.3`` s, ``1,234`` s."""
    if not _ok(x):
        return DASH
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def leaderboard_rows(data: Leaderboard) -> list[list[str]]:
    """The formatted cells of the leaderboard table, one list per summary row.

    A CPU p50 from a noisy measurement carries ``NOISY_MARK``, and so does a speed-up computed
    from one (the student's or its teacher's): not a plain number (``noise_notes`` explains)."""
    walls = _train_wall(data)
    summary = ordered_summary(data)
    teacher_noisy = {s.task: _noisy(s) for s in summary if s.method == TEACHER}
    rows = []
    for r in summary:
        noisy = _noisy(r)
        speed_noisy = noisy or (r.method != TEACHER and teacher_noisy.get(r.task, False))
        p50 = fmt_ms(r.latency_cpu_p50_ms)
        speedup = fmt_ratio(r.latency_speedup_cpu, 2)
        score = fmt_score(r.score_mean, r.score_ci95, r.metric)
        if score == DASH and r.n_failed:
            score = f"failed ({r.n_failed})"
        rows.append(
            [
                task_label(r.task, r.view),
                r.method,
                r.size,
                score,
                fmt_retention(r.retention_mean, r.retention_ci95),
                fmt_sampled(r),
                human_count(r.flops),
                fmt_ratio(r.flops_reduction),
                p50 + (f" {NOISY_MARK}" if noisy and p50 != DASH else ""),
                speedup + (f" {NOISY_MARK}" if speed_noisy and speedup != DASH else ""),
                fmt_seconds(walls.get((r.task, r.method, r.size))),
                fmt_bytes(r.weights_bytes),
                fmt_best_path(r.best_path, r.best_path_p50_ms),
            ]
        )
    return rows


def task_label(task: str, view: str) -> str:
    """A task as tables show it: ``smax/3m`` under the full view, ``smax/3m@sight5`` under another."""
    return task if view == "full" else f"{task}@{view}"


def board_task_label(data: Leaderboard, task: str) -> str:
    """``task_label`` of ``task`` under the view it has on ``board`` (``full`` when not on it)."""
    return task_label(task, next((s.view for s in data.summary if s.task == task), "full"))


def _title(board: Leaderboard) -> str:
    version = board.suite.version
    return f"kdmarl-bench · {board.suite.name}" + (f" v{version}" if version not in (None, "") else "")


# Columns as ``fit`` sees them: priority 0 is never dropped; the compact index points into
# leaderboard_compact_rows (a score or retention without its CI).
_LEADERBOARD_FIT = (
    Column("task"), Column("method"), Column("size"),
    Column("score (95% CI)", 0, right=True, compact=0, compact_name="score"),
    Column("retention (95% CI)", 0, right=True, compact=1, compact_name="retention"),
    Column("sampled retention (95% CI)", 0, right=True, compact=2, compact_name="sampled"),
    Column("FLOPs", 3, right=True), Column("reduction ×", 1, right=True), Column("CPU p50 ms", 4, right=True),
    Column("speed-up ×", 2, right=True), Column("train s", 7, right=True), Column("weights", 5, right=True),
    Column("best path p50 ms", 6, right=True),
)
STACK_BELOW = 120
"""Narrower than this, a board is shown as one table per task (the task id as its title)."""


def leaderboard_compact_rows(board: Leaderboard) -> list[list[str]]:
    """Per summary row: the score and the retention without their CIs."""
    return [[fmt_score(r.score_mean, None, r.metric), fmt_retention(r.retention_mean, None),
             fmt_sampled(r, ci=False)] for r in ordered_summary(board)]


def leaderboard_tables(data: Leaderboard, width: int, tasks: Iterable[str] = (),
                       methods: Iterable[str] = ()) -> list[FitResult]:
    """The leaderboard fitted to ``width`` columns, no cell broken inside a word.

    Wide: one table. Narrower than ``STACK_BELOW``: one table per task, the task id as the
    title, so the longest ids do not cost a column. Each table compacts, then drops, its least
    important columns as needed and says so in its ``note()``. ``tasks``/``methods`` filter rows.
    """
    tasks, methods = set(tasks), set(methods)
    rows, alt = leaderboard_rows(data), leaderboard_compact_rows(data)
    picked = [i for i, r in enumerate(rows)
              if (not tasks or r[0] in tasks or r[0].partition("@")[0] in tasks) and (not methods or r[1] in methods)]
    rows, alt = [rows[i] for i in picked], [alt[i] for i in picked]
    styles = ["bold" if r[1] == TEACHER else None for r in rows]
    # Columns empty on every row (e.g. memory on boards made before it was recorded) are left out.
    keep = [i for i in range(len(_LEADERBOARD_FIT)) if i == 0 or any(r[i] != DASH for r in rows)]
    columns = tuple(_LEADERBOARD_FIT[i] for i in keep)
    rows = [[r[i] for i in keep] for r in rows]
    if width >= STACK_BELOW:
        sections = [i + 1 == len(rows) or rows[i + 1][0] != r[0] for i, r in enumerate(rows)]
        return [fit_table(columns, rows, width, title=_title(data), alt=alt, sections=sections, styles=styles)]
    out = []
    for task in dict.fromkeys(r[0] for r in rows):
        idx = [i for i, r in enumerate(rows) if r[0] == task]
        out.append(fit_table(columns[1:], [rows[i][1:] for i in idx], width, title=task,
                             alt=[alt[i] for i in idx], styles=[styles[i] for i in idx]))
    return out


def print_leaderboard(console: Console, data: Leaderboard, tasks: Iterable[str] = (),
                      methods: Iterable[str] = ()) -> None:
    """Print the leaderboard fitted to the console's width, with a note of what was left out."""
    fitted = leaderboard_tables(data, console.width, tasks, methods)
    if len(fitted) > 1:
        console.print(f"[bold]{_title(data)}[/]", highlight=False)
    notes = noise_notes(data)
    note = small_n_note(data)
    print_fitted(console, fitted, [*notes, *([note] if note else [])])
    for line in flagged_lines(data, tasks, methods):
        console.print(f"[yellow]{line}[/]", highlight=False)


def leaderboard_table(data: Leaderboard) -> Table:
    """A rich table of a leaderboard's summary (teacher row first per task)."""
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


def leaderboard_legend(data: Leaderboard) -> str:
    """What the leaderboard's codes mean (only those the table shows), one line."""
    rows = leaderboard_rows(data)
    parts = []
    used = {c.rsplit(" ", 1)[-1] for r in rows for c in r[-1:] if c != DASH}
    codes = [f"{short} = {path}" for path, short in path_codes().items() if short in used and short != path]
    if codes:
        parts.append("best path: the fastest deployment path's 1-thread p50 (" + ", ".join(codes) + ")")
    train_col = LEADERBOARD_COLUMNS.index("train s")
    if any(r[train_col] != DASH for r in rows):
        parts.append("train s: training wall time, mean over seeds")
    if any(NOISY_MARK in c for r in rows for c in r):
        parts.append(f"{NOISY_MARK}: a noisy latency measurement, not a number to judge")
    return "; ".join(parts)


def leaderboard_markdown(data: Leaderboard) -> str:
    """The leaderboard table as GitHub markdown (columns empty on every row left out)."""
    header, rows, right = drop_empty_columns(list(LEADERBOARD_COLUMNS), leaderboard_rows(data),
                                              set(range(_NUMERIC_FROM, len(LEADERBOARD_COLUMNS))))
    return markdown_table(header, rows, right)


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


def _rel(x: Any) -> str:
    return f" ({100 * x:+.0f}%)" if _ok(x) else ""


def compare_rows(rows: list[dict]) -> list[list[str]]:
    """Formatted cells for ``compare.compare`` output: one line per row × leaderboard.

    Every Δ carries its unit (pp: percentage points; ``ret``: the task's return; ms; ×) and, for
    retention and p50, the change relative to the first board in %; a Δ retention whose 95%
    interval (the gate's noise model) excludes 0 ends in ``*``; a noisy p50 carries ``⚠``."""
    out = []
    for row in rows:
        metric = row.get("metric")
        first_noisy = bool(row["entries"][0].get("latency_noisy"))
        for i, e in enumerate(row["entries"]):
            head = [task_label(row["task"], row.get("view") or "full"), row["method"], row["size"]] if i == 0 \
                else ["", "", ""]
            if not e["present"]:
                out.append([*head, e["label"], "absent", "", "", "", "", "", "", ""])
                continue
            if metric == "win_rate":
                d_score = _signed(None if e["delta_score"] is None else 100 * e["delta_score"], ".1f")
                d_score += " pp" if d_score != DASH else ""
            else:
                d_score = _signed(e["delta_score"], ".2f")
                d_score += " ret" if d_score != DASH else ""
            d_ret = _signed(None if e["delta_retention"] is None else 100 * e["delta_retention"], ".1f")
            if d_ret != DASH:
                d_ret += " pp" + _rel(e.get("rel_retention")) + (f" {SIGNIFICANT_MARK}" if e.get("significant") else "")
            noisy = bool(e.get("latency_noisy"))
            p50 = fmt_ms(e["latency_cpu_p50_ms"]) + (f" {NOISY_MARK}" if noisy else "")
            d_p50 = _signed(e["delta_latency_cpu_p50_ms"], ".3f")
            if d_p50 != DASH:
                d_p50 += " ms" + _rel(e.get("rel_latency_cpu_p50_ms")) + (f" {NOISY_MARK}" if noisy or first_noisy
                                                                          else "")
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
                    p50,
                    d_p50 if i else "",
                ]
            )
    return out


def noise_notes(board: Leaderboard) -> list[str]:
    """The footnote under a leaderboard that shows ``NOISY_MARK``, empty when none is shown."""
    summary = ordered_summary(board)
    noisy = [s for s in summary if _noisy(s)]
    if not noisy:
        return []
    return [f"{NOISY_MARK} noisy latency ({len(noisy)} of {len(summary)} rows): the Timer cross-check or the repeat "
            "spread disagreed while it was timed (a busy machine); its p50 and any speed-up computed from it are "
            "not numbers to judge. Rerun the profile on an idle machine."]


def compare_legend(rows: list[dict], first: str) -> list[str]:
    """The notes under a compare table: what the units and marks mean, and what is absent."""
    notes = [f"Δ vs {first}: pp = percentage points, ret = the task's return, (%) relative to {first}; "
             f"{SIGNIFICANT_MARK} = the 95% interval of Δ retention over seeds excludes 0 (the gate's noise model)"]
    if any(e.get("latency_noisy") for r in rows for e in r["entries"]):
        notes.append(f"{NOISY_MARK} = a noisy latency measurement (its Timer cross-check or repeat spread "
                     "disagreed): its Δ is not a number to judge")
    partial = sum(1 for r in rows if not all(e["present"] for e in r["entries"]))
    if partial:
        notes.append(f"{partial} rows are on only some boards ('absent'); --common-only leaves them out")
    return notes


_COMPARE_FIT = (
    Column("task"), Column("method"), Column("size"), Column("board"),
    Column("score", 1, right=True, compact=0, compact_name="score"), Column("Δ score", 2, right=True),
    Column("retention", 0, right=True, compact=1, compact_name="retention"), Column("Δ retention", 0, right=True),
    Column("FLOPs", 5, right=True), Column("FLOPs ×", 3, right=True),
    Column("CPU p50 ms", 6, right=True), Column("Δ p50", 4, right=True),
)


def board_labels(paths: list[str]) -> list[str]:
    """Short labels for boards in a table: A, B, C, ... (the legend maps them to the paths)."""
    return [chr(ord("A") + i) if i < 26 else f"B{i}" for i in range(len(paths))]


def print_compare(console: Console, rows: list[dict], paths: list[str], provenance: list[str] | None = None) -> None:
    """The comparison fitted to the console: boards as short labels with a legend (and, given,
    one provenance line each), one table per task below ``STACK_BELOW`` columns, CIs then
    low-priority columns left out as needed; the units and marks explained below."""
    lines = compare_rows(rows)
    compact = []
    for line in lines:
        compact.append([line[4].split(" [", 1)[0], line[6].split(" [", 1)[0]])
    n = len(rows[0]["entries"]) if rows else 0
    fitted: list[FitResult] = []
    if console.width >= STACK_BELOW:
        sections = [n > 0 and (j + 1) % n == 0 for j in range(len(lines))]
        fitted.append(fit_table(_COMPARE_FIT, lines, console.width, alt=compact, sections=sections))
    else:
        for task in dict.fromkeys(row["task"] for row in rows):
            label = task_label(task, next(r.get("view") or "full" for r in rows if r["task"] == task))
            idx = [j for r, row in enumerate(rows) if row["task"] == task for j in range(r * n, (r + 1) * n)]
            fitted.append(fit_table(_COMPARE_FIT[1:], [lines[j][1:] for j in idx], console.width, title=label,
                                    alt=[compact[j] for j in idx],
                                    sections=[(k + 1) % n == 0 for k in range(len(idx))]))
    console.print(f"[bold]kdmarl-bench compare[/] (deltas vs {board_labels(paths)[0]})", highlight=False)
    for k, (label, path) in enumerate(zip(board_labels(paths), paths, strict=True)):
        console.print(f"  {label} = {path}", highlight=False, markup=False)
        if provenance:
            console.print(f"      {provenance[k].partition(': ')[2]}", highlight=False, markup=False, style="dim")
    print_fitted(console, fitted, compare_legend(rows, board_labels(paths)[0]))


# ---------------------------------------------------------------------------------------------
# per-agent detail (``show --agents``)

_AGENTS_FIT = (
    Column("method"), Column("size"), Column("agent", right=True), Column("hidden widths"),
    Column("params", 2, right=True), Column("FLOPs", right=True), Column("weights", 1, right=True),
)


def _widths_text(w: Any) -> str:
    return "×".join(str(x) for x in w) if isinstance(w, (list, tuple)) else str(w)


def agents_rows(data: Leaderboard, task: str) -> list[list[str]]:
    """Per student (method, size) of ``task``, one row per agent: its hidden widths, params,
    FLOPs and fp32 weight bytes, from the first successful seed (every seed shares them)."""
    first: dict[tuple[str, str, str], Any] = {}
    for r in data.records:
        if r.task == task and r.ok and r.cost is not None:
            first.setdefault(r.key, r)
    rows = []
    for s in ordered_summary(data):
        rec = first.get(s.key)
        if s.task != task or rec is None:
            continue
        widths = rec.student.widths if rec.student is not None else []
        mem = (rec.extra.get("memory") or {}).get("per_agent") or []
        mem_by_agent = {m.get("agent"): m for m in mem if isinstance(m, dict)}
        for k, c in enumerate(rec.cost.per_agent or []):
            if not isinstance(c, dict):
                continue
            agent = c.get("agent", k)
            rows.append([s.method if k == 0 else "", s.size if k == 0 else "", str(agent),
                         _widths_text(widths[agent]) if isinstance(agent, int) and agent < len(widths) else DASH,
                         human_count(c.get("params")), human_count(c.get("flops")),
                         fmt_bytes((mem_by_agent.get(agent) or {}).get("weights_fp32_bytes"))])
    return rows


def agents_table(data: Leaderboard, task: str, width: int) -> FitResult:
    """The per-agent table of one task (``agents_rows``) fitted to ``width``; the teacher's hidden
    widths are its own (a zoo teacher's record carries none: '—')."""
    view = next((s.view for s in data.summary if s.task == task), "full")
    return fit_table(_AGENTS_FIT, agents_rows(data, task), width,
                     title=f"{task_label(task, view)}: per agent (widths, FLOPs and fp32 weights per team decision)")
