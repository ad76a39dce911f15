"""Reading files other people made, and writing only where the user said.

Suites, leaderboards, cells and checkpoint cards come from colleagues' branches, paper
artifacts and CI caches. This module holds the few checks every reader and writer shares:

- ``read_json`` / ``loads_json``: JSON whose nesting is bounded (a 100k-deep list would
  otherwise raise RecursionError in the parser or in whatever walks it next);
- ``check_slug``: a name that becomes one path component (suite, size label, method, variant);
- ``task_dirname``: a task id (``family/name``) as one path component;
- ``confine``: a path that must stay inside a folder (``--out``, a leaderboard's folder);
- ``resolve_out``: an output folder made absolute with its symlinks resolved, once, at the start;
- ``make_dir_inside`` / ``open_new_file``: folders under ``--out`` that are real folders (never a
  symlink planted to lead elsewhere) and temp files opened with ``O_EXCL|O_NOFOLLOW``;
- ``read_bytes_bounded``: a file read with a size cap (a card linked to ``/dev/zero`` is refused);
- ``write_bytes_atomic`` / ``write_text_atomic`` / ``write_json_atomic``: a file replaced whole or not at
  all (fresh temp file, fsync, rename), never through a planted link.

Every failure is a ``UsageError`` (exit 2) naming the file or field.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import os
import re
import secrets
import stat
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


MAX_JSON_BYTES = 256 * 1024 * 1024
"""Largest JSON file read (a leaderboard of thousands of cells is a few MB)."""
MAX_CARD_BYTES = 16 * 1024 * 1024
"""Largest checkpoint card or cell file read (ours are a few KB)."""


def read_bytes_bounded(path: str | os.PathLike, what: str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; UsageError naming the file otherwise (a FIFO or a
    device such as ``/dev/zero`` is refused before reading, an oversized file after ``max_bytes + 1`` bytes)."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; a regular file reads as usual.
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
            st = os.fstat(f.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(21, "Is a directory", str(path))
            if not stat.S_ISREG(st.st_mode):
                raise UsageError(f"{path}: {what} is not a regular file (a device, FIFO or socket); refusing to read it")
            raw = f.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: {what} not found") from exc
    except IsADirectoryError as exc:
        raise UsageError(f"{path}: is a directory, expected a {what}") from exc
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    if len(raw) > max_bytes:
        raise UsageError(f"{path}: {what} is larger than {max_bytes:,} bytes; refusing to read it")
    return raw


def read_json(path: str | os.PathLike, what: str = "JSON file", max_depth: int = MAX_JSON_DEPTH,
              max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Read and parse a JSON file with bounded size and nesting; UsageError naming the file on any problem."""
    path = Path(path)
    raw = read_bytes_bounded(path, what, max_bytes)
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


def resolve_out(path: str | os.PathLike) -> Path:
    """An output folder as every later path is built from it: absolute, ``~`` expanded, symlinks resolved —
    once, at the start (a relative ``--out`` is never joined to itself, and a link swapped in later is
    not followed)."""
    return Path(path).expanduser().resolve()


def make_dir_inside(root: str | os.PathLike, folder: str | os.PathLike, what: str = "folder") -> Path:
    """Create ``folder`` (and its parents) under ``root``, checking every component below ``root`` is a real
    folder: a symlink planted there (``cells -> /elsewhere``) is refused with a UsageError naming it, so no
    write ever follows it out. ``root`` itself is created as given (the user named it)."""
    root, folder = Path(root), Path(folder)
    full = folder if folder.is_absolute() else root / folder
    try:
        rel = full.relative_to(root)
    except ValueError:
        raise UsageError(f"{what} {str(folder)!r} would leave the folder {str(root)!r}; refusing to write there") from None
    if ".." in rel.parts:
        raise UsageError(f"{what} {str(folder)!r} would leave the folder {str(root)!r}; refusing to write there")
    root.mkdir(parents=True, exist_ok=True)
    cur = root
    for part in rel.parts:
        cur = cur / part
        try:
            os.mkdir(cur)
        except FileExistsError:
            pass
        st = os.lstat(cur)
        if stat.S_ISLNK(st.st_mode):
            raise UsageError(f"{cur}: is a symlink inside the output folder {str(root)!r}; refusing to write through "
                             "it (remove the link or choose another --out)")
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{cur}: exists and is not a folder; cannot write {what} there")
    return full


def open_new_file(folder: str | os.PathLike, name: str) -> tuple[int, Path]:
    """A new temp file for ``name`` in ``folder``, opened ``O_CREAT|O_EXCL|O_NOFOLLOW`` (never an existing file
    or a planted link) with the mode ``open()`` would give; returns (fd, path). Rename it into place."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = Path(folder) / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, file_mode()), tmp
        except FileExistsError:
            continue


# ---------------------------------------------------------------------------------------------
# writing


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def file_mode() -> int:
    """The mode ``open()`` would give a new file (0644 under the usual umask 022)."""
    return 0o666 & ~current_umask()


def json_default(obj: Any) -> Any:
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


def fsync_dir(path: Path) -> None:
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


def write_json_atomic(path: str | os.PathLike, data: Any, *, indent: int | None = 2,
                      root: str | os.PathLike | None = None) -> Path:
    """Write ``data`` as JSON to ``path`` so that readers see the old file or the new one, never half
    (``write_text_atomic``)."""
    return write_text_atomic(path, json.dumps(data, indent=indent, default=json_default) + "\n", root=root)


def write_text_atomic(path: str | os.PathLike, text: str, *, root: str | os.PathLike | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (``write_bytes_atomic``)."""
    return write_bytes_atomic(path, text.encode("utf-8"), root=root)


def write_bytes_atomic(path: str | os.PathLike, data: bytes | None, *, root: str | os.PathLike | None = None,
                       fill: Any = None) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The bytes (or whatever ``fill(file)`` writes, when given) go to a new temp file in the same folder,
    opened ``O_EXCL|O_NOFOLLOW`` (a planted link is never written through), are fsynced, then
    ``os.replace``-d over ``path`` (which replaces a link at ``path`` itself, never its target). With
    ``root``, every folder between ``root`` and ``path`` is created as a real folder and a symlink among
    them is refused (``make_dir_inside``). On any error the temp file is removed, ``path`` is left
    untouched, and an OSError names ``path`` (a full disk says which file it could not write).
    """
    path = Path(path)
    if root is not None:
        make_dir_inside(root, path.parent, f"file {path.name}")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, tmp = open_new_file(path.parent, path.name)
        with os.fdopen(fd, "wb") as f:
            if fill is not None:
                fill(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if isinstance(exc, OSError) and (exc.filename is None or (tmp is not None and exc.filename == str(tmp))):
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    fsync_dir(path.parent)
    return path
