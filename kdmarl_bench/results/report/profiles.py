"""Report section ``profiles``: performance profiles of retention (fraction of runs with
retention > τ, 95% stratified-bootstrap bands).

One panel per student size of the focus method: the focus method against the ``TOP_BASELINES``
baselines with the best mean retention at that size, and the teacher for reference, so a panel
never holds more than five curves. Without the focus method: one panel of the best students.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from kdmarl_bench.results.headline import display_name
from kdmarl_bench.results.records import TEACHER, Aggregate, Leaderboard
from kdmarl_bench.results.report.base import Section, SectionOutput, register_section
from kdmarl_bench.results.report.style import CLAIM, Style, boot_text, figure, label, plural, role, save

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
    for ax, panel in zip(axes, grid, strict=False):
        for a in panel.entries:
            prof = a.performance_profile
            assert prof is not None
            frac = [math.nan if v is None else v for v in prof.fraction]
            lo = [math.nan if v is None else v for v in prof.ci95_lo]
            hi = [math.nan if v is None else v for v in prof.ci95_hi]
            is_teacher = a.method == TEACHER
            is_focus = a.method == board.focus
            color = style.color(a.method)
            ax.plot(prof.taus, frac, color=color, linestyle=style.linestyle(a.method, a.size),
                    linewidth=1.2 if is_teacher else (2.8 if is_focus else 1.8),
                    marker=None if is_teacher else style.marker(a.method, a.size), markersize=4,
                    zorder=5 if is_focus else 3, label=f"{label(a.method, a.size)} ({plural(a.n_runs, 'run')})")
            if not is_teacher:
                ax.fill_between(prof.taus, lo, hi, color=color, alpha=0.22 if is_focus else 0.10, linewidth=0)
        ax.axvline(CLAIM, color="#999999", linewidth=0.8, linestyle=":")
        ax.set_title(panel.title, fontsize=10)
        start = informative_start(panel.entries)
        last = max(max(a.performance_profile.taus) for a in panel.entries)  # type: ignore[union-attr]
        ax.set_xlim(start - 0.02, last + 0.02)
        ax.set_xlabel("retention threshold τ" + (f" (every run is above τ < {start:g})" if start > 0 else ""))
        ax.set_ylim(-0.03, 1.03)
        ax.legend(loc="lower left", fontsize=8, frameon=True, framealpha=0.85)
    for ax in axes[len(grid):]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel("fraction of runs with retention > τ")
    fig.suptitle(f"Performance profiles of retention\n(bands: 95% stratified-bootstrap CI, {boot_text(board)})")
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
