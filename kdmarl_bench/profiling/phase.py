"""The profile phase: time every distinct architecture once per run, on the driver, after training.

Students with the same architecture on the same task run the same computation, so they are timed
once and every row that shares the architecture gets that one measurement. The teacher and the
students of a task are timed *interleaved* (block 1 of each, then block 2 of each, ...) so that a
change of machine load during profiling cancels in the teacher/student latency ratio. Nothing else
runs meanwhile: the phase starts after every worker has finished.

Measurements are stored per task in ``OUT/latency/<task>-<hash>.json`` (the hash covers the
architectures, the profile settings, the CPU and torch), so a resumed run does not time again and
cell files stay one atomic file each; they are attached to the records when the leaderboard is
built. Each attached latency entry gets:

* ``arch``: short sha256 of the deployed actors (obs dims, layers and widths, actions, deploy paths);
* ``timing``: ``{"where": "driver", "phase": "profile", "interleaved_with": "teacher"|"students"|
  "none", "shared_by": N}`` (N = rows of this run carrying the measurement);
* ``noisy``: true when the timer cross-check disagrees (``timer_mismatch``) or the per-block
  medians vary by more than ``results.analysis.stats.CV_NOISY``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import torch

from kdmarl_bench.deploy_runtimes import RUNTIMES
from kdmarl_bench.models.policy import TeamPolicy
from kdmarl_bench.profiling.deploy import deploy, deploy_entry
from kdmarl_bench.profiling.floor import annotate_floor, dram_weight_bytes
from kdmarl_bench.profiling.flops import count_policy_cost
from kdmarl_bench.profiling.latency import cpu_name, cuda_available, time_interleaved
from kdmarl_bench.results.analysis.stats import is_noisy
from kdmarl_bench.results.store.cells import canonical_json, cell_key
from kdmarl_bench.safeio import make_dir_inside, write_json_atomic
from kdmarl_bench.suite_tables import ProfileSettings

REPEATS = 3
"""Timed blocks per architecture and grid point (as ``profile_policy``)."""
LATENCY_DIR = "latency"


# ---------------------------------------------------------------------------------
# architecture identity
def arch_id(policy: TeamPolicy, paths: tuple[str, ...] = ("eager",)) -> str:
    """Short sha256 of what is deployed: per-agent obs dims and module structure (layers, widths,
    actions), which agents share a module, and the deployment paths timed."""
    actors = policy.deploy_actors()
    first: dict[int, int] = {}
    shared = [first.setdefault(id(a), i) for i, a in enumerate(actors)]
    desc = {"obs_dims": [int(d) for d in policy.obs_dims], "actors": [repr(a) for a in actors], "shared": shared,
            "paths": list(paths)}
    return hashlib.sha256(canonical_json(desc).encode("utf-8")).hexdigest()[:12]


# ---------------------------------------------------------------------------------
# timing a task's group of architectures
def time_group(policies: list[TeamPolicy], settings: ProfileSettings) -> list[list[dict]]:
    """The latency grid of ``profile_policy`` for several policies at once, interleaved at each grid
    point; returns one entry list per policy, in order."""
    out: list[list[dict]] = [[] for _ in policies]
    obs = [list(p.obs_dims) for p in policies]
    common = {"warmup": settings.warmup, "repeats": REPEATS}

    def add(entries: list[dict], path: str = "eager") -> None:
        for i, e in enumerate(entries):
            out[i].append({**e, "path": path})

    for path in settings.paths:
        if not RUNTIMES.get(path).in_torch:
            # ONNX Runtime / ExecuTorch: each exported team checked against eager, then timed on its
            # own (one architecture after the other, not interleaved: the sessions are separate).
            for i, p in enumerate(policies):
                out[i].append(deploy_entry(p.deploy_actors(), obs[i], path, warmup=settings.warmup,
                                           iters=settings.iters, repeats=REPEATS))
        elif path != "eager":
            actors = [deploy(p.deploy_actors(), path) for p in policies]
            add(time_interleaved(list(zip(actors, obs, strict=True)), device="cpu", threads=1,
                                 iters=settings.iters, **common), path)
    eager = [(p.deploy_actors(), o) for p, o in zip(policies, obs, strict=True)]
    all_cores = os.cpu_count() or 1
    for t in dict.fromkeys(t if t > 0 else all_cores for t in settings.threads):
        add(time_interleaved(eager, device="cpu", threads=t, iters=settings.iters, **common))
        for b in settings.batch_sizes:
            add(time_interleaved(eager, mode="batched", device="cpu", threads=t, batch=b,
                                 iters=max(settings.iters // 4, 10), **common))
    if settings.cuda == "auto" and cuda_available():
        add(time_interleaved(eager, device="cuda", threads=None, iters=settings.iters, **common))
        for b in settings.batch_sizes:
            add(time_interleaved(eager, mode="batched", device="cuda", threads=None, batch=b,
                                 iters=max(settings.iters // 4, 10), **common))
    # Every CPU entry as a multiple of this machine's measured floor (FLOPs / peak, weight bytes / bandwidth).
    for i, p in enumerate(policies):
        actors = p.deploy_actors()
        annotate_floor(out[i], count_policy_cost(actors, obs[i])["flops"], dram_weight_bytes(actors))
    return out


def _group_file(out_dir: Path, task: str, archs: list[str], settings: ProfileSettings) -> Path:
    key = cell_key({"task": task, "archs": sorted(archs), "settings": dataclasses.asdict(settings),
                    "cpu": cpu_name(), "cuda": settings.cuda == "auto" and cuda_available(),
                    "torch": torch.__version__})
    slug = re.sub(r"[^0-9A-Za-z_.-]", "_", task)
    return out_dir / LATENCY_DIR / f"{slug}-{key}.json"


def profile_task(out_dir: str | Path, task: str, teacher: tuple[str, TeamPolicy] | None,
                 students: dict[str, TeamPolicy], settings: ProfileSettings,
                 on_message: Callable[[str], None] | None = None) -> dict[str, list[dict]]:
    """arch → latency entries for one task's teacher and distinct student architectures.

    Read from ``OUT/latency/`` when this exact group was timed before (a resumed run), else timed
    now, interleaved, and written atomically.
    """
    group: dict[str, TeamPolicy] = {}
    roles: dict[str, str] = {}
    if teacher is not None:
        group[teacher[0]] = teacher[1]
        roles[teacher[0]] = "teacher"
    for a, pol in students.items():
        if a not in group:
            group[a] = pol
            roles[a] = "student"
    if not group:
        return {}
    path = _group_file(Path(out_dir), task, list(group), settings)
    make_dir_inside(out_dir, path.parent, "latency measurements")  # a latency/ link out of --out is refused
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and set(data.get("archs", {})) == set(group):
                return data["archs"]
        except (OSError, json.JSONDecodeError):
            pass  # a damaged measurement is simply taken again
    if on_message:
        on_message(f"profiling {task}: {len(group)} architecture(s), interleaved")
    archs = list(group)
    measured = time_group([group[a] for a in archs], settings)
    result = {a: entries for a, entries in zip(archs, measured, strict=True)}
    write_json_atomic(path, {"task": task, "settings": dataclasses.asdict(settings), "roles": roles,
                             "archs": result}, root=out_dir)
    return result


def annotate(entries: list[dict], arch: str, role: str, group_roles: set[str], shared_by: int) -> list[dict]:
    """Copies of an architecture's entries with where/how they were timed."""
    if role == "teacher":
        partner = "students" if "student" in group_roles else "none"
    else:
        partner = "teacher" if "teacher" in group_roles else "none"
    timing = {"where": "driver", "phase": "profile", "interleaved_with": partner, "shared_by": shared_by}
    return [{**e, "arch": arch, "timing": dict(timing), "noisy": is_noisy(e)} for e in entries]
