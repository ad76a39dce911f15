"""What every report section shares: matplotlib settings, a stable colour per method and a
marker per size, number formatting, and the role of each method on a board (teacher, the focus
method, its variants, baselines, controls)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from kdmarl_bench.results.model.records import CI, CLAIM_RETENTION, TEACHER, Aggregate, Leaderboard, has_ci
from kdmarl_bench.results.model.records import is_finite_number as _ok
from kdmarl_bench.results.render.text import DASH
from kdmarl_bench.safeio import write_bytes_atomic

FLOPS_LABEL = "cost: FLOPs per team decision (all agents summed, log scale)"
RETENTION_LABEL = "retention (fraction of the teacher's score)"
RC = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9,
    "figure.dpi": 100,
    "savefig.dpi": 130,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
LINESTYLES = ("-", "-.", ":", (0, (6, 2)), (0, (3, 1, 1, 1, 1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
TEXT_BOX = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}
CLAIM = CLAIM_RETENTION
CLAIM_TEXT = f"{100 * CLAIM_RETENTION:.0f}% retention"



# ---------------------------------------------------------------------------------------------
# roles of the methods on a board

def role(board: Leaderboard, method: str) -> str:
    """``teacher``, ``focus``, ``variant`` (a variant of the focus method), ``control`` or ``baseline``."""
    if method == TEACHER:
        return "teacher"
    if method == board.focus:
        return "focus"
    base = board.base_methods().get(method, method)
    if base == board.focus:
        return "variant"
    if board.method_kind(method) == "control":  # trained without the teacher
        return "control"
    return "baseline"


# ---------------------------------------------------------------------------------------------
# styling helpers


class Style:
    """A colour per method (teacher black) and a marker per student size, stable across plots."""

    def __init__(self, board: Leaderboard):
        methods = sorted({r.method for r in board.summary}, key=board.sort_key)
        others = [m for m in methods if m not in (TEACHER, board.focus)]
        # the focus method keeps the first colour even when absent, so colours mean the same across reports
        self.colors = {m: PALETTE[1 + i % (len(PALETTE) - 1)] for i, m in enumerate(others)}
        self.colors[board.focus] = PALETTE[0]
        self.colors[TEACHER] = "#000000"
        sizes = sorted({r.size for r in board.summary if r.method != TEACHER})
        self.markers = {s: MARKERS[i % len(MARKERS)] for i, s in enumerate(sizes)}
        self.dashes = {s: LINESTYLES[i % len(LINESTYLES)] for i, s in enumerate(sizes)}

    def color(self, method: str) -> str:
        return self.colors.get(method, "#7f7f7f")

    def marker(self, method: str, size: str) -> str:
        return "*" if method == TEACHER else self.markers.get(size, "o")

    def linestyle(self, method: str, size: str) -> Any:
        return "--" if method == TEACHER else self.dashes.get(size, "-")


def label(method: str, size: str) -> str:
    return method if method == TEACHER else f"{method} ({size})"


def figure(width: float, height: float):
    from matplotlib.figure import Figure  # heavy: only when a report draws

    return Figure(figsize=(width, height), layout="constrained")


def save(fig, path: Path) -> Path:
    """Draw ``fig`` into ``path`` atomically (a fresh temp file renamed into place: a full disk leaves the old
    plot or none, never a truncated PNG, and a link at ``path`` is replaced, not written through)."""
    return write_bytes_atomic(path, None, fill=lambda f: fig.savefig(f, format="png", facecolor="white",
                                                                      bbox_inches="tight", pad_inches=0.15))


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "task"


def boot_text(board: Leaderboard) -> str:
    return f"{board.bootstrap.n_resamples} resamples, random_state {board.bootstrap.random_state}"


def tick_count(x: float) -> str:
    """Short axis label for a round count: 10000 → '10k', 1.5e6 → '1.5M' (no '.0')."""
    for factor, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:g}{unit}"
    return f"{x:g}"


def human_log_ticks(ax) -> None:
    """Label a log x axis with short counts: at 1-2-5 steps over ≤ 2.5 decades, at powers
    of ten over wider ones (1-2-5 labels collide there)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # heavy: only when a report draws

    lo, hi = ax.get_xlim()
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 0.0
    subs = (1.0, 2.0, 5.0) if decades <= 2.5 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: tick_count(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())



# ---------------------------------------------------------------------------------------------
# numbers


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def value_text(v: float, ci: CI | None) -> str:
    return f"{v:.2f} [{ci.lo:.2f}, {ci.hi:.2f}]" if ci is not None and has_ci(ci) else f"{v:.2f}"


def labelled_interval(ax, v: float, ci: CI | None, y: float, fmt: str, color: str, ha: str, **kw) -> None:
    """A point with its horizontal 95% CI bar at height ``y``, and the value written above it."""
    lo, hi = (ci.lo, ci.hi) if ci is not None else (v, v)
    ax.errorbar([v], [y], xerr=[[v - min(lo, v)], [max(hi, v) - v]], fmt=fmt, color=color, markersize=8,
                capsize=5, elinewidth=2, **kw)
    ax.annotate(value_text(v, ci), (v, y), xytext=(0, 9), textcoords="offset points", ha=ha, va="bottom",
                fontsize=9, color="#333333", bbox=TEXT_BOX)



def students(board: Leaderboard) -> list[Aggregate]:
    return [a for a in board.aggregate if a.method != TEACHER]


def fmt(x: Any, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if _ok(x) else DASH


def fmt_ci(ci: CI | None, digits: int = 3) -> str:
    return f"[{ci.lo:.{digits}f}, {ci.hi:.{digits}f}]" if has_ci(ci, informative=False) and ci else DASH




# ---------------------------------------------------------------------------------------------
# small-sample honesty: what a plot must say about the data behind it

MIN_RUNS_PER_TASK = 3
"""Fewer runs per task than this and a comparison or an aggregate says little."""
SATURATED_RETENTION = 0.95
"""A task where every compared student keeps at least this much cannot tell the methods apart."""


def runs_by_task(board: Leaderboard, method: str, size: str) -> dict[str, list[float]]:
    """Per task, the finite retention of every successful run of (method, size)."""
    out: dict[str, list[float]] = {}
    for r in board.records:
        if r.method == method and r.size == size and r.ok and _ok(r.retention):
            out.setdefault(r.task, []).append(float(r.retention))
    return out


def runs_per_task_of(a: Aggregate) -> int:
    """An aggregate's runs per task (rounded down; 0 without tasks)."""
    return a.n_runs // a.n_tasks if a.n_tasks else 0


def too_few_runs(a: Aggregate) -> bool:
    return runs_per_task_of(a) < MIN_RUNS_PER_TASK


def saturated_tasks(board: Leaderboard) -> list[str]:
    """Tasks on which every compared (non-control) student's mean retention is at least
    ``SATURATED_RETENTION``: the methods all sit at the ceiling there, so the task adds no contrast."""
    by_task: dict[str, list[float]] = {}
    for s in board.summary:
        if s.method != TEACHER and role(board, s.method) != "control":
            by_task.setdefault(s.task, []).append(s.retention_mean if _ok(s.retention_mean) else -math.inf)
    return sorted(t for t, v in by_task.items() if v and min(v) >= SATURATED_RETENTION)


def iqm_mean_disagree(a: Aggregate) -> bool:
    """IQM and mean differ by more than their CIs allow: each lies outside the other's CI (the
    IQM's trimming dropped whole tasks or a task's runs)."""
    if not (_ok(a.iqm_retention) and _ok(a.mean_retention)):
        return False
    iqm_ci, mean_ci = a.iqm_retention_ci95, a.mean_retention_ci95
    if iqm_ci is None or mean_ci is None:
        return False
    return not mean_ci.contains(a.iqm_retention) and not iqm_ci.contains(a.mean_retention)
