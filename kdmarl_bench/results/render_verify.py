"""Tables of ``kdmarl-bench verify``: fresh-seed re-evaluations and ``--retrain`` verdicts (rich)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from kdmarl_bench.verify import Retrained, Verification

_VERDICT_STYLE = {"holds": "[green]holds[/]", "outside": "[red]outside[/]", "inconclusive": "[yellow]inconclusive[/]"}


def verify_table(rows: Iterable[Verification], source: str) -> Table:
    """One row per re-evaluated record: recorded score and CI, fresh score, and whether it holds."""
    t = Table(title=f"fresh-seed re-evaluation of {source}")
    for col in ("task", "method", "size", "seed", "recorded", "95% CI", "fresh", "inside CI",
                "fresh − recorded [95% CI]", "holds"):
        t.add_column(col)
    for r in rows:
        t.add_row(r.task, r.method, r.size, str(r.seed), f"{r.recorded:.3f}", f"[{r.ci95[0]:.3f}, {r.ci95[1]:.3f}]",
                  f"{r.fresh:.3f}", "yes" if r.inside else "no",
                  f"{r.fresh - r.recorded:+.3f} [{r.diff_ci95[0]:+.3f}, {r.diff_ci95[1]:+.3f}]",
                  "[green]yes[/]" if r.holds else "[red]no[/]")
    return t


def retrain_table(rows: Iterable[Retrained], source: str) -> Table:
    """One row per retrained cell against the board's seed-to-seed prediction interval."""
    t = Table(title=f"retrained here vs the seed-to-seed spread of {source}")
    for col in ("task", "method", "size", "seed", "recorded", "retrained", "cell mean (n seeds)",
                "95% prediction interval", "verdict"):
        t.add_column(col)
    for r in rows:
        t.add_row(r.task, r.method, r.size, str(r.seed), f"{r.recorded:.3f}",
                  f"{r.retrained:.3f}" + (" (identical)" if r.identical else ""),
                  f"{r.cell_mean:.3f} ({r.n_seeds})", f"[{r.interval[0]:.3f}, {r.interval[1]:.3f}]",
                  _VERDICT_STYLE[r.verdict])
    return t


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
