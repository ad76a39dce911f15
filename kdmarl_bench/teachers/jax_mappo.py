"""MAPPO for SMAX teachers in one jitted JAX program (``train-teacher TASK --trainer jax``).

The torch trainer (``teachers/mappo.py``) steps SMAX in JAX but runs the nets and PPO in torch, one
update at a time: ~1.2-1.8k env-steps/s on one core with the zoo's 512 x 3 nets. Here the env, the nets
and PPO are one ``jax.lax.scan`` per update (rollout, GAE, epochs), ~10-13k env-steps/s on one core with
the published JaxMARL settings (128 envs x 128 steps, learning rate 2e-3, clip 0.05, gradient norm 0.25,
actor 2 x 128). On smax/3m those settings win more than every torch teacher trained here (README,
"Teachers").

What the policies see is what every teacher here sees (``envs/smax.py``'s ``policy_observer``): an
actor reads [its observation, the scaled global state if ``privileged``, its one-hot id] and acts
through the env's mask; the centralized critic reads the scaled global state. ``to_teacher_policy``
turns the trained parameters into an ordinary ``TeacherPolicy`` (same layer layout as a torch
teacher, the critic's raw values with an identity value normaliser), so every distillation method,
exporter and evaluation uses it unchanged.

``actor="gru"`` (a recurrent actor, reset at each episode start, whose PPO loss replays whole env
sequences from the hidden state its rollout started with) serves ``benchmarks/teacher_memory.py``
only: a ``TeacherPolicy`` is feed-forward, so ``train_jax_teacher`` refuses it.

Training writes a snapshot (``OUT.train.safetensors``, plain arrays + a JSON tree: reading it runs
no code) every ``checkpoint_every`` updates; ``resume`` continues from it bit for bit.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from kdmarl_bench.checkpoint import save_checkpoint
from kdmarl_bench.envs import get_task
from kdmarl_bench.envs.smax import MAX_STEPS, heuristic_env, import_jax, policy_observer
from kdmarl_bench.envs.views import PRIVILEGED
from kdmarl_bench.errors import UsageError
from kdmarl_bench.models.policy import TeacherPolicy
from kdmarl_bench.teachers.mappo import TrainLog
from kdmarl_bench.teachers.snapshot import load_snapshot, save_snapshot
from kdmarl_bench.teachers.train import (
    card_eval,
    lineage,
    read_teacher,
    snapshot_path,
    teacher_card,
    whole_curve,
)

ALGORITHM = "mappo-jax"
ACTORS = ("ff", "gru")


@dataclasses.dataclass(frozen=True)
class JaxMappoConfig:
    """One JAX MAPPO run. Defaults: JaxMARL's published SMAX settings, with a feed-forward actor."""

    actor: str = "ff"
    """``ff``: MLP of ``layers`` x ``hidden`` (ReLU); ``gru``: Dense(hidden)+ReLU, a GRU of ``hidden`` units, reset at each episode start."""
    hidden: int = 128
    """Actor width."""
    layers: int = 2
    """Hidden layers of the feed-forward actor."""
    critic_hidden: int = 256
    """Width of the centralized critic's two hidden layers (on the scaled global state)."""
    num_envs: int = 128
    """Parallel envs per rollout."""
    rollout_len: int = 128
    """Steps per env per rollout."""
    total_steps: int = 10_000_000
    """Env-steps of training (rounded down to whole rollouts)."""
    epochs: int = 4
    """PPO epochs per rollout."""
    minibatches: int = 4
    """Minibatches per epoch (of rows for ``ff``, of whole env sequences for ``gru``)."""
    lr: float = 2e-3
    """Adam learning rate."""
    anneal: bool = True
    """Linearly decay the learning rate to 0 over training."""
    gamma: float = 0.99
    """Discount."""
    lam: float = 0.95
    """GAE lambda."""
    clip: float = 0.05
    """PPO ratio clip (and the value clip)."""
    ent: float = 0.01
    """Entropy bonus coefficient."""
    vf: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 0.25
    """Global gradient norm clip."""
    win_bonus: float = 0.0
    """Added to the training reward on a winning step (the card's score uses the env's reward)."""
    privileged: bool = False
    """Actors also read the scaled global state (the centralized expert, view ``privileged``)."""
    seed: int = 0
    """Seed of the initial weights, the envs and the actions."""

    def num_updates(self) -> int:
        return self.total_steps // (self.num_envs * self.rollout_len)


# ---------------------------------------------------------------------------------------------
# networks (plain pytrees of arrays)


def _dense(jax, key, d_in, d_out, gain):
    import jax.numpy as jnp

    return {"w": jax.nn.initializers.orthogonal(gain)(key, (d_in, d_out), jnp.float32), "b": jnp.zeros((d_out,))}


def init_params(key, cfg: JaxMappoConfig, d_x: int, n_actions: int, d_state: int) -> dict:
    jax = import_jax()
    import jax.numpy as jnp

    ks = jax.random.split(key, 16)
    actor = {}
    if cfg.actor == "ff":
        d = d_x
        for j in range(cfg.layers):
            actor[f"l{j}"] = _dense(jax, ks[j], d, cfg.hidden, 2 ** 0.5)
            d = cfg.hidden
    else:
        h = cfg.hidden
        orth = jax.nn.initializers.orthogonal(1.0)
        actor["l0"] = _dense(jax, ks[0], d_x, h, 2 ** 0.5)
        actor["gru_x"] = _dense(jax, ks[1], h, 3 * h, 1.0)
        actor["gru_h"] = {"w": jnp.concatenate([orth(k, (h, h), jnp.float32) for k in jax.random.split(ks[2], 3)], 1),
                          "b": jnp.zeros((3 * h,))}
    actor["head"] = _dense(jax, ks[5], cfg.hidden, n_actions, 0.01)
    critic = {"l0": _dense(jax, ks[6], d_state, cfg.critic_hidden, 2 ** 0.5),
              "l1": _dense(jax, ks[7], cfg.critic_hidden, cfg.critic_hidden, 2 ** 0.5),
              "head": _dense(jax, ks[8], cfg.critic_hidden, 1, 1.0)}
    return {"actor": actor, "critic": critic}


def _apply_dense(p, x):
    return x @ p["w"] + p["b"]


def _gru_cell(actor, h, z):
    jax = import_jax()
    import jax.numpy as jnp

    n = h.shape[-1]
    gx = _apply_dense(actor["gru_x"], z)
    gh = _apply_dense(actor["gru_h"], h)
    reset = jax.nn.sigmoid(gx[..., :n] + gh[..., :n])
    update = jax.nn.sigmoid(gx[..., n:2 * n] + gh[..., n:2 * n])
    cand = jnp.tanh(gx[..., 2 * n:] + reset * gh[..., 2 * n:])
    return (1 - update) * cand + update * h


def actor_logits(cfg: JaxMappoConfig, actor, x, h):
    """``x (..., d_x)``, hidden ``h (..., hidden)`` → (logits, next hidden); ``h`` passes through for ``ff``."""
    jax = import_jax()
    if cfg.actor == "ff":
        for j in range(cfg.layers):
            x = jax.nn.relu(_apply_dense(actor[f"l{j}"], x))
        return _apply_dense(actor["head"], x), h
    z = jax.nn.relu(_apply_dense(actor["l0"], x))
    h = _gru_cell(actor, h, z)
    return _apply_dense(actor["head"], h), h


def critic_value(critic, state):
    jax = import_jax()
    s = jax.nn.relu(_apply_dense(critic["l0"], state))
    s = jax.nn.relu(_apply_dense(critic["l1"], s))
    return _apply_dense(critic["head"], s)[..., 0]


# ---------------------------------------------------------------------------------------------
# the program: init, one PPO update (rollout + GAE + epochs), greedy evaluation


@dataclasses.dataclass(frozen=True)
class Program:
    """The jitted pieces of one run."""

    init: Callable
    """``init(key, params=None) → runner``: (params, optimizer state, rollout carry); ``params`` (a warm
    start) replaces the fresh weights, with a fresh optimizer, and leaves every other key as it was."""
    update: Callable
    """``update(runner, None) → (runner, stats)``: one rollout, GAE, the PPO epochs."""
    evaluate: Callable
    """``evaluate(params, key, episodes) → greedy win rate`` over fresh episodes."""
    replay_error: Callable
    """``replay_error(params, carry)``: (largest |replayed − recorded| log-prob of a taken action, the same
    with the GRU replayed from zeros): the loss sees what the actor saw."""
    num_updates: int


def build(cfg: JaxMappoConfig, map_name: str) -> Program:
    """The jitted program for SMAX map ``map_name`` against its heuristic enemy."""
    jax = import_jax()
    import jax.numpy as jnp
    import optax

    if cfg.actor not in ACTORS:
        raise UsageError(f"actor: expected one of {', '.join(ACTORS)}, got {cfg.actor!r}")
    env = heuristic_env(map_name)
    agents = env.agents
    n_agents = len(agents)
    n_actions = env.action_spaces[agents[0]].n
    policy_view = policy_observer(env)
    eye = jnp.eye(n_agents)

    def observe(state):
        """(actor inputs (N, obs [+ S] + N), scaled global state (S,), masks (N, A))."""
        o, ws, m = policy_view(state)
        parts = [o, jnp.broadcast_to(ws, (n_agents, ws.shape[-1]))] if cfg.privileged else [o]
        return jnp.concatenate([*parts, eye], -1), ws, m

    _, s0 = env.reset(jax.random.PRNGKey(0))
    x0, ws0, _ = observe(s0)
    d_x, d_state = x0.shape[-1], ws0.shape[-1]
    num_updates = cfg.num_updates()
    if cfg.anneal:
        def lr_at(count):
            return cfg.lr * (1.0 - (count // (cfg.epochs * cfg.minibatches)) / num_updates)
    else:
        lr_at = cfg.lr
    tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(lr_at, eps=1e-5))

    def env_step(key, state, act):
        """One auto-resetting step: (next state, training reward, env reward, done, won)."""
        _, nxt, rew, dones, _ = env.step(key, state, {a: act[i] for i, a in enumerate(agents)})
        done = dones["__all__"]
        r = rew[agents[0]]
        won = done & (r >= 1.0)
        return nxt, r + cfg.win_bonus * won, r, done, won

    v_observe = jax.vmap(observe)
    v_step = jax.vmap(env_step)

    # ---- rollout: carry = (key, env states, actor hidden (E, N, H), episode-start flags (E,), env return so far (E,))
    def rollout(params, carry):
        def one(c, _):
            key, states, h, first, ep_ret = c
            key, k_act, k_env = jax.random.split(key, 3)
            x, ws, m = v_observe(states)
            logits, h_next = actor_logits(cfg, params["actor"], x, jnp.where(first[:, None, None], 0.0, h))
            logits = jnp.where(m, logits, -1e9)
            act = jax.random.categorical(k_act, logits)
            logp = jnp.take_along_axis(jax.nn.log_softmax(logits), act[..., None], -1)[..., 0]
            v = critic_value(params["critic"], ws)
            states, r, r_env, done, won = v_step(jax.random.split(k_env, cfg.num_envs), states, act)
            ep_ret = ep_ret + r_env
            row = {"x": x, "ws": ws, "m": m, "act": act, "logp": logp, "v": v, "r": r, "done": done, "won": won,
                   "first": first, "ended_return": jnp.where(done, ep_ret, 0.0)}
            return (key, states, h_next, done, jnp.where(done, 0.0, ep_ret)), row

        h_start = carry[2]
        carry, traj = jax.lax.scan(one, carry, None, cfg.rollout_len)
        return carry, traj, h_start

    def gae(traj, last_v):
        def back(c, row):
            next_v, next_adv = c
            nonterminal = 1.0 - row["done"]
            delta = row["r"] + cfg.gamma * next_v * nonterminal - row["v"]
            adv = delta + cfg.gamma * cfg.lam * nonterminal * next_adv
            return (row["v"], adv), adv

        _, adv = jax.lax.scan(back, (last_v, jnp.zeros_like(last_v)), traj, reverse=True)
        return adv, adv + traj["v"]

    # ---- loss: rows (ff) or (T, envs) sequences (gru, replayed from the rollout's first hidden state)
    def replayed_logp(params, b, h0):
        """Log-probs of every action and of the taken one, as the loss recomputes them."""
        if cfg.actor == "ff":
            logits, _ = actor_logits(cfg, params["actor"], b["x"], None)
        else:
            def replay(h, row):
                x, first = row
                z, h = actor_logits(cfg, params["actor"], x, jnp.where(first[:, None, None], 0.0, h))
                return h, z

            _, logits = jax.lax.scan(replay, h0, (b["x"], b["first"]))
        logp_all = jax.nn.log_softmax(jnp.where(b["m"], logits, -1e9))
        return logp_all, jnp.take_along_axis(logp_all, b["act"][..., None], -1)[..., 0]

    def replay_error(params, carry):
        _, traj, h0 = rollout(params, carry)
        _, logp = replayed_logp(params, traj, h0)
        _, logp_zero = replayed_logp(params, traj, jnp.zeros_like(h0))
        return jnp.abs(logp - traj["logp"]).max(), jnp.abs(logp_zero - traj["logp"]).max()

    def loss_fn(params, b, adv, ret, h0):
        logp_all, logp = replayed_logp(params, b, h0)
        ratio = jnp.exp(logp - b["logp"])
        a = ((adv - adv.mean()) / (adv.std() + 1e-8))[..., None]  # the team's advantage, every agent
        pg_loss = -jnp.minimum(ratio * a, jnp.clip(ratio, 1 - cfg.clip, 1 + cfg.clip) * a).mean()
        entropy = -(jnp.where(b["m"], jnp.exp(logp_all) * logp_all, 0.0)).sum(-1).mean()
        v = critic_value(params["critic"], b["ws"])
        v_clipped = b["v"] + jnp.clip(v - b["v"], -cfg.clip, cfg.clip)
        v_loss = 0.5 * jnp.maximum((v - ret) ** 2, (v_clipped - ret) ** 2).mean()
        return pg_loss + cfg.vf * v_loss - cfg.ent * entropy, (pg_loss, v_loss, entropy)

    def update(runner, _):
        params, opt, carry = runner
        carry, traj, h0 = rollout(params, carry)
        _, ws, _ = v_observe(carry[1])
        adv, ret = gae(traj, critic_value(params["critic"], ws))
        key, k_perm = jax.random.split(carry[0])
        carry = (key, *carry[1:])

        def step(params, opt, b, a_, r_, h):
            (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, b, a_, r_, h)
            updates, opt = tx.update(grads, opt, params)
            return optax.apply_updates(params, updates), opt, aux

        def epoch(c, k):
            params, opt = c
            if cfg.actor == "ff":
                n_rows = cfg.rollout_len * cfg.num_envs
                flat = jax.tree.map(lambda z: z.reshape((n_rows,) + z.shape[2:]), (traj, adv, ret))
                perm = jax.random.permutation(k, n_rows).reshape(cfg.minibatches, -1)

                def minibatch(c, mb_idx):
                    b, a_, r_ = jax.tree.map(lambda z: z[mb_idx], flat)
                    params, opt, aux = step(*c, b, a_, r_, None)
                    return (params, opt), aux
            else:
                perm = jax.random.permutation(k, cfg.num_envs).reshape(cfg.minibatches, -1)

                def minibatch(c, mb_idx):
                    b, a_, r_ = jax.tree.map(lambda z: z[:, mb_idx], (traj, adv, ret))
                    params, opt, aux = step(*c, b, a_, r_, h0[mb_idx])
                    return (params, opt), aux
            (params, opt), aux = jax.lax.scan(minibatch, (params, opt), perm)
            return (params, opt), aux

        (params, opt), aux = jax.lax.scan(epoch, (params, opt), jax.random.split(k_perm, cfg.epochs))
        stats = {"episodes": traj["done"].sum(), "wins": traj["won"].sum(), "return_sum": traj["ended_return"].sum(),
                 "pg_loss": aux[0].mean(), "v_loss": aux[1].mean(), "entropy": aux[2].mean()}
        return (params, opt, carry), stats

    def evaluate(params, key, episodes):
        """Greedy win rate over ``episodes`` fresh episodes (no auto-reset; an episode freezes when done)."""
        def episode(k):
            k_reset, k = jax.random.split(k)
            _, state = env.reset(k_reset)

            def body(c, _):
                k, state, h, done, won, first = c
                k, _, k_step = jax.random.split(k, 3)
                x, _, m = observe(state)
                logits, h_next = actor_logits(cfg, params["actor"], x, jnp.where(first, 0.0, h))
                act = jnp.argmax(jnp.where(m, logits, -1e9), -1)
                _, nxt, rew, dones, _ = env.step_env(k_step, state, {a: act[i] for i, a in enumerate(agents)})
                d = dones["__all__"]
                w = d & (rew[agents[0]] >= 1.0)
                state = jax.tree.map(lambda old, new: jnp.where(done, old, new), state, nxt)
                return (k, state, h_next, done | d, won | (w & ~done), jnp.bool_(False)), None

            start = (k, state, jnp.zeros((n_agents, cfg.hidden)), jnp.bool_(False), jnp.bool_(False), jnp.bool_(True))
            (_, _, _, _, won, _), _ = jax.lax.scan(body, start, None, MAX_STEPS + 1)
            return won

        return jax.vmap(episode)(jax.random.split(key, episodes)).mean()

    def init(key, params=None):
        k_params, k_env, key = jax.random.split(key, 3)
        fresh = init_params(k_params, cfg, d_x, n_actions, d_state)
        if params is None:
            params = fresh
        else:
            mismatch = [i for i, (a, b) in enumerate(zip(jax.tree_util.tree_leaves(fresh),
                                                          jax.tree_util.tree_leaves(params), strict=True))
                        if a.shape != b.shape]
            if jax.tree_util.tree_structure(fresh) != jax.tree_util.tree_structure(params) or mismatch:
                raise UsageError("--init: the teacher's networks do not have this run's shapes")
            params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
        _, states = jax.vmap(env.reset)(jax.random.split(k_env, cfg.num_envs))
        carry = (key, states, jnp.zeros((cfg.num_envs, n_agents, cfg.hidden)), jnp.ones((cfg.num_envs,), bool),
                 jnp.zeros((cfg.num_envs,)))
        return params, tx.init(params), carry

    return Program(init, jax.jit(update), jax.jit(evaluate, static_argnums=2), jax.jit(replay_error), num_updates)


# ---------------------------------------------------------------------------------------------
# the run: updates, snapshots, resume


def _runner_arrays(runner) -> list[np.ndarray]:
    jax = import_jax()
    return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(runner)]


def _restore_runner(template, arrays: list, where: str):
    """``arrays`` (a snapshot's leaves) in the structure of ``template`` (a freshly built runner); a
    snapshot whose leaves do not match that structure is a UsageError naming the file."""
    jax = import_jax()
    import jax.numpy as jnp

    leaves, treedef = jax.tree_util.tree_flatten(template)
    if not isinstance(arrays, list) or len(arrays) != len(leaves):
        raise UsageError(f"{where}: the snapshot does not match this run's networks and envs "
                         f"({len(arrays) if isinstance(arrays, list) else '?'} arrays, expected {len(leaves)}); "
                         "resume with the options of the interrupted run, or delete it to start over")
    restored = []
    for i, (want, got) in enumerate(zip(leaves, arrays, strict=True)):
        got = np.asarray(got)
        if want.shape == () and got.shape == (1,):
            got = got.reshape(())  # safetensors stores a scalar as one element
        if got.shape != want.shape or got.dtype != np.dtype(want.dtype):
            raise UsageError(f"{where}: snapshot array {i} is {got.dtype}{list(got.shape)}, this run expects "
                             f"{np.dtype(want.dtype)}{list(want.shape)}; resume with the options of the interrupted run")
        restored.append(jnp.asarray(got, dtype=want.dtype))
    return jax.tree_util.tree_unflatten(treedef, restored)


@dataclasses.dataclass
class JaxRun:
    """What ``train_jax`` returns."""

    params: dict
    """The trained parameters (``actor``, ``critic`` pytrees)."""
    log: TrainLog
    """The last training log (over the last ``log_every`` updates)."""
    curve: list[list]
    """``[env_steps, train_return, train_win_rate]``, ~50 points over the run (logged windows of
    ``log_every`` updates)."""
    evaluate: Callable
    """``evaluate(params, key, episodes)``: the program's greedy evaluation."""


def train_jax(cfg: JaxMappoConfig, map_name: str, on_log: Callable[[TrainLog], None] | None = None,
              log_every: int = 10, snapshot: Path | None = None, checkpoint_every: int = 0,
              resume: bool = False, on_params: Callable | None = None, params_every: int = 0,
              init: dict | None = None) -> JaxRun:
    """Train for ``cfg.num_updates()`` updates. With ``snapshot`` and ``checkpoint_every``, the whole run
    (weights, optimizer, envs, keys, curve) is written there every ``checkpoint_every`` updates;
    ``resume`` continues from it, and the result is the same as an uninterrupted run's.
    ``on_params(updates, params, evaluate)`` is called every ``params_every`` updates and after the last
    (the probe's greedy learning curve). ``init`` (parameters, e.g. ``from_teacher_policy``) warm-starts
    the run: a fresh optimizer and a fresh learning-rate schedule over ``cfg.total_steps``."""
    jax = import_jax()

    prog = build(cfg, map_name)
    if prog.num_updates < 1:
        raise UsageError(f"steps: {cfg.total_steps:,} env-steps is less than one rollout "
                         f"({cfg.num_envs} envs x {cfg.rollout_len} steps = {cfg.num_envs * cfg.rollout_len:,})")
    runner = prog.init(jax.random.PRNGKey(cfg.seed), init)
    # The training window since the last log line: wins, episodes, sum of their env returns.
    start, curve, wall_before, window = 0, [], 0.0, [0, 0, 0.0]
    if resume:
        if snapshot is None or not snapshot.is_file():
            raise UsageError(f"--resume: no training snapshot at {snapshot}; run without --resume to start")
        snap = load_snapshot(snapshot)
        where = str(snapshot)
        if snap.get("algorithm") != ALGORITHM or snap.get("config") != dataclasses.asdict(cfg) \
                or snap.get("map") != map_name:
            raise UsageError(f"{where}: this snapshot was written by another run (algorithm, map or settings "
                             "differ); resume with the options of the interrupted run, or delete it to start over")
        runner = _restore_runner(runner, snap["runner"], where)
        start, curve, wall_before = int(snap["update"]), list(snap["curve"]), float(snap["wall_s"])
        window = [int(snap["window"][0]), int(snap["window"][1]), float(snap["window"][2])]
    curve_every = max(cfg.total_steps // 50, 1)  # ~50 curve points, as a torch teacher's card
    started = time.time()
    log = None
    for u in range(start, prog.num_updates):
        runner, stats = prog.update(runner, None)
        window = [window[0] + int(stats["wins"]), window[1] + int(stats["episodes"]),
                  window[2] + float(stats["return_sum"])]
        done_updates = u + 1
        logged = done_updates % log_every == 0 or done_updates == prog.num_updates
        if logged:
            steps = done_updates * cfg.num_envs * cfg.rollout_len
            wins, episodes, ret_sum = window
            log = TrainLog(steps, wall_before + time.time() - started, done_updates, ret_sum / max(episodes, 1),
                           wins / max(episodes, 1), {"pg_loss": float(stats["pg_loss"]),
                                                     "v_loss": float(stats["v_loss"]), "entropy": float(stats["entropy"])})
            if not curve or steps - curve[-1][0] >= curve_every or done_updates == prog.num_updates:
                curve.append([steps, round(log.episode_return, 4), round(log.win_rate, 4)])
            window = [0, 0, 0.0]
        # The snapshot first: a run stopped in a callback resumes after this update.
        if snapshot is not None and checkpoint_every and done_updates % checkpoint_every == 0 \
                and done_updates < prog.num_updates:
            save_snapshot(snapshot, {"algorithm": ALGORITHM, "map": map_name, "config": dataclasses.asdict(cfg),
                                     "update": done_updates, "curve": curve, "window": window,
                                     "wall_s": wall_before + time.time() - started, "runner": _runner_arrays(runner)})
        if logged and on_log is not None:
            on_log(log)
        if on_params is not None and params_every and (done_updates % params_every == 0
                                                       or done_updates == prog.num_updates):
            on_params(done_updates, runner[0], prog.evaluate)
    assert log is not None  # the last update always logs, and no snapshot is taken after it
    return JaxRun(runner[0], log, curve, prog.evaluate)


# ---------------------------------------------------------------------------------------------
# into a TeacherPolicy


def to_teacher_policy(params: dict, cfg: JaxMappoConfig, task_id: str) -> TeacherPolicy:
    """The trained parameters as a ``TeacherPolicy`` whose actors compute the same logits and whose
    ``value`` is the critic's (its value normaliser is the identity)."""
    if cfg.actor != "ff":
        raise UsageError(f"actor {cfg.actor!r}: a TeacherPolicy is feed-forward; train with actor 'ff'")
    task = get_task(task_id)
    spec = task.spec
    kw = {}
    obs_dims = spec.obs_dims
    if cfg.privileged:
        obs_dims, kw = task.views()[PRIVILEGED].obs_dims, {"view": PRIVILEGED}
    policy = TeacherPolicy(obs_dims, spec.n_actions, spec.state_dim, (cfg.hidden,) * cfg.layers,
                           (cfg.critic_hidden,) * 2, **kw)
    if len(policy.actors) != 1:
        raise UsageError(f"{task_id}: agents of different sizes need one actor each; the JAX trainer has one")

    def t(a) -> torch.Tensor:
        return torch.from_numpy(np.array(a, dtype=np.float32))

    state: dict[str, torch.Tensor] = {}
    a, c = params["actor"], params["critic"]
    for j in range(cfg.layers):
        state[f"actors.0.body.{2 * j}.weight"] = t(a[f"l{j}"]["w"]).T.contiguous()
        state[f"actors.0.body.{2 * j}.bias"] = t(a[f"l{j}"]["b"])
    state["actors.0.head.weight"] = t(a["head"]["w"]).T.contiguous()
    state["actors.0.head.bias"] = t(a["head"]["b"])
    for j in range(2):
        state[f"critic.body.{2 * j}.weight"] = t(c[f"l{j}"]["w"]).T.contiguous()
        state[f"critic.body.{2 * j}.bias"] = t(c[f"l{j}"]["b"])
    state["critic.head.weight"] = t(c["head"]["w"]).T.contiguous()
    state["critic.head.bias"] = t(c["head"]["b"])
    # Identity value normaliser: mean 0, variance 1 (debiased EMA with weight 1).
    state["value_norm.running_mean"] = torch.zeros(())
    state["value_norm.running_mean_sq"] = torch.ones(())
    state["value_norm.debiasing"] = torch.ones(())
    policy.load_state_dict(state)
    return policy


def from_teacher_policy(policy: TeacherPolicy, cfg: JaxMappoConfig) -> dict:
    """The inverse of ``to_teacher_policy``: a teacher written by this trainer as parameters of a run
    with ``cfg``; UsageError when its shapes or value normaliser are not this trainer's."""
    norm = policy.value_norm
    if float(norm.running_mean) != 0.0 or float(norm.running_mean_sq) != 1.0 or float(norm.debiasing) != 1.0:
        raise UsageError("--init: the teacher's critic is trained on normalised values (a --trainer torch teacher); "
                         "the JAX trainer continues only its own teachers")
    want = to_teacher_policy_shapes(cfg, policy)
    if want is not None:
        raise UsageError(f"--init: {want}")
    sd = {k: v.detach().cpu().numpy() for k, v in policy.state_dict().items()}
    actor = {f"l{j}": {"w": sd[f"actors.0.body.{2 * j}.weight"].T, "b": sd[f"actors.0.body.{2 * j}.bias"]}
             for j in range(cfg.layers)}
    actor["head"] = {"w": sd["actors.0.head.weight"].T, "b": sd["actors.0.head.bias"]}
    critic = {f"l{j}": {"w": sd[f"critic.body.{2 * j}.weight"].T, "b": sd[f"critic.body.{2 * j}.bias"]}
              for j in range(2)}
    critic["head"] = {"w": sd["critic.head.weight"].T, "b": sd["critic.head.bias"]}
    return {"actor": actor, "critic": critic}


def to_teacher_policy_shapes(cfg: JaxMappoConfig, policy: TeacherPolicy) -> str | None:
    """What keeps ``policy`` from being a teacher of a run with ``cfg`` (None: nothing)."""
    have = (policy.actor_hidden, policy.critic_hidden, policy.view == PRIVILEGED, len(policy.actors))
    want = ((cfg.hidden,) * cfg.layers, (cfg.critic_hidden,) * 2, cfg.privileged, 1)
    if have == want:
        return None
    return (f"the teacher has actor {list(have[0])}, critic {list(have[1])}{', privileged' if have[2] else ''}; this "
            f"run trains actor {list(want[0])}, critic {list(want[1])}{', privileged' if want[2] else ''} "
            f"(pass --hidden {','.join(map(str, have[0]))}{' --privileged' if have[2] else ''})")


def train_jax_teacher(task_id: str, cfg: JaxMappoConfig, out: str | Path, eval_episodes: int = 100,
                      progress: Callable[[TrainLog], None] | None = None, command: str = "",
                      checkpoint_every: int = 20, resume: bool = False, init: str | None = None) -> tuple[Path, dict]:
    """Train a SMAX teacher with ``train_jax``, save it as a ``TeacherPolicy`` checkpoint + card (the card's
    score: the same greedy protocol as every teacher's, ``card_eval``). ``init`` (``zoo:TASK`` or a
    checkpoint written by this trainer) warm-starts from that teacher; the card then lists every stage."""
    task = get_task(task_id)
    spec = task.spec
    if spec.family != "smax":
        raise UsageError(f"--trainer jax: task {task_id!r} is not a SMAX map (the JAX trainer runs SMAX only); "
                         "use --trainer torch")
    if cfg.actor != "ff":
        raise UsageError(f"actor {cfg.actor!r}: a teacher is feed-forward; the GRU actor is for "
                         "benchmarks/teacher_memory.py")
    if cfg.win_bonus and not spec.has_win:
        raise UsageError(f"win_bonus: task {task_id!r} has no win to reward")
    map_name = task_id.split("/", 1)[1]
    prior_stages, prior_curve, init_info, start = [], [], None, None
    if init is not None:
        # Read before training: --init and --out may name the same file.
        path, source, source_card = read_teacher(init, f"--init {init}")
        if source_card["task"] != task_id:
            raise UsageError(f"--init {init}: {path} is a teacher for {source_card['task']!r}, not {task_id!r}")
        start = from_teacher_policy(source, cfg)
        prior_stages, init_info = lineage(init, path, source_card)
        prior_curve = list(source_card["train"]["curve"])
    prior_steps = sum(st["env_steps"] or 0 for st in prior_stages)
    snapshot = snapshot_path(out)
    run = train_jax(cfg, map_name, progress, snapshot=snapshot, checkpoint_every=checkpoint_every, resume=resume,
                    init=start)
    policy = to_teacher_policy(run.params, cfg, task_id)
    ev = card_eval(policy, task_id, eval_episodes, 10_000 + cfg.seed)
    jax = import_jax()
    curve = whole_curve(prior_curve, prior_steps, run.curve)
    card = teacher_card(task_id, ALGORITHM, cfg.privileged, dataclasses.asdict(cfg), prior_steps + run.log.env_steps,
                        cfg.seed, run.log, curve, ev, command, software={"jax": jax.__version__})
    if init_info is not None:
        card["init"] = init_info
        card["stages"] = [*prior_stages, {"command": command, "config": card["config"], "env_steps": run.log.env_steps,
                                          "wall_s": card["train"]["wall_s"], "eval_score": ev["score"]}]
    path = save_checkpoint(policy, out, card)
    snapshot.unlink(missing_ok=True)
    return path, card
