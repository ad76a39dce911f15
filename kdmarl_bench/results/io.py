"""Read and write leaderboard files: the one load path every reader takes.

``read_leaderboard(path)``: read the JSON (``read_json``, bounded by ``kdmarl_bench.safeio`` when
that module is present) → validate against the schema of the file's own version → migrate to
the current version → typed ``Leaderboard``. ``write_leaderboard`` always writes the current
version, validated, atomically (temp file + fsync + rename; NaN/inf stored as null).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.records import Leaderboard
from kdmarl_bench.results.schema import migrate, validate
from kdmarl_bench.results.store import write_json_atomic


def sanitize(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf → None, numpy scalars/arrays → Python, tuples → lists."""
    if isinstance(obj, dict):
        return {str(k): sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitize(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return sanitize(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return obj.as_posix()
    return obj


def read_json(path: Path) -> Any:
    """The parsed JSON of a leaderboard file; UsageError naming the file when it cannot be read.

    The single place a leaderboard's bytes are read: ``kdmarl_bench.safeio.read_json`` (bounded
    nesting) when the package has it, else a plain read with the same error messages.
    """
    try:
        from kdmarl_bench import safeio  # type: ignore[attr-defined]
    except ImportError:
        safeio = None
    if safeio is not None:
        return safeio.read_json(path, what="leaderboard file")
    import json

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: leaderboard file not found") from exc
    except IsADirectoryError as exc:
        raise UsageError(f"{path}: is a directory, expected a leaderboard JSON file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"{path}: cannot read leaderboard: {reason}") from exc
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        msg = (f"{exc.msg} at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError)
               else "nested too deeply")
        raise UsageError(f"{path}: not valid JSON ({msg}); expected a kdmarl-bench leaderboard") from exc


def parse_leaderboard(data: Any, path: str | os.PathLike | None = None) -> Leaderboard:
    """Validate (against its own version's schema), migrate and type a parsed leaderboard."""
    data = sanitize(data)  # a copy, where a NaN/Infinity literal became null for the schema to judge
    validate(data, path)
    return Leaderboard.from_dict(migrate(data, in_place=True))


def read_leaderboard(path: str | os.PathLike) -> Leaderboard:
    """Read, validate and migrate a leaderboard file; UsageError (naming the file) when it cannot be used."""
    path = Path(path)
    return parse_leaderboard(read_json(path), path)


def as_leaderboard(board: Leaderboard | dict) -> Leaderboard:
    """A typed leaderboard from a typed one or an in-memory dict of any supported version.

    For results built in this process (``build_leaderboard``) and tests; files go through
    ``read_leaderboard``.
    """
    if isinstance(board, Leaderboard):
        return board
    return Leaderboard.from_dict(migrate(sanitize(board), in_place=True))


def write_leaderboard(path: str | os.PathLike, board: Leaderboard | dict) -> Path:
    """Validate then write atomically, as the current schema version (NaN/inf are stored as null)."""
    data = sanitize(as_leaderboard(board).to_dict())
    validate(data, path)
    return write_json_atomic(path, data)
