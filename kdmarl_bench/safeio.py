"""Reading files other people made, and writing only where the user said.

Suites, leaderboards, cells and checkpoint cards come from colleagues' branches, paper
artifacts and CI caches. This module holds the few checks every reader and writer shares:

- ``read_json`` / ``loads_json``: JSON whose nesting is bounded (a 100k-deep list would
  otherwise raise RecursionError in the parser or in whatever walks it next);
- ``check_slug``: a name that becomes one path component (suite, size label, method, variant);
- ``task_dirname``: a task id (``family/name``) as one path component;
- ``confine``: a path that must stay inside a folder (``--out``, a leaderboard's folder).

Every failure is a ``UsageError`` (exit 2) naming the file or field.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from kdmarl_bench.errors import UsageError

# ---------------------------------------------------------------------------------------------
# limits on sizes read from files

MAX_WIDTH = 65_536
"""Largest hidden width accepted anywhere (suite sizes, method fields, checkpoint cards)."""
MAX_PARAMS = 2_000_000_000
"""Most parameters a checkpoint card may describe (about 8 GB of float32), checked before allocating."""

# ---------------------------------------------------------------------------------------------
# bounded JSON

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects accepted in a JSON file a user hands us (ours reach ~8)."""


def json_depth(data: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of a parsed JSON value, walking iteratively; stops counting past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((c, depth + 1) for c in children)
    return deepest


def loads_json(text: str | bytes, where: str, what: str = "JSON file", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON text; UsageError naming ``where`` when it is not JSON or nests deeper than ``max_depth``."""
    too_deep = UsageError(f"{where}: {what} nests arrays/objects deeper than {max_depth} levels; refusing to read it")
    try:
        data = json.loads(text)
    except RecursionError:  # the C parser gives up near the interpreter's recursion limit
        raise too_deep from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: {what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{where}: {what} is not valid JSON ({exc})") from exc
    if json_depth(data, max_depth) > max_depth:
        raise too_deep
    return data


def read_json(path: str | os.PathLike, what: str = "JSON file", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Read and parse a JSON file with bounded nesting; UsageError naming the file on any problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: {what} not found") from exc
    except IsADirectoryError as exc:
        raise UsageError(f"{path}: is a directory, expected a {what}") from exc
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: {what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return loads_json(text, str(path), what, max_depth)


# ---------------------------------------------------------------------------------------------
# names that become paths

SLUG_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._+-]*"
_SLUG_RE = re.compile(SLUG_PATTERN)
MAX_SLUG_LEN = 100


def slug_problem(name: object) -> str | None:
    """Why ``name`` cannot be one path component, or None when it can."""
    if not isinstance(name, str):
        return f"expected a string, got {type(name).__name__}"
    if not name:
        return "must not be empty"
    if len(name) > MAX_SLUG_LEN:
        return f"is {len(name)} characters long (at most {MAX_SLUG_LEN})"
    if not _SLUG_RE.fullmatch(name) or ".." in name:
        return (f"{name!r} is not a safe name: it becomes a folder or file name, so it must match "
                f"{SLUG_PATTERN} (letters, digits, '.', '_', '+', '-'; starting with a letter or digit; no '..', "
                "no '/')")
    return None


def task_dirname(task_id: str) -> str:
    """A task id ``family/name`` as one path component (``family_name``)."""
    family, sep, name = task_id.partition("/")
    if not sep or slug_problem(family) or slug_problem(name):
        raise UsageError(f"task id {task_id!r} cannot name a folder: expected 'family/name' with safe names "
                         f"({SLUG_PATTERN})")
    return f"{family}_{name}"


# ---------------------------------------------------------------------------------------------
# staying inside a folder


def is_inside(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """True when ``path`` (resolved, symlinks followed) lies inside ``root`` (resolved)."""
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def confine(root: str | os.PathLike, path: str | os.PathLike, what: str = "path") -> Path:
    """``path`` (relative paths are taken under ``root``) when it stays inside ``root``; UsageError otherwise.

    Every file ``run`` writes under ``--out`` goes through this, so no suite-controlled name can
    put a file elsewhere.
    """
    p = Path(path)
    full = p if p.is_absolute() else Path(root) / p
    if not is_inside(root, full):
        raise UsageError(f"{what} {str(path)!r} would leave the folder {str(root)!r}; refusing to write there")
    return full


def resolve_checkpoint_ref(ref: str, base_dir: str | os.PathLike, allow_outside: bool, where: str) -> Path:
    """A leaderboard's checkpoint reference as a path: ``zoo:TASK`` → the bundled file, else relative to
    ``base_dir`` (the leaderboard's folder). A path leaving that folder (absolute, ``..``, a symlink out)
    is refused unless ``allow_outside``."""
    from kdmarl_bench.teachers.zoo import resolve_ref

    if ref.startswith("zoo:"):
        return resolve_ref(ref)
    base = Path(base_dir)
    full = Path(ref) if Path(ref).is_absolute() else base / ref
    if not allow_outside and not is_inside(base, full):
        raise UsageError(f"{where}: checkpoint {ref!r} lies outside the leaderboard's folder {str(base)!r}; "
                         "refusing to load it (pass --allow-outside-paths if you trust this leaderboard)")
    return full


# ---------------------------------------------------------------------------------------------
# writing


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def file_mode() -> int:
    """The mode ``open()`` would give a new file (0644 under the usual umask 022)."""
    return 0o666 & ~current_umask()
