"""Learning curves in the report: retention against env-steps per task.

A suite's ``[budget] eval_at`` evaluates every student at several budget points of its one training
run; ``results.aggregate.curve_summary`` puts the mean retention per point (bootstrap CI over seeds)
and the area under the curve on each summary row. This module draws them:
``learning_curves.png``, one panel per task, one line per method with a shaded 95% CI band, the
teacher at 1.0 and the claim's retention as reference lines.

Which size: every method at ``auto`` when the task has curves at ``auto``, else at the size of the
focus method's first curve; a method without a curve at that size but with exactly one size of
curves is drawn at its own size (the legend says which). ``curve_lines`` is the pure data step;
``plot_curves`` draws and returns the report's markdown with the files it wrote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from kdmarl_bench.results.records import CI, CLAIM_RETENTION, TEACHER, Leaderboard, Summary
from kdmarl_bench.results.render import board_task_label, markdown_table, task_label

CURVES_FILE = "learning_curves.png"
AUTO_SIZE = "auto"


@dataclass(frozen=True)
class CurveLine:
    """One method's mean retention per budget point on one task (a summary row's ``retention_curve``)."""

    task: str
    method: str
    size: str
    env_steps: list[int]
    retention: list[float]
    """Mean over seeds per point (NaN where no seed has a retention)."""
    lo: list[float]
    hi: list[float]
    """The 95% bootstrap CI over seeds per point (the mean itself where there is no interval)."""
    n_seeds: int
    auc: float | None
    auc_ci95: CI | None


def _line(row: Summary) -> CurveLine:
    points = row.retention_curve or []
    mean = [math.nan if p.retention_mean is None else p.retention_mean for p in points]
    lo = [m if p.retention_ci95 is None else p.retention_ci95.lo for p, m in zip(points, mean, strict=True)]
    hi = [m if p.retention_ci95 is None else p.retention_ci95.hi for p, m in zip(points, mean, strict=True)]
    return CurveLine(row.task, row.method, row.size, [p.env_steps for p in points], mean, lo, hi,
                     max((p.n_seeds for p in points), default=0), row.curve_auc, row.curve_auc_ci95)


def curve_size(rows: list[Summary], focus: str, preferred: str = AUTO_SIZE) -> str | None:
    """The size a task's curves are compared at: ``preferred`` (the board's headline size, ``auto`` by
    default) if any method has curves there, else the focus method's first size with a curve, else the
    first size with a curve."""
    sizes = [r.size for r in rows]
    if preferred in sizes:
        return preferred
    focus_sizes = [r.size for r in rows if r.method == focus]
    return (focus_sizes or sizes or [None])[0]


def curve_lines(board: Leaderboard) -> dict[str, list[CurveLine]]:
    """``{task: lines}`` for every task where some student has a curve of two or more points; the
    methods in the board's order (focus method first)."""
    out: dict[str, list[CurveLine]] = {}
    for task in board.tasks:
        rows = [r for r in board.ordered_summary()
                if r.task == task and r.method != TEACHER and r.retention_curve and len(r.retention_curve) >= 2]
        size = curve_size(rows, board.focus, board.suite.headline_size)
        if size is None:
            continue
        lines = []
        for method in dict.fromkeys(r.method for r in rows):
            mine = [r for r in rows if r.method == method]
            row = next((r for r in mine if r.size == size), mine[0] if len(mine) == 1 else None)
            if row is not None:
                lines.append(_line(row))
        out[task] = lines
    return out


def _steps_text(x: float, _pos: object = None) -> str:
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
            points = ", ".join(f"{_steps_text(x)}: {_fmt(y)}" for x, y in zip(ln.env_steps, ln.retention, strict=True))
            ci = "" if ln.auc_ci95 is None or ln.auc_ci95.is_point else f" [{_fmt(ln.auc_ci95.lo)}, {_fmt(ln.auc_ci95.hi)}]"
            rows.append([task, f"{ln.method} ({ln.size})", str(ln.n_seeds), points, _fmt(ln.auc) + ci])
    text += [markdown_table(["task", "method", "seeds", "retention per env-steps", "AUC [95% CI]"], rows)]
    return "\n".join(text)


def plot_curves(board: Leaderboard, out_dir: str | Path) -> tuple[str, list[Path]]:
    """Draw ``learning_curves.png`` into ``out_dir``; returns (the report's markdown section, files).

    ``("", [])`` when no student on the board has a curve of two or more points."""
    from matplotlib.ticker import FuncFormatter

    # local: report.style loads the report package, whose learning-curves section imports this module
    from kdmarl_bench.results.report.style import TEXT_BOX, Style, figure, label, role, save

    lines = curve_lines(board)
    if not lines:
        return "", []
    style = Style(board)
    tasks = list(lines)
    ncols = min(3, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    fig = figure(4.6 * ncols + 2.4, 3.6 * nrows + 0.6)
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(len(tasks))]
    handles: dict[str, object] = {}
    # Lines of one panel share a size, so line style marks the method's role instead: the focus method
    # bold and solid, its variants dash-dotted, the control (no teacher) dotted grey.
    styles = {"focus": ("-", 2.8), "variant": ("-.", 1.4), "control": (":", 1.4), "baseline": ("-", 1.4)}
    for ax, task in zip(axes, tasks, strict=True):
        compared = []
        for ln in lines[task]:
            kind = role(board, ln.method)
            color = style.color(ln.method)
            dash, width = styles.get(kind, ("-", 1.4))
            (h,) = ax.plot(ln.env_steps, ln.retention, color=color, marker=style.marker(ln.method, ln.size),
                           markersize=4, linewidth=width, linestyle=dash, zorder=3 if kind == "focus" else 2)
            ax.fill_between(ln.env_steps, ln.lo, ln.hi, color=color, alpha=0.12, linewidth=0)
            handles.setdefault(label(ln.method, ln.size), h)
            if kind != "control":
                compared += [v for v in (*ln.lo, *ln.retention, *ln.hi) if math.isfinite(v)]
        # The axis fits the distilled students: a control far below them (scratch) would flatten every
        # other line; it is drawn clipped, its lowest mean written at the bottom edge.
        if compared:
            lo_y = min(min(compared), CLAIM_RETENTION) - 0.05
            hi_y = max(max(compared), 1.0) + 0.05
            ax.set_ylim(lo_y, hi_y)
            for ln in lines[task]:
                below = [v for v in ln.retention if math.isfinite(v) and v < lo_y]
                if role(board, ln.method) == "control" and below:
                    ax.annotate(f"{ln.method}: min {min(below):.2f} (off axis)", xy=(0.02, 0.03),
                                xycoords="axes fraction", fontsize=8, color=style.color(ln.method), bbox=TEXT_BOX)
        ax.axhline(1.0, color="#000000", linewidth=1.0, linestyle="--")
        ax.axhline(CLAIM_RETENTION, color="#999999", linewidth=0.8, linestyle=":")
        ax.set_xticks(sorted({x for ln in lines[task] for x in ln.env_steps}))  # the budget points
        ax.xaxis.set_major_formatter(FuncFormatter(_steps_text))
        ax.set_title(board_task_label(board, task))
        ax.set_xlabel("env-steps of training")
        ax.set_ylabel("retention")
    fig.suptitle("Retention vs env-steps of training\n(lines: mean over seeds; bands: 95% bootstrap CI over seeds; "
                 f"dashed: teacher; dotted: {100 * CLAIM_RETENTION:.0f}% retention)", fontsize=11)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=min(4, len(handles)),
               frameon=False)
    path = save(fig, Path(out_dir) / CURVES_FILE)
    return curves_markdown(lines, CURVES_FILE), [path]


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
    header = ["task", "method", "size", *[f"{_steps_text(x)}" for x in points], "AUC [95% CI]"]
    return markdown_table(header, rows, right=tuple(range(3, 3 + len(points)))) + "\n"
