"""``export --format gh-benchmark-bigger|gh-benchmark-smaller|gh-benchmark``: github-action-benchmark's
``customBiggerIsBetter`` / ``customSmallerIsBetter`` input, a list of
``{"name", "unit", "value", "range", "extra"}`` per summary row (named ``TASK@VIEW method [size]``,
the bare task id under the full view): retention and score
(bigger is better); team FLOPs and 1-thread CPU p50 latency (smaller is better).

``gh-benchmark`` writes both lists: ``--out bench.json`` gives ``bench-bigger.json`` and
``bench-smaller.json`` beside it, each written atomically and only inside the folder of ``--out``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kdmarl_bench.results.model.records import CI, TEACHER, Leaderboard, Summary, has_ci
from kdmarl_bench.results.render.formats.base import ExportFormat, register_format
from kdmarl_bench.results.render.text import task_label
from kdmarl_bench.safeio import confine, write_text_atomic

DIRECTIONS = ("bigger", "smaller")


def _range(ci: CI | None, digits: int = 4) -> str | None:
    if ci is None or not has_ci(ci):
        return None
    return f"95% CI [{ci.lo:.{digits}g}, {ci.hi:.{digits}g}]"


def _entry(name: str, unit: str, value: float, rng: str | None, extra: str) -> dict:
    e: dict[str, Any] = {"name": name, "unit": unit, "value": float(value)}
    if rng:
        e["range"] = rng
    e["extra"] = extra
    return e


def _extra(row: Summary, board: Leaderboard) -> str:
    parts = [f"suite {board.suite.name} v{board.suite.version}", f"seeds {row.n_seeds}"]
    if row.n_failed:
        parts.append(f"failed {row.n_failed}")
    if row.backend:
        parts.append(f"backend {row.backend}")
    return "; ".join(parts)


def to_gh_benchmark(board: Leaderboard, direction: str) -> list[dict]:
    """github-action-benchmark entries; ``direction`` 'bigger' (retention, score) or 'smaller'
    (FLOPs per team decision, CPU p50 ms). Rows without the value (failed cells) are left out."""
    if direction not in ("bigger", "smaller"):
        raise ValueError(f"direction must be 'bigger' or 'smaller', got {direction!r}")
    out: list[dict] = []
    for row in board.ordered_summary():
        base = f"{task_label(row.task, row.view)} {row.method}" + ("" if row.method == TEACHER else f" [{row.size}]")
        extra = _extra(row, board)
        if direction == "bigger":
            if row.method != TEACHER and row.retention_mean is not None:
                out.append(_entry(f"{base} retention", "fraction of teacher", row.retention_mean,
                                  _range(row.retention_ci95), extra))
            if row.score_mean is not None:
                unit = "win rate" if row.metric == "win_rate" else "team return"
                out.append(_entry(f"{base} score", unit, row.score_mean, _range(row.score_ci95), extra))
        else:
            if row.flops is not None:
                out.append(_entry(f"{base} FLOPs", "FLOPs per team decision", row.flops, None, extra))
            cpu = row.latency_summary.cpu
            p50 = cpu.p50_ms if cpu else row.latency_cpu_p50_ms
            if p50 is not None:
                more = ""
                if cpu and cpu.p90_ms is not None and cpu.p99_ms is not None:
                    more = f"; p90 {cpu.p90_ms:.4g} ms, p99 {cpu.p99_ms:.4g} ms"
                out.append(_entry(f"{base} CPU p50 latency (1 thread)", "ms", p50, None, extra + more))
    return out


def _render(direction: str):
    def render(board: Leaderboard) -> tuple[str, list[str]]:
        return json.dumps(to_gh_benchmark(board, direction), indent=2) + "\n", []

    return render


def pair_paths(out: Path) -> tuple[Path, Path]:
    """``bench.json`` → (``bench-bigger.json``, ``bench-smaller.json``) in the same folder."""
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    suffix = out.suffix or ".json"
    return out.with_name(f"{stem}-bigger{suffix}"), out.with_name(f"{stem}-smaller{suffix}")


def write_pair(board: Leaderboard, out: Path) -> list[Path]:
    """Write the bigger- and smaller-is-better lists beside ``out``, atomically, inside its folder."""
    folder = Path(out).parent.resolve()  # once, absolute: the file names below are confined to it once
    # Both targets are checked before either is written: a symlink out of the folder is refused.
    targets = [confine(folder, path.name, what=f"gh-benchmark-{direction} output")
               for path, direction in zip(pair_paths(Path(out)), DIRECTIONS, strict=True)]
    return [write_text_atomic(target, _render(direction)(board)[0])
            for target, direction in zip(targets, DIRECTIONS, strict=True)]


for _direction, _what in (("bigger", "customBiggerIsBetter (retention, score)"),
                          ("smaller", "customSmallerIsBetter (FLOPs, CPU p50 ms)")):
    register_format(ExportFormat(name=f"gh-benchmark-{_direction}",
                                 help=f"github-action-benchmark {_what}", render=_render(_direction)))
register_format(ExportFormat(
    name="gh-benchmark",
    help="both github-action-benchmark lists, into OUT-bigger.json and OUT-smaller.json (needs --out)",
    write=write_pair,
))
