"""Golden outputs of every committed board: what reading, ``show``, ``gate``, ``export``, ``compare``
and ``report`` print for each ``baselines/*.json``, kept so a refactor can prove it changed none of it.

Regenerate (after a change that is *meant* to alter what users see, never to make a refactor pass)::

    cd <repo root> && PYTHONPATH=$PWD python tests/golden/regenerate.py            # every board
    cd <repo root> && PYTHONPATH=$PWD python tests/golden/regenerate.py quickstart # one board
    cd <repo root> && PYTHONPATH=$PWD python tests/golden/regenerate.py --check    # compare, write nothing

(``--cached``: read each board once, as the test does; about twice as fast.) The script puts the
repository root first on ``sys.path`` itself, so it uses the checkout's ``kdmarl_bench`` either way.

then review ``git diff tests/golden`` and commit it with the change. ``tests/cli/test_golden_boards.py``
regenerates every output in-process and asserts byte equality with these files.

Boards: every ``baselines/*.json`` that is a leaderboard (has ``suite`` and ``records``), found by a
glob, so a new board without goldens fails the test; teacher cards and study folders
(``baselines/teachers/``, ``baselines/sweep/``) are subfolders and not boards of their own.

What is captured, per board ``baselines/NAME.json`` into ``tests/golden/NAME/`` (``index.txt`` lists
every output with its exit code and command line; a command's stderr, when it prints any, is
``OUTPUT.stderr``):

- ``read.json``: the board read (validated, migrated, typed) and written back by the library's
  own writer: the canonical JSON of the current schema version;
- ``show`` at 200 columns (one table) and at 80 (one table per task, compacted), ``show --summary``,
  ``show --json``, ``show --summary --json``, ``show --agents`` with every task of the board;
- ``gate BOARD --baseline BOARD`` (the board against itself): the table and exit code, and the
  ``--markdown`` and ``--junit`` files it writes (every check with its numbers and reason; ``--json``
  holds the same and is left out: each gate run costs seconds on the large boards);
- ``export BOARD --format F`` for every registered leaderboard export format: stdout, or for a
  format that writes several files the files written under ``--out``;
- ``compare BOARD BOARD``; ``report BOARD --headline`` and ``--headline --json``;
- ``report.md``: the report's markdown as ``results.report.build_markdown`` assembles it from every
  registered section, without drawing the PNG plots (drawing them takes about a minute a board).

The CLI runs in-process through click's ``CliRunner`` from the repository root (board paths are
relative, as a user types them), with ``COLUMNS`` fixed and colour off (``NO_COLOR``; ``FORCE_COLOR``
and rich's ``TTY_*`` overrides removed). An output over ``INLINE_LIMIT`` bytes is stored as
``NAME.sha256`` (its sha256, byte and line counts, and a short hash per ``CHUNK_LINES`` lines, so a
failure names the lines that changed and saves the new output) so the folder stays small; smaller
ones are stored in full so that a failing comparison shows the first differing line.

Normalisation (the generator and the test apply the same ``normalise``): the run's temporary folder
becomes ``<TMP>`` and the repository root ``<ROOT>`` (a checkout anywhere gives the same bytes).
Nothing else is rewritten: every committed output is deterministic (the boards' own timestamps and
host names are content of the file and stay as they are).

``capture(board, cached=True)`` (what the test does) reads each board file once and hands every
command that read, checked unchanged (``ReadCache``); the generator reads afresh for every command,
so a passing test right after regenerating also shows the cache changes no byte.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: `tests.golden` imports like under pytest
    sys.path.insert(0, str(ROOT))

# The library entry points the goldens rely on beside the CLI. A refactor that moves them updates
# these imports only (never the golden files).
from kdmarl_bench.cli import main  # noqa: E402
from kdmarl_bench.results.render.formats import FORMATS  # noqa: E402  the leaderboard export formats
from kdmarl_bench.results.render.report import build_markdown  # noqa: E402
from kdmarl_bench.results.store.boards import read_leaderboard, write_leaderboard  # noqa: E402

BASELINES = ROOT / "baselines"
GOLDEN_DIR = ROOT / "tests" / "golden"
INLINE_LIMIT = 100_000
"""Bytes above which an output is stored as its sha256 and length instead of in full."""
WIDE, NARROW = 200, 80
"""Terminal widths: one table at 200 columns; below 120 ``show`` stacks one table per task."""
INDEX = "index.txt"
REGENERATE = "PYTHONPATH=$PWD python tests/golden/regenerate.py"


# ---------------------------------------------------------------------------------------------
# which boards


def committed_boards() -> list[Path]:
    """Every leaderboard committed at the top of ``baselines/`` (teacher cards and study folders
    such as ``baselines/sweep/`` live in subfolders and are not boards of their own)."""
    boards = []
    for path in sorted(BASELINES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "records" in data and "suite" in data:
            boards.append(path)
    return boards


def golden_folder(board: Path) -> Path:
    return GOLDEN_DIR / board.stem


def shown(path: Path) -> str:
    """``path`` relative to the repository root when it is inside it."""
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


# ---------------------------------------------------------------------------------------------
# one output


@dataclass
class Output:
    """One captured output: the file name it is stored under, its bytes, and how it was made."""

    name: str
    data: bytes
    command: str
    exit_code: int = 0


@dataclass
class Capture:
    """Every output of one board, in a fixed order."""

    board: Path
    outputs: list[Output] = field(default_factory=list)
    reads: int = 0
    """Board files read from disk (with ``cached_reads``)."""
    served: int = 0
    """Reads served from the first one (with ``cached_reads``)."""

    def index(self) -> str:
        """``index.txt``: one line per output (stored name, exit code, command)."""
        return "".join(f"{o.name}\texit={o.exit_code}\t{o.command}\n" for o in self.outputs)


def normalise(text: str, tmp: Path) -> str:
    """The run's temporary folder → ``<TMP>``, the repository root → ``<ROOT>``; nothing else."""
    for path, token in ((tmp.resolve(), "<TMP>"), (tmp, "<TMP>"), (ROOT, "<ROOT>")):
        text = text.replace(str(path), token)
    return text


def stored_name(out: Output) -> str:
    return out.name if len(out.data) <= INLINE_LIMIT else f"{out.name}.sha256"


CHUNK_LINES = 1000
"""A hashed output also stores one short hash per this many lines, so a difference is located."""


def stored_bytes(out: Output) -> bytes:
    """The output in full, or when it is larger than INLINE_LIMIT its ``sha256``, ``bytes`` and
    ``lines`` and a ``lines A-B`` line with a 16-digit sha256 prefix per CHUNK_LINES lines."""
    if len(out.data) <= INLINE_LIMIT:
        return out.data
    lines = out.data.splitlines(keepends=True)
    text = f"sha256 {hashlib.sha256(out.data).hexdigest()}\nbytes {len(out.data)}\nlines {len(lines)}\n"
    for start in range(0, len(lines), CHUNK_LINES):
        chunk = b"".join(lines[start:start + CHUNK_LINES])
        text += f"lines {start + 1}-{start + len(lines[start:start + CHUNK_LINES])} " \
                f"{hashlib.sha256(chunk).hexdigest()[:16]}\n"
    return text.encode()


def _first_differing_chunk(expected: bytes, actual: bytes) -> str:
    """Where two stored hashes first differ: ``lines A-B``, or the sizes when every chunk agrees."""
    exp, act = expected.decode().splitlines(), actual.decode().splitlines()
    for e, a in zip(exp[3:], act[3:], strict=False):
        if e != a:
            return f"first within {e.rsplit(' ', 1)[0]}"
    return f"{exp[1:3]} → {act[1:3]}"


# ---------------------------------------------------------------------------------------------
# one read per board (the test's speed-up)


class ReadCache:
    """``read_leaderboard`` reading each file once: reading validates against the JSON Schema and
    migrates (a second or more for a large board) and every command reads its board again.

    The first read of a file within a command gets the board as first read, the second read (``gate A
    --baseline A``, ``compare A A``) a copy of it, and so on: a command never gets one object twice,
    as two reads from disk would not. Before an object is handed out again it is compared with an
    untouched deep copy of the first read and replaced by a fresh copy when a command changed it, so
    every command starts from the board as read from disk. ``next_command()`` marks where one command
    ends and the next begins.
    """

    def __init__(self, read: Callable):
        self.read = read
        self._pristine: dict[tuple[str, str], object] = {}  # never handed out
        self._handed: dict[tuple[str, str], list[object]] = {}  # the n-th read of a file within a command
        self._in_command: dict[tuple[str, str], int] = {}
        self.reads = 0
        """Files read from disk."""
        self.served = 0
        """Reads served from the first one."""
        self.restored = 0
        """Times a command had changed its board and the next one got a fresh copy."""

    def next_command(self) -> None:
        self._in_command.clear()

    def __call__(self, path):
        key = (os.getcwd(), os.fspath(path))
        if key not in self._pristine:
            board = self.read(path)  # an error is raised as it would be, and nothing is cached
            self.reads += 1
            self._pristine[key], self._handed[key] = copy.deepcopy(board), [board]
        else:
            self.served += 1
        nth = self._in_command.get(key, 0)
        self._in_command[key] = nth + 1
        handed, pristine = self._handed[key], self._pristine[key]
        if nth == len(handed):
            handed.append(copy.deepcopy(pristine))
        elif handed[nth] != pristine:  # an earlier command changed it: start afresh
            self.restored += 1
            handed[nth] = copy.deepcopy(pristine)
        return handed[nth]


@contextlib.contextmanager
def cached_reads() -> Iterator[ReadCache]:
    """Within the block every name in the package (and this module) bound to ``read_leaderboard`` is
    a ``ReadCache``; restored afterwards."""
    read = read_leaderboard
    cache = ReadCache(read)
    for mod, attr in _bound_to(read):
        setattr(mod, attr, cache)
    try:
        yield cache
    finally:
        # also in modules first imported inside the block (they bound the cache when they imported)
        for mod, attr in _bound_to(cache):
            setattr(mod, attr, read)


def _bound_to(obj: object) -> list[tuple[object, str]]:
    """(module, name) of every module-level name of the package and this module bound to ``obj``."""
    return [(mod, attr) for mod in list(sys.modules.values())
            if getattr(mod, "__name__", "").startswith("kdmarl_bench") or mod is sys.modules[__name__]
            for attr, value in list(vars(mod).items()) if value is obj]


# ---------------------------------------------------------------------------------------------
# capture


def _runner(width: int) -> CliRunner:
    return CliRunner(env={"COLUMNS": str(width), "LINES": "50", "NO_COLOR": "1", "FORCE_COLOR": None,
                          "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None, "CLICOLOR_FORCE": None})


def _tasks(canonical: dict) -> list[str]:
    return sorted({s["task"] for s in canonical.get("summary", [])})


def _capture_in(board: Path, tmp: Path, cache: ReadCache | None) -> Capture:
    rel = board.relative_to(ROOT).as_posix()
    cap = Capture(board)

    def add(name: str, data: str | bytes, command: str, exit_code: int = 0) -> None:
        assert all(o.name != name for o in cap.outputs), f"two outputs named {name}"
        text = data if isinstance(data, str) else data.decode("utf-8")
        cap.outputs.append(Output(name, normalise(text, tmp).encode("utf-8"), normalise(command, tmp), exit_code))

    def cli(name: str, args: list[str], width: int = WIDE, files: dict[str, Path] | Path | None = None) -> None:
        """Run ``kdmarl-bench ARGS``: stdout as ``name``, stderr (when any) as ``NAME.stderr``, then
        each file the command wrote (``files``: stored name → path, or a folder to store all of)."""
        if cache is not None:
            cache.next_command()
        res = _runner(width).invoke(main, args, catch_exceptions=False)
        command = f"COLUMNS={width} kdmarl-bench {' '.join(args)}"
        add(name, res.stdout, command, res.exit_code)
        if res.stderr:
            add(f"{name}.stderr", res.stderr, command, res.exit_code)
        if isinstance(files, Path):
            prefix = name.rsplit(".", 1)[0]
            files = {f"{prefix}.{p.name}": p for p in sorted(files.glob("*"))} if files.is_dir() else {}
        for fname, path in (files or {}).items():
            add(fname, path.read_bytes() if path.exists() else b"<not written>\n", command, res.exit_code)

    # reading: the canonical JSON the library writes for the board
    written = write_leaderboard(tmp / "read.json", read_leaderboard(rel))
    add("read.json", Path(written).read_bytes(), f"write_leaderboard(read_leaderboard({rel!r}))")
    canonical = json.loads((tmp / "read.json").read_text(encoding="utf-8"))

    # show
    cli("show.txt", ["show", rel])
    cli("show-80.txt", ["show", rel], width=NARROW)
    cli("show-summary.txt", ["show", rel, "--summary"])
    cli("show-summary-80.txt", ["show", rel, "--summary"], width=NARROW)
    cli("show.json", ["show", rel, "--json"])
    cli("show-summary.json", ["show", rel, "--summary", "--json"])
    agents = [arg for task in _tasks(canonical) for arg in ("--task", task)]
    cli("show-agents.txt", ["show", rel, "--agents", *agents])

    # gate: the board against itself
    md, junit = tmp / "gate" / "gate.md", tmp / "gate" / "gate.junit.xml"
    cli("gate.txt", ["gate", rel, "--baseline", rel, "--markdown", str(md), "--junit", str(junit)],
        files={"gate.md": md, "gate.junit.xml": junit})

    # export: every registered leaderboard format
    for fmt in FORMATS.names():
        if FORMATS.get(fmt).needs_out:  # writes several files: into a folder of its own
            folder = tmp / "export" / fmt
            cli(f"export-{fmt}.txt", ["export", rel, "--format", fmt, "--out", str(folder / "out.json")],
                files=folder)
        else:
            cli(f"export-{fmt}.txt", ["export", rel, "--format", fmt])

    # compare, report
    cli("compare.txt", ["compare", rel, rel])
    cli("report-headline.txt", ["report", rel, "--headline"])
    cli("report-headline.json", ["report", rel, "--headline", "--json"])
    if cache is not None:
        cache.next_command()
    add("report.md", build_markdown(read_leaderboard(rel), source=rel), f"build_markdown(read_leaderboard({rel!r}))")
    return cap


def capture(board: Path, cached: bool = True) -> Capture:
    """Every output of ``board``, from the repository root, in a fresh temporary folder."""
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kdmarl-golden-")))
        stack.enter_context(contextlib.chdir(ROOT))
        cache = stack.enter_context(cached_reads()) if cached else None
        cap = _capture_in(board, tmp, cache)
        if cache is not None:
            cap.reads, cap.served = cache.reads, cache.served
        return cap


# ---------------------------------------------------------------------------------------------
# comparing and writing


def first_difference(expected: bytes, actual: bytes) -> str:
    """``line N: expected ... / actual ...`` for the first line that differs."""
    exp, act = expected.decode("utf-8", "replace").splitlines(), actual.decode("utf-8", "replace").splitlines()
    for i in range(max(len(exp), len(act))):
        e = exp[i] if i < len(exp) else "<end of output>"
        a = act[i] if i < len(act) else "<end of output>"
        if e != a:
            return f"line {i + 1}:\n  expected: {e!r}\n  actual:   {a!r}"
    return "the lines agree; the bytes differ (line endings or a final newline)"


def differences(cap: Capture, folder: Path, keep: Path | None = None,
                on_keep: Callable[[Output, Path], None] | None = None) -> list[str]:
    """One message per output of ``cap`` that differs from its golden in ``folder`` (or is missing),
    plus one per golden file that no output produced. ``keep``: where to save an actual output that is
    stored only as a hash, so its difference can be inspected."""
    problems = []
    produced = {INDEX}
    index = folder / INDEX
    for out in cap.outputs:
        name = stored_name(out)
        produced.add(name)
        golden = folder / name
        where = f"{shown(cap.board)}: {out.name} (`{out.command}`)"
        if not golden.is_file():
            problems.append(f"{where}: no golden file {shown(golden)}")
            continue
        expected, actual = golden.read_bytes(), stored_bytes(out)
        if expected == actual:
            continue
        if name.endswith(".sha256"):
            saved = ""
            if expected == stored_bytes(Output(out.name, cap.board.read_bytes(), "")):
                # the golden is the committed board itself (the canonical JSON of a current board)
                saved = f"; against {cap.board.name} at {first_difference(cap.board.read_bytes(), out.data)}"
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                path = keep / f"{cap.board.stem}-{out.name}"
                path.write_bytes(out.data)
                saved += f"; the new output is saved at {path}"
            problems.append(f"{where}: differs (stored as a hash; {_first_differing_chunk(expected, actual)})"
                            f"{saved}")
        else:
            problems.append(f"{where}: differs at {first_difference(expected, actual)}")
    if index.is_file() and index.read_bytes() != cap.index().encode():
        problems.append(f"{shown(cap.board)}: {INDEX} (outputs, exit codes, commands) "
                        f"differs at {first_difference(index.read_bytes(), cap.index().encode())}")
    elif not index.is_file():
        problems.append(f"{shown(cap.board)}: no {shown(index)}")
    if folder.is_dir():
        for extra in sorted(p.name for p in folder.iterdir() if p.name not in produced):
            problems.append(f"{shown(cap.board)}: golden {extra} is no longer produced")
    return problems


def write_goldens(cap: Capture, folder: Path) -> int:
    """Replace ``folder`` with the outputs of ``cap``; returns the bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    (folder / INDEX).write_bytes(cap.index().encode())
    total = len(cap.index().encode())
    for out in cap.outputs:
        data = stored_bytes(out)
        (folder / stored_name(out)).write_bytes(data)
        total += len(data)
    return total


def main_cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("boards", nargs="*", metavar="BOARD",
                        help="board names (baselines/NAME.json) to regenerate [default: every committed board]")
    parser.add_argument("--check", action="store_true", help="compare with the goldens; write nothing")
    parser.add_argument("--cached", action="store_true",
                        help="read each board once, as the test does (faster; the default reads afresh)")
    args = parser.parse_args(argv)
    boards = committed_boards()
    if args.boards:
        known = {b.stem: b for b in boards}
        unknown = [n for n in args.boards if n not in known]
        if unknown:
            parser.error(f"not a committed board: {', '.join(unknown)}; valid choices: {', '.join(known)}")
        boards = [known[n] for n in args.boards]
    failed = 0
    for board in boards:
        cap = capture(board, cached=args.cached)
        if args.check:
            problems = differences(cap, golden_folder(board))
            failed += bool(problems)
            print(f"{board.stem}: {'ok' if not problems else 'DIFFERS'}")
            for p in problems:
                print("  " + p)
        else:
            size = write_goldens(cap, golden_folder(board))
            print(f"{board.stem}: {len(cap.outputs)} outputs, {size:,} bytes → {golden_folder(board).relative_to(ROOT)}")
    stale = sorted(p.name for p in GOLDEN_DIR.iterdir()
                   if p.is_dir() and p.name != "__pycache__" and p.name not in {b.stem for b in committed_boards()})
    if stale:
        print(f"golden folders without a committed board (delete them): {', '.join(stale)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main_cli())
