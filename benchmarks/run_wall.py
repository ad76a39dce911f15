"""Wall time of ``kdmarl-bench run`` with 1 and 2 local workers and 2 Ray workers, side by side.

    python benchmarks/run_wall.py [SUITE] [--skip-ray] [--keep DIR]

Runs SUITE (default ``quickstart``) three times into fresh temp dirs: ``--jobs 1``, ``--jobs 2`` and
``--executor ray --jobs 2`` (a local Ray instance on 127.0.0.1). Prints each wall time, the ratios
to ``--jobs 1``, whether every score is identical, and each run's teacher/student latency p50 ratio
(1-thread decentralized eager CPU) per task, which should agree across runs because latency is timed
after training on the driver alone. Absolute times belong to this machine; only the ratios travel.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(suite: str, out: Path, extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "kdmarl_bench", "run", suite, "--out", str(out), "--json", *extra]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return wall


def scores(board: dict) -> dict:
    return {(r["task"], r["method"], (r.get("student") or {}).get("size", "full"), r["seed"]):
            (r["score"], tuple(r["episode_scores"])) for r in board["records"]}


def p50_ratios(board: dict) -> dict[str, float]:
    """Per task: teacher p50 / median student p50 (1 thread, batch 1, eager, CPU)."""
    def p50(r: dict) -> float | None:
        for e in r.get("latency") or []:
            if (e["device"], e["threads"], e["batch"], e["mode"], e.get("path", "eager")) == \
                    ("cpu", 1, 1, "decentralized", "eager"):
                return e["p50_ms"]
        return None

    out = {}
    for task in sorted({r["task"] for r in board["records"]}):
        rows = [r for r in board["records"] if r["task"] == task and not r.get("error")]
        teacher = [p50(r) for r in rows if r["method"] == "teacher" and p50(r) is not None]
        students = [p50(r) for r in rows if r["method"] != "teacher" and p50(r) is not None]
        if teacher and students:
            out[task] = statistics.median(teacher) / statistics.median(students)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suite", nargs="?", default="quickstart")
    ap.add_argument("--skip-ray", action="store_true", help="Only the local executor.")
    ap.add_argument("--keep", type=Path, default=None, help="Write the run dirs here instead of a temp dir.")
    args = ap.parse_args()

    variants = [("jobs 1", ["--jobs", "1"]), ("jobs 2", ["--jobs", "2"])]
    if not args.skip_ray:
        variants.append(("ray 2", ["--executor", "ray", "--jobs", "2"]))
    with tempfile.TemporaryDirectory(prefix="kdmarl-wall-") as tmp:
        root = args.keep or Path(tmp)
        results = {}
        for name, extra in variants:
            out = root / name.replace(" ", "")
            wall = run(args.suite, out, extra)
            board = json.loads((out / "leaderboard.json").read_text())
            results[name] = (wall, board)
            print(f"{name:>7}: {wall:7.1f} s wall", flush=True)

    base_wall, base_board = results["jobs 1"]
    base_scores = scores(base_board)
    print(f"\nsuite {args.suite}: {len(base_board['records'])} cells")
    print(f"{'run':>7} {'wall s':>8} {'÷ jobs 1':>9} {'scores':>10}  teacher/student p50 ratio by task")
    all_same = True
    for name, (wall, board) in results.items():
        same = scores(board) == base_scores
        all_same &= same
        ratios = ", ".join(f"{t} {v:.2f}" for t, v in p50_ratios(board).items())
        print(f"{name:>7} {wall:8.1f} {wall / base_wall:9.2f} {'identical' if same else 'DIFFER':>10}  {ratios}")
    if not all_same:
        sys.exit("scores differ between executors")


if __name__ == "__main__":
    main()
