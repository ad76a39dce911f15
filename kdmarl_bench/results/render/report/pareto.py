"""Report section ``pareto``: per task, mean retention (95% bootstrap CI over seeds) against team
FLOPs per decision (log scale) for every method × student size, the teacher at 1.0 and the Pareto
front (best retention at ≤ FLOPs) as a step line; beside it retention against the deployed team's
weight bytes when the board records memory."""

from __future__ import annotations

from pathlib import Path

from kdmarl_bench.results.analysis import stats
from kdmarl_bench.results.model.records import TEACHER, Leaderboard, Summary
from kdmarl_bench.results.render.report.base import Section, SectionOutput, register_section
from kdmarl_bench.results.render.report.style import (
    CLAIM,
    CLAIM_TEXT,
    FLOPS_LABEL,
    MIN_RUNS_PER_TASK,
    RETENTION_LABEL,
    Style,
    figure,
    human_log_ticks,
    label,
    role,
    saturated_tasks,
    save,
    slug,
)
from kdmarl_bench.results.render.text import board_task_label


def _spread(xs: list[float], group: list[int]) -> list[float]:
    """Multiplicative sideways offsets (log axis) for points that share the same FLOPs."""
    out = list(xs)
    by_x: dict[float, list[int]] = {}
    for i in group:
        by_x.setdefault(xs[i], []).append(i)
    for same in by_x.values():
        n = len(same)
        for k, i in enumerate(same):
            out[i] = xs[i] * 10 ** (0.025 * (k - (n - 1) / 2))
    return out


def _task_rows(board: Leaderboard, task: str) -> list[Summary]:
    return [r for r in board.ordered_summary() if r.task == task]


def _why_missing(row: Summary) -> str:
    if row.flops is None:
        return "FLOPs not counted"
    if row.n_seeds == 0 and row.n_failed:
        return f"all {row.n_failed} seed(s) failed"
    return "no retention (teacher or random-policy score missing)"


_COSTS = {
    "flops": ("FLOPs", FLOPS_LABEL),
    "weights_bytes": ("weight bytes", "memory: fp32 weight bytes of the deployed team (log scale)"),
}


def y_limits(board: Leaderboard, points: list[dict]) -> tuple[float, float]:
    """Retention range: every non-control point with its CI, the teacher and the claim line, padded
    (controls far below, like a scratch student, are drawn at the edge instead of stretching it)."""
    main = [p for p in points if role(board, p["row"].method) != "control"] or points
    ys = [p["lo"] for p in main] + [p["hi"] for p in main] + [1.0, CLAIM]
    pad = max(0.05, 0.08 * (max(ys) - min(ys)))
    return min(ys) - pad, max(ys) + pad


def front_within_ci(points: list[dict]) -> list[int]:
    """Indexes of the points no other point beats *within the CIs*: a point is left out only when a
    point of no higher cost has a CI lower bound above its CI upper bound (clearly better and no
    dearer). With few seeds most students overlap, and then they are all on the front together."""
    out = []
    for i, p in enumerate(points):
        beaten = any(j != i and q["x"] <= p["x"] and q["lo"] > p["hi"] for j, q in enumerate(points))
        if not beaten:
            out.append(i)
    return out


def plot_task_pareto(board: Leaderboard, task: str, path: Path, style: Style | None = None,
                     cost: str = "flops") -> Path:
    """Retention (95% CI error bars) vs team cost (log x) for one task, with the Pareto front.

    ``cost``: ``flops`` (per team decision) or ``weights_bytes`` (the deployed team's fp32 weights)."""
    unit, xlabel = _COSTS[cost]
    style = style or Style(board)
    rows = _task_rows(board, task)
    metric = next((r.metric for r in rows if r.metric), None)
    points: list[dict] = []
    missing: list[str] = []
    for r in rows:
        y = 1.0 if r.method == TEACHER else r.retention_mean
        if getattr(r, cost) is None or getattr(r, cost) <= 0 or y is None:
            missing.append(f"{label(r.method, r.size)}: {_why_missing(r)}")
            continue
        ci = r.retention_ci95 if r.method != TEACHER else None
        lo, hi = (ci.lo, ci.hi) if ci is not None else (y, y)
        points.append({"row": r, "x": float(getattr(r, cost)), "y": float(y), "lo": min(lo, y), "hi": max(hi, y)})

    fig = figure(9.0, 5.6)
    ax = fig.add_subplot(1, 1, 1)
    xs_plot = _spread([p["x"] for p in points], list(range(len(points))))
    y_lo, y_hi = y_limits(board, points)
    off_axis: list[str] = []
    for p, xp in zip(points, xs_plot, strict=True):
        r = p["row"]
        is_teacher = r.method == TEACHER
        if not y_lo <= p["y"] <= y_hi:  # a control far off: an arrow at the edge, its value written
            edge = y_lo if p["y"] < y_lo else y_hi
            ax.plot([xp], [edge], marker="v" if p["y"] < y_lo else "^", color=style.color(r.method),
                    markersize=10, clip_on=False, zorder=3,
                    label=f"{label(r.method, r.size)}: {p['y']:.2f} (off axis)")
            off_axis.append(f"{label(r.method, r.size)} at {p['y']:.2f}")
            continue
        lbl = "teacher (retention 1.0 by definition)" if is_teacher else label(r.method, r.size)
        n = r.n_seeds
        if not is_teacher:
            lbl += f", n={n}" + (" (no CI)" if n == 1 else (" (too few runs)" if n < MIN_RUNS_PER_TASK else ""))
            lbl += f", {r.n_failed} failed" if r.n_failed else ""
        ax.errorbar(
            [xp],
            [p["y"]],
            yerr=[[p["y"] - p["lo"]], [p["hi"] - p["y"]]],
            fmt=style.marker(r.method, r.size),
            color=style.color(r.method),
            markersize=15 if is_teacher else 8,
            capsize=4,
            elinewidth=1.4,
            label=lbl,
            zorder=3,
        )
    if points:
        # the front is computed on the true FLOPs; it is drawn through the plotted (spread) points
        front = stats.pareto_front([(p["x"], p["y"]) for p in points])
        fx = [xs_plot[i] for i in front]
        fy = [points[i]["y"] for i in front]
        x_end = max(xs_plot)
        if fx[-1] < x_end:
            fx, fy = [*fx, x_end], [*fy, fy[-1]]
        ax.step(
            fx,
            fy,
            where="post",
            color="#555555",
            linestyle="--",
            linewidth=1.5,
            zorder=2,
            label=f"Pareto front of the means: best retention at ≤ {unit}",
        )
        within = front_within_ci(points)
        ax.scatter(
            [xs_plot[i] for i in within],
            [points[i]["y"] for i in within],
            label="circled: on the front within the CIs\n(no cheaper point is clearly better)",
            s=260,
            facecolors="none",
            edgecolors="#555555",
            linewidths=1.2,
            zorder=4,
        )
        ax.set_xscale("log")
        lo_x, hi_x = min(xs_plot), max(xs_plot)
        ax.set_xlim(lo_x / 1.8, hi_x * 1.8)
        human_log_ticks(ax)
        ax.set_ylim(y_lo, y_hi)
    else:
        ax.set_xscale("log")
        ax.text(
            0.5,
            0.5,
            f"no method has both {unit} and a retention",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=12,
        )
    ax.axhline(1.0, color="#000000", linewidth=0.8, alpha=0.5)
    ax.axhline(CLAIM, color="#999999", linewidth=0.8, linestyle=":", label=CLAIM_TEXT)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(RETENTION_LABEL)
    if metric == "return":
        how = "return normalised: (S − R_rand) / (T − R_rand)"
    elif metric == "win_rate":
        how = "win rate / teacher win rate"
    else:
        how = "retention"
    saturated = " — saturated: every student ≥ 95%, no contrast" if task in saturated_tasks(board) else ""
    ax.set_title(f"{board_task_label(board, task)}: retention vs cost{saturated}\nretention = {how}; error bars: 95% bootstrap CI over seeds")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    notes = []
    if any(x != p["x"] for x, p in zip(xs_plot, points, strict=True)):
        notes.append(f"points with equal {unit} are spread slightly sideways for readability")
    if off_axis:
        notes.append("axis fitted to the compared methods; drawn at the edge (off axis): " + "; ".join(off_axis))
    if missing:
        notes.append("not plotted: " + "; ".join(missing))
    if notes:
        fig.text(0.01, -0.01, "\n".join(notes), ha="left", va="top", fontsize=9, color="#444444", wrap=True)
    return save(fig, path)


# ---------------------------------------------------------------------------------------------
# the section


def pareto_section(board: Leaderboard, out_dir: Path | None) -> SectionOutput:
    out = SectionOutput("")
    style = Style(board)
    lines = ["## Retention vs cost per task", ""]
    used: set[str] = set()
    for task in board.tasks:
        name = f"pareto_{slug(task)}.png"
        k = 2
        while name in used:
            name, k = f"pareto_{slug(task)}_{k}.png", k + 1
        used.add(name)
        if out_dir is None:
            continue
        out.files.append(plot_task_pareto(board, task, out_dir / name, style))
        lines += [f"### {task}", "", f"![{task}: retention vs FLOPs per team decision]({name})", ""]
        if any(r.task == task and r.weights_bytes for r in board.summary):  # boards with memory
            bname = f"pareto_bytes_{slug(task)}.png"
            out.files.append(plot_task_pareto(board, task, out_dir / bname, style, cost="weights_bytes"))
            lines += [f"![{task}: retention vs weight bytes of the deployed team]({bname})", ""]
    out.markdown = "\n".join(lines)
    return out


register_section(Section("pareto", pareto_section, owns=("pareto_*.png",)))
