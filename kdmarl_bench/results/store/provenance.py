"""Provenance: where and with what a leaderboard was made (host, versions, git commit)."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

from kdmarl_bench import __version__


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else "unknown"


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def _gpu_and_threads() -> tuple[str | None, int | None]:
    torch = sys.modules.get("torch")
    if torch is None and _version("torch") is not None:
        try:
            import torch  # a run has it loaded already; imported here only for the GPU name
        except Exception:  # pragma: no cover - a broken torch install
            torch = None
    if torch is None:
        return None, os.cpu_count()
    gpu = None
    try:
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except Exception:  # pragma: no cover - driver trouble is not our failure
        gpu = None
    return gpu, int(torch.get_num_threads())


def collect_provenance(threads: int | None = None) -> dict:
    """Where and with what a leaderboard was made (versions via importlib.metadata)."""
    gpu, torch_threads = _gpu_and_threads()
    return {
        "kdmarl_bench": __version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "jax": _version("jax"),
        "mpe2": _version("mpe2"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "gpu": gpu,
        "threads": threads if threads is not None else torch_threads,
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
