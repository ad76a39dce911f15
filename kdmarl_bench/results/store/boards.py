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

from kdmarl_bench import safeio
from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.model.codec import sanitize
from kdmarl_bench.results.model.records import Leaderboard
from kdmarl_bench.results.model.schema import validate
from kdmarl_bench.results.store.migrate import migrate
from kdmarl_bench.safeio import write_json_atomic


def read_json(path: Path) -> Any:
    """The parsed JSON of a leaderboard file; UsageError naming the file when it cannot be read.

    The single place a leaderboard's bytes are read, through ``kdmarl_bench.safeio.read_json``
    (nesting bounded, so a 100k-deep file is a clean exit 2, not a RecursionError).
    """
    return safeio.read_json(path, what="leaderboard file")


def first_non_finite(obj: Any, where: str = "") -> tuple[str, float] | None:
    """(field path, value) of the first NaN/Infinity in parsed JSON (``1e400`` parses to inf), or None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return where, obj
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, val in items:
        found = first_non_finite(val, f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}".lstrip("."))
        if found:
            return found
    return None


def parse_leaderboard(data: Any, path: str | os.PathLike | None = None) -> Leaderboard:
    """Validate (against its own version's schema), migrate and type a parsed leaderboard.

    A file never holds NaN or Infinity (the writer stores a missing number as null), so a
    non-finite literal means the file was damaged or hand-edited: refused, naming the field.
    """
    bad = first_non_finite(data)
    if bad is not None:
        raise UsageError(f"{path or '<leaderboard>'}: field '{bad[0]}': non-finite number {bad[1]!r} "
                         "(leaderboards store a missing value as null)")
    data = sanitize(data)
    validate(data, path)
    return Leaderboard.from_dict(migrate(data, in_place=True))


def board_path(path: str | os.PathLike) -> Path:
    """A leaderboard file, or a run directory (``run --out DIR``) → its ``DIR/leaderboard.json``
    (or ``DIR.json`` beside it, as ``run --out DIR --leaderboard DIR.json`` writes it)."""
    path = Path(path)
    if path.is_dir():
        inner = path / "leaderboard.json"
        sibling = path.with_name(path.name + ".json")  # `run --out X --leaderboard X.json` (baselines/)
        if not inner.is_file() and sibling.is_file():
            return sibling
        if not inner.is_file():
            hint = " (it has finished cells: re-run its `kdmarl-bench run SUITE --out DIR` to build the board)" \
                if (path / "cells").is_dir() else ""
            raise UsageError(f"{path}: is a directory without a leaderboard.json{hint}")
        return inner
    return path


def read_leaderboard(path: str | os.PathLike) -> Leaderboard:
    """Read, validate and migrate a leaderboard file (or a run directory's); UsageError naming the file."""
    path = board_path(path)
    return parse_leaderboard(read_json(path), path)


def leaderboard_from_dict(data: dict) -> Leaderboard:
    """A typed leaderboard from an in-memory dict of any supported version (results built in this
    process, tests); files go through ``read_leaderboard``."""
    return Leaderboard.from_dict(migrate(sanitize(data), in_place=True))


def write_leaderboard(path: str | os.PathLike, board: Leaderboard) -> Path:
    """Validate then write atomically, as the current schema version (NaN/inf are stored as null)."""
    data = sanitize(board.to_dict())
    validate(data, path)
    return write_json_atomic(path, data)
