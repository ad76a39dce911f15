"""Report section ``learning-curves``: retention vs env-steps per task (boards with ``[budget] eval_at``),
and across tasks: the IQM of every run's retention at each budget point (sample efficiency), with a
95% stratified-bootstrap band, one line per method at the board's headline size."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kdmarl_bench.results import stats
from kdmarl_bench.results.curves import CURVES_FILE, _steps_text, curve_lines, curves_markdown, plot_curves
from kdmarl_bench.results.records import CLAIM_RETENTION, TEACHER, Leaderboard
from kdmarl_bench.results.report.base import Section, SectionOutput, register_section
from kdmarl_bench.results.report.style import (
    MIN_RUNS_PER_TASK,
    Style,
    boot_text,
    figure,
    label,
    role,
    save,
)

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
    ax.xaxis.set_major_formatter(FuncFormatter(_steps_text))
    ax.set_xlabel("env-steps of training")
    ax.set_ylabel("IQM retention across tasks")
    ax.set_title(f"Sample efficiency across tasks at size {board.suite.headline_size}: IQM of every run's retention\n"
                 f"(bands: 95% stratified-bootstrap CI, {boot_text(board)}; dashed: teacher; dotted: "
                 f"{100 * CLAIM_RETENTION:.0f}%)", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8)
    return save(fig, path)


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
