"""MAPPO under CTDE (Yu et al., NeurIPS 2022): decentralized actors, centralized critic.

Used for the teachers (stage 1) and for the ``scratch`` control (a student trained
with the same algorithm and budget but no teacher). Reads top to bottom: config,
rollout, GAE, PPO update.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from kdmarl_bench.envs.base import Step, VecEnv
from kdmarl_bench.envs.registry import policy_view
from kdmarl_bench.errors import NonFiniteLoss, UsageError
from kdmarl_bench.models.mlp import masked_logits
from kdmarl_bench.models.policy import TeamPolicy
from kdmarl_bench.models.value_norm import ValueNorm
from kdmarl_bench.teachers.snapshot import load_snapshot, reachable_classes, save_snapshot


@dataclass
class MappoConfig:
    total_steps: int = 1_000_000
    """Env-steps (transitions of one env copy) to train for."""
    num_envs: int = 64
    """Parallel env copies per rollout."""
    rollout_len: int = 64
    """Steps per copy per rollout; batch = num_envs · rollout_len transitions."""
    epochs: int = 4
    """PPO epochs over each batch."""
    minibatches: int = 4
    """Minibatches per epoch."""
    lr: float = 5e-4
    """Adam learning rate (actor and critic)."""
    anneal_lr: bool = True
    """Linearly decay the learning rate to 0 over training."""
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    """PPO ratio clip ε (also used for the value clip)."""
    ent_coef: float = 0.01
    vf_coef: float = 1.0
    max_grad_norm: float = 10.0
    seed: int = 0
    win_bonus: float = 0.0
    """Extra reward on the step that wins an episode, for training only (SMAX pays +1 for a win on
    top of damage dealt, so the return of a narrow loss is close to that of a win; a larger bonus
    makes the objective the win rate). Logged returns and every evaluation use the env's reward."""


@dataclass
class TrainLog:
    env_steps: int
    wall_s: float
    updates: int
    episode_return: float
    win_rate: float | None
    losses: dict[str, float]


def gae(rewards: torch.Tensor, values: torch.Tensor, next_value: torch.Tensor, dones: torch.Tensor,
        gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over a ``(T, B)`` rollout.

    ``dones[t]`` marks that transition t ended its episode (so s_{t+1} belongs to the
    next episode and is not bootstrapped); time-limit ends are treated as terminal.
    Returns (advantages, returns) with returns = advantages + values.
    """
    t_len = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(t_len)):
        nv = next_value if t == t_len - 1 else values[t + 1]
        nonterminal = 1.0 - dones[t].float()
        delta = rewards[t] + gamma * nv * nonterminal - values[t]
        last = delta + gamma * lam * nonterminal * last
        adv[t] = last
    return adv, adv + values


def training_reward(step: Step, win_bonus: float) -> torch.Tensor:
    """The reward PPO learns from: the env's reward plus ``win_bonus`` on each copy's winning step."""
    return step.reward + win_bonus * step.won.float() if win_bonus else step.reward


SNAPSHOT_RECORDS = {"TrainLog": TrainLog, "Step": Step}
"""The dataclasses a training snapshot may hold (see teachers/snapshot.py)."""


def _save_training_state(path: Path, state: dict) -> None:
    save_snapshot(path, state, SNAPSHOT_RECORDS)  # atomic: a kill mid-write leaves the previous snapshot intact


def _load_training_state(path: Path, env: VecEnv) -> dict:
    """A snapshot written by ``_save_training_state``: tensors and data only; the only classes it may
    instantiate are those of this (freshly reset) env's own state."""
    return load_snapshot(path, reachable_classes([env.state_dict()]), SNAPSHOT_RECORDS)


def train_mappo(
    policy: TeamPolicy,
    critic: nn.Module,
    value_norm: ValueNorm,
    env: VecEnv,
    cfg: MappoConfig,
    progress: Callable[[TrainLog], None] | None = None,
    log_every: int = 1,
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
) -> TrainLog:
    """Train ``policy`` (actors) and ``critic`` (state → normalised V) in place.

    With ``checkpoint_path`` and ``checkpoint_every`` > 0 a training snapshot (weights,
    optimizer, RNGs, env state, schedule position, episode stats) is written every that
    many updates; ``resume=True`` continues from it and ends bit-identical to an
    uninterrupted run.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    spec = env.spec
    n_agents = spec.n_agents
    params = list(policy.parameters()) + [p for p in critic.parameters() if all(p is not q for q in policy.parameters())]
    optim = torch.optim.Adam(params, lr=cfg.lr, eps=1e-5)
    batch_steps = cfg.num_envs * cfg.rollout_len
    # Whole batches only (the on-policy budget rule, methods/rollout.py plan_rollouts): no partial last
    # rollout is collected or trained on; at least one batch (callers shrink rollout_len to fit a tiny budget).
    n_updates = max(1, cfg.total_steps // batch_steps)
    mb_size = max(1, batch_steps // cfg.minibatches)

    step = env.reset(cfg.seed)
    ep_returns: list[float] = []
    ep_wins: list[float] = []
    log = TrainLog(0, 0.0, 0, float("nan"), None, {})
    start_update, wall_before = 0, 0.0
    ckpt = Path(checkpoint_path) if checkpoint_path else None
    if resume and ckpt is not None and ckpt.exists():
        snap = _load_training_state(ckpt, env)
        saved_cfg = snap.get("config")
        if isinstance(saved_cfg, dict):
            # A field added to MappoConfig since the snapshot was written had its default then (its
            # default keeps the old behaviour), so an older snapshot still resumes.
            saved_cfg = {**dataclasses.asdict(MappoConfig()), **saved_cfg}
        if saved_cfg != dataclasses.asdict(cfg):
            raise UsageError(f"{ckpt}: training snapshot was made with a different config; "
                             f"use the same options as the interrupted run (or delete the snapshot)")
        try:
            policy.load_state_dict(snap["policy"])
            critic.load_state_dict(snap["critic"])
            value_norm.load_state_dict(snap["value_norm"])
            optim.load_state_dict(snap["optim"])
            gen.set_state(snap["gen"])
            torch.set_rng_state(snap["torch_rng"])
            env.load_state_dict(snap["env"])
            step = snap["step"]
            ep_returns, ep_wins = list(snap["ep_returns"]), list(snap["ep_wins"])
            start_update, wall_before = int(snap["update"]), float(snap["wall_s"])
            log = snap["log"]
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
            raise UsageError(f"{ckpt}: training snapshot is incomplete or does not fit this run "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                             "delete it to start over") from exc
        if not isinstance(step, Step) or not isinstance(log, TrainLog) or not 0 <= start_update <= n_updates:
            raise UsageError(f"{ckpt}: training snapshot is inconsistent (update {start_update} of {n_updates}); "
                             "delete it to start over")
    t_start = time.perf_counter() - wall_before
    view = policy_view(env.spec.id, policy)

    for update in range(start_update, n_updates):
        if cfg.anneal_lr:
            for g in optim.param_groups:
                g["lr"] = cfg.lr * (1.0 - update / n_updates)

        # ---- rollout -------------------------------------------------------------
        b_obs = [[] for _ in range(n_agents)]
        b_avail = [[] for _ in range(n_agents)]
        b_act, b_logp, b_state, b_val, b_rew, b_done = [], [], [], [], [], []
        policy.eval()
        with torch.no_grad():
            for _ in range(cfg.rollout_len):
                obs = view(step.obs, step.state)  # the policy's own view (students: limited; privileged: + state)
                logits = policy.logits(obs)
                actions, logps = [], []
                for i in range(n_agents):
                    z = masked_logits(logits[i], step.avail[i])
                    a = torch.multinomial(torch.softmax(z, -1), 1, generator=gen).squeeze(-1)
                    actions.append(a)
                    logps.append(torch.log_softmax(z, -1).gather(-1, a[:, None]).squeeze(-1))
                    b_obs[i].append(obs[i])
                    b_avail[i].append(step.avail[i])
                b_state.append(step.state)
                b_val.append(value_norm.denormalize(critic(step.state).squeeze(-1)))
                b_act.append(torch.stack(actions, -1))
                b_logp.append(torch.stack(logps, -1))
                step = env.step(actions)
                b_rew.append(training_reward(step, cfg.win_bonus))
                b_done.append(step.done)
                if step.done.any():
                    ep_returns += step.ep_return[step.done].tolist()
                    ep_wins += step.won[step.done].float().tolist()
            next_value = value_norm.denormalize(critic(step.state).squeeze(-1))

        values = torch.stack(b_val)
        adv, returns = gae(torch.stack(b_rew), values, next_value, torch.stack(b_done), cfg.gamma, cfg.gae_lambda)

        # ---- flatten the (T, B) batch ---------------------------------------------
        f_obs = [torch.cat(o) for o in b_obs]
        f_avail = [torch.cat(a) for a in b_avail]
        f_act = torch.cat(b_act)
        f_logp = torch.cat(b_logp)
        f_state = torch.cat(b_state)
        f_adv = adv.flatten()
        f_adv = (f_adv - f_adv.mean()) / (f_adv.std() + 1e-8)
        f_ret = returns.flatten()
        value_norm.update(f_ret)
        f_ret_n = value_norm.normalize(f_ret)
        f_val_n = value_norm.normalize(values.flatten())

        # ---- PPO update ------------------------------------------------------------
        policy.train()
        for _ in range(cfg.epochs):
            perm = torch.randperm(batch_steps, generator=gen)
            for start in range(0, batch_steps, mb_size):
                mb_idx = perm[start:start + mb_size]
                logits = policy.logits([o[mb_idx] for o in f_obs])
                pg_loss = torch.zeros(())
                entropy = torch.zeros(())
                approx_kl = torch.zeros(())
                for i in range(n_agents):
                    z = masked_logits(logits[i], f_avail[i][mb_idx])
                    logp_all = torch.log_softmax(z, -1)
                    new_logp = logp_all.gather(-1, f_act[mb_idx, i:i + 1]).squeeze(-1)
                    log_ratio = new_logp - f_logp[mb_idx, i]
                    ratio = log_ratio.exp()
                    a = f_adv[mb_idx]
                    pg_loss = pg_loss + torch.max(-a * ratio, -a * ratio.clamp(1 - cfg.clip, 1 + cfg.clip)).mean()
                    entropy = entropy + -(logp_all.exp() * logp_all).sum(-1).mean()
                    approx_kl = approx_kl + ((ratio - 1) - log_ratio).mean().detach()
                pg_loss = pg_loss / n_agents
                entropy = entropy / n_agents
                v = critic(f_state[mb_idx]).squeeze(-1)
                v_old = f_val_n[mb_idx]
                v_clipped = v_old + (v - v_old).clamp(-cfg.clip, cfg.clip)
                v_loss = torch.max((v - f_ret_n[mb_idx]) ** 2, (v_clipped - f_ret_n[mb_idx]) ** 2).mean() * 0.5
                loss = pg_loss - cfg.ent_coef * entropy + cfg.vf_coef * v_loss
                if not torch.isfinite(loss):
                    raise NonFiniteLoss(f"MAPPO loss became {float(loss)} at update {update}")
                optim.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                optim.step()

        # ---- logging ----------------------------------------------------------------
        recent_r = ep_returns[-100:]
        recent_w = ep_wins[-100:]
        log = TrainLog(
            env_steps=(update + 1) * batch_steps,
            wall_s=time.perf_counter() - t_start,
            updates=update + 1,
            episode_return=float(np.mean(recent_r)) if recent_r else float("nan"),
            win_rate=float(np.mean(recent_w)) if (recent_w and spec.has_win) else None,
            losses={"pg": pg_loss.item(), "value": v_loss.item(), "entropy": entropy.item(),
                    "approx_kl": (approx_kl / n_agents).item()},
        )
        if ckpt is not None and checkpoint_every > 0 and ((update + 1) % checkpoint_every == 0) and update + 1 < n_updates:
            _save_training_state(ckpt, {
                "config": dataclasses.asdict(cfg), "update": update + 1, "wall_s": log.wall_s, "log": log,
                "policy": policy.state_dict(), "critic": critic.state_dict(), "value_norm": value_norm.state_dict(),
                "optim": optim.state_dict(), "gen": gen.get_state(), "torch_rng": torch.get_rng_state(),
                "env": env.state_dict(), "step": step, "ep_returns": ep_returns, "ep_wins": ep_wins,
            })
        if progress is not None and (update % log_every == 0 or update == n_updates - 1):
            progress(log)
    policy.eval()
    return log
