"""One JSON file per finished cell, written atomically, keyed by a hash of the cell's config.

``run`` asks ``has(key)`` before training a cell, so an interrupted run resumes where it
stopped: a cell's file either exists whole or not at all (temp file + fsync + rename).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.model.records import Record
from kdmarl_bench.safeio import (
    MAX_CARD_BYTES,
    is_inside,
    json_default,
    loads_json,
    read_bytes_bounded,
    write_json_atomic,
)

_KEY_RE = re.compile(r"^[0-9A-Za-z_-]{1,128}$")


def canonical_json(data: Any) -> str:
    """Sorted-keys, compact JSON: equal configs give equal strings."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=json_default, allow_nan=True)


def cell_key(config: dict) -> str:
    """First 16 hex digits of the sha256 of the cell's canonical config JSON."""
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# what a finished cell file must hold

_CELL_FIELDS: dict[str, type | tuple] = {"task": str, "method": str, "seed": int, "episode_scores": list}


def cell_record_problem(rec: dict) -> str | None:
    """Why ``rec`` is not a finished cell's record, or None."""
    for name, typ in _CELL_FIELDS.items():
        if name not in rec:
            return f"lacks field {name!r}"
        if not isinstance(rec[name], typ) or isinstance(rec[name], bool):
            return f"field {name!r} is {type(rec[name]).__name__}, expected {typ.__name__}"
    score = rec.get("score")
    if rec.get("error") is None and (not isinstance(score, (int, float)) or isinstance(score, bool)):
        return "has neither a score nor an error"
    if isinstance(score, float) and not math.isfinite(score):
        return f"field 'score' is {score} (not a finite number)"
    for i, v in enumerate(rec["episode_scores"]):
        if isinstance(v, float) and not math.isfinite(v):
            return f"field 'episode_scores[{i}]' is {v} (not a finite number)"
    return None


# ---------------------------------------------------------------------------------------------
# one run per output folder


class OutDirBusy(UsageError):
    """Another run holds the output folder's lock."""


@contextlib.contextmanager
def claim_out_dir(out_dir: str | os.PathLike):
    """Hold ``out_dir`` for one run: check it is writable (a probe file) and take an exclusive lock on
    ``out_dir/.lock`` (``fcntl.flock``), so two runs on one folder never compute the same cell twice.
    The lock goes with the process (kill -9 included); a second run exits 2 naming the holder."""
    import fcntl  # POSIX only: imported where the lock is taken

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"{out}: output folder is not writable ({exc.strerror or exc}); "
                         "choose another --out") from exc
    lock_path = out / ".lock"
    try:  # O_NOFOLLOW: a .lock planted as a link must not get its target overwritten with our pid
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0),
                     0o666)
    except OSError as exc:
        if os.path.islink(lock_path):
            raise UsageError(f"{lock_path}: is a symlink; refusing to write the run's lock through it (remove it)") from exc
        raise UsageError(f"{lock_path}: cannot open the run's lock file ({exc.strerror or exc})") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            raise OutDirBusy(f"{out}: another kdmarl-bench run (pid {holder}) is using this output folder; "
                             "wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield out
    finally:
        os.close(fd)  # releases the lock


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
        if not is_inside(self.root, path):
            raise UsageError(f"{path}: cell result lies outside {str(self.root)!r} (a symlink out of the run folder); "
                             "refusing to read it")
        try:
            text = read_bytes_bounded(path, "cell result", MAX_CARD_BYTES).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"{path}: cannot read cell result: {exc}") from exc
        try:
            data = loads_json(text, str(path), "cell result")
        except UsageError as exc:
            raise UsageError(f"{exc} (a corrupt cell result); delete the file to re-run that cell") from exc
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

    def load_cell(self, key: str, task: str, method: str, seed: int) -> Record:
        """The finished record of cell ``key``, checked to be one: a cell file that is not a record of that
        (task, method, seed) is an error naming the file (exit 2; delete it to re-run the cell), never a
        crash or a silently wrong row."""
        path = self.path(key)
        rec = self.load(key)
        problem = cell_record_problem(rec)
        if problem is None and (rec["task"], rec["method"], rec["seed"]) != (task, method, seed):
            problem = (f"it holds {rec['task']} · {rec['method']} · seed {rec['seed']}, but its name belongs to "
                       f"{task} · {method} · seed {seed}")
        if problem:
            raise UsageError(f"{path}: corrupt cell result ({problem}); delete the file to re-run that cell")
        return Record.from_dict(rec)

    def failed(self, key: str) -> bool:
        """Whether the saved record of cell ``key`` is a failed cell's (``error`` set)."""
        return bool(self.load(key).get("error"))

    def load_score(self, key: str) -> float:
        """A cached random-policy score (``kind = random-score``), checked like ``load_cell``."""
        rec = self.load(key)
        score = rec.get("score")
        if rec.get("kind") != "random-score" or not isinstance(score, (int, float)) or isinstance(score, bool):
            raise UsageError(f"{self.path(key)}: corrupt cached random-policy score; delete the file to recompute it")
        return float(score)

    def save(self, key: str, record: Record) -> Path:
        """Write (or overwrite) the record of cell ``key`` atomically."""
        return write_json_atomic(self.path(key), record.to_dict(), root=self.root)

    def save_score(self, key: str, task: str, score: float, episodes: int, eval_seed: int) -> Path:
        """Cache a task's random-policy score (``kind = random-score``; read back by ``load_score``)."""
        return write_json_atomic(self.path(key), {"kind": "random-score", "task": task, "score": score,
                                                  "episodes": episodes, "eval_seed": eval_seed}, root=self.root)

    def keys(self) -> list[str]:
        if not self.cells_dir.is_dir():
            return []
        return sorted(p.stem for p in self.cells_dir.glob("*.json") if _KEY_RE.match(p.stem))

    def all(self) -> list[dict]:
        """Every saved record, ordered by key. A corrupt file raises UsageError naming it."""
        return [self._read(self.path(k)) for k in self.keys()]

    def __len__(self) -> int:
        return len(self.keys())
