"""Regenerate the README's tables from the committed boards (``baselines/*.json``).

Rewrites every ``<!-- BEGIN generated:NAME -->`` … ``<!-- END generated:NAME -->`` block of
README.md (the blocks are listed in ``kdmarl_bench/readme.py``). Run it after rebuilding a
board. ``--check`` changes nothing and exits 1 (printing a diff) when the README differs from
what the boards give; 2 on a bad README (unknown block, unclosed marker) or an unreadable board.

Usage: python benchmarks/readme_tables.py [--check] [--readme README.md] [--baselines baselines]
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from pathlib import Path

from kdmarl_bench.errors import UsageError
from kdmarl_bench.readme import regenerate

ROOT = Path(__file__).resolve().parents[1]


def write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when the README differs; write nothing")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    ap.add_argument("--baselines", type=Path, default=ROOT / "baselines")
    args = ap.parse_args(argv)
    try:
        old, new = regenerate(args.readme, args.baselines)
    except UsageError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    if old == new:
        print(f"{args.readme}: generated tables match {args.baselines}", file=sys.stderr)
        return 0
    if args.check:
        sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                   f"{args.readme} (committed)", f"{args.readme} (from the boards)"))
        print(f"{args.readme}: generated tables differ from {args.baselines}; run "
              "`python benchmarks/readme_tables.py` to update them", file=sys.stderr)
        return 1
    write_text_atomic(args.readme, new)
    print(f"{args.readme}: generated tables rewritten from {args.baselines}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
