"""One JSON file per finished cell, written atomically, keyed by a hash of the cell's config.

``run`` asks ``has(key)`` before training a cell, so an interrupted run resumes where it
stopped: a cell's file either exists whole or not at all (temp file + fsync + rename).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from kdmarl_bench.errors import UsageError

_KEY_RE = re.compile(r"^[0-9A-Za-z_-]{1,128}$")


def _json_default(obj: Any) -> Any:
    """Canonical JSON forms for the few non-JSON types a config may hold."""
    if isinstance(obj, Path):
        return obj.as_posix()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays
        return obj.tolist()
    raise TypeError(f"cannot hash a config value of type {type(obj).__name__}: {obj!r}")


def canonical_json(data: Any) -> str:
    """Sorted-keys, compact JSON: equal configs give equal strings."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=_json_default, allow_nan=True)


def cell_key(config: dict) -> str:
    """First 16 hex digits of the sha256 of the cell's canonical config JSON."""
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()[:16]


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: str | os.PathLike, data: Any, *, indent: int | None = 2) -> Path:
    """Write ``data`` as JSON to ``path`` so that readers see the old file or the new one, never half.

    The JSON goes to a temp file in the same directory, is fsynced, then ``os.replace``-d over
    ``path``. On any error the temp file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    # mkstemp creates 0600 files; results are ordinary files, so follow the umask like open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=indent, default=_json_default)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


class ResultStore:
    """Finished cells under ``root/cells/<key>.json``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.cells_dir = self.root / "cells"

    def path(self, key: str) -> Path:
        if not _KEY_RE.match(key):
            raise ValueError(f"invalid cell key {key!r}")
        return self.cells_dir / f"{key}.json"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def _read(self, path: Path) -> dict:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{path}: cannot read cell result: {exc.strerror or exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{path}: corrupt cell result (not valid JSON: {exc.msg} at line {exc.lineno} "
                f"column {exc.colno}); delete the file to re-run that cell"
            ) from exc
        if not isinstance(data, dict):
            raise UsageError(
                f"{path}: corrupt cell result (expected a JSON object, got {type(data).__name__}); "
                "delete the file to re-run that cell"
            )
        return data

    def load(self, key: str) -> dict:
        """The record saved under ``key``; KeyError when there is none, UsageError when corrupt."""
        path = self.path(key)
        if not path.is_file():
            raise KeyError(key)
        return self._read(path)

    def save(self, key: str, record: dict) -> Path:
        """Write (or overwrite) the record of cell ``key`` atomically."""
        return write_json_atomic(self.path(key), record)

    def keys(self) -> list[str]:
        if not self.cells_dir.is_dir():
            return []
        return sorted(p.stem for p in self.cells_dir.glob("*.json") if _KEY_RE.match(p.stem))

    def all(self) -> list[dict]:
        """Every saved record, ordered by key. A corrupt file raises UsageError naming it."""
        return [self._read(self.path(k)) for k in self.keys()]

    def __len__(self) -> int:
        return len(self.keys())
