"""Tables of ``kdmarl-bench verify``: fresh-seed re-evaluations and ``--retrain`` verdicts (rich)."""

from __future__ import annotations

from collections.abc import Iterable

from kdmarl_bench.results.fit import Column, FitResult, fit_table
from kdmarl_bench.results.render import task_label
from kdmarl_bench.results.verification import Retrained, Verification

_VERDICT_STYLE = {"holds": "[green]holds[/]", "outside": "[red]outside[/]", "inconclusive": "[yellow]inconclusive[/]"}


_VERIFY_FIT = (
    Column("task"), Column("method"), Column("size"), Column("seed", right=True), Column("recorded", right=True),
    Column("95% CI", 3, right=True), Column("fresh", right=True), Column("inside CI", 2),
    Column("fresh − recorded [95% CI]", 1, right=True, compact=0, compact_name="fresh − recorded"),
    Column("holds"),
)


def verify_table(rows: Iterable[Verification], source: str, width: int = 240) -> FitResult:
    """One row per re-evaluated record: recorded score and CI, fresh score, and whether it holds,
    fitted to ``width`` (ids and scores stay whole; the CIs give way first)."""
    cells, alt = [], []
    for r in rows:
        cells.append([task_label(r.task, r.view), r.method, r.size, str(r.seed), f"{r.recorded:.3f}",
                      f"[{r.ci95[0]:.3f}, {r.ci95[1]:.3f}]", f"{r.fresh:.3f}", "yes" if r.inside else "no",
                      f"{r.fresh - r.recorded:+.3f} [{r.diff_ci95[0]:+.3f}, {r.diff_ci95[1]:+.3f}]",
                      "[green]yes[/]" if r.holds else "[red]no[/]"])
        alt.append([f"{r.fresh - r.recorded:+.3f}"])
    return fit_table(_VERIFY_FIT, cells, width, title=f"fresh-seed re-evaluation of {source}", alt=alt)


_RETRAIN_FIT = (
    Column("task"), Column("method"), Column("size"), Column("seed", right=True), Column("recorded", 2, right=True),
    Column("retrained", right=True), Column("cell mean (n seeds)", 3, right=True),
    Column("95% prediction interval", 1, right=True), Column("verdict"),
)


def retrain_table(rows: Iterable[Retrained], source: str, width: int = 240) -> FitResult:
    """One row per retrained cell against the board's seed-to-seed prediction interval, fitted to ``width``."""
    cells = []
    for r in rows:
        cells.append([r.task, r.method, r.size, str(r.seed), f"{r.recorded:.3f}",
                      f"{r.retrained:.3f}" + (" (identical)" if r.identical else ""),
                      f"{r.cell_mean:.3f} ({r.n_seeds})", f"[{r.interval[0]:.3f}, {r.interval[1]:.3f}]",
                      _VERDICT_STYLE[r.verdict]])
    return fit_table(_RETRAIN_FIT, cells, width, title=f"retrained here vs the seed-to-seed spread of {source}")


def retrain_messages(rows: Iterable[Retrained]) -> list[str]:
    """The notes and warnings printed (to stderr) under the retrain table."""
    out = []
    for r in rows:
        for note in r.notes:
            out.append(f"note: {r.task} {r.method} {r.size} seed {r.seed}: {note}")
        if r.verdict == "inconclusive":
            out.append(f"warning: {r.task} {r.method} {r.size}: one seed on the board and no other cells to "
                       "pool with: no spread to judge against")
    return out
