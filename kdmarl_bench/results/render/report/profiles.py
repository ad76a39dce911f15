"""Report section ``profiles``: performance profiles of retention (fraction of runs with
retention > τ, 95% stratified-bootstrap bands).

Each profile is drawn as a step function on the exact run retentions (rliable's convention): it
drops only at a run's value, so a teacher whose runs all score exactly 1.0 stays at 1 up to 1.0
instead of seeming to decline between grid points; the bands are computed at the same
breakpoints. A curve with fewer than ``MIN_RUNS_PER_TASK`` runs per task says so in its label.

One panel per student size of the focus method: the focus method against the ``TOP_BASELINES``
baselines with the best mean retention at that size, and the teacher for reference, so a panel
never holds more than five curves. Without the focus method: one panel of the best students.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kdmarl_bench.results.analysis import stats
from kdmarl_bench.results.model.records import TEACHER, Aggregate, Leaderboard
from kdmarl_bench.results.render.report.base import Section, SectionOutput, register_section
from kdmarl_bench.results.render.report.style import (
    CLAIM,
    MIN_RUNS_PER_TASK,
    Style,
    boot_text,
    figure,
    label,
    plural,
    role,
    runs_by_task,
    runs_per_task_of,
    save,
    too_few_runs,
)
from kdmarl_bench.results.render.text import display_name

TOP_BASELINES = 3
"""Baselines per panel (the best by mean retention at the panel's size)."""


@dataclass
class Panel:
    """One small multiple: its title and its curves (focus first, teacher last)."""

    title: str
    entries: list[Aggregate]


def _best(entries: list[Aggregate], n: int) -> list[Aggregate]:
    return sorted(entries, key=lambda a: -(a.mean_retention if a.mean_retention is not None else -math.inf))[:n]


def panels(board: Leaderboard) -> list[Panel]:
    """The panels to draw (pure: which curves go where)."""
    with_profile = [a for a in board.aggregate if a.performance_profile is not None]
    teacher = [a for a in with_profile if a.method == TEACHER]
    focus = [a for a in with_profile if a.method == board.focus]
    if not focus:
        students = [a for a in with_profile if a.method != TEACHER and role(board, a.method) != "control"]
        return [Panel("best students by mean retention", _best(students, TOP_BASELINES + 1) + teacher)]
    out = []
    for f in focus:
        baselines = [a for a in with_profile if a.size == f.size and role(board, a.method) == "baseline"]
        best = _best(baselines, TOP_BASELINES)
        what = (f"vs the {plural(len(best), 'best baseline')} at this size" if best else "no baseline at this size")
        out.append(Panel(f"{display_name(board.focus)} ({f.size}) {what}", [f, *best, *teacher]))
    return out


@dataclass
class StepProfile:
    """A performance profile on exact run values: ``fraction[k]`` (and its band) holds for τ in
    ``[taus[k], taus[k + 1])``; ``taus`` starts at ``start`` and ends at ``end``."""

    taus: list[float]
    fraction: list[float]
    lo: list[float]
    hi: list[float]


def step_profile(board: Leaderboard, a: Aggregate, start: float, end: float) -> StepProfile | None:
    """The profile of (method, size) as a step function on its runs' exact retentions, with
    stratified-bootstrap bands (``stats.performance_profile_ci``) at the same breakpoints."""
    cols = [np.asarray(v, dtype=float) for v in runs_by_task(board, a.method, a.size).values()]
    if not cols:
        return None
    values = sorted({float(v) for c in cols for v in c if start < v < end})
    taus = [start, *values]
    point, lo, hi = stats.performance_profile_ci(cols, taus, **board.bootstrap.kwargs())
    # the last step runs to the end of the axis
    return StepProfile([*taus, end], [*point, point[-1]], [*lo, lo[-1]], [*hi, hi[-1]])


def informative_start(entries: list[Aggregate]) -> float:
    """The last τ before any curve (or its band) leaves 1.0: left of it every run of every curve
    is above τ, so the panel starts there instead of spending most of its width on flat lines."""
    first = None
    for a in entries:
        prof = a.performance_profile
        assert prof is not None
        for i, (f, lo) in enumerate(zip(prof.fraction, prof.ci95_lo, strict=True)):
            if (f is not None and f < 1.0) or (lo is not None and lo < 1.0):
                first = i if first is None else min(first, i)
                break
    if first is None or not entries:
        return 0.0
    taus = entries[0].performance_profile.taus  # type: ignore[union-attr]
    return float(taus[max(first - 1, 0)])


def plot_performance_profiles(board: Leaderboard, path: Path, style: Style | None = None) -> Path:
    """Small multiples of performance profiles (see the module docstring)."""
    style = style or Style(board)
    grid = panels(board)
    ncols = min(len(grid), 3)
    nrows = math.ceil(len(grid) / ncols)
    fig = figure(max(5.2 * ncols + 0.5, 9.0), 4.4 * nrows + 1.0)
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
    few_any = False
    for ax, panel in zip(axes, grid, strict=False):
        start = informative_start(panel.entries)
        last = max(max(a.performance_profile.taus) for a in panel.entries)  # type: ignore[union-attr]
        for a in panel.entries:
            prof = step_profile(board, a, start - 0.02, last + 0.02)
            if prof is None:
                continue
            is_teacher = a.method == TEACHER
            is_focus = a.method == board.focus
            few = too_few_runs(a) and not is_teacher
            few_any |= few
            color = style.color(a.method)
            runs = plural(a.n_runs, "run") + (f", {runs_per_task_of(a)}/task: too few" if few else "")
            ax.step(prof.taus, prof.fraction, where="post", color=color, linestyle=style.linestyle(a.method, a.size),
                    linewidth=1.2 if is_teacher else (2.8 if is_focus else 1.8),
                    zorder=5 if is_focus else 3, label=f"{label(a.method, a.size)} ({runs})")
            if not is_teacher:
                ax.fill_between(prof.taus, prof.lo, prof.hi, step="post", color=color,
                                alpha=0.22 if is_focus else 0.10, linewidth=0)
        ax.axvline(CLAIM, color="#999999", linewidth=0.8, linestyle=":")
        ax.set_title(panel.title, fontsize=10)
        ax.set_xlim(start - 0.02, last + 0.02)
        ax.set_xlabel("retention threshold τ" + (f" (every run is above τ < {start:g})" if start > 0 else ""))
        ax.set_ylim(-0.03, 1.03)
        ax.legend(loc="lower left", fontsize=8, frameon=True, framealpha=0.85)
    for ax in axes[len(grid):]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel("fraction of runs with retention > τ")
    title = (f"Performance profiles of retention: steps at each run's exact value\n(bands: 95% stratified-bootstrap "
             f"CI, {boot_text(board)})")
    if few_any:
        title += f"; 'too few': fewer than {MIN_RUNS_PER_TASK} runs per task"
    fig.suptitle(title)
    return save(fig, path)


def profiles_section(board: Leaderboard, out_dir: Path | None) -> SectionOutput:
    out = SectionOutput("")
    lines = ["## Performance profiles", ""]
    if any(a.performance_profile is not None for a in board.aggregate):
        lines += [f"Per student size of {display_name(board.focus)}: it against the {TOP_BASELINES} baselines "
                  "with the best mean retention at that size (all methods: the aggregate table above).", ""]
        if out_dir is not None:
            out.files.append(plot_performance_profiles(board, out_dir / "performance_profiles.png"))
            lines += ["![performance profiles of retention](performance_profiles.png)", ""]
    else:
        lines += ["Not available: no run has a retention.", ""]
        out.notes.append("No run has a retention: the performance-profile plot is skipped.")
    out.markdown = "\n".join(lines)
    return out


register_section(Section("profiles", profiles_section, owns=("performance_profiles.png",)))
