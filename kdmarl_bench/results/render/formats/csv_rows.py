"""``export --format csv``: one row per evaluation of a record, long format.

Every record has a ``point = final`` row (its final evaluation at the full budget: score,
retention, params, FLOPs, 1-thread CPU decentralized p50/p90/p99 ms, weights bytes, training wall
time, backend, error) and, when it was evaluated at ``[budget] eval_at`` points, one
``point = curve`` row per point before it (``env_steps`` that point; score and retention at
it; the cost columns repeat the record's, as the architecture does not change). Filter
``point == "final"`` for one row per record. ``task`` is the task identity ``TASK@VIEW`` (the
bare id under the full view), and ``view``, ``teacher_kind``, ``eval_episodes`` and the
per-agent hidden ``widths`` (``184x184/120x120/120x120``) say under what it was measured."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from kdmarl_bench.results.analysis.compare import task_regimes
from kdmarl_bench.results.model.records import Leaderboard
from kdmarl_bench.results.render.formats.base import ExportFormat, register_format
from kdmarl_bench.results.render.text import task_label

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
    "point",
    "env_steps",
    "view",
    "teacher_kind",
    "eval_episodes",
    "widths",
    "weights_bytes",
    "train_wall_s",
)


def _cell(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else ""
    return str(x)



def _widths(widths: list[Any]) -> str:
    return "/".join("x".join(str(x) for x in w) if isinstance(w, (list, tuple)) else str(w) for w in widths)


def to_csv_rows(board: Leaderboard) -> list[dict]:
    """One dict per evaluation (curve points, then the final one) with the ``CSV_COLUMNS`` keys
    (None where a value is missing)."""
    task_regimes("export", board)  # a task under two views in one board is refused, as compare refuses it
    rows = []
    for r in board.records:
        lat = r.latency_entry("cpu", 1)
        episodes = r.extra.get("eval_episodes")
        final = {
            "task": task_label(r.task, r.view),
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
            "point": "final",
            "env_steps": r.env_steps,
            "view": r.view,
            "teacher_kind": r.teacher_kind,
            "eval_episodes": episodes if isinstance(episodes, int) else (len(r.episode_scores) or None),
            "widths": _widths(r.student.widths) if r.student is not None else None,
            "weights_bytes": r.weights_bytes,
            "train_wall_s": r.train.wall_s if r.train is not None else None,
        }
        for p in r.curve or []:
            if int(p.env_steps) != r.env_steps:  # the point at the full budget is the final row
                rows.append({**final, "point": "curve", "env_steps": int(p.env_steps), "score": p.score,
                             "retention": p.retention, "error": None})
        rows.append(final)
    return rows


def to_csv(data: Leaderboard) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in to_csv_rows(data):
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    return buf.getvalue()


register_format(ExportFormat(
    name="csv",
    help="one row per evaluation (point=final: one per record; point=curve: each eval_at budget point) with "
         "view, teacher_kind, eval_episodes, widths, weights_bytes, train_wall_s",
    render=lambda board: (to_csv(board), []),
))
