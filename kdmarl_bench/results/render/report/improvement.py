"""Report section ``improvement``: the probability that the focus method beats each baseline.

Only baselines are compared (P(focus > teacher) and P(focus > its own variant) answer other
questions; a control trained without the teacher is no baseline). A comparison where either side
has fewer than ``MIN_RUNS_PER_TASK`` runs per task is drawn hollow and labelled as too few runs
to judge, and its verdict says so.
"""

from __future__ import annotations

from pathlib import Path

from kdmarl_bench.results.analysis.aggregate import improvements_of
from kdmarl_bench.results.model.records import Aggregate, Improvement, Leaderboard
from kdmarl_bench.results.render.markdown import markdown_table
from kdmarl_bench.results.render.report.base import Section, SectionOutput, register_section
from kdmarl_bench.results.render.report.style import (
    MIN_RUNS_PER_TASK,
    TEXT_BOX,
    Style,
    boot_text,
    figure,
    fmt,
    fmt_ci,
    label,
    labelled_interval,
    plural,
    role,
    save,
    value_text,
)
from kdmarl_bench.results.render.text import display_name


def poi_rows(board: Leaderboard) -> list[tuple[Aggregate, Improvement]]:
    """The focus method's probability of improvement over every baseline at the same size."""
    return [(a, p) for a, p in improvements_of(board, board.focus) if role(board, p.method) == "baseline"]


def runs_per_task(board: Leaderboard, a: Aggregate, p: Improvement) -> int:
    """The fewer runs per task of the two sides of a comparison (rounded down)."""
    other = next((b for b in board.aggregate if (b.method, b.size) == (p.method, p.size)), None)
    sides = [x for x in (a, other) if x is not None and x.n_tasks]
    return min((x.n_runs // x.n_tasks for x in sides), default=0)


def verdict(board: Leaderboard, a: Aggregate, p: Improvement) -> str:
    name = display_name(board.focus)
    n = runs_per_task(board, a, p)
    if n < MIN_RUNS_PER_TASK:
        return f"too few runs to judge ({n} per task; needs ≥ {MIN_RUNS_PER_TASK})"
    ci = p.ci95
    if ci is not None and ci.lo is not None and ci.lo > 0.5:
        return f"{name} better (CI above 0.5)"
    if ci is not None and ci.hi is not None and ci.hi < 0.5:
        return f"{name} worse (CI below 0.5)"
    return "no clear difference"


def poi_markdown(board: Leaderboard) -> str:
    name = display_name(board.focus)
    header = [f"{name} size", "vs method", "vs size", "tasks", f"P({name} > other)", "95% CI", "verdict"]
    rows = [[a.size, p.method, p.size, str(p.n_tasks), fmt(p.value), fmt_ci(p.ci95), verdict(board, a, p)]
            for a, p in poi_rows(board)]
    return markdown_table(header, rows, right=(3, 4, 5))


def plot_probability_of_improvement(board: Leaderboard, path: Path, style: Style | None = None) -> Path:
    """P(focus method > baseline) per compared (method, size), with CIs and the 0.5 reference line."""
    style = style or Style(board)
    rows = list(reversed(poi_rows(board)))
    fig = figure(9.5, 1.8 + 0.5 * max(len(rows), 1))
    ax = fig.add_subplot(1, 1, 1)
    few = 0
    for i, (a, p) in enumerate(rows):
        v, ci = p.value, p.ci95
        if v is None:
            continue
        # Labels near the axis ends lean inwards so they stay inside the plot.
        ha = "right" if v > 0.85 else ("left" if v < 0.15 else "center")
        n = runs_per_task(board, a, p)
        if n < MIN_RUNS_PER_TASK:
            few += 1
            lo, hi = (ci.lo, ci.hi) if ci is not None and ci.lo is not None and ci.hi is not None else (v, v)
            ax.errorbar([v], [i], xerr=[[v - min(lo, v)], [max(hi, v) - v]], fmt="o", mfc="white",
                        color="#999999", markersize=8, capsize=5, elinewidth=1.5, clip_on=False)
            # the long label goes beside the interval, on the side with more room
            right_room = 1.0 - max(hi, v) > min(lo, v)
            ax.annotate(f"{value_text(v, ci)} · too few runs ({n} per task) to judge",
                        (max(hi, v) if right_room else min(lo, v), i), xytext=(8 if right_room else -8, 0),
                        textcoords="offset points", ha="left" if right_room else "right", va="center",
                        fontsize=9, color="#666666", bbox=TEXT_BOX)
        else:
            labelled_interval(ax, v, ci, i, "o", style.color(p.method), ha, clip_on=False)
    ax.axvline(0.5, color="#000000", linewidth=1.2, linestyle="--", label="0.5 = no difference")
    ax.set_xlim(-0.03, 1.03)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(
        [f"P({label(a.method, a.size)} > {label(p.method, p.size)})\n{plural(p.n_tasks, 'task')}"
         for a, p in rows]
    )
    ax.set_ylim(-0.6, len(rows) - 0.2)
    ax.set_xlabel("probability of improvement (P(X > Y) per task, averaged over tasks)")
    title = (f"Probability that {display_name(board.focus)} beats each baseline\n"
             f"(95% stratified-bootstrap CI, {boot_text(board)})")
    if few:
        title += (f"\nhollow grey: fewer than {MIN_RUNS_PER_TASK} runs per task on a side, "
                  "too few to tell the methods apart")
    ax.set_title(title)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", frameon=False)
    return save(fig, path)


def improvement_section(board: Leaderboard, out_dir: Path | None) -> SectionOutput:
    name = display_name(board.focus)
    out = SectionOutput("")
    lines = [f"## Probability of improvement ({name} vs each baseline)", ""]
    rows = poi_rows(board)
    if rows:
        lines += [poi_markdown(board)]
        few = [r for r in rows if runs_per_task(board, *r) < MIN_RUNS_PER_TASK]
        if few:
            lines += [f"{len(few)} of {len(rows)} comparisons have fewer than {MIN_RUNS_PER_TASK} runs per task "
                      "on a side: their probability and CI cannot tell the methods apart; run more seeds.", ""]
        if out_dir is not None:
            out.files.append(plot_probability_of_improvement(board, out_dir / "probability_of_improvement.png"))
            lines += ["![probability of improvement](probability_of_improvement.png)", ""]
    elif not any(a.method == board.focus for a in board.aggregate):
        lines += [f"Not available: the leaderboard has no {name} results with a retention.", ""]
        out.notes.append(f"No {name} results: the probability-of-improvement plot is skipped.")
    else:
        lines += [f"Not available: no baseline shares a student size with {name}.", ""]
        out.notes.append(f"No baseline at {name}'s sizes: the probability-of-improvement plot is skipped.")
    out.markdown = "\n".join(lines)
    return out


register_section(Section("improvement", improvement_section, owns=("probability_of_improvement.png",)))
