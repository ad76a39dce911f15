"""Transitional facade over the typed results layer, for code that still passes leaderboard dicts.

The results layer now lives in one module per job:

- ``results.records``    the dataclasses (``Leaderboard``, ``Record``, ``Summary``, ``LatencyEntry``,
  ``Aggregate`` ...), the one CI rule (``has_ci``), the claim thresholds, ``method_sort_key``;
- ``results.schema``     validation against each schema version and the v1 → v2 migration;
- ``results.io``         ``read_leaderboard`` / ``write_leaderboard`` (the one load path);
- ``results.aggregate``  building a board: summaries, latency summaries, aggregates, PoI;
- ``results.provenance`` host and version information.

This module keeps the dict-based names that ``results/gate.py``, ``verify.py`` and ``runner.py``
import (``load_leaderboard`` returns the migrated, current-version dict; ``build_leaderboard``
accepts the runner's dict records and returns a dict). New code should use the typed modules;
this facade goes away once those callers have moved.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kdmarl_bench.results import aggregate as _aggregate
from kdmarl_bench.results.io import as_leaderboard, read_leaderboard, sanitize
from kdmarl_bench.results.io import write_leaderboard as _write_typed
from kdmarl_bench.results.provenance import _git_commit, collect_provenance
from kdmarl_bench.results.records import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_FOCUS,
    TEACHER,
    TEACHER_SIZE,
    Key,
    Leaderboard,
    Record,
    is_finite_number,
    method_sort_key,
)
from kdmarl_bench.results.schema import SCHEMA_ID, SCHEMA_VERSION, migrate, schema, validate

KD_MARL = DEFAULT_FOCUS

__all__ = [
    "DEFAULT_BOOTSTRAP", "KD_MARL", "SCHEMA_ID", "SCHEMA_VERSION", "TEACHER", "TEACHER_SIZE", "Key",
    "build_leaderboard", "collect_provenance", "cpu_p50_ms", "is_finite_number", "is_ok", "latency_entry",
    "latency_summary", "load_leaderboard", "method_sort_key", "sanitize", "schema", "size_label",
    "summary_index", "summary_key", "teacher_summary", "validate", "with_derived_fields", "write_leaderboard",
    "_git_commit",
]


def _record(record: dict | Record) -> Record:
    return record if isinstance(record, Record) else Record.from_dict(record)


def size_label(record: dict | Record) -> str:
    """A record's student size label; the teacher (``student`` null) is ``"full"``."""
    return _record(record).size


def is_ok(record: dict | Record) -> bool:
    """A record that counts in the statistics: no error and a finite score."""
    return _record(record).ok


def cpu_p50_ms(record: dict | Record) -> float | None:
    """The 1-thread, decentralized (batch 1 preferred) eager CPU p50 of a record, in ms."""
    return _record(record).cpu_p50_ms


def latency_entry(record: dict | Record, device: str, threads: int | None = 1, path: str = "eager") -> dict | None:
    """A record's decentralized latency entry (as a dict); see ``Record.latency_entry``."""
    entry = _record(record).latency_entry(device, threads, path)
    return None if entry is None else entry.to_dict()


def latency_summary(records: list[dict | Record]) -> dict:
    """``{"cpu": ..., "cuda": ...}`` over seeds (dict form of ``aggregate.latency_summary``)."""
    return _aggregate.latency_summary([_record(r) for r in records]).to_dict()


def summary_key(row: dict) -> Key:
    return (row["task"], row["method"], row["size"])


def summary_index(data: dict | Leaderboard) -> dict[Key, Any]:
    """``{(task, method, size): summary row}`` (dict rows for a dict board, typed for a typed one)."""
    if isinstance(data, Leaderboard):
        return data.summary_index()
    return {summary_key(r): r for r in data["summary"]}


def teacher_summary(data: dict, task: str) -> dict | None:
    """The teacher's summary row of ``task`` in a leaderboard dict, if any."""
    return next((r for r in data["summary"] if r["task"] == task and r["method"] == TEACHER), None)


def build_leaderboard(records: list[dict], suite_info: dict, protocol: dict, provenance: dict) -> dict:
    """Assemble a current-version leaderboard dict (see ``aggregate.build``)."""
    return sanitize(_aggregate.build(records, suite_info, protocol, provenance).to_dict())


def with_derived_fields(data: dict) -> dict:
    """A migrated copy (older boards get the fields added since, computed from their records)."""
    return migrate(sanitize(data))


def load_leaderboard(path: str | os.PathLike) -> dict:
    """Read, validate and migrate a leaderboard file → the current-version dict."""
    return read_leaderboard(path).to_dict()


def write_leaderboard(path: str | os.PathLike, data: dict | Leaderboard) -> Path:
    """Validate then write atomically as the current version (NaN/inf are stored as null)."""
    return _write_typed(path, data)


def typed(data: dict | Leaderboard) -> Leaderboard:
    """The typed form of a leaderboard dict (``io.as_leaderboard``)."""
    return as_leaderboard(data)
