"""Is any quickstart command silent for more than 3 s? Each runs under a pseudo-terminal and every
chunk of its output is timestamped. Covered: plan, envs, methods, show, evaluate, verify, report,
compare, gate, run, train-teacher, ``profile`` on every deployment path and ``export`` of a
checkpoint to ONNX (fp32 and int8) and ExecuTorch (the deploy runtimes must be installed).

    python benchmarks/silence_check.py [--only NAME,...] [--max-gap 3] [--json] [--keep DIR]

rich draws progress bars and spinners only to a terminal, so each command runs with a pty as its
stdin, stdout and stderr (``COLUMNS=120``). The gaps measured are: start → first output, between
any two chunks, and last chunk → exit. Prints the longest gap per command and where it fell
(after which line), and exits 1 when any exceeds ``--max-gap`` seconds (2 when a command fails).
Seconds belong to this machine; a loaded one stretches them, so run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOARD = "baselines/quickstart.json"
STUDENT = "baselines/quickstart/students/smax_3m/kd-marl/auto/seed0.safetensors"
TINY_TASK = "mpe/simple_speaker_listener_v4"
TINY_SUITE = f"""
[suite]
name = "silence"
tasks = ["{TINY_TASK}"]
methods = ["teacher", "kd-marl", "bc"]
seeds = [0]
[teacher]
source = "zoo"
[budget]
env_steps = 400
num_envs = 4
[eval]
episodes = 6
[profile]
iters = 20
warmup = 2
threads = [1]
cuda = "off"
"""


def commands(tmp: Path) -> dict[str, list[str]]:
    """Name → arguments of ``kdmarl-bench``, in the order a new user meets them."""
    (tmp / "silence.toml").write_text(TINY_SUITE)
    return {
        "plan": ["plan", "quickstart"],
        "envs": ["envs"],
        "methods": ["methods"],
        "show": ["show", BOARD],
        "evaluate": ["evaluate", STUDENT],
        "verify": ["verify", BOARD],
        "report": ["report", BOARD, "--out", str(tmp / "report")],
        "compare": ["compare", BOARD, "baselines/deploy.json"],
        "gate": ["gate", BOARD, "--baseline", BOARD],
        "run": ["run", str(tmp / "silence.toml"), "--out", str(tmp / "run")],
        "train-teacher": ["train-teacher", TINY_TASK, "--steps", "2000", "--hidden", "32,32", "--eval-episodes", "4",
                          "--out", str(tmp / "teacher" / "t")],
        "profile": ["profile", "zoo:smax/3m", "--paths", "eager,torchscript,onnxruntime,executorch"],
        "export-onnx": ["export", "zoo:smax/3m", "--format", "onnx", "--out", str(tmp / "export" / "onnx")],
        "export-onnx-int8": ["export", "zoo:smax/3m", "--format", "onnx", "--int8", "--out",
                             str(tmp / "export" / "int8")],
        "export-executorch": ["export", "zoo:smax/3m", "--format", "executorch", "--out", str(tmp / "export" / "pte")],
    }


@dataclass
class Measured:
    name: str
    exit_code: int
    wall_s: float
    longest_gap_s: float
    gap_after: str
    """The last output line before the longest gap ('(start)' when it came first)."""
    chunks: int
    first_output: str
    """The first line the command drew (a status line, when it shows one while loading)."""


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def _last_line(text: str) -> str:
    lines = [li.strip() for li in _ANSI.sub("\n", text).splitlines() if li.strip()]
    return lines[-1][:100] if lines else ""


def measure(name: str, args: list[str], timeout: float = 600.0) -> Measured:
    """Run ``kdmarl-bench ARGS`` on a pty; the longest time without output."""
    master, slave = os.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "kdmarl_bench", *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=ROOT, env=env, close_fds=True)
    os.close(slave)
    last, longest, after, seen, chunks, first = t0, 0.0, "(start)", "", 0, ""
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        now = time.monotonic()
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the pty
                data = b""
            if not data:
                break
            if now - last > longest:
                longest, after = now - last, _last_line(seen) or "(start)"
            last, chunks = now, chunks + 1
            seen = (seen + data.decode("utf-8", "replace"))[-4000:]
            first = first or _last_line(data.decode("utf-8", "replace"))
        elif proc.poll() is not None:
            break
        if now - t0 > timeout:
            proc.kill()
            break
    code = proc.wait()
    end = time.monotonic()
    os.close(master)
    if end - last > longest:
        longest, after = end - last, (_last_line(seen) or "(start)") + " [until exit]"
    return Measured(name, code, end - t0, longest, after, chunks, first)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="Comma-separated command names (default: all).")
    ap.add_argument("--max-gap", type=float, default=3.0, help="Longest allowed silence in seconds.")
    ap.add_argument("--json", action="store_true", help="Print the measurements as JSON.")
    ap.add_argument("--keep", type=Path, default=None, help="Write temporary outputs here instead of a temp dir.")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kdmarl-silence-") as tmp_name:
        tmp = opts.keep or Path(tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        todo = commands(tmp)
        names = [n.strip() for n in opts.only.split(",") if n.strip()] or list(todo)
        unknown = [n for n in names if n not in todo]
        if unknown:
            sys.exit(f"--only: unknown command(s) {', '.join(unknown)}; valid choices: {', '.join(todo)}")
        results = []
        for name in names:
            m = measure(name, todo[name])
            results.append(m)
            if not opts.json:
                flag = "TOO LONG" if m.longest_gap_s > opts.max_gap else "ok"
                print(f"{name:14s} exit {m.exit_code}  wall {m.wall_s:6.1f} s  longest silence {m.longest_gap_s:5.2f} s "
                      f"({flag}) after: {m.gap_after}", flush=True)
    if opts.json:
        print(json.dumps([asdict(m) for m in results], indent=2))
    failed = [m for m in results if m.exit_code not in (0, 1)]
    if failed:
        print(f"failed: {', '.join(f'{m.name} (exit {m.exit_code})' for m in failed)}", file=sys.stderr)
        sys.exit(2)
    sys.exit(1 if any(m.longest_gap_s > opts.max_gap for m in results) else 0)


if __name__ == "__main__":
    main()
