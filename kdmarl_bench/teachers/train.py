"""Train a MAPPO teacher for a task and save it as a checkpoint with its card."""

from __future__ import annotations

import dataclasses
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from kdmarl_bench import __version__
from kdmarl_bench.checkpoint import save_checkpoint
from kdmarl_bench.envs import get_task
from kdmarl_bench.evaluate import evaluate
from kdmarl_bench.models.policy import TeacherPolicy
from kdmarl_bench.teachers.mappo import MappoConfig, TrainLog, train_mappo

# Per-family defaults: SMAX from JaxMARL's MAPPO recipe scaled to a CPU batch (REFERENCE.md);
# MPE with more, shorter rollouts since episodes last 25 steps.
FAMILY_DEFAULTS: dict[str, dict] = {
    "smax": {"num_envs": 64, "rollout_len": 64, "lr": 5e-4, "epochs": 4, "minibatches": 4},
    "mpe": {"num_envs": 32, "rollout_len": 50, "lr": 7e-4, "epochs": 4, "minibatches": 4},
    "smacv2": {"num_envs": 8, "rollout_len": 100, "lr": 5e-4, "epochs": 5, "minibatches": 1},
}


def teacher_config(task_id: str, steps: int, seed: int, **overrides) -> MappoConfig:
    family = task_id.split("/", 1)[0]
    base = dict(FAMILY_DEFAULTS.get(family, {}))
    base.update({k: v for k, v in overrides.items() if v is not None})
    return dataclasses.replace(MappoConfig(), total_steps=steps, seed=seed, **base)


def train_teacher(task_id: str, steps: int, seed: int, out: str | Path, hidden: tuple[int, ...] = (512, 512, 512),
                  eval_episodes: int | None = None, progress: Callable[[TrainLog], None] | None = None,
                  command: str | None = None, checkpoint_every: int = 20, resume: bool = False,
                  **overrides) -> tuple[Path, dict]:
    """Train, evaluate under the protocol, save ``out``.safetensors + card.

    Every ``checkpoint_every`` updates a training snapshot ``out``.train.pt is written;
    ``resume=True`` continues from it (bit-identical to an uninterrupted run). The
    snapshot is removed once the final checkpoint is saved.
    """
    task = get_task(task_id)
    spec = task.spec
    cfg = teacher_config(task_id, steps, seed, **overrides)
    torch.manual_seed(seed)
    policy = TeacherPolicy(spec.obs_dims, spec.n_actions, spec.state_dim, hidden, hidden)
    snapshot = Path(str(Path(out).with_suffix("")) + ".train.pt")
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    env = task.make(cfg.num_envs)
    # Learning curve for the card: ~50 points of (env steps, training return, win rate).
    # After --resume it starts at the resume point (the snapshot does not carry it).
    curve: list[list] = []
    every = max(cfg.total_steps // 50, 1)

    def on_log(log: TrainLog) -> None:
        if not curve or log.env_steps - curve[-1][0] >= every:
            curve.append([log.env_steps, round(log.episode_return, 4),
                          None if log.win_rate is None else round(log.win_rate, 4)])
        if progress is not None:
            progress(log)

    try:
        log = train_mappo(policy, policy.critic, policy.value_norm, env, cfg, on_log,
                          checkpoint_path=snapshot, checkpoint_every=checkpoint_every, resume=resume)
    finally:
        env.close()
    episodes = eval_episodes or (100 if spec.metric == "return" else 100)
    result = evaluate(policy, task_id, episodes, seed=10_000 + seed)
    card = {
        "kind": "teacher",
        "task": task_id,
        "backend": spec.backend,
        "backend_versions": task.versions(),
        "metric": spec.metric,
        "algorithm": "mappo",
        "config": dataclasses.asdict(cfg),
        "env_steps": log.env_steps,
        "seed": seed,
        "train": {"wall_s": round(log.wall_s, 1), "env_steps_per_s": round(log.env_steps / max(log.wall_s, 1e-9), 1),
                  "final_train_return": log.episode_return, "final_train_win_rate": log.win_rate,
                  "curve_columns": ["env_steps", "train_return", "train_win_rate"], "curve": curve},
        "eval": {"episodes": episodes, "seed": 10_000 + seed, "greedy": True, "score": result.score,
                 "win_rate": result.win_rate, "mean_return": float(sum(result.returns) / len(result.returns))},
        "software": {"kdmarl_bench": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "command": command or " ".join(["kdmarl-bench", *sys.argv[1:]]),
    }
    path = save_checkpoint(policy, out, card)
    snapshot.unlink(missing_ok=True)
    return path, card
