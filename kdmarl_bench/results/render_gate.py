"""What ``kdmarl-bench gate`` prints on a terminal: one compact table of the checks that did not
simply pass (check, verdict, seeds needed), the full line of each failed check (so a regression
says both values and why), then one summary line counting every verdict.

The full line of every check (both values, the interval, why) is in ``--json`` and
``--markdown FILE``; this module only renders a ``GateResult`` and never changes a verdict.
"""

from __future__ import annotations

import re
from collections import Counter

from rich.console import Console

from kdmarl_bench.results.fit import Column, fit_grouped, print_fitted
from kdmarl_bench.results.gate import (
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
from kdmarl_bench.results.records import Leaderboard
from kdmarl_bench.results.render import task_label

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
