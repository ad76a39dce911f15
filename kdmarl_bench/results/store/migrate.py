"""Migrations: every older leaderboard version brought to the current one (``SCHEMA_VERSION``).

A migration only adds fields computed from the board's own records (``results.analysis.aggregate``), with the
one exception ``results.model.schema`` describes (version 2 → 3 recomputes the CIs over seeds of rows with
2 to 4 seeds as Student-t intervals). ``results.store.boards`` validates a file against its own version's
schema, then migrates it, then types it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from kdmarl_bench.results.analysis import aggregate, stats
from kdmarl_bench.results.model.records import DEFAULT_FOCUS, SCHEMA_VERSION, Bootstrap, Record
from kdmarl_bench.results.model.schema import schema_version


def _v1_to_v2(data: dict) -> dict:
    data["schema_version"] = 2
    data["suite"].setdefault("focus", DEFAULT_FOCUS)
    for r in data["records"]:
        for e in r.get("latency") or []:
            if "noisy" not in e and isinstance(e.get("timer_mismatch"), bool):
                e["noisy"] = e["timer_mismatch"]
    records = [Record.from_dict(r) for r in data["records"]]
    boot = Bootstrap.from_dict(data["protocol"].get("bootstrap") or {})
    groups = aggregate.group_ok_records(records)
    for row in data["summary"]:
        key = (row["task"], row["method"], row["size"])
        first = next((r for r in records if r.key == key), None)
        row.setdefault("metric", first.metric if first else None)
        row.setdefault("backend", first.backend if first else None)
        row.setdefault("n_failed", sum(1 for r in records if r.key == key and not r.ok))
        if "latency_summary" not in row:
            row["latency_summary"] = aggregate.latency_summary(groups.get(key, [])).to_dict()
        for group in row["latency_summary"].values():
            if isinstance(group, dict) and "noisy" not in group:
                group["noisy"] = group.get("timer_mismatch")
    columns = aggregate.retention_columns(records)
    for a in data["aggregate"]:
        if "performance_profile" not in a:
            cols = list(columns.get((a["method"], a["size"]), {}).values())
            a["performance_profile"] = aggregate.performance_profile(cols, boot).to_dict()
    return data


def _v2_to_v3(data: dict) -> dict:
    data["schema_version"] = 3
    data["suite"].setdefault("primary", "final")
    records = [Record.from_dict(r) for r in data["records"]]
    boot = Bootstrap.from_dict(data["protocol"].get("bootstrap") or {})
    groups = aggregate.group_ok_records(records)
    for row in data["summary"]:
        recs = groups.get((row["task"], row["method"], row["size"]), [])
        row["ci_kind"] = kind = stats.ci_kind(row["n_seeds"])
        if kind != "t" or len(recs) != row["n_seeds"]:
            continue
        conf = boot.confidence
        row["score_ci95"] = aggregate.ci_list(stats.t_interval([r.score for r in recs], conf))
        row["retention_ci95"] = aggregate.ci_list(stats.t_interval([r.retention for r in recs], conf))
        if "retention_curve" in row:
            curve = aggregate.curve_summary(recs, boot)
            if curve:
                by_x = {p.env_steps: p for p in curve["retention_curve"]}
                for point in row["retention_curve"]:
                    new = by_x.get(point["env_steps"])
                    if new is not None:
                        point["score_ci95"] = new.to_dict()["score_ci95"]
                        point["retention_ci95"] = new.to_dict()["retention_ci95"]
                row["curve_auc_ci95"] = None if curve["curve_auc_ci95"] is None else curve["curve_auc_ci95"].to_list()
    return data


MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2, 2: _v2_to_v3}
"""version → function bringing a dict of that version to the next (it may modify its argument)."""


def migrate(data: dict, *, in_place: bool = False) -> dict:
    """A valid leaderboard dict brought to ``SCHEMA_VERSION`` (unchanged if it is there).

    A copy, unless ``in_place`` (for a dict the caller has just made, e.g. by ``io.sanitize``).
    """
    version = schema_version(data)
    if not in_place:
        data = copy.deepcopy(data)
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version = data["schema_version"]
    return data
