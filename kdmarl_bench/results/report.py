"""``kdmarl-bench report``: PNG plots and a Markdown report of one leaderboard.

Plots (matplotlib, drawn on ``matplotlib.figure.Figure`` objects with the Agg renderer: no
display, no pyplot global state):

- ``pareto_<task>.png`` per task: mean retention (95% bootstrap CI over seeds) against team
  FLOPs per decision (log scale) for every method × student size, the teacher at 1.0 and the
  Pareto front (best retention at ≤ FLOPs) as a step line;
- ``aggregate_retention.png``: IQM and mean retention across tasks per method × size, with
  stratified-bootstrap CIs;
- ``probability_of_improvement.png``: P(focus method > other) with CIs and the 0.5 line (the
  focus method is the board's ``suite.focus``, default ``kd-marl``);
- ``performance_profiles.png``: fraction of runs with retention > tau, with CI bands;
- ``learning_curves.png`` (boards with ``[budget] eval_at``): retention vs env-steps per task
  (``kdmarl_bench/results/curves.py``).

``report.md`` embeds them by relative path next to the leaderboard table, the aggregates, a
latency table (p50/p90/p99, the ``torch.utils.benchmark.Timer`` cross-check, CV, threads,
device), the failed cells and the provenance. A plot that has nothing to show (no results of
the focus method, no student with a retention) is skipped and the report says why. Every
function reads a typed ``Leaderboard``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdmarl_bench.errors import UsageError
from kdmarl_bench.results import stats
from kdmarl_bench.results.aggregate import improvements_of
from kdmarl_bench.results.headline import display_name, headline, headline_markdown
from kdmarl_bench.results.io import as_leaderboard
from kdmarl_bench.results.records import (
    CI,
    CLAIM_FLOPS_REDUCTION,
    CLAIM_RETENTION,
    TEACHER,
    Aggregate,
    Improvement,
    Leaderboard,
    Summary,
    has_ci,
)
from kdmarl_bench.results.records import is_finite_number as _ok
from kdmarl_bench.results.render import (
    DASH,
    fmt_retention,
    leaderboard_markdown,
    markdown_table,
)

FLOPS_LABEL = "cost: FLOPs per team decision (all agents summed, log scale)"
RETENTION_LABEL = "retention (fraction of the teacher's score)"
_RC = {
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
_LINESTYLES = ("-", "-.", ":", (0, (6, 2)), (0, (3, 1, 1, 1, 1, 1)))
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_PALETTE = (
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
_TEXT_BOX = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}
_CLAIM = CLAIM_RETENTION
_CLAIM_TEXT = f"{100 * CLAIM_RETENTION:.0f}% retention"


@dataclass
class Report:
    """What ``write_report`` produced: the markdown file, the plots and what was skipped."""

    out_dir: Path
    markdown: Path
    plots: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "out_dir": self.out_dir.as_posix(),
            "markdown": self.markdown.as_posix(),
            "plots": [p.as_posix() for p in self.plots],
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------------------------
# styling helpers


class _Style:
    """A colour per method (teacher black) and a marker per student size, stable across plots."""

    def __init__(self, board: Leaderboard):
        methods = sorted({r.method for r in board.summary}, key=board.sort_key)
        others = [m for m in methods if m not in (TEACHER, board.focus)]
        # the focus method keeps the first colour even when absent, so colours mean the same across reports
        self.colors = {m: _PALETTE[1 + i % (len(_PALETTE) - 1)] for i, m in enumerate(others)}
        self.colors[board.focus] = _PALETTE[0]
        self.colors[TEACHER] = "#000000"
        sizes = sorted({r.size for r in board.summary if r.method != TEACHER})
        self.markers = {s: _MARKERS[i % len(_MARKERS)] for i, s in enumerate(sizes)}
        self.dashes = {s: _LINESTYLES[i % len(_LINESTYLES)] for i, s in enumerate(sizes)}

    def color(self, method: str) -> str:
        return self.colors.get(method, "#7f7f7f")

    def marker(self, method: str, size: str) -> str:
        return "*" if method == TEACHER else self.markers.get(size, "o")

    def linestyle(self, method: str, size: str) -> Any:
        return "--" if method == TEACHER else self.dashes.get(size, "-")


def label(method: str, size: str) -> str:
    return method if method == TEACHER else f"{method} ({size})"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig, path: Path) -> Path:
    fig.savefig(path, format="png", facecolor="white", bbox_inches="tight", pad_inches=0.15)
    return path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "task"


def _boot_text(board: Leaderboard) -> str:
    return f"{board.bootstrap.n_resamples} resamples, random_state {board.bootstrap.random_state}"


# ---------------------------------------------------------------------------------------------
# (a) retention vs FLOPs per task


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


def tick_count(x: float) -> str:
    """Short axis label for a round count: 10000 → '10k', 1.5e6 → '1.5M' (no '.0')."""
    for factor, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:g}{unit}"
    return f"{x:g}"


def _human_log_ticks(ax) -> None:
    """Label a log x axis with short counts: at 1-2-5 steps over ≤ 2.5 decades, at powers
    of ten over wider ones (1-2-5 labels collide there)."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = ax.get_xlim()
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 0.0
    subs = (1.0, 2.0, 5.0) if decades <= 2.5 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: tick_count(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())


_COSTS = {
    "flops": ("FLOPs", FLOPS_LABEL),
    "weights_bytes": ("weight bytes", "memory: fp32 weight bytes of the deployed team (log scale)"),
}


def plot_task_pareto(board: Leaderboard, task: str, path: Path, style: _Style | None = None,
                     cost: str = "flops") -> Path:
    """Retention (95% CI error bars) vs team cost (log x) for one task, with the Pareto front.

    ``cost``: ``flops`` (per team decision) or ``weights_bytes`` (the deployed team's fp32 weights)."""
    unit, xlabel = _COSTS[cost]
    style = style or _Style(board)
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

    fig = _figure(9.0, 5.6)
    ax = fig.add_subplot(1, 1, 1)
    xs_plot = _spread([p["x"] for p in points], list(range(len(points))))
    for p, xp in zip(points, xs_plot, strict=True):
        r = p["row"]
        is_teacher = r.method == TEACHER
        lbl = "teacher (retention 1.0 by definition)" if is_teacher else label(r.method, r.size)
        n = r.n_seeds
        if not is_teacher:
            lbl += f", n={n}" + (" (no CI)" if n == 1 else "")
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
            label=f"Pareto front: best retention at ≤ {unit}\n(front points circled)",
        )
        ax.scatter(
            [xs_plot[i] for i in front],
            [points[i]["y"] for i in front],
            s=260,
            facecolors="none",
            edgecolors="#555555",
            linewidths=1.2,
            zorder=4,
        )
        ax.set_xscale("log")
        lo_x, hi_x = min(xs_plot), max(xs_plot)
        ax.set_xlim(lo_x / 1.8, hi_x * 1.8)
        _human_log_ticks(ax)
        ys = [p["lo"] for p in points] + [p["hi"] for p in points] + [1.0, _CLAIM]
        span = max(ys) - min(ys)
        pad = max(0.05, 0.08 * span)
        ax.set_ylim(min(ys) - pad, max(ys) + pad)
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
    ax.axhline(_CLAIM, color="#999999", linewidth=0.8, linestyle=":", label=_CLAIM_TEXT)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(RETENTION_LABEL)
    if metric == "return":
        how = "return normalised: (S − R_rand) / (T − R_rand)"
    elif metric == "win_rate":
        how = "win rate / teacher win rate"
    else:
        how = "retention"
    ax.set_title(f"{task}: retention vs cost\nretention = {how}; error bars: 95% bootstrap CI over seeds")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    notes = []
    if any(x != p["x"] for x, p in zip(xs_plot, points, strict=True)):
        notes.append(f"points with equal {unit} are spread slightly sideways for readability")
    if missing:
        notes.append("not plotted: " + "; ".join(missing))
    if notes:
        fig.text(0.01, -0.01, "\n".join(notes), ha="left", va="top", fontsize=9, color="#444444", wrap=True)
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------
# (b) aggregate IQM / mean retention


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _value_text(v: float, ci: CI | None) -> str:
    return f"{v:.2f} [{ci.lo:.2f}, {ci.hi:.2f}]" if ci is not None and has_ci(ci) else f"{v:.2f}"


def _labelled_interval(ax, v: float, ci: CI | None, y: float, fmt: str, color: str, ha: str, **kw) -> None:
    """A point with its horizontal 95% CI bar at height ``y``, and the value written above it."""
    lo, hi = (ci.lo, ci.hi) if ci is not None else (v, v)
    ax.errorbar([v], [y], xerr=[[v - min(lo, v)], [max(hi, v) - v]], fmt=fmt, color=color, markersize=8,
                capsize=5, elinewidth=2, **kw)
    ax.annotate(_value_text(v, ci), (v, y), xytext=(0, 9), textcoords="offset points", ha=ha, va="bottom",
                fontsize=9, color="#333333", bbox=_TEXT_BOX)



def _students(board: Leaderboard) -> list[Aggregate]:
    return [a for a in board.aggregate if a.method != TEACHER]


def plot_aggregate(board: Leaderboard, path: Path, style: _Style | None = None) -> Path:
    """IQM and mean retention across tasks per method × size, with stratified-bootstrap CIs."""
    style = style or _Style(board)
    entries = list(reversed(_students(board)))  # first entry at the top
    height = 1.6 + 0.45 * max(len(entries), 1)
    fig = _figure(11.0, height)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (key, name) in zip(axes, (("iqm_retention", "IQM"), ("mean_retention", "mean")), strict=True):
        for i, a in enumerate(entries):
            v, ci = getattr(a, key), getattr(a, f"{key}_ci95")
            if v is None:
                continue
            _labelled_interval(ax, v, ci, i, style.marker(a.method, a.size), style.color(a.method), "center")
        ax.axvline(1.0, color="#000000", linewidth=1.0, linestyle="--", label="teacher = 1.0")
        ax.axvline(_CLAIM, color="#999999", linewidth=0.8, linestyle=":", label=_CLAIM_TEXT)
        ax.set_xlabel(f"{name} retention (fraction of the teacher's score)")
        ax.set_title(f"{name} across tasks")
        ax.set_yticks(range(len(entries)))
        ax.set_yticklabels(
            [
                f"{label(a.method, a.size)}\n{_plural(a.n_tasks, 'task')}, "
                f"{_plural(a.n_runs, 'run')}"
                for a in entries
            ]
        )
        ax.set_ylim(-0.6, len(entries) - 0.2)
        ax.margins(x=0.08)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle(f"Aggregate retention (95% stratified-bootstrap CI, {_boot_text(board)})")
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------
# (c) probability of improvement


def _poi_rows(board: Leaderboard) -> list[tuple[Aggregate, Improvement]]:
    """The focus method's probability of improvement over every other (method, size)."""
    return improvements_of(board, board.focus)


def plot_probability_of_improvement(board: Leaderboard, path: Path, style: _Style | None = None) -> Path:
    """P(focus method > other) per compared (method, size), with CIs and the 0.5 reference line."""
    style = style or _Style(board)
    rows = list(reversed(_poi_rows(board)))
    fig = _figure(9.5, 1.6 + 0.5 * max(len(rows), 1))
    ax = fig.add_subplot(1, 1, 1)
    for i, (_a, p) in enumerate(rows):
        v, ci = p.value, p.ci95
        if v is None:
            continue
        # Labels near the axis ends lean inwards so they stay inside the plot.
        ha = "right" if v > 0.85 else ("left" if v < 0.15 else "center")
        _labelled_interval(ax, v, ci, i, "o", style.color(p.method), ha, clip_on=False)
    ax.axvline(0.5, color="#000000", linewidth=1.2, linestyle="--", label="0.5 = no difference")
    ax.set_xlim(-0.03, 1.03)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(
        [
            f"P({label(a.method, a.size)} > {label(p.method, p.size)})\n"
            f"{_plural(p.n_tasks, 'task')}"
            for a, p in rows
        ]
    )
    ax.set_ylim(-0.6, len(rows) - 0.2)
    ax.set_xlabel("probability of improvement (P(X > Y) per task, averaged over tasks)")
    ax.set_title(
        f"Probability that {display_name(board.focus)} beats each method "
        f"(95% stratified-bootstrap CI, {_boot_text(board)})"
    )
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", frameon=False)
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------
# (d) performance profiles


def plot_performance_profiles(board: Leaderboard, path: Path, style: _Style | None = None) -> Path:
    """Fraction of runs with retention > tau per method × size, with CI bands."""
    style = style or _Style(board)
    fig = _figure(10.0, 5.6)
    ax = fig.add_subplot(1, 1, 1)
    entries = [a for a in board.aggregate if a.performance_profile is not None]
    n_students = sum(a.method != TEACHER for a in entries)
    k = 0
    for a in entries:
        prof = a.performance_profile
        assert prof is not None
        taus = prof.taus
        frac = [math.nan if v is None else v for v in prof.fraction]
        lo = [math.nan if v is None else v for v in prof.ci95_lo]
        hi = [math.nan if v is None else v for v in prof.ci95_hi]
        is_teacher = a.method == TEACHER
        color = style.color(a.method)
        # coinciding curves stay visible: earlier students are drawn wider, the teacher on top
        width = 1.8 if is_teacher else 2.0 + 2.0 * (n_students - 1 - k) / max(n_students - 1, 1)
        k += 0 if is_teacher else 1
        ax.plot(
            taus,
            frac,
            color=color,
            linestyle=style.linestyle(a.method, a.size),
            alpha=1.0 if is_teacher else 0.85,
            marker=None if is_teacher else style.marker(a.method, a.size),
            markersize=4,
            linewidth=width,
            zorder=5 if is_teacher else 3,
            label=f"{label(a.method, a.size)} ({_plural(a.n_runs, 'run')})",
        )
        if not is_teacher:
            ax.fill_between(taus, lo, hi, color=color, alpha=0.15, linewidth=0)
    ax.axvline(_CLAIM, color="#999999", linewidth=0.8, linestyle=":")
    ax.set_xlabel("retention threshold τ (fraction of the teacher's score)")
    ax.set_ylabel("fraction of runs with retention > τ")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(
        f"Performance profiles of retention (bands: 95% stratified-bootstrap CI, {_boot_text(board)})"
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------
# markdown


def _fmt(x: Any, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if _ok(x) else DASH


def _fmt_ci(ci: CI | None, digits: int = 3) -> str:
    return f"[{ci.lo:.{digits}f}, {ci.hi:.{digits}f}]" if has_ci(ci, informative=False) and ci else DASH


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
                _fmt(a.iqm_retention),
                _fmt_ci(a.iqm_retention_ci95),
                _fmt(a.mean_retention),
                _fmt_ci(a.mean_retention_ci95),
                fmt_retention(prof.at(CLAIM_RETENTION) if prof else None, None),
                fmt_retention(prof.at(1.0) if prof else None, None),
            ]
        )
    return markdown_table(header, rows, right=range(2, len(header)))


def poi_markdown(board: Leaderboard) -> str:
    name = display_name(board.focus)
    header = [f"{name} size", "vs method", "vs size", "tasks", f"P({name} > other)", "95% CI", "verdict"]
    rows = []
    for a, p in _poi_rows(board):
        ci = p.ci95
        if ci is not None and ci.lo > 0.5:
            verdict = f"{name} better (CI above 0.5)"
        elif ci is not None and ci.hi < 0.5:
            verdict = f"{name} worse (CI below 0.5)"
        else:
            verdict = "no clear difference"
        rows.append([a.size, p.method, p.size, str(p.n_tasks), _fmt(p.value), _fmt_ci(ci), verdict])
    return markdown_table(header, rows, right=(3, 4, 5))


def latency_rows(board: Leaderboard) -> list[list[str]]:
    rows = []
    for r in board.ordered_summary():
        for dev, g in r.latency_summary.devices():
            mismatch = g.timer_mismatch
            rows.append(
                [
                    r.task,
                    r.method,
                    r.size,
                    dev,
                    g.device_name or DASH,
                    str(g.threads) if g.threads is not None else DASH,
                    str(g.batch) if g.batch is not None else DASH,
                    str(g.n_seeds),
                    _fmt(g.p50_ms, 4),
                    _fmt(g.p90_ms, 4),
                    _fmt(g.p99_ms, 4),
                    _fmt(g.timer_median_ms, 4),
                    DASH if mismatch is None else ("⚠ mismatch" if mismatch else "ok"),
                    _fmt(g.cv_max, 3),
                    DASH if g.noisy is None else ("⚠ yes" if g.noisy else "no"),
                ]
            )
    return rows


def latency_markdown(board: Leaderboard) -> str:
    header = [
        "task",
        "method",
        "size",
        "device",
        "device name",
        "threads",
        "batch",
        "seeds",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "Timer median ms",
        "Timer check",
        "CV max",
        "noisy",
    ]
    rows = latency_rows(board)
    if not rows:
        return "No latency was measured in this leaderboard.\n"
    return markdown_table(header, rows, right=range(5, len(header)))


def failed_markdown(board: Leaderboard) -> str:
    failed = [r for r in board.records if r.error is not None]
    if not failed:
        return "No failed cells.\n"
    rows = [[r.task, r.method, r.size, str(r.seed), str(r.error)] for r in failed]
    return markdown_table(["task", "method", "size", "seed", "error"], rows)


def provenance_markdown(board: Leaderboard) -> str:
    suite, prov, proto = board.suite, board.provenance, board.protocol
    boot = proto.bootstrap
    episodes: Any = proto.eval_episodes
    if isinstance(episodes, dict):
        episodes = ", ".join(f"{k}: {v}" for k, v in sorted(episodes.items()))
    rows = [
        ["suite", f"{suite.name} v{suite.version} (sha256 {str(suite.sha256)[:12]}…)"],
        ["method under test (focus)", suite.focus],
        ["kdmarl-bench", f"{prov.kdmarl_bench} (git {str(prov.git_commit)[:12]})"],
        [
            "python / torch / jax / mpe2",
            " / ".join(str(v or DASH) for v in (prov.python, prov.torch, prov.jax, prov.mpe2)),
        ],
        ["platform", str(prov.platform)],
        ["CPU / GPU", f"{prov.cpu or DASH} / {prov.gpu or 'none'}"],
        ["threads", str(prov.threads)],
        ["created", str(prov.created_at)],
        ["eval episodes", str(episodes)],
        ["seeds", ", ".join(str(s) for s in proto.seeds)],
        ["eval seed base", str(proto.eval_seed_base)],
        ["policy", "greedy (argmax over available actions)" if proto.greedy else "stochastic"],
        [
            "bootstrap",
            f"{boot.n_resamples} resamples, random_state {boot.random_state}, "
            f"confidence {boot.confidence} (percentile CIs; stratified by task across tasks)",
        ],
    ]
    backends: dict[str, tuple[str, dict]] = {}
    for r in board.records:
        backends.setdefault(r.task, (r.backend, r.backend_versions))
    for task, (backend, versions) in sorted(backends.items()):
        vers = ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) or "no versions recorded"
        rows.append([f"backend of {task}", f"{backend} ({vers})"])
    return markdown_table(["field", "value"], rows)


def build_markdown(
    board: Leaderboard | dict, plots: dict[str, Any], notes: Iterable[str], source: str | None = None
) -> str:
    """The report text; ``plots`` maps plot keys to file names relative to the report."""
    data = as_leaderboard(board)
    name = display_name(data.focus)
    lines = [f"# kdmarl-bench report · {data.suite.name} v{data.suite.version}", ""]
    if source:
        lines += [f"Leaderboard: `{source}`", ""]
    lines += [
        "Retention = student score / teacher score on win-rate tasks and (S − R_rand) / (T − R_rand) on "
        "return tasks (R_rand: the random policy under the same protocol). Means over seeds carry 95% "
        "percentile-bootstrap CIs; aggregates across tasks use a stratified bootstrap. FLOPs are per team "
        "decision (all agents' deployed actors, summed). Latency is the decentralized 1-thread CPU profile "
        "unless stated.",
        "",
    ]
    notes = list(notes)
    if notes:
        lines += ["> **Notes:** " + " ".join(notes), ""]
    lines += [
        "## Headline",
        "",
        f"{name} (the suite's method under test) at the default (`auto`) student size against the baseline "
        f"with the best mean retention at that size, per task; the last column checks the claim "
        f"(≥ {100 * CLAIM_RETENTION:.0f}% retention at ≥ {CLAIM_FLOPS_REDUCTION:.0f}× fewer team FLOPs) "
        "with the mean and with the CI's lower bound.",
        "",
        headline_markdown(headline(data), data.focus),
    ]
    lines += ["## Leaderboard", "", leaderboard_markdown(data)]
    lines += ["## Retention vs cost per task", ""]
    for task in data.tasks:
        plot = plots.get("pareto", {}).get(task)
        if plot:
            lines += [f"### {task}", "", f"![{task}: retention vs FLOPs per team decision]({plot})", ""]
            bplot = plots.get("pareto_bytes", {}).get(task)
            if bplot:
                lines += [f"![{task}: retention vs weight bytes of the deployed team]({bplot})", ""]
    lines += ["## Aggregate retention across tasks", "", aggregate_markdown(data)]
    if plots.get("aggregate"):
        lines += [f"![aggregate IQM and mean retention]({plots['aggregate']})", ""]
    lines += [f"## Probability of improvement ({name} vs each method)", ""]
    if _poi_rows(data):
        lines += [poi_markdown(data)]
        if plots.get("poi"):
            lines += [f"![probability of improvement]({plots['poi']})", ""]
    else:
        lines += [f"Not available: the leaderboard has no {name} results with a retention.", ""]
    lines += ["## Performance profiles", ""]
    if plots.get("profiles"):
        lines += [f"![performance profiles of retention]({plots['profiles']})", ""]
    else:
        lines += ["Not available: no run has a retention.", ""]
    if plots.get("curves"):  # learning curves (results/curves.py), boards with [budget] eval_at
        lines += [plots["curves"], ""]
    lines += [
        "## Latency",
        "",
        "Means over seeds of p50/p90/p99 per team decision (every agent's policy at batch 1). "
        "`Timer median` is `torch.utils.benchmark.Timer.blocked_autorange` for the same call; "
        "“mismatch” flags a seed where it differs from p50 by more than 20%. CV max is the largest "
        "coefficient of variation of per-repeat medians over seeds. “noisy” marks a row where any seed's "
        "measurement is flagged noisy (its Timer cross-check or CV disagrees): not a number to judge a "
        "regression on.",
        "",
        latency_markdown(data),
        "## Failed cells",
        "",
        failed_markdown(data),
        "## Provenance and protocol",
        "",
        provenance_markdown(data),
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# entry point


def default_out_dir(leaderboard_path: str | os.PathLike) -> Path:
    """Next to the board, one folder per board: ``runs/X/leaderboard.json`` → ``runs/X/report``;
    ``baselines/mpe.json`` → ``baselines/mpe/report`` (two boards in one folder never share one)."""
    p = Path(leaderboard_path).resolve()
    if p.is_dir():
        return p / "report"
    return p.parent / "report" if p.stem == "leaderboard" else p.parent / p.stem / "report"


# Files this module writes: anything else matching these in a report folder is a stale leftover.
_OWN_FILES = ("pareto_*.png", "aggregate_retention.png", "probability_of_improvement.png",
              "performance_profiles.png", "learning_curves.png")


def _remove_stale(out: Path, written: list[Path]) -> list[str]:
    """Delete plots an earlier report wrote into ``out`` that this one did not (only our own names)."""
    keep = {p.resolve() for p in written}
    removed = []
    for pattern in _OWN_FILES:
        for f in sorted(out.glob(pattern)):
            if f.resolve() not in keep:
                f.unlink()
                removed.append(f.name)
    return removed


def write_report(board: Leaderboard | dict, out_dir: str | os.PathLike, source: str | None = None) -> Report:
    """Write every plot and ``report.md`` into ``out_dir`` (created); UsageError when it cannot."""
    import matplotlib

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out}: cannot create the report directory: {exc.strerror or exc}") from exc
    data = as_leaderboard(board)  # a dict of an older version is migrated on the way
    report = Report(out_dir=out, markdown=out / "report.md")
    style = _Style(data)
    plots: dict[str, Any] = {"pareto": {}}
    used: set[str] = set()
    try:
        with matplotlib.rc_context(_RC):
            for task in data.tasks:
                name = f"pareto_{_slug(task)}.png"
                k = 2
                while name in used:
                    name, k = f"pareto_{_slug(task)}_{k}.png", k + 1
                used.add(name)
                report.plots.append(plot_task_pareto(data, task, out / name, style))
                plots["pareto"][task] = name
                if any(r.task == task and r.weights_bytes for r in data.summary):  # boards with memory
                    bname = f"pareto_bytes_{_slug(task)}.png"
                    report.plots.append(plot_task_pareto(data, task, out / bname, style, cost="weights_bytes"))
                    plots.setdefault("pareto_bytes", {})[task] = bname
            if any(a.iqm_retention is not None for a in _students(data)):
                report.plots.append(plot_aggregate(data, out / "aggregate_retention.png", style))
                plots["aggregate"] = "aggregate_retention.png"
            else:
                report.notes.append("No student has a retention: the aggregate plot is skipped.")
            if _poi_rows(data):
                report.plots.append(
                    plot_probability_of_improvement(data, out / "probability_of_improvement.png", style)
                )
                plots["poi"] = "probability_of_improvement.png"
            else:
                report.notes.append(
                    f"No {display_name(data.focus)} results: the probability-of-improvement plot is skipped."
                )
            if any(a.performance_profile is not None for a in data.aggregate):
                report.plots.append(plot_performance_profiles(data, out / "performance_profiles.png", style))
                plots["profiles"] = "performance_profiles.png"
            else:
                report.notes.append("No run has a retention: the performance-profile plot is skipped.")
            from kdmarl_bench.results.curves import plot_curves

            plots["curves"], curve_files = plot_curves(data, out)
            report.plots += curve_files
        text = build_markdown(data, plots, report.notes, source)
        report.markdown.write_text(text, encoding="utf-8")
        removed = _remove_stale(out, report.plots)
        if removed:
            report.notes.append(f"removed stale plots of an earlier report: {', '.join(removed)}")
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the report: {exc.strerror or exc}") from exc
    return report
