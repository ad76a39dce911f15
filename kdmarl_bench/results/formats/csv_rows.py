"""``export --format csv``: one row per record (task, method, size, seed, metric, score, retention,
params, FLOPs, 1-thread CPU decentralized p50/p90/p99 ms, backend, error)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from kdmarl_bench.results.formats.base import ExportFormat, register_format
from kdmarl_bench.results.records import Leaderboard

CSV_COLUMNS = (
    "task",
    "method",
    "size",
    "seed",
    "metric",
    "score",
    "retention",
    "params",
    "flops",
    "cpu_p50_ms",
    "cpu_p90_ms",
    "cpu_p99_ms",
    "backend",
    "error",
)


def _cell(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else ""
    return str(x)



def to_csv_rows(board: Leaderboard | dict) -> list[dict]:
    """One dict per record with the ``CSV_COLUMNS`` keys (None where a value is missing)."""
    from kdmarl_bench.results.io import as_leaderboard

    rows = []
    for r in as_leaderboard(board).records:
        lat = r.latency_entry("cpu", 1)
        rows.append(
            {
                "task": r.task,
                "method": r.method,
                "size": r.size,
                "seed": r.seed,
                "metric": r.metric,
                "score": r.score,
                "retention": r.retention,
                "params": r.cost.params if r.cost else None,
                "flops": r.cost.flops if r.cost else None,
                "cpu_p50_ms": lat.p50_ms if lat else None,
                "cpu_p90_ms": lat.p90_ms if lat else None,
                "cpu_p99_ms": lat.p99_ms if lat else None,
                "backend": r.backend,
                "error": r.error,
            }
        )
    return rows


def to_csv(data: Leaderboard | dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in to_csv_rows(data):
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    return buf.getvalue()


register_format(ExportFormat(
    name="csv",
    help="one row per record",
    render=lambda board: (to_csv(board), []),
))
