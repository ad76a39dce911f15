"""How a board's values read as text: the shared vocabulary of every renderer.

The dash for a missing value, scores and retentions with their CIs, FLOPs, bytes and latencies, task
labels (``TASK@VIEW``), the leaderboard's and compare's rows as strings, the flags and notes under a
board, and the headline's verdict lines. ``terminal`` (rich tables), ``markdown`` (GitHub tables),
``report`` sections and export ``formats`` all read values through these functions, so a number
reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kdmarl_bench.deploy_runtimes import runtimes
from kdmarl_bench.results.analysis.headline import HeadlineRow
from kdmarl_bench.results.model.records import (
    CI,
    CLAIM_FLOPS_REDUCTION,
    CLAIM_RETENTION,
    GREEDY_SAMPLED_FLAG,
    TEACHER,
    Leaderboard,
    Summary,
    has_ci,
)
from kdmarl_bench.results.model.records import is_finite_number as _ok

DASH = "—"


LEADERBOARD_COLUMNS = (
    "task",
    "method",
    "size",
    "score (95% CI)",
    "retention (95% CI)",
    "sampled retention (95% CI)",
    "FLOPs",
    "reduction ×",
    "CPU p50 ms",
    "speed-up ×",
    "train s",
    "weights",
    "best path p50 ms",
)


NUMERIC_FROM = 3  # columns from this index on are right-aligned


def path_codes() -> dict[str, str]:
    """Deployment path → its short code in the "best path" column (from the runtime registry)."""
    return {rt.name: rt.short for rt in runtimes()}


def fmt_bytes(x: Any) -> str:
    if not _ok(x):
        return DASH
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if x >= size:
            return f"{x / size:.1f} {unit}"
    return f"{int(x)} B"


def fmt_best_path(path: str | None, p50: Any) -> str:
    """``0.013 ort``: the fastest deployment path's 1-thread p50 and which path it is."""
    if path is None or not _ok(p50):
        return DASH
    return f"{p50:.3f} {path_codes().get(path, path)}"


def drop_empty_columns(header, rows, right):
    """Leave out columns that are empty (—) in every row (e.g. memory on boards made before it)."""
    keep = [i for i in range(len(header)) if any(r[i] != DASH for r in rows)] if rows else list(range(len(header)))
    return [header[i] for i in keep], [[r[i] for i in keep] for r in rows], [k for k, i in enumerate(keep) if i in right]


def human_count(x: Any) -> str:
    """1234 → '1.2k', 1.2e6 → '1.2M' (FLOPs, params)."""
    if not _ok(x):
        return DASH
    for factor, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.1f}{unit}"
    return f"{x:.0f}"


def _shown_ci(ci: Any) -> CI | None:
    """The CI to print in brackets: a valid one whose bounds differ (``records.has_ci``)."""
    return CI.parse(ci) if has_ci(ci) else None


def fmt_score(mean: Any, ci: Any, metric: str | None) -> str:
    """Win rates as %, returns with 2 decimals; the CI in brackets (omitted when degenerate)."""
    if not _ok(mean):
        return DASH
    shown = _shown_ci(ci)
    if metric == "win_rate":
        text = f"{100 * mean:.1f}%"
        if shown:
            text += f" [{100 * shown.lo:.1f}, {100 * shown.hi:.1f}]"
        return text
    text = f"{mean:.2f}"
    if shown:
        text += f" [{shown.lo:.2f}, {shown.hi:.2f}]"
    return text


def fmt_retention(mean: Any, ci: Any) -> str:
    if not _ok(mean):
        return DASH
    shown = _shown_ci(ci)
    text = f"{100 * mean:.1f}%"
    if shown:
        text += f" [{100 * shown.lo:.1f}, {100 * shown.hi:.1f}]"
    return text


def fmt_sampled(r: Summary, ci: bool = True) -> str:
    """The sampled retention (— on boards without it), ``⚑n`` when n seeds are flagged."""
    text = fmt_retention(r.retention_sampled_mean, r.retention_sampled_ci95 if ci else None)
    return f"{text} ⚑{r.n_flagged}" if r.n_flagged else text


def flagged_lines(data: Leaderboard, tasks: Iterable[str] = (), methods: Iterable[str] = ()) -> list[str]:
    """One line per seed whose greedy and sampled scores differ by more than 30 points."""
    tasks, methods = set(tasks), set(methods)
    out = []
    for r in data.records:
        if not r.ok or not r.flagged or (tasks and r.task not in tasks) or (methods and r.method not in methods):
            continue
        both = (r.retention, r.retention_sampled) if _ok(r.retention) and _ok(r.retention_sampled) else None
        what = "retention" if both else "win rate"
        g, smp = both or (r.score, r.score_sampled)
        out.append(f"⚑ {task_label(r.task, r.view)} · {r.method} · {r.size} · seed {r.seed}: {what} greedy "
                   f"{100 * g:.1f}% vs sampled {100 * smp:.1f}% (> {100 * GREEDY_SAMPLED_FLAG:.0f} points apart: a "
                   "near-tie between actions decides the greedy score)")
    return out


def small_n_note(data: Leaderboard) -> str | None:
    """What the brackets of rows with 2 to 4 seeds are (Student t), when the board has such rows."""
    if any(s.ci_kind == "t" for s in data.summary):
        return ("95% CIs over fewer than 5 seeds are Student-t intervals (mean ± t·s/√n), not bootstraps; "
                "with 5 or more seeds, percentile bootstraps")
    return None


def fmt_ratio(x: Any, digits: int = 1) -> str:
    return f"{x:.{digits}f}×" if _ok(x) else DASH


def fmt_ms(x: Any) -> str:
    return f"{x:.3f}" if _ok(x) else DASH


def ordered_summary(board: Leaderboard) -> list[Summary]:
    """Summary rows by task, teacher first, then the focus method, the rest by name; larger students first."""
    return board.ordered_summary()


NOISY_MARK = "⚠"


SIGNIFICANT_MARK = "*"


def _train_wall(board: Leaderboard) -> dict[tuple[str, str, str], float]:
    """Mean training wall time (s) over the successful seeds of each (task, method, size)."""
    walls: dict[tuple[str, str, str], list[float]] = {}
    for r in board.records:
        wall = r.train.wall_s if r.train is not None else None
        if r.ok and _ok(wall):
            walls.setdefault(r.key, []).append(float(wall))
    return {k: sum(v) / len(v) for k, v in walls.items()}


def _noisy(s: Summary) -> bool:
    cpu = s.latency_summary.cpu
    return bool(cpu is not None and cpu.noisy)


def fmt_seconds(x: Any) -> str:
    """Training wall time: ``12.3`` s, ``1,234`` s."""
    if not _ok(x):
        return DASH
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def leaderboard_rows(data: Leaderboard) -> list[list[str]]:
    """The formatted cells of the leaderboard table, one list per summary row.

    A CPU p50 from a noisy measurement carries ``NOISY_MARK``, and so does a speed-up computed
    from one (the student's or its teacher's): not a plain number (``noise_notes`` explains)."""
    walls = _train_wall(data)
    summary = ordered_summary(data)
    teacher_noisy = {s.task: _noisy(s) for s in summary if s.method == TEACHER}
    rows = []
    for r in summary:
        noisy = _noisy(r)
        speed_noisy = noisy or (r.method != TEACHER and teacher_noisy.get(r.task, False))
        p50 = fmt_ms(r.latency_cpu_p50_ms)
        speedup = fmt_ratio(r.latency_speedup_cpu, 2)
        score = fmt_score(r.score_mean, r.score_ci95, r.metric)
        if score == DASH and r.n_failed:
            score = f"failed ({r.n_failed})"
        rows.append(
            [
                task_label(r.task, r.view),
                r.method,
                r.size,
                score,
                fmt_retention(r.retention_mean, r.retention_ci95),
                fmt_sampled(r),
                human_count(r.flops),
                fmt_ratio(r.flops_reduction),
                p50 + (f" {NOISY_MARK}" if noisy and p50 != DASH else ""),
                speedup + (f" {NOISY_MARK}" if speed_noisy and speedup != DASH else ""),
                fmt_seconds(walls.get((r.task, r.method, r.size))),
                fmt_bytes(r.weights_bytes),
                fmt_best_path(r.best_path, r.best_path_p50_ms),
            ]
        )
    return rows


def task_label(task: str, view: str) -> str:
    """A task as tables show it: ``smax/3m`` under the full view, ``smax/3m@sight5`` under another."""
    return task if view == "full" else f"{task}@{view}"


def board_task_label(data: Leaderboard, task: str) -> str:
    """``task_label`` of ``task`` under the view it has on ``board`` (``full`` when not on it)."""
    return task_label(task, next((s.view for s in data.summary if s.task == task), "full"))


# ---------------------------------------------------------------------------------------------
# compare

COMPARE_COLUMNS = (
    "task",
    "method",
    "size",
    "leaderboard",
    "score",
    "Δ score",
    "retention",
    "Δ retention",
    "FLOPs",
    "Δ FLOPs",
    "CPU p50 ms",
    "Δ p50",
)


def _signed(x: Any, fmt: str) -> str:
    return format(x, "+" + fmt) if _ok(x) else DASH


def _rel(x: Any) -> str:
    return f" ({100 * x:+.0f}%)" if _ok(x) else ""


def compare_rows(rows: list[dict]) -> list[list[str]]:
    """Formatted cells for ``compare.compare`` output: one line per row × leaderboard.

    Every Δ carries its unit (pp: percentage points; ``ret``: the task's return; ms; ×) and, for
    retention and p50, the change relative to the first board in %; a Δ retention whose 95%
    interval (the gate's noise model) excludes 0 ends in ``*``; a noisy p50 carries ``⚠``."""
    out = []
    for row in rows:
        metric = row.get("metric")
        first_noisy = bool(row["entries"][0].get("latency_noisy"))
        for i, e in enumerate(row["entries"]):
            head = [task_label(row["task"], row.get("view") or "full"), row["method"], row["size"]] if i == 0 \
                else ["", "", ""]
            if not e["present"]:
                out.append([*head, e["label"], "absent", "", "", "", "", "", "", ""])
                continue
            if metric == "win_rate":
                d_score = _signed(None if e["delta_score"] is None else 100 * e["delta_score"], ".1f")
                d_score += " pp" if d_score != DASH else ""
            else:
                d_score = _signed(e["delta_score"], ".2f")
                d_score += " ret" if d_score != DASH else ""
            d_ret = _signed(None if e["delta_retention"] is None else 100 * e["delta_retention"], ".1f")
            if d_ret != DASH:
                d_ret += " pp" + _rel(e.get("rel_retention")) + (f" {SIGNIFICANT_MARK}" if e.get("significant") else "")
            noisy = bool(e.get("latency_noisy"))
            p50 = fmt_ms(e["latency_cpu_p50_ms"]) + (f" {NOISY_MARK}" if noisy else "")
            d_p50 = _signed(e["delta_latency_cpu_p50_ms"], ".3f")
            if d_p50 != DASH:
                d_p50 += " ms" + _rel(e.get("rel_latency_cpu_p50_ms")) + (f" {NOISY_MARK}" if noisy or first_noisy
                                                                          else "")
            out.append(
                [
                    *head,
                    e["label"],
                    fmt_score(e["score_mean"], e["score_ci95"], metric),
                    d_score if i else "",
                    fmt_retention(e["retention_mean"], e["retention_ci95"]),
                    d_ret if i else "",
                    human_count(e["flops"]),
                    (fmt_ratio(e["flops_ratio"], 2) if _ok(e["flops_ratio"]) else DASH) if i else "",
                    p50,
                    d_p50 if i else "",
                ]
            )
    return out


def noise_notes(board: Leaderboard) -> list[str]:
    """The footnote under a leaderboard that shows ``NOISY_MARK``, empty when none is shown."""
    summary = ordered_summary(board)
    noisy = [s for s in summary if _noisy(s)]
    if not noisy:
        return []
    return [f"{NOISY_MARK} noisy latency ({len(noisy)} of {len(summary)} rows): the Timer cross-check or the repeat "
            "spread disagreed while it was timed (a busy machine); its p50 and any speed-up computed from it are "
            "not numbers to judge. Rerun the profile on an idle machine."]


def compare_legend(rows: list[dict], first: str) -> list[str]:
    """The notes under a compare table: what the units and marks mean, and what is absent."""
    notes = [f"Δ vs {first}: pp = percentage points, ret = the task's return, (%) relative to {first}; "
             f"{SIGNIFICANT_MARK} = the 95% interval of Δ retention over seeds excludes 0 (the gate's noise model)"]
    if any(e.get("latency_noisy") for r in rows for e in r["entries"]):
        notes.append(f"{NOISY_MARK} = a noisy latency measurement (its Timer cross-check or repeat spread "
                     "disagreed): its Δ is not a number to judge")
    partial = sum(1 for r in rows if not all(e["present"] for e in r["entries"]))
    if partial:
        notes.append(f"{partial} rows are on only some boards ('absent'); --common-only leaves them out")
    return notes


def board_labels(paths: list[str]) -> list[str]:
    """Short labels for boards in a table: A, B, C, ... (the legend maps them to the paths)."""
    return [chr(ord("A") + i) if i < 26 else f"B{i}" for i in range(len(paths))]


# ---------------------------------------------------------------------------------------------
# per-agent detail (``show --agents``)

def _widths_text(w: Any) -> str:
    return "×".join(str(x) for x in w) if isinstance(w, (list, tuple)) else str(w)


def agents_rows(data: Leaderboard, task: str) -> list[list[str]]:
    """Per student (method, size) of ``task``, one row per agent: its hidden widths, params,
    FLOPs and fp32 weight bytes, from the first successful seed (every seed shares them)."""
    first: dict[tuple[str, str, str], Any] = {}
    for r in data.records:
        if r.task == task and r.ok and r.cost is not None:
            first.setdefault(r.key, r)
    rows = []
    for s in ordered_summary(data):
        rec = first.get(s.key)
        if s.task != task or rec is None:
            continue
        widths = rec.student.widths if rec.student is not None else []
        mem = (rec.extra.get("memory") or {}).get("per_agent") or []
        mem_by_agent = {m.get("agent"): m for m in mem if isinstance(m, dict)}
        for k, c in enumerate(rec.cost.per_agent or []):
            if not isinstance(c, dict):
                continue
            agent = c.get("agent", k)
            rows.append([s.method if k == 0 else "", s.size if k == 0 else "", str(agent),
                         _widths_text(widths[agent]) if isinstance(agent, int) and agent < len(widths) else DASH,
                         human_count(c.get("params")), human_count(c.get("flops")),
                         fmt_bytes((mem_by_agent.get(agent) or {}).get("weights_fp32_bytes"))])
    return rows


# ---------------------------------------------------------------------------------------------
# the headline: method names, the verdict, claim and CI texts

def display_name(method: str) -> str:
    """How a method is named in prose and table headers (``kd-marl`` → ``KD-MARL``)."""
    return "KD-MARL" if method == "kd-marl" else method


_VERDICT_WORD = {"yes": "better", "no": "worse", "inconclusive": "not separable", "few": "too few seeds"}
"""How a PoI verdict reads in prose: its 95% CI above 0.5, below it, across it, or not judged."""


VERDICT_MIN_SEEDS = 3
"""Fewer seeds than this on either side and a PoI's bootstrap CI is degenerate: no verdict."""


def _verdict(r: HeadlineRow) -> str:
    return "few" if r.n_seeds < VERDICT_MIN_SEEDS else r.beats_baseline


def verdict_lines(rows: list[HeadlineRow], board_ref: str | None = None) -> list[str]:
    """The research answer in words: one summary line, one line per task, then where to look next.

    Empty when no row has a baseline to compare with (a suite without a focus method and an
    action-imitation baseline has no verdict). Every judgement comes from the headline rows: the
    pre-registered primary metric, P(focus > best baseline) with its CI, and the claim."""
    rows = [r for r in rows if r.best_baseline is not None]
    if not rows:
        return []
    method = display_name(rows[0].method)
    label = PRIMARY_LABELS[rows[0].primary]
    n = len(rows)
    counts = {v: sum(_verdict(r) == v for r in rows) for v in _VERDICT_WORD}
    baselines = sorted({r.best_baseline for r in rows})
    against = baselines[0] if len(baselines) == 1 else "the best action-imitation baseline of each task"
    holds = sum(r.claim.startswith("holds") for r in rows)
    lines = [f"Verdict on {label} at size {rows[0].size}: {method} is worse than {against} on {counts['no']} "
             f"of {n} task{'s' if n > 1 else ''}, better on {counts['yes']}, not separable on "
             f"{counts['inconclusive']} (P({method} > it): 95% CI below / above / across 0.5)"
             + (f", {counts['few']} with too few seeds (< {VERDICT_MIN_SEEDS}) to judge" if counts["few"] else "")
             + ". "
             f"The claim (≥{100 * CLAIM_RETENTION:.0f}% at ≤{CLAIM_FLOPS_REDUCTION:g}× fewer FLOPs) holds on "
             f"{holds} of {n}."]
    for r in rows:
        poi = "" if r.poi is None else f", P = {poi_text(r)}"
        sampled = ""
        if r.retention_sampled is not None and r.baseline_retention_sampled is not None:
            sampled = f"; sampled {fmt_ret(r.retention_sampled)} vs {fmt_ret(r.baseline_retention_sampled)}"
        lines.append(f"  {task_label(r.task, r.view)}: {_VERDICT_WORD[_verdict(r)]}: {method} "
                     f"{fmt_retention(r.primary_value, r.primary_ci95)} vs {r.best_baseline} "
                     f"{fmt_retention(r.baseline_primary, r.baseline_primary_ci95)}{poi}; claim {r.claim}{sampled}")
    ref = board_ref or "LEADERBOARD"
    lines.append(f"Next: kdmarl-bench report {ref} (every plot and table) · "
                 f"kdmarl-bench gate {ref} --baseline OLD.json (regressions against an earlier board)")
    return lines


def fmt_reduction(x: float | None) -> str:
    return DASH if x is None else f"{x:,.0f}×" if x >= 10 else f"{x:.1f}×"


def poi_text(r: HeadlineRow) -> str:
    if r.poi is None:
        return DASH
    ci = f" [{r.poi_ci95[0]:.2f}, {r.poi_ci95[1]:.2f}]" if r.poi_ci95 else ""
    return f"{r.poi:.2f}{ci}"


PRIMARY_LABELS = {"auc": "curve-mean retention", "final": "retention"}
"""How each primary metric is named in table headers."""


def fmt_ret(x: float | None) -> str:
    return fmt_retention(x, None)
