"""Every table a command prints on a terminal, fitted to its width by ``fit``.

One section per command family: the leaderboard (``show``, ``run``'s end), ``compare``, the
per-agent detail (``show --agents``), ``gate`` (one compact table of the checks that did not simply
pass, the full line of each failed check, a summary line counting every verdict; the full line of
every check is in ``--json`` and ``--markdown``), ``profile`` (cost and memory lines, the latency
table; a p50 its own Timer cross-check or repeat spread disagrees with is marked ``⚠``), ``verify``
(fresh-seed re-evaluations, ``--retrain`` verdicts), and the tables that describe the tool itself
(``methods``, ``envs``, ``plan``: their rows are built by the command, so this module never loads the
method registry). Values read through ``text``; this module renders and never changes a verdict.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from kdmarl_bench.results.analysis.stats import CV_NOISY, TIMER_MISMATCH_RTOL, is_noisy
from kdmarl_bench.results.gate.checks import (
    FAIL,
    INCONCLUSIVE,
    NOISY,
    PASS,
    SKIPPED,
    Check,
    GateResult,
    fmt_limit,
    fmt_value,
)
from kdmarl_bench.results.model.records import TEACHER, Leaderboard
from kdmarl_bench.results.model.verification import Retrained, Verification
from kdmarl_bench.results.render.fit import Column, FitResult, fit_grouped, fit_table, print_fitted
from kdmarl_bench.results.render.text import (
    DASH,
    LEADERBOARD_COLUMNS,
    NOISY_MARK,
    NUMERIC_FROM,
    agents_rows,
    board_labels,
    compare_legend,
    compare_rows,
    flagged_lines,
    fmt_retention,
    fmt_sampled,
    fmt_score,
    leaderboard_rows,
    noise_notes,
    ordered_summary,
    small_n_note,
    task_label,
)

# ---------------------------------------------------------------------------------------------
# leaderboard (``show``, the end of ``run``)

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
        table.add_column(col, justify="right" if i >= NUMERIC_FROM else "left", overflow="fold")
    rows = leaderboard_rows(data)
    for i, row in enumerate(rows):
        last_of_task = i + 1 == len(rows) or rows[i + 1][0] != row[0]
        style = "bold" if row[1] == TEACHER else None
        table.add_row(*row, style=style, end_section=last_of_task)
    return table


# ---------------------------------------------------------------------------------------------
# compare


_COMPARE_FIT = (
    Column("task"), Column("method"), Column("size"), Column("board"),
    Column("score", 1, right=True, compact=0, compact_name="score"), Column("Δ score", 2, right=True),
    Column("retention", 0, right=True, compact=1, compact_name="retention"), Column("Δ retention", 0, right=True),
    Column("FLOPs", 5, right=True), Column("FLOPs ×", 3, right=True),
    Column("CPU p50 ms", 6, right=True), Column("Δ p50", 4, right=True),
)


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


def agents_table(data: Leaderboard, task: str, width: int) -> FitResult:
    """The per-agent table of one task (``agents_rows``) fitted to ``width``; the teacher's hidden
    widths are its own (a zoo teacher's record carries none: '—')."""
    view = next((s.view for s in data.summary if s.task == task), "full")
    return fit_table(_AGENTS_FIT, agents_rows(data, task), width,
                     title=f"{task_label(task, view)}: per agent (widths, FLOPs and fp32 weights per team decision)")


# ---------------------------------------------------------------------------------------------
# gate (``kdmarl-bench gate``)

_VERDICT = {FAIL: "[red]FAIL[/]", INCONCLUSIVE: "[yellow]inconclusive[/]", NOISY: "noisy: not judged",
            SKIPPED: "skipped: not judged", PASS: "pass"}
_NEED = re.compile(r"need ≥ (\d+) seeds")

_GATE_FIT = (
    Column("task"), Column("method"), Column("size"), Column("check"), Column("current", 2, right=True),
    Column("baseline", 3, right=True), Column("limit", 4, right=True), Column("verdict"),
    Column("seeds needed", right=True),
)


def seeds_needed(check: Check) -> str:
    """Seeds per board an inconclusive check says it needs ('-' when it says none)."""
    found = _NEED.search(check.detail)
    if found:
        return f"≥ {found.group(1)}"
    return "> 1000" if "more than 1000 seeds" in check.detail else "-"


def views_of(*boards: Leaderboard) -> dict[str, str]:
    """Task → its students' observation view, from the boards' summaries (``full`` when absent)."""
    out: dict[str, str] = {}
    for board in boards:
        for s in board.summary:
            out.setdefault(s.task, s.view or "full")
    return out


def summary_line(result: GateResult, baseline: str) -> str:
    """``gate passed: 204 checks against B — 171 pass, 0 fail, 33 inconclusive, 0 not judged``."""
    counts = Counter(c.verdict for c in result.checks)
    n = len(result.checks)
    not_judged = counts[NOISY] + counts[SKIPPED]
    tally = (f"{counts[PASS]} pass, {counts[FAIL]} fail, {counts[INCONCLUSIVE]} inconclusive, {not_judged} not judged"
             + (f" ({counts[NOISY]} noisy latency)" if counts[NOISY] else ""))
    if result.exit_code == 0:
        head = f"gate passed: {n} checks against {baseline}"
    elif counts[FAIL]:
        head = f"gate failed: {counts[FAIL]} of {n} checks regressed against {baseline}"
    else:
        head = f"gate failed (--strict): {counts[INCONCLUSIVE]} of {n} checks inconclusive against {baseline}"
    return f"{head} — {tally}"


def print_gate(console: Console, result: GateResult, baseline: str, views: dict[str, str]) -> None:
    """The compact table of every check that is not a plain pass (fails first), then the summary line."""
    order = {FAIL: 0, INCONCLUSIVE: 1, NOISY: 2, SKIPPED: 3}
    shown = [c for c in result.checks if c.verdict != PASS]
    tasks = {t: k for k, t in enumerate(dict.fromkeys(c.task for c in shown))}
    shown.sort(key=lambda c: (tasks[c.task], order.get(c.verdict, 9)))  # grouped by task, fails first
    if shown:
        rows = [[task_label(c.task, views.get(c.task, "full")), c.method, c.size, c.name,
                 fmt_value(c.name, c.current), fmt_value(c.name, c.baseline),
                 "-" if c.limit is None else fmt_limit(c.name, c.limit), _VERDICT.get(c.verdict, c.verdict),
                 seeds_needed(c)] for c in shown]
        n_pass = len(result.checks) - len(shown)
        title = f"gate: the checks that did not pass ({n_pass} passed)"
        fitted = fit_grouped(_GATE_FIT, rows, console.width, title=title)
        if len(fitted) > 1:
            console.print(f"[bold]{title}[/]", highlight=False)
        print_fitted(console, fitted, ["every check's interval and reason: --json, or --markdown FILE"])
    for check in result.failures:
        status, _, rest = check.describe().partition(" ")
        rest = rest.removeprefix(check.task + " ")
        console.print(f"{status} {task_label(check.task, views.get(check.task, 'full'))} {rest}", highlight=False,
                      markup=False, soft_wrap=True)
    console.print(summary_line(result, baseline), highlight=False, markup=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------------
# profile (``kdmarl-bench profile``)

def fmt_kib(n: int | None) -> str:
    """Bytes as KiB below 1 MiB, else MiB; '-' when unknown."""
    if n is None:
        return "-"
    return f"{n / 1024:,.1f} KiB" if n < 2**20 else f"{n / 2**20:,.2f} MiB"


def profile_lines(out: dict[str, Any]) -> list[str]:
    """The two summary lines: counts (params, MACs, FLOPs) and memory with the machine's floor."""
    cost, memory, peak = out["cost"], out["memory"], out["peak"]
    return [
        f"{out['checkpoint']} ({out.get('kind')}, {task_label(out['task'], out.get('view') or 'full')}): params {cost['params']:,} · MACs {cost['macs']:,} "
        f"(thop) · FLOPs {cost['flops']:,} (FlopCounterMode) · agree {cost['agree']}",
        f"memory: weights {fmt_kib(memory['weights_fp32_bytes'])} fp32 / {fmt_kib(memory['weights_int8_bytes'])} "
        f"int8 · peak activations {memory['peak_activation_bytes']:,} B at batch 1 · floor: "
        f"{peak['matmul_gflops']:.1f} GFLOP/s matmul, {peak['bandwidth_gbs']:.1f} GB/s copy, "
        f"LLC {peak['llc_bytes'] / 2**20:.0f} MiB (1 thread)",
    ]


def disagrees(entry: dict[str, Any]) -> bool:
    """The entry's p50 is not to be trusted as is: marked ``noisy``, or its Timer cross-check
    disagrees (``timer_mismatch``), or its repeats spread more than ``CV_NOISY``."""
    return bool(entry.get("noisy")) or is_noisy(entry)


_LATENCY_FIT = (
    Column("path"), Column("device"), Column("threads", 3, right=True), Column("mode", 4),
    Column("batch", 2, right=True), Column("p50 ms", 0, right=True), Column("p90 ms", 8, right=True),
    Column("p99 ms", 7, right=True), Column("Timer ms", 1, right=True), Column("cv", 9, right=True),
    Column("decisions/s", 6, right=True), Column("x floor", 10, right=True),
    Column("equivalence", 5, compact=0, compact_name="equiv.", compact_means="verdict only"), Column("file", 11, right=True),
)
_MODE_SHORT = {"decentralized": "decentr.", "centralized": "central."}


def latency_table(latency: list[dict[str, Any]], width: int = 240) -> FitResult:
    """One row per latency entry (path, device, threads, mode, batch), with its equivalence check,
    fitted to ``width``; a p50 that disagrees with its cross-check carries ``NOISY_MARK``."""
    rows, alt = [], []
    for e in latency:
        eq = e.get("equivalence")
        eq_txt = "-" if eq is None else (f"{'ok' if eq['passed'] else '[red]FAILED[/]'} "
                                         f"(max diff {eq['max_abs_diff']:.1e}, n {eq['n']})")
        eq_short = "-" if eq is None else ("ok" if eq["passed"] else "[red]FAILED[/]")
        x_floor = e.get("x_floor")
        mark = f" {NOISY_MARK}" if disagrees(e) else ""
        rows.append([e["path"], e["device"], str(e["threads"]), _MODE_SHORT.get(e["mode"], e["mode"]),
                     str(e["batch"]), f"{e['p50_ms']:.4f}{mark}", f"{e['p90_ms']:.4f}", f"{e['p99_ms']:.4f}",
                     f"{e['timer_median_ms']:.4f}", f"{e['cv']:.3f}", f"{e['throughput_decisions_per_s']:,.0f}",
                     "-" if x_floor is None else f"{x_floor:,.1f}x", eq_txt, fmt_kib(e.get("file_bytes"))])
        alt.append([eq_short])
    return fit_table(_LATENCY_FIT, rows, width, title="latency per team decision", alt=alt)


def latency_notes(latency: list[dict[str, Any]]) -> list[str]:
    """Footnotes under the latency table: what the noise mark means, when one is shown."""
    flagged = [e for e in latency if disagrees(e)]
    if not flagged:
        return []
    return [f"{NOISY_MARK} {len(flagged)} of {len(latency)} p50s disagree with their own cross-check (Timer median "
            f"off by >{TIMER_MISMATCH_RTOL:.0%} or repeat cv >{CV_NOISY:.2f}): the machine was busy; rerun before "
            "trusting them"]


# ---------------------------------------------------------------------------------------------
# verify (``kdmarl-bench verify``)

_VERDICT_STYLE = {"holds": "[green]holds[/]", "outside": "[red]outside[/]", "inconclusive": "[yellow]inconclusive[/]"}


_VERIFY_FIT = (
    Column("task"), Column("method"), Column("size"), Column("seed", right=True), Column("recorded", right=True),
    Column("95% CI", 3, right=True), Column("fresh", right=True), Column("inside CI", 2),
    Column("fresh − recorded [95% CI]", 1, right=True, compact=0, compact_name="fresh − recorded"),
    Column("holds"),
)


def verify_table(rows: Iterable[Verification], source: str, width: int = 240) -> FitResult:
    """One row per re-evaluated record: recorded score and CI, fresh score, and whether it holds,
    fitted to ``width`` (ids and scores stay whole; the CIs give way first)."""
    cells, alt = [], []
    for r in rows:
        cells.append([task_label(r.task, r.view), r.method, r.size, str(r.seed), f"{r.recorded:.3f}",
                      f"[{r.ci95[0]:.3f}, {r.ci95[1]:.3f}]", f"{r.fresh:.3f}", "yes" if r.inside else "no",
                      f"{r.fresh - r.recorded:+.3f} [{r.diff_ci95[0]:+.3f}, {r.diff_ci95[1]:+.3f}]",
                      "[green]yes[/]" if r.holds else "[red]no[/]"])
        alt.append([f"{r.fresh - r.recorded:+.3f}"])
    return fit_table(_VERIFY_FIT, cells, width, title=f"fresh-seed re-evaluation of {source}", alt=alt)


_RETRAIN_FIT = (
    Column("task"), Column("method"), Column("size"), Column("seed", right=True), Column("recorded", 2, right=True),
    Column("retrained", right=True), Column("cell mean (n seeds)", 3, right=True),
    Column("95% prediction interval", 1, right=True), Column("verdict"),
)


def retrain_table(rows: Iterable[Retrained], source: str, width: int = 240) -> FitResult:
    """One row per retrained cell against the board's seed-to-seed prediction interval, fitted to ``width``."""
    cells = []
    for r in rows:
        cells.append([r.task, r.method, r.size, str(r.seed), f"{r.recorded:.3f}",
                      f"{r.retrained:.3f}" + (" (identical)" if r.identical else ""),
                      f"{r.cell_mean:.3f} ({r.n_seeds})", f"[{r.interval[0]:.3f}, {r.interval[1]:.3f}]",
                      _VERDICT_STYLE[r.verdict]])
    return fit_table(_RETRAIN_FIT, cells, width, title=f"retrained here vs the seed-to-seed spread of {source}")


def retrain_messages(rows: Iterable[Retrained]) -> list[str]:
    """The notes and warnings printed (to stderr) under the retrain table."""
    out = []
    for r in rows:
        for note in r.notes:
            out.append(f"note: {r.task} {r.method} {r.size} seed {r.seed}: {note}")
        if r.verdict == "inconclusive":
            out.append(f"warning: {r.task} {r.method} {r.size}: one seed on the board and no other cells to "
                       "pool with: no spread to judge against")
    return out


# ---------------------------------------------------------------------------------------------
# the tool itself (``methods``, ``envs``, ``plan``)

_METHODS_FIT = (Column("id"), Column("trains", 2), Column("teacher", 1), Column("kind", 3),
                Column("fields", 4, right=True), Column("what it is", wrap=True))


def methods_table(rows: list[list[str]], width: int = 240) -> FitResult:
    """``methods``: id, trains, teacher, kind, fields, what it is (the rows from ``methods.describe``,
    built by the command: this module does not load the method registry, which loads torch)."""
    return fit_table(_METHODS_FIT, rows, width, title="kdmarl-bench methods (`kdmarl-bench methods ID` for its config)")


_METHOD_INFO_FIT = (Column("field"), Column("type", 1), Column("default", right=True), Column("meaning", wrap=True))


def method_info_table(title: str, rows: list[list[str]], width: int = 240) -> FitResult:
    """``methods ID``: one row per config field (field, type, default as TOML writes it, meaning)."""
    return fit_table(_METHOD_INFO_FIT, rows, width, title=title)


_PLAN_FIT = (Column("task"), Column("method"), Column("size"), Column("seed", right=True),
             Column("env steps", 1, right=True), Column("episodes × seeds", 3, right=True, compact_name="episodes"), Column("teacher", 2))


def plan_table(title: str, rows: list[list[str]], width: int = 240) -> FitResult:
    """``plan``'s cells: task (``TASK@VIEW``), method, size, seed, env steps, eval episodes, teacher."""
    return fit_table(_PLAN_FIT, rows, width, title=title)


_ENVS_FIT = (Column("id"), Column("agents", 1, right=True), Column("obs dims", 3, right=True),
             Column("state", 6, right=True), Column("actions", 4, right=True), Column("limit", 7, right=True),
             Column("metric", 2), Column("teacher", 5, right=True), Column("views", 8), Column("available"))


def envs_table(title: str, rows: list[list[str]], width: int = 240) -> FitResult:
    """``envs``'s tasks: id, agents, obs dims, state, actions, episode limit, metric, zoo teacher,
    views beyond full, available here."""
    return fit_table(_ENVS_FIT, rows, width, title=title)
