"""The suite tables that the layers below the suite read: ``[teacher]`` (``TeacherSource``, read by
``teachers/``) and ``[profile]`` (``ProfileSettings`` and its checks, read by ``profiling/`` and
``profile --threads/--batch``).

They live here, under ``suite.py``, so that the teachers and the profiler do not depend on the suite
parser, and the parser (``suite.py``) may depend on them, on the method registry and on ``[tune]``.
Each field declares how its TOML key is read (``suite_schema.toml_field``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kdmarl_bench.suite_schema import one_of, positive, toml_field

MAX_COUNT = 2**40
"""Largest env-step budget, teacher steps, episode or iteration count accepted."""
BATCH_RANGE = (1, 65_536)
"""Batched-latency batch sizes accepted (``profile.batch_sizes``, ``profile --batch``)."""
QUANTIZE_MODES = ("int8",)
"""Values a suite's ``[profile] quantize`` list may hold (``profiling/quantize.py`` scores them)."""


def teacher_kinds() -> Any:
    from kdmarl_bench.envs.views import TEACHER_KINDS  # envs imports jax: read when a suite is parsed

    return TEACHER_KINDS


def _deploy_paths() -> Any:
    from kdmarl_bench.deploy_runtimes import deploy_paths  # imports torch: read when a suite is parsed

    return deploy_paths()


def max_threads() -> int:
    """Most CPU threads a timing (or a training worker) may ask for: 4× this machine's cores (0 means
    all cores); more oversubscribes and can crash torch."""
    return 4 * (os.cpu_count() or 1)


def threads_problem(vals: Any) -> str | None:
    """Why a list of thread counts cannot be timed, or None (shared by suites and ``profile --threads``)."""
    hi = max_threads()
    if not isinstance(vals, (list, tuple)) or not vals:
        return f"expected a non-empty list of thread counts in [0, {hi}] (0 = all cores), got {vals!r}"
    for v in vals:
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= hi:
            return f"thread count {v!r} is outside the allowed range [0, {hi}] (0 = all cores; at most 4× the {os.cpu_count() or 1} cores here)"
    return None


def batch_sizes_problem(vals: Any) -> str | None:
    lo, hi = BATCH_RANGE
    if not isinstance(vals, (list, tuple)):
        return f"expected a list of batch sizes in [{lo}, {hi}], got {vals!r}"
    for v in vals:
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            return f"batch size {v!r} is outside the allowed range [{lo}, {hi}]"
    return None


@dataclass(frozen=True)
class TeacherSource:
    source: str = toml_field("zoo", str)
    """``zoo`` (bundled), ``train`` (train with the suite), or a checkpoint path."""
    steps: int = toml_field(200_000, int, positive(MAX_COUNT))
    """Env steps when ``source = "train"``."""
    kind: str = toml_field("local", str, one_of("teacher kind", teacher_kinds))
    """``local``: the actor sees each agent's own observation; ``privileged``: the centralized expert,
    whose actor also sees the global state (``train-teacher --privileged``)."""


@dataclass(frozen=True)
class ProfileSettings:
    iters: int = toml_field(1000, int, positive(10**9))
    warmup: int = toml_field(100, int, lambda v: None if 0 <= v <= MAX_COUNT else
                             f"must be in [0, {MAX_COUNT:,}] (untimed calls before timing), got {v}")
    threads: tuple[int, ...] = toml_field((1, 0), list, lambda v: threads_problem(v), convert=tuple)
    """CPU thread counts to time; 0 = all cores."""
    batch_sizes: tuple[int, ...] = toml_field((1,), list, lambda v: batch_sizes_problem(v), convert=tuple)
    """Batched team latency at these env batch sizes (besides decentralized batch 1)."""
    cuda: str = toml_field("auto", str, lambda v: None if v in ("auto", "off") else
                           f"unknown value {v!r}; valid choices: auto, off")
    """``auto`` (time on CUDA when present), ``off``."""
    paths: tuple[str, ...] = toml_field(("eager",), list, item=one_of("deployment path", _deploy_paths),
                                        convert=lambda v: tuple(dict.fromkeys(["eager", *v])))
    """Deployment paths to time (``eager``, ``torchscript``, ``onnxruntime``, ``executorch``); the full
    grid runs eager, each other path adds a 1-thread decentralized entry with its equivalence check."""
    quantize: tuple[str, ...] = toml_field((), list, item=one_of("quantization", lambda: QUANTIZE_MODES),
                                           convert=lambda v: tuple(dict.fromkeys(v)))
    """Quantized students to score and time besides fp32 (``int8``: ONNX Runtime dynamic quantization)."""
