"""Report section ``learning-curves``: retention vs env-steps per task (boards with ``[budget] eval_at``),
and across tasks: the IQM of every run's retention at each budget point (sample efficiency), with a
95% stratified-bootstrap band, one line per method at the board's headline size."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kdmarl_bench.results.analysis import stats
from kdmarl_bench.results.analysis.curves import curve_lines
from kdmarl_bench.results.model.records import CLAIM_RETENTION, TEACHER, Leaderboard
from kdmarl_bench.results.render.markdown import CURVES_FILE, curves_markdown, steps_text
from kdmarl_bench.results.render.report.base import Section, SectionOutput, register_section
from kdmarl_bench.results.render.report.style import (
    MIN_RUNS_PER_TASK,
    TEXT_BOX,
    Style,
    boot_text,
    figure,
    label,
    role,
    save,
)
from kdmarl_bench.results.render.text import board_task_label

IQM_FILE = "learning_curves_iqm.png"


@dataclass(frozen=True)
class IqmCurve:
    """One (method, size): IQM retention over every run of every task at each shared budget point."""

    method: str
    size: str
    env_steps: list[int]
    iqm: list[float]
    lo: list[float]
    hi: list[float]
    n_tasks: int
    runs_per_task: int


def iqm_curves(board: Leaderboard) -> list[IqmCurve]:
    """Per (method, size) at the headline size: at each budget point every task reaches, the IQM of
    the runs' retentions across tasks with a stratified bootstrap CI (tasks are the strata)."""
    size = board.suite.headline_size
    # (method, size) → task → seed → {env_steps: retention}
    runs: dict[tuple[str, str], dict[str, dict[int, dict[int, float]]]] = {}
    for r in board.records:
        if r.method == TEACHER or r.size != size or not r.ok or not r.curve:
            continue
        points = {int(p.env_steps): float(p.retention) for p in r.curve
                  if p.retention is not None and math.isfinite(p.retention)}
        if points:
            runs.setdefault((r.method, r.size), {}).setdefault(r.task, {})[int(r.seed)] = points
    out = []
    for (method, sz), by_task in runs.items():
        steps = sorted(set.intersection(*(set(pts) for seeds in by_task.values() for pts in seeds.values())))
        if len(steps) < 2:
            continue
        iqm, lo, hi = [], [], []
        for n in steps:
            cols = [np.asarray([pts[n] for pts in seeds.values()]) for seeds in by_task.values()]
            point, a, b = stats.stratified_bootstrap_ci(cols, stats.aggregate_iqm, **board.bootstrap.kwargs())
            iqm.append(point)
            lo.append(a)
            hi.append(b)
        per_task = min(len(seeds) for seeds in by_task.values())
        out.append(IqmCurve(method, sz, steps, iqm, lo, hi, len(by_task), per_task))
    return sorted(out, key=lambda c: (c.method != board.focus, role(board, c.method) == "control", c.method))


def plot_iqm_curves(board: Leaderboard, curves: list[IqmCurve], path: Path) -> Path:
    from matplotlib.ticker import FuncFormatter  # matplotlib loads only when a report draws

    style = Style(board)
    fig = figure(9.5, 5.4)
    ax = fig.add_subplot(1, 1, 1)
    for c in curves:
        is_focus = c.method == board.focus
        color = style.color(c.method)
        few = f", {c.runs_per_task}/task: too few" if c.runs_per_task < MIN_RUNS_PER_TASK else ""
        ax.plot(c.env_steps, c.iqm, color=color, marker=style.marker(c.method, c.size), markersize=4,
                linewidth=2.8 if is_focus else 1.5, linestyle=":" if role(board, c.method) == "control" else "-",
                zorder=3 if is_focus else 2, label=f"{label(c.method, c.size)} ({c.n_tasks} tasks{few})")
        ax.fill_between(c.env_steps, c.lo, c.hi, color=color, alpha=0.15 if is_focus else 0.07, linewidth=0)
    ax.axhline(1.0, color="#000000", linewidth=1.0, linestyle="--")
    ax.axhline(CLAIM_RETENTION, color="#999999", linewidth=0.8, linestyle=":")
    ax.set_xticks(sorted({x for c in curves for x in c.env_steps}))
    ax.xaxis.set_major_formatter(FuncFormatter(steps_text))
    ax.set_xlabel("env-steps of training")
    ax.set_ylabel("IQM retention across tasks")
    ax.set_title(f"Sample efficiency across tasks at size {board.suite.headline_size}: IQM of every run's retention\n"
                 f"(bands: 95% stratified-bootstrap CI, {boot_text(board)}; dashed: teacher; dotted: "
                 f"{100 * CLAIM_RETENTION:.0f}%)", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8)
    return save(fig, path)


def plot_curves(board: Leaderboard, out_dir: str | Path) -> tuple[str, list[Path]]:
    """Draw ``learning_curves.png`` into ``out_dir``; returns (the report's markdown section, files).

    ``("", [])`` when no student on the board has a curve of two or more points."""
    from matplotlib.ticker import FuncFormatter  # matplotlib loads only when a report draws

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
        ax.xaxis.set_major_formatter(FuncFormatter(steps_text))
        ax.set_title(board_task_label(board, task))
        ax.set_xlabel("env-steps of training")
        ax.set_ylabel("retention")
    fig.suptitle("Retention vs env-steps of training\n(lines: mean over seeds; bands: 95% bootstrap CI over seeds; "
                 f"dashed: teacher; dotted: {100 * CLAIM_RETENTION:.0f}% retention)", fontsize=11)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=min(4, len(handles)),
               frameon=False)
    path = save(fig, Path(out_dir) / CURVES_FILE)
    return curves_markdown(lines, CURVES_FILE), [path]


def curves_section(board: Leaderboard, out_dir: Path | None) -> SectionOutput:
    """The per-task curves plot and its table, then the cross-task IQM curve; nothing on a board whose
    students have one budget point."""
    if out_dir is None:
        lines = curve_lines(board)
        return SectionOutput(curves_markdown(lines, CURVES_FILE) if lines else "")
    markdown, files = plot_curves(board, out_dir)
    curves = iqm_curves(board) if markdown else []
    if curves:
        files.append(plot_iqm_curves(board, curves, Path(out_dir) / IQM_FILE))
        markdown = (markdown.rstrip("\n") + "\n\nAcross tasks (sample efficiency): the IQM of every run's retention "
                    f"at each budget point, at the headline size `{board.suite.headline_size}`.\n\n"
                    f"![IQM retention vs env-steps across tasks]({IQM_FILE})\n")
    return SectionOutput(markdown, files)


register_section(Section("learning-curves", curves_section, owns=(CURVES_FILE, IQM_FILE)))
