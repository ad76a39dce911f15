"""Report section ``aggregate``: IQM and mean retention across tasks per method × size, with
stratified-bootstrap CIs (table and plot).

The plot's axis spans the teacher, the claim line and every non-control student; a control far
below (``scratch`` learns without the teacher) is drawn at the axis edge with an arrow and its
value, so one outlier cannot flatten the methods being compared. What the numbers rest on is
said on the plot and under the table: an entry with fewer than ``MIN_RUNS_PER_TASK`` runs per task
is labelled "too few runs", saturated tasks (every compared student at the ceiling) are named,
and an entry whose IQM and mean disagree beyond their CIs (the IQM trimmed whole tasks) is flagged.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from kdmarl_bench.results.model.records import CI, CLAIM_RETENTION, Aggregate, Leaderboard
from kdmarl_bench.results.render.markdown import markdown_table
from kdmarl_bench.results.render.report.base import Section, SectionOutput, register_section
from kdmarl_bench.results.render.report.style import (
    CLAIM,
    CLAIM_TEXT,
    MIN_RUNS_PER_TASK,
    SATURATED_RETENTION,
    TEXT_BOX,
    Style,
    boot_text,
    figure,
    fmt,
    fmt_ci,
    iqm_mean_disagree,
    label,
    labelled_interval,
    plural,
    role,
    runs_per_task_of,
    saturated_tasks,
    save,
    students,
    too_few_runs,
    value_text,
)
from kdmarl_bench.results.render.text import fmt_retention

_ROLE_NOTE = {"control": " · control", "variant": " · variant"}


def aggregate_markdown(board: Leaderboard) -> str:
    header = [
        "method",
        "size",
        "tasks",
        "runs",
        "IQM retention",
        "IQM 95% CI",
        "mean retention",
        "mean 95% CI",
        f"runs > {CLAIM_RETENTION:g}",
        "runs > 1.0",
    ]
    rows = []
    for a in board.aggregate:
        prof = a.performance_profile
        rows.append(
            [
                a.method,
                a.size,
                str(a.n_tasks),
                str(a.n_runs),
                fmt(a.iqm_retention),
                fmt_ci(a.iqm_retention_ci95),
                fmt(a.mean_retention),
                fmt_ci(a.mean_retention_ci95),
                fmt_retention(prof.at(CLAIM_RETENTION) if prof else None, None),
                fmt_retention(prof.at(1.0) if prof else None, None),
            ]
        )
    return markdown_table(header, rows, right=range(2, len(header)))


def axis_limits(board: Leaderboard, entries: list[Aggregate], key: str) -> tuple[float, float]:
    """x range for ``key`` (``iqm_retention`` / ``mean_retention``): the non-control students' values
    and CIs, the teacher (1.0) and the claim line, padded; every student when all are controls."""
    main = [a for a in entries if role(board, a.method) != "control"] or entries
    xs = [1.0, CLAIM]
    for a in main:
        v, ci = getattr(a, key), getattr(a, f"{key}_ci95")
        if v is None:
            continue
        xs.append(v)
        if ci is not None:
            xs += [x for x in (ci.lo, ci.hi) if x is not None]
    lo, hi = min(xs), max(xs)
    pad = 0.08 * max(hi - lo, 0.05)
    return lo - pad, hi + pad


def _off_axis(ax, v: float, ci: CI | None, y: float, lo: float, hi: float, color: str) -> None:
    """A point beyond the axis: an arrow at the edge it lies beyond, and its value written beside."""
    left = v < lo
    edge = lo if left else hi
    ax.annotate("", xy=(edge, y), xytext=(edge + (0.06 if left else -0.06) * (hi - lo), y),
                arrowprops={"arrowstyle": "-|>", "color": color, "lw": 2})
    ax.annotate(f"{value_text(v, ci)} (off axis)", (edge, y), xytext=(6 if left else -6, 9),
                textcoords="offset points", ha="left" if left else "right", va="bottom", fontsize=9,
                color="#333333", bbox=TEXT_BOX)


def plot_aggregate(board: Leaderboard, path: Path, style: Style | None = None) -> Path:
    """IQM and mean retention across tasks per method × size, with stratified-bootstrap CIs."""
    style = style or Style(board)
    entries = list(reversed(students(board)))  # first entry at the top
    height = 1.6 + 0.45 * max(len(entries), 1)
    fig = figure(11.0, height)
    axes = fig.subplots(1, 2, sharey=True)
    clipped: dict[str, list[str]] = {}
    for ax, (key, name) in zip(axes, (("iqm_retention", "IQM"), ("mean_retention", "mean")), strict=True):
        lo, hi = axis_limits(board, entries, key)
        for i, a in enumerate(entries):
            v, ci = getattr(a, key), getattr(a, f"{key}_ci95")
            if v is None:
                continue
            if lo <= v <= hi:
                # labels near the axis ends lean inwards so they stay inside the panel
                where = (v - lo) / (hi - lo)
                ha = "left" if where < 0.2 else ("right" if where > 0.8 else "center")
                labelled_interval(ax, v, ci, i, style.marker(a.method, a.size), style.color(a.method), ha)
            else:
                _off_axis(ax, v, ci, i, lo, hi, style.color(a.method))
                clipped.setdefault(label(a.method, a.size), []).append(f"{name} {v:.2f}")
        ax.axvline(1.0, color="#000000", linewidth=1.0, linestyle="--", label="teacher = 1.0")
        ax.axvline(CLAIM, color="#999999", linewidth=0.8, linestyle=":", label=CLAIM_TEXT)
        ax.set_xlim(lo, hi)
        ax.set_xlabel(f"{name} retention (fraction of the teacher's score)")
        ax.set_title(f"{name} across tasks")
        ax.set_yticks(range(len(entries)))
        ax.set_yticklabels(
            [
                f"{label(a.method, a.size)}{_ROLE_NOTE.get(role(board, a.method), '')}"
                f"{' · IQM≠mean' if iqm_mean_disagree(a) else ''}\n"
                f"{plural(a.n_tasks, 'task')}, {plural(a.n_runs, 'run')}"
                + (f" · too few ({runs_per_task_of(a)}/task)" if too_few_runs(a) else "")
                for a in entries
            ]
        )
        ax.set_ylim(-0.6, len(entries) - 0.2)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2, frameon=False)
    title = f"Aggregate retention (95% stratified-bootstrap CI, {boot_text(board)})"
    for note in honesty_notes(board, entries):
        title += "\n" + "\n".join(textwrap.wrap(note, 110))
    if clipped:
        title += ("\naxis fitted to the compared methods; off axis (arrow, value written): "
                  + "; ".join(f"{who}: {', '.join(vals)}" for who, vals in clipped.items()))
    fig.suptitle(title)
    return save(fig, path)


def honesty_notes(board: Leaderboard, entries: list[Aggregate]) -> list[str]:
    """What the aggregate rests on: too few runs, saturated tasks, IQM and mean in disagreement."""
    notes = []
    few = [a for a in entries if too_few_runs(a)]
    if few:
        notes.append(f"too few runs: {len(few)} of {len(entries)} entries have fewer than {MIN_RUNS_PER_TASK} runs "
                     "per task; their CIs cannot separate methods")
    sat = saturated_tasks(board)
    if sat:
        notes.append(f"saturated (every compared student ≥ {100 * SATURATED_RETENTION:.0f}%, no contrast): "
                     + ", ".join(sat))
    split = [a for a in entries if iqm_mean_disagree(a)]
    if split:
        notes.append(f"IQM≠mean ({len(split)} of {len(entries)} entries, marked): IQM and mean disagree beyond their "
                     "CIs, the IQM's trimming dropped whole tasks' runs; read both")
    return notes


def aggregate_section(board: Leaderboard, out_dir: Path | None) -> SectionOutput:
    out = SectionOutput("")
    lines = ["## Aggregate retention across tasks", "", aggregate_markdown(board)]
    notes = honesty_notes(board, students(board))
    split = [label(a.method, a.size) for a in students(board) if iqm_mean_disagree(a)]
    if split:
        notes.append("IQM and mean disagree for: " + ", ".join(split))
    if notes:
        lines += ["Read with care: " + "; ".join(notes) + ".", ""]
    if any(a.iqm_retention is not None for a in students(board)):
        if out_dir is not None:
            out.files.append(plot_aggregate(board, out_dir / "aggregate_retention.png"))
            lines += ["![aggregate IQM and mean retention](aggregate_retention.png)", ""]
    else:
        out.notes.append("No student has a retention: the aggregate plot is skipped.")
    out.markdown = "\n".join(lines)
    return out


register_section(Section("aggregate", aggregate_section, owns=("aggregate_retention.png",)))
