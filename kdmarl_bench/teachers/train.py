"""Train a MAPPO teacher for a task and save it as a checkpoint with its card."""

from __future__ import annotations

import dataclasses
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from kdmarl_bench import __version__
from kdmarl_bench.checkpoint import load_checkpoint, save_checkpoint, weights_sha256
from kdmarl_bench.envs import get_task
from kdmarl_bench.envs.views import PRIVILEGED
from kdmarl_bench.errors import UsageError
from kdmarl_bench.evaluate import evaluate
from kdmarl_bench.models.policy import TeacherPolicy
from kdmarl_bench.results.analysis.stats import mean_ci
from kdmarl_bench.teachers.mappo import MappoConfig, TrainLog, train_mappo
from kdmarl_bench.teachers.zoo import resolve_ref


def teacher_config(task_id: str, steps: int, seed: int, **overrides) -> MappoConfig:
    """The family's MAPPO settings (``Family.teacher_defaults``) with ``overrides`` on top."""
    base = dict(get_task(task_id).family.teacher_defaults)
    base.update({k: v for k, v in overrides.items() if v is not None})
    return dataclasses.replace(MappoConfig(), total_steps=steps, seed=seed, **base)


def snapshot_path(out: str | Path) -> Path:
    """Where ``train_teacher(out=...)`` keeps its training snapshot (``--resume`` reads it)."""
    return Path(str(Path(out).with_suffix("")) + ".train.safetensors")


def train_teacher(task_id: str, steps: int, seed: int, out: str | Path, hidden: tuple[int, ...] = (512, 512, 512),
                  eval_episodes: int | None = None, progress: Callable[[TrainLog], None] | None = None,
                  command: str | None = None, checkpoint_every: int = 20, resume: bool = False,
                  init: str | None = None, privileged: bool = False, **overrides) -> tuple[Path, dict]:
    """Train, evaluate under the protocol, save ``out``.safetensors + card.

    Every ``checkpoint_every`` updates a training snapshot ``out``.train.safetensors is written;
    ``resume=True`` continues from it (bit-identical to an uninterrupted run). The
    snapshot is removed once the final checkpoint is saved.

    ``init`` (``zoo:TASK`` or a teacher checkpoint path) warm-starts from that teacher's
    actor, critic and value normaliser with a fresh optimizer and a fresh learning-rate
    schedule of ``steps``; the card then lists every stage so the chain can be re-run.

    ``privileged=True`` trains the *centralized expert*: each actor sees its own observation
    followed by the global state (view ``privileged``). Warm-starting it from a ``local`` teacher
    widens each actor's first layer with zero weights on the state inputs, so training starts
    from exactly the local teacher's policy.
    """
    task = get_task(task_id)
    spec = task.spec
    cfg = teacher_config(task_id, steps, seed, **overrides)
    if cfg.win_bonus and not spec.has_win:
        raise UsageError(f"win_bonus: task {task_id!r} has no win to reward (its metric is {spec.metric!r}); "
                         "leave --win-bonus out")
    torch.manual_seed(seed)
    if privileged:
        view = task.views()[PRIVILEGED]
        policy = TeacherPolicy(view.obs_dims, spec.n_actions, spec.state_dim, hidden, hidden, view=PRIVILEGED)
    else:
        policy = TeacherPolicy(spec.obs_dims, spec.n_actions, spec.state_dim, hidden, hidden)
    prior_stages: list[dict] = []
    prior_curve: list[list] = []
    init_info = None
    if init is not None:
        # Read the init before training: --init and --out may name the same file.
        prior_stages, prior_curve, init_info = _warm_start(policy, init, task_id)
    prior_steps = sum(st["env_steps"] or 0 for st in prior_stages)
    snapshot = snapshot_path(out)
    legacy = Path(str(Path(out).with_suffix("")) + ".train.pt")
    if resume and legacy.exists() and not snapshot.exists():
        # Older versions wrote a torch.save file; loading one could run code, so it is never read.
        raise UsageError(f"{legacy}: training snapshots in the old .train.pt format are not loaded (reading one could "
                         f"run code stored in it); delete it and train again, or resume from a "
                         f"{snapshot.name} written by this version")
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
    ev = card_eval(policy, task_id, eval_episodes or 100, 10_000 + seed)
    command = command or " ".join(["kdmarl-bench", *sys.argv[1:]])
    stage = {"command": command, "config": dataclasses.asdict(cfg), "env_steps": log.env_steps,
             "wall_s": round(log.wall_s, 1), "eval_score": ev["score"]}
    stages = [*prior_stages, stage]
    card = teacher_card(task_id, "mappo", privileged, dataclasses.asdict(cfg), prior_steps + log.env_steps, seed, log,
                        whole_curve(prior_curve, prior_steps, curve), ev, command)
    if init_info is not None:
        card["init"] = init_info
        card["stages"] = stages
    path = save_checkpoint(policy, out, card)
    snapshot.unlink(missing_ok=True)
    return path, card


def teacher_card(task_id: str, algorithm: str, privileged: bool, config: dict, env_steps: int, seed: int,
                 log: TrainLog, curve: list[list], ev: dict, command: str, software: dict | None = None) -> dict:
    """A teacher's card: what it is, how it was trained (``config``, the last stage's ``log`` and the
    whole learning ``curve``), its greedy score ``ev`` (``card_eval``) and the ``command`` that made it;
    ``env_steps`` counts every stage."""
    task = get_task(task_id)
    spec = task.spec
    return {
        "kind": "teacher",
        "task": task_id,
        "backend": spec.backend,
        "backend_versions": task.versions(),
        "metric": spec.metric,
        "algorithm": algorithm,
        "teacher_kind": "privileged" if privileged else "local",
        "config": config,
        "env_steps": env_steps,
        "seed": seed,
        "train": {"wall_s": round(log.wall_s, 1), "env_steps_per_s": round(log.env_steps / max(log.wall_s, 1e-9), 1),
                  "final_train_return": log.episode_return, "final_train_win_rate": log.win_rate,
                  "curve_columns": ["env_steps", "train_return", "train_win_rate"], "curve": curve},
        "eval": ev,
        "software": {"kdmarl_bench": __version__, "torch": torch.__version__, **(software or {}),
                     "python": platform.python_version()},
        "command": command,
    }


def card_eval(policy, task_id: str, episodes: int, eval_seed: int) -> dict:
    """A teacher card's ``eval``: ``episodes`` greedy episodes from ``eval_seed``, the score and its 95% CI
    (the interval ``kdmarl-bench evaluate CKPT --seed <eval seed>`` prints: a 100-episode card cannot
    tell 0.95 from 0.97, and the card says so)."""
    result = evaluate(policy, task_id, episodes, seed=eval_seed)
    _, ci_lo, ci_hi = mean_ci(result.episode_scores, random_state=eval_seed)
    return {"episodes": episodes, "seed": eval_seed, "greedy": True, "score": result.score,
            "score_ci95": [ci_lo, ci_hi], "win_rate": result.win_rate,
            "mean_return": float(sum(result.returns) / len(result.returns))}


def stage_of(card: dict) -> dict:
    """A single-stage card as one entry of a warm-started teacher's ``stages`` list."""
    return {"command": card.get("command"), "config": card.get("config"), "env_steps": card.get("env_steps"),
            "wall_s": (card.get("train") or {}).get("wall_s"), "eval_score": (card.get("eval") or {}).get("score")}


def whole_curve(prior: list[list], prior_steps: int, stage: list[list]) -> list[list]:
    """The learning curve over all stages: this stage's points shifted to total env-steps."""
    return [*prior, *([prior_steps + pt[0], *pt[1:]] for pt in stage)]


@torch.no_grad()
def widen_for_state(policy: TeacherPolicy, source: TeacherPolicy) -> None:
    """Copy a local teacher into a privileged one: an actor's input is [obs_i, state, agent one-hot]
    instead of [obs_i, agent one-hot]; the state columns of the first layer start at zero."""
    if policy.actor_hidden != source.actor_hidden or policy.critic_hidden != source.critic_hidden:
        return  # the architecture check that follows names the difference
    state = policy.state_dict()
    for name, tensor in source.state_dict().items():
        mine = state[name]
        if mine.shape == tensor.shape:
            mine.copy_(tensor)
            continue
        # A first actor layer: (hidden, obs_i + N) → (hidden, obs_i + S + N)
        d = tensor.shape[1] - policy.n_agents
        mine.zero_()
        mine[:, :d] = tensor[:, :d]
        mine[:, -policy.n_agents:] = tensor[:, d:]
    policy.value_norm.load_state_dict(source.value_norm.state_dict())


def read_teacher(ref: str, what: str) -> tuple[Path, TeacherPolicy, dict]:
    """Teacher ``ref`` (``zoo:TASK`` or a checkpoint path) as (path, policy, card); a checkpoint that is not
    a teacher is a UsageError starting with ``what``."""
    path = resolve_ref(ref)
    policy, card = load_checkpoint(path)
    if card.get("kind") != "teacher" or not isinstance(policy, TeacherPolicy):
        raise UsageError(f"{what}: {path} is not a teacher checkpoint (kind={card.get('kind')!r})")
    return path, policy, card


def lineage(ref: str, path: Path, card: dict) -> tuple[list[dict], dict]:
    """What a stage that starts from teacher ``ref`` (at ``path``, with ``card``) records of it: its stages
    (a single-stage card as one) and the card's ``init`` entry."""
    prior = list(card.get("stages") or [stage_of(card)])
    return prior, {"from": ref, "sha256": weights_sha256(path), "env_steps": card.get("env_steps"),
                   "eval_score": (card.get("eval") or {}).get("score")}


def _warm_start(policy: TeacherPolicy, ref: str, task_id: str) -> tuple[list[dict], list[list], dict]:
    """Copy the weights of teacher ``ref`` into ``policy``; returns (its stages, its learning
    curve, init record)."""
    path, source, card = read_teacher(ref, f"--init {ref}")
    if card["task"] != task_id:
        raise UsageError(f"--init {ref}: {path} is a teacher for {card['task']!r}, not {task_id!r}")
    want, have = policy.architecture(), source.architecture()
    if source.actor_hidden != source.critic_hidden and want["critic_hidden"] != have["critic_hidden"]:
        raise UsageError(f"--init {ref}: {path} has actor widths {list(source.actor_hidden)} and critic widths "
                         f"{list(source.critic_hidden)} (a --trainer jax teacher); the torch trainer builds both from "
                         "one --hidden, so it cannot continue this teacher (continue it with --trainer jax)")
    if want.get("view") == "privileged" and have.get("view", "full") == "full":
        widen_for_state(policy, source)
        have = dict(have, view="privileged", obs_dims=want["obs_dims"])
    if want != have:
        diff = {k: (have.get(k), want.get(k)) for k in want if have.get(k) != want.get(k)}
        raise UsageError(f"--init {ref}: {path} has a different architecture (init vs requested): {diff}; "
                         f"pass --hidden {','.join(map(str, have['actor_hidden']))}")
    if not (want.get("view") == "privileged" and source.view == "full"):
        policy.load_state_dict(source.state_dict())
    prior, init = lineage(ref, path, card)
    return prior, list((card.get("train") or {}).get("curve") or []), init
