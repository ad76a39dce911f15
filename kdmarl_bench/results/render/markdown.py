"""GitHub markdown tables: the leaderboard, the headline, its verdict, learning curves and the gate.

What ``show --markdown``, the report, the README blocks and ``gate --markdown`` print; every value
reads through ``text``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from kdmarl_bench.results.analysis.curves import CurveLine, curve_lines
from kdmarl_bench.results.analysis.headline import HeadlineRow, claim_verdict
from kdmarl_bench.results.gate.checks import (
    FAIL,
    GateResult,
    fmt_limit,
    fmt_value,
)
from kdmarl_bench.results.model.records import (
    CLAIM_FLOPS_REDUCTION,
    CLAIM_RETENTION,
    GREEDY_SAMPLED_FLAG,
    Leaderboard,
)
from kdmarl_bench.results.render.text import (
    DASH,
    LEADERBOARD_COLUMNS,
    NOISY_MARK,
    NUMERIC_FROM,
    PRIMARY_LABELS,
    display_name,
    drop_empty_columns,
    fmt_reduction,
    fmt_ret,
    fmt_retention,
    fmt_score,
    leaderboard_rows,
    path_codes,
    poi_text,
    task_label,
    verdict_lines,
)

# ---------------------------------------------------------------------------------------------
# the leaderboard

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
                                              set(range(NUMERIC_FROM, len(LEADERBOARD_COLUMNS))))
    return markdown_table(header, rows, right)


# ---------------------------------------------------------------------------------------------
# the headline and its verdict

def _other(r: HeadlineRow, baseline: bool = False) -> str:
    """The metric that is not primary, as a percentage (— when the board has no curve)."""
    if r.primary == "auc":
        return fmt_ret(r.baseline_retention if baseline else r.retention)
    return fmt_ret(r.baseline_auc if baseline else r.auc)


def headline_markdown(rows: list[HeadlineRow], focus: str = "kd-marl") -> str:
    """The headline as a markdown table (``focus`` names the method when there are no rows).

    The primary metric with its 95% CI (a Student-t interval below 5 seeds), the other metric and
    the sampled retention beside it; a note names the tuning budget and any flagged seeds."""
    if not rows:
        return f"No {display_name(focus)} results at this size.\n"
    method = display_name(rows[0].method)
    primary = rows[0].primary
    label, other = PRIMARY_LABELS[primary], PRIMARY_LABELS["final" if primary == "auc" else "auc"]
    header = ["task", "regime", "teacher", f"{method} {label} [95% CI]", other, "sampled", "FLOPs ↓",
              "best action imitation", f"its {label} [95% CI]", f"its {other}", "its sampled",
              f"P({method} > it) [95% CI]",
              f"≥{100 * CLAIM_RETENTION:.0f}% at ≤{CLAIM_FLOPS_REDUCTION:g}× (mean / CI low)"]
    body = []
    for r in rows:
        low = claim_verdict(r.primary_ci95[0] if r.primary_ci95 else None, r.flops_reduction)
        kind = "" if r.teacher_kind == "local" else f", {r.teacher_kind} teacher"
        body.append([
            task_label(r.task, r.view),
            f"{r.regime}{kind}",
            fmt_score(r.teacher_score, None, r.metric),
            fmt_retention(r.primary_value, r.primary_ci95),
            _other(r),
            fmt_ret(r.retention_sampled),
            fmt_reduction(r.flops_reduction),
            r.best_baseline or DASH,
            fmt_retention(r.baseline_primary, r.baseline_primary_ci95),
            _other(r, baseline=True),
            fmt_ret(r.baseline_retention_sampled),
            poi_text(r),
            f"{r.claim} / {low}",
        ])
    notes = [f"Primary metric: {label} (`[suite] primary = \"{primary}\"`)."]
    if any(r.retention_sampled is not None for r in rows):
        notes[0] += " Sampled: the retention when students (and the teacher) sample their actions on the same episodes."
    flagged = sum(r.n_flagged for r in rows)
    if flagged:
        notes.append(f"⚑ {flagged} seed(s) score more than {100 * GREEDY_SAMPLED_FLAG:.0f} points apart greedy "
                     "and sampled: a near-tie between actions decides their greedy score (`show` lists them).")
    tuning = rows[0].tuning
    if tuning:
        notes.append("Tuning budget: " + ", ".join(f"{m} {n} trials" for m, n in tuning.items()) + ".")
    # columns empty on every row (no curves, no sampled scores: older boards) are left out
    header, body, right = drop_empty_columns(header, body, {6})
    return markdown_table(header, body, right=right) + "\n" + "\n".join(notes) + "\n"


def _steps(x: int) -> str:
    return f"{x / 1000:g}k" if x >= 1000 else str(x)


def headline_curve_markdown(rows: list[HeadlineRow]) -> str:
    """The headline per budget point: the focus method's retention and the best action-imitation
    baseline's (the same baseline as the headline's, chosen at the final point), then both AUCs."""
    rows = [r for r in rows if r.curve]
    if not rows:
        return "No learning curves on this board.\n"
    method = display_name(rows[0].method)
    points = sorted({int(p[0]) for r in rows for p in r.curve})
    header = ["task", "baseline", *[f"{_steps(x)}: {method} / it" for x in points], f"AUC {method} / it [95% CI]"]
    body = []
    for r in rows:
        at = {int(p[0]): p for p in r.curve}

        def auc(v, ci):
            return DASH if v is None else f"{v:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")

        body.append([task_label(r.task, r.view), r.best_baseline or DASH,
                     *[f"{fmt_ret(at[x][1])} / {fmt_ret(at[x][2])}" if x in at else DASH for x in points],
                     f"{auc(r.auc, r.auc_ci95)} / {auc(r.baseline_auc, r.baseline_auc_ci95)}"])
    return markdown_table(header, body) + "\n"


def verdict_markdown(rows: list[HeadlineRow]) -> str:
    """``verdict_lines`` as markdown (the summary, then one bullet per task; no pointer line)."""
    lines = verdict_lines(rows)
    if not lines:
        return "No verdict: the board has no focus method with an action-imitation baseline.\n"
    return "\n".join([lines[0], "", *[f"- {line.strip()}" for line in lines[1:-1]]]) + "\n"


# ---------------------------------------------------------------------------------------------
# learning curves

CURVES_FILE = "learning_curves.png"


def steps_text(x: float, _pos: object = None) -> str:
    if x >= 1e6:
        return f"{x / 1e6:g}M"
    return f"{x / 1e3:g}k" if x >= 1e3 else f"{x:g}"


def _fmt(v: float | None) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v + 0.0:.3f}"  # + 0.0: no "-0.000"


def curves_markdown(lines: dict[str, list[CurveLine]], file_name: str) -> str:
    """The report's section: the figure and, per task and method, retention at each point and the
    normalised area under the curve with its CI."""
    text = [
        "## Learning curves",
        "",
        "Each student is evaluated at every budget point of its one training run (`[budget] eval_at`; greedy, "
        "the same paired eval episodes as the final score). Lines: mean retention over seeds; bands: 95% "
        "bootstrap CI over seeds. AUC: the area under each seed's retention curve divided by the env-step "
        "range (first to last point), i.e. the mean retention over the budget range; mean over seeds with "
        "its CI. Offline methods (bc, pd-kl, logit-mse) are trained in stages, one per point.",
        "",
        f"![retention vs env-steps per task]({file_name})",
        "",
    ]
    rows = []
    for task, task_lines in lines.items():
        for ln in task_lines:
            points = ", ".join(f"{steps_text(x)}: {_fmt(y)}" for x, y in zip(ln.env_steps, ln.retention, strict=True))
            ci = "" if ln.auc_ci95 is None or ln.auc_ci95.is_point else f" [{_fmt(ln.auc_ci95.lo)}, {_fmt(ln.auc_ci95.hi)}]"
            rows.append([task, f"{ln.method} ({ln.size})", str(ln.n_seeds), points, _fmt(ln.auc) + ci])
    text += [markdown_table(["task", "method", "seeds", "retention per env-steps", "AUC [95% CI]"], rows)]
    return "\n".join(text)


def curve_table_markdown(board: Leaderboard) -> str:
    """Retention at every budget point and the AUC per (task, method) at the compared size, one column
    per point (the README's table of a board with curves)."""
    lines = curve_lines(board)
    points = sorted({x for task_lines in lines.values() for ln in task_lines for x in ln.env_steps})
    views = {s.task: s.view for s in board.summary}
    rows = []
    for task, task_lines in lines.items():
        for ln in task_lines:
            at = dict(zip(ln.env_steps, ln.retention, strict=True))
            ci = "" if ln.auc_ci95 is None or ln.auc_ci95.is_point else f" [{_fmt(ln.auc_ci95.lo)}, {_fmt(ln.auc_ci95.hi)}]"
            rows.append([task_label(task, views.get(task, "full")), ln.method, ln.size,
                         *[_fmt(at.get(x)) for x in points], _fmt(ln.auc) + ci])
    header = ["task", "method", "size", *[f"{steps_text(x)}" for x in points], "AUC [95% CI]"]
    return markdown_table(header, rows, right=tuple(range(3, 3 + len(points)))) + "\n"


# ---------------------------------------------------------------------------------------------
# the gate

def gate_markdown(result: GateResult, views: dict[str, str] | None = None) -> str:
    """A markdown report listing every check with both values (for a CI job summary); ``views``
    (task → its students' view) names tasks ``TASK@VIEW`` as every other table does."""
    views = views or {}
    n_fail, n_inc = len(result.failures), len(result.inconclusive)
    if result.exit_code:
        verdict = f"❌ failed ({n_fail} of {len(result.checks)} checks"
        verdict += f", {n_inc} inconclusive with --strict)" if n_inc and result.strict else ")"
    else:
        verdict = "✅ passed" + (f" ({n_inc} inconclusive: not enough seeds to tell)" if n_inc else "")
    lines = [f"## kdmarl-bench gate: {verdict}", ""]
    s = result.settings
    if s:
        latency_how = (
            "absolute CPU p50 ms" if s.get("latency") == "absolute" else "p50 relative to the teacher"
        )
        lines += [
            f"Current `{s.get('current')}` vs baseline `{s.get('baseline')}`; max retention drop "
            f"{s.get('max_retention_drop')}, max FLOPs increase {s.get('max_flops_increase')}, "
            f"max latency increase {s.get('max_latency_increase')} ({latency_how}).",
            "",
        ]
    header = ["status", "task", "method", "size", "check", "current", "baseline", "limit", "detail"]
    rows = [
        [
            "**FAIL**" if c.verdict == FAIL else c.verdict.upper(),
            c.task if views.get(c.task, "full") == "full" else f"{c.task}@{views[c.task]}",
            c.method,
            c.size,
            c.name,
            fmt_value(c.name, c.current),
            fmt_value(c.name, c.baseline),
            fmt_limit(c.name, c.limit) if c.limit is not None else "",
            c.detail,
        ]
        for c in result.checks
    ]
    if rows:
        lines.append(markdown_table(header, rows, right=(5, 6, 7)))
    else:
        lines.append("No checks: the baseline has no summary rows.\n")
    return "\n".join(lines)
