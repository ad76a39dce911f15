"""Synthetic cell records and leaderboards for results-layer tests (no training involved)."""

from __future__ import annotations

import copy
from typing import Any

from kdmarl_bench.results.analysis.aggregate import build
from kdmarl_bench.results.analysis.aggregate import latency_summary as aggregate_latency_summary
from kdmarl_bench.results.model.codec import sanitize
from kdmarl_bench.results.model.records import Leaderboard, Record
from kdmarl_bench.results.store.boards import read_leaderboard, write_leaderboard
from kdmarl_bench.results.store.migrate import migrate

PROVENANCE = {
    "kdmarl_bench": "0.1.0",
    "git_commit": "unknown",
    "python": "3.11.7",
    "torch": "2.13.0",
    "jax": None,
    "mpe2": None,
    "platform": "Linux-test",
    "cpu": "Test CPU",
    "gpu": None,
    "threads": 1,
    "created_at": "2025-01-01T00:00:00+00:00",
}

BACKENDS = {
    "smax": ("smax", {"jaxmarl": "0.2.0", "jax": "0.4.30"}),
    "smacv2": ("smacv2", {"smacv2": "1.0.0", "sc2": "4.10"}),
    "mpe": ("mpe2", {"mpe2": "1.1.1"}),
}


def make_record(
    task: str,
    method: str,
    seed: int,
    score: float | None,
    teacher_score: float | None = None,
    flops: float = 1000.0,
    p50: float | None = 0.05,
    *,
    size: str | None = None,
    random_score: float | None = None,
    params: int | None = None,
    retention: float | None = None,
    error: str | None = None,
    backend: str | None = None,
    backend_versions: dict | None = None,
    n_agents: int = 2,
    **extra: Any,
) -> dict:
    """One leaderboard record. The teacher has ``student=None``; others get a size (default 'small').

    The metric follows the task family (smax/smacv2 → win_rate, mpe → return); the backend and
    its versions too, unless given.
    """
    family = task.split("/", 1)[0]
    default_backend, default_versions = BACKENDS.get(family, ("mpe2", {"mpe2": "1.1.1"}))
    metric = "win_rate" if family in ("smax", "smacv2") else "return"
    if teacher_score is None and method == "teacher":
        teacher_score = score
    if metric == "return" and random_score is None:
        random_score = 0.0
    student = None
    if method != "teacher":
        student = {"widths": [[16, 16]] * n_agents, "size": size or "small"}
    episode_scores = [] if score is None or error else [float(score)] * 4
    latency = []
    if p50 is not None:
        latency = [
            {
                "device": "cpu",
                "device_name": "Test CPU",
                "threads": 1,
                "batch": 1,
                "mode": "decentralized",
                "p50_ms": p50,
                "p90_ms": p50 * 1.2,
                "p99_ms": p50 * 1.5,
            },
            {
                "device": "cpu",
                "device_name": "Test CPU",
                "threads": 8,
                "batch": n_agents,
                "mode": "batched",
                "p50_ms": p50 / 2,
                "p90_ms": p50 * 0.6,
                "p99_ms": p50 * 0.8,
                "timer": "blocked_autorange",
            },
        ]
    record = {
        "task": task,
        "backend": backend or default_backend,
        "backend_versions": dict(backend_versions if backend_versions is not None else default_versions),
        "metric": metric,
        "method": method,
        "student": student,
        "seed": seed,
        "score": score,
        "episode_scores": episode_scores,
        "win_rate": score if metric == "win_rate" else None,
        "teacher_score": teacher_score,
        "random_score": random_score if metric == "return" else None,
        "retention": retention,
        "budget": {"env_steps": 1000},
        "train": None if method == "teacher" else {"wall_s": 1.5, "env_steps_per_s": 666.7},
        "cost": {
            "params": params if params is not None else int(flops // 2),
            "macs": flops / 2,
            "flops": flops,
            "flops_thop": flops,
            "agree": True,
            "per_agent": [{"agent": i, "flops": flops / n_agents} for i in range(n_agents)],
        },
        "latency": latency,
        "checkpoint": None if error else f"checkpoints/{task.replace('/', '_')}-{method}-{seed}.safetensors",
        "error": error,
    }
    record.update(extra)
    return record


def standard_records() -> list[dict]:
    """Two tasks (a win-rate SMAX map and a return MPE task), teacher + kd-marl + bc, 3 seeds.

    smax/3m: teacher 1.0 (flops 8000, p50 0.08 ms); kd-marl 0.9/0.95/1.0 (flops 1000, 0.02 ms);
    bc 0.5/0.6/0.7 (flops 1000, 0.02 ms).
    mpe/simple_spread (random −100): teacher −20; kd-marl −30/−28/−26; bc −60/−50/−40.
    """
    recs = []
    for seed in range(3):
        recs.append(make_record("smax/3m", "teacher", seed, 1.0, flops=8000.0, p50=0.08))
        recs.append(
            make_record("smax/3m", "kd-marl", seed, [0.9, 0.95, 1.0][seed], 1.0, flops=1000.0, p50=0.02)
        )
        recs.append(make_record("smax/3m", "bc", seed, [0.5, 0.6, 0.7][seed], 1.0, flops=1000.0, p50=0.02))
        kw = {"random_score": -100.0}
        recs.append(make_record("mpe/simple_spread", "teacher", seed, -20.0, flops=4000.0, p50=0.04, **kw))
        recs.append(
            make_record(
                "mpe/simple_spread", "kd-marl", seed, [-30.0, -28.0, -26.0][seed], -20.0, 500.0, 0.01, **kw
            )
        )
        recs.append(
            make_record(
                "mpe/simple_spread", "bc", seed, [-60.0, -50.0, -40.0][seed], -20.0, 500.0, 0.01, **kw
            )
        )
    return recs


def make_leaderboard(
    records: list[dict] | None = None,
    suite_name: str = "ci",
    *,
    n_resamples: int = 200,
    seeds: list[int] | None = None,
    focus: str | None = None,
) -> dict:
    """A full leaderboard, as its JSON file holds it, built by ``aggregate.build`` from synthetic records."""
    records = standard_records() if records is None else records
    protocol = {
        "eval_episodes": {"smax/3m": 32, "mpe/simple_spread": 100},
        "seeds": seeds if seeds is not None else [0, 1, 2],
        "greedy": True,
        "eval_seed_base": 10_000,
        "bootstrap": {"n_resamples": n_resamples, "random_state": 0, "confidence": 0.95},
    }
    suite = {"name": suite_name, "version": "1", "sha256": "0" * 64}
    if focus is not None:
        suite["focus"] = focus
    return build_board(copy.deepcopy(records), suite, protocol, dict(PROVENANCE))


def build_board(records: list[dict], suite: dict, protocol: dict, provenance: dict) -> dict:
    """The JSON form of the board ``aggregate.build`` makes of record dicts (as cell files hold them)."""
    typed = [Record.from_dict(sanitize(r)) for r in records]
    return sanitize(build(typed, suite, protocol, provenance).to_dict())


def typed(board: dict) -> Leaderboard:
    """The typed board of a board dict of any version, values as they are (NaN kept: the gate's own
    refusal is what a test of it checks; ``io.leaderboard_from_dict`` would sanitize them)."""
    return Leaderboard.from_dict(migrate(board))


def load_board(path) -> dict:
    """A board file's current-version JSON (read, validated, migrated, written back as JSON)."""
    return sanitize(read_leaderboard(path).to_dict())


def write_board(path, board: dict):
    """Write a board dict as a leaderboard file (validated, atomically)."""
    return write_leaderboard(path, typed(board))


def as_v1(board: dict) -> dict:
    """A schema-version-1 copy of a current leaderboard dict (what boards written before the
    typed results layer hold): no ``suite.focus``, no latency ``noisy``."""
    old = copy.deepcopy(board)
    old["schema_version"] = 1
    old["suite"].pop("focus", None)
    old["suite"].pop("primary", None)
    for row in old["summary"]:
        row.pop("ci_kind", None)
    for r in old["records"]:
        for e in r["latency"]:
            e.pop("noisy", None)
    for row in old["summary"]:
        for group in (row.get("latency_summary") or {}).values():
            if group:
                group.pop("noisy", None)
    return old


# ---------------------------------------------------------------------------------------------
# tiny real suites for integration tests

TINY_TASK = "mpe/simple_speaker_listener_v4"


def random_teacher(path, task: str = TINY_TASK):
    """A random-init 2x32 teacher checkpoint for ``task`` (real weights, untrained): returns its path."""
    import torch

    from kdmarl_bench.checkpoint import save_checkpoint
    from kdmarl_bench.envs import get_task
    from kdmarl_bench.models.policy import TeacherPolicy

    spec = get_task(task).spec
    torch.manual_seed(0)
    pol = TeacherPolicy(spec.obs_dims, spec.n_actions, spec.state_dim, (32, 32), (32, 32))
    return save_checkpoint(pol, path, {"kind": "teacher", "task": task, "note": "random init, for tests"})


def tiny_suite_toml(*, teacher: str = "zoo", task: str = TINY_TASK, methods=("teacher", "kd-marl", "bc"),
                    seeds=(0,), name: str = "t", env_steps: int = 400, teacher_steps: int | None = None,
                    batch_sizes=(), extra: str = "") -> str:
    """The text of a suite small enough to run in seconds on real envs (6 eval episodes, 20 timed calls)."""
    import json

    steps = f"\nsteps = {teacher_steps}" if teacher_steps is not None else ""
    return f"""
[suite]
name = "{name}"
tasks = ["{task}"]
methods = {json.dumps(list(methods))}
seeds = {json.dumps(list(seeds))}
[teacher]
source = "{teacher}"{steps}
[budget]
env_steps = {env_steps}
num_envs = 4
[eval]
episodes = 6
[profile]
iters = 20
warmup = 2
threads = [1]
batch_sizes = {json.dumps(list(batch_sizes))}
cuda = "off"
{extra}
"""


def summary_index(board: dict) -> dict[tuple[str, str, str], dict]:
    """``{(task, method, size): summary row}`` of a board dict."""
    return {(r["task"], r["method"], r["size"]): r for r in board["summary"]}


def latency_summary(records: list[dict]) -> dict:
    """``{"cpu": ..., "cuda": ...}`` of record dicts (the JSON form of ``aggregate.latency_summary``)."""
    return sanitize(aggregate_latency_summary([Record.from_dict(sanitize(r)) for r in records]).to_dict())


def with_derived_fields(board: dict) -> dict:
    """A migrated copy of a board dict (older versions get the fields added since)."""
    return migrate(sanitize(board))


def board_json(board: Leaderboard) -> dict:
    """The JSON form of a typed board (what its file holds)."""
    return sanitize(board.to_dict())
