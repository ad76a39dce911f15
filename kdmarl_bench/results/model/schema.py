"""Leaderboard schema versions: validation against the JSON Schema of a file's own version, and
the version a file declares (``results.store.migrate`` brings every older version to the current one).

``kdmarl_bench/schemas/leaderboard.schema.json`` is the current version (3);
``leaderboard.v1.schema.json`` and ``leaderboard.v2.schema.json`` are versions 1 and 2, frozen as
they were written. Every reader goes
through ``validate`` (the file as written, so errors point at what is in it) then ``migrate``.

Version 2 over version 1:

- ``suite.focus``: the method under test (a version 1 board's is ``kd-marl``);
- latency entries may carry ``arch``, ``timing`` and ``noisy`` (a version 1 entry's ``noisy`` is
  its ``timer_mismatch``), and every summary's latency groups carry ``noisy``;
- ``metric``, ``backend``, ``n_failed``, ``latency_summary`` (summaries) and
  ``performance_profile`` (aggregates) are required: a version 1 board written before they
  existed gets them computed from its records, with its own bootstrap settings.

Version 3 over version 2:

- ``suite.primary``: the pre-registered primary metric (a version 2 board's is ``final``: its
  headline was read on the final point); ``suite.tuning`` (optional) the tuning budget per method;
- records and curve points may carry the sampled score (``score_sampled``, ``retention_sampled`` ...)
  beside the greedy one, and summaries their means and CIs; an older record simply has none;
- summaries carry ``ci_kind``: a row of fewer than 5 seeds has Student-t intervals over seeds
  (``stats.mean_ci``), where version 2 stored a percentile bootstrap of 2 to 4 values (their range,
  labelled a 95% CI).

A migration only adds fields and never changes a number that is in the file, with one exception:
version 2 → 3 replaces the bootstrap CIs over seeds of summary rows with 2 to 4 seeds by Student-t
intervals recomputed from the board's own records (the means stay as they are).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.model.records import SCHEMA_ID, SCHEMA_VERSION

_SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"  # kdmarl_bench/schemas
_SCHEMA_FILES = {1: "leaderboard.v1.schema.json", 2: "leaderboard.v2.schema.json", SCHEMA_VERSION: "leaderboard.schema.json"}


@functools.lru_cache(maxsize=len(_SCHEMA_FILES))
def schema(version: int = SCHEMA_VERSION) -> dict:
    """The leaderboard JSON Schema (draft 2020-12) of ``version``, shipped with the package."""
    return json.loads((_SCHEMA_DIR / _SCHEMA_FILES[version]).read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=len(_SCHEMA_FILES))
def _validator(version: int):
    import jsonschema  # ~0.1 s with its referencing stack: only when a board is validated

    return jsonschema.Draft202012Validator(schema(version))


def _short(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def schema_version(data: Any, path: str | os.PathLike | None = None) -> int:
    """The schema version of a leaderboard dict; UsageError when it is not one this version reads."""
    where = str(path) if path is not None else "leaderboard"
    if not isinstance(data, dict):
        raise UsageError(
            f"{where}: not a kdmarl-bench leaderboard (expected a JSON object, got {type(data).__name__})"
        )
    if data.get("schema") != SCHEMA_ID:
        raise UsageError(
            f"{where}: not a kdmarl-bench leaderboard (field 'schema' is {data.get('schema')!r}, "
            f"expected {SCHEMA_ID!r})"
        )
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UsageError(
            f"{where}: invalid leaderboard at $.schema_version: expected an integer, got {version!r}; "
            f"valid choices: {', '.join(map(str, sorted(_SCHEMA_FILES)))}"
        )
    if version > SCHEMA_VERSION:
        raise UsageError(
            f"{where}: leaderboard schema_version {version} was written by a newer kdmarl-bench; "
            f"this version reads schema_version {SCHEMA_VERSION} and older"
        )
    if version not in _SCHEMA_FILES:
        raise UsageError(
            f"{where}: unknown leaderboard schema_version {version}; valid choices: "
            f"{', '.join(map(str, sorted(_SCHEMA_FILES)))}"
        )
    return version


def validate(data: Any, path: str | os.PathLike | None = None) -> int:
    """Check ``data`` against the schema of its own version; returns the version.

    UsageError naming the file, the JSON path and the problem.
    """
    version = schema_version(data, path)
    import jsonschema  # only when a board is validated (see _validator)

    error = jsonschema.exceptions.best_match(_validator(version).iter_errors(data))
    if error is not None:
        where = str(path) if path is not None else "leaderboard"
        hint = ""
        if "then" in error.schema_path:
            hint = " (a null score is allowed only for a failed cell, i.e. when 'error' is set)"
        raise UsageError(f"{where}: invalid leaderboard at {error.json_path}: {_short(error.message)}{hint}")
    return version
