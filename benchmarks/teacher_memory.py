"""Does a recurrent actor lift the smax/3m teacher? A probe, not a trainer of the zoo.

Every feed-forward MAPPO teacher of smax/3m here plateaus at 0.93-0.95 greedy on fresh episodes,
while a one-step search on top of one wins 0.992 (``kdmarl-bench improve-teacher``), and published
MAPPO, whose actor is a GRU, reaches ~1.0 on SMAC 3m. This script asks whether memory is the missing
piece: it trains the same MAPPO twice, in one JAX program (SMAX, the nets and PPO jitted together,
~8-12k env-steps/s on one core), once with a feed-forward actor and once with a GRU actor, and
scores each greedy on fresh episodes.

What the policies see is what the project's teachers see (``kdmarl_bench.envs.smax``): each agent's
SMAX observation with its one-hot id, the available-actions mask, and for the centralized critic the
scaled global state. The reward is the env's plus ``--win-bonus`` on a winning step, as
``train-teacher --win-bonus``. The actors are small (``--hidden`` units; the zoo's are 512x3) so
that a run of 10M env-steps takes minutes on one core; the result is a paired comparison within this
trainer, not a new zoo teacher (a recurrent teacher would change how teachers are stored, queried by the
distillation methods and exported).

    python benchmarks/teacher_memory.py --actor ff  --out benchmarks/data/teacher_memory/ff128
    python benchmarks/teacher_memory.py --actor gru --out benchmarks/data/teacher_memory/gru128 --lr 1e-3

``OUT.json`` gets the config, the greedy win rate every ``--eval-every`` updates (``--eval-episodes``
fresh episodes each) and at the end over 1000 episodes; ``--save-weights`` also writes ``OUT.npz``.
One core each: set ``XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"``
and pin two runs to the two cores (``taskset -c 0`` / ``-c 1``).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from kdmarl_bench.envs.smax import MAX_STEPS, heuristic_env, policy_observer
from kdmarl_bench.safeio import write_bytes_atomic, write_json_atomic

FINAL_EPISODES = 1000
FINAL_EVAL_SEED = 123_456


@dataclasses.dataclass
class ProbeConfig:
    map_name: str = "3m"
    """SMAX map (against its heuristic enemy)."""
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
    """Env-steps of training."""
    epochs: int = 4
    """PPO epochs per rollout."""
    minibatches: int = 4
    """Minibatches per epoch (of rows for ``ff``, of whole env sequences for ``gru``)."""
    lr: float = 5e-4
    """Adam learning rate."""
    anneal: bool = True
    """Linearly decay the learning rate to 0 over training."""
    gamma: float = 0.99
    """Discount."""
    lam: float = 0.95
    """GAE lambda."""
    clip: float = 0.2
    """PPO ratio clip (and the value clip)."""
    ent: float = 0.005
    """Entropy bonus coefficient."""
    vf: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 0.5
    """Global gradient norm clip."""
    win_bonus: float = 2.0
    """Added to the reward on a winning step."""
    seed: int = 0
    """Seed of the initial weights, the envs and the actions."""


# ---------------------------------------------------------------------------------------------
# networks (plain pytrees of arrays)


def _orthogonal(key, shape, gain):
    return jax.nn.initializers.orthogonal(gain)(key, shape, jnp.float32)


def _dense(key, d_in, d_out, gain):
    return {"w": _orthogonal(key, (d_in, d_out), gain), "b": jnp.zeros((d_out,))}


def _apply_dense(p, x):
    return x @ p["w"] + p["b"]


def init_params(key, cfg: ProbeConfig, d_x: int, n_actions: int, d_state: int) -> dict:
    ks = jax.random.split(key, 16)
    actor = {}
    if cfg.actor == "ff":
        d = d_x
        for j in range(cfg.layers):
            actor[f"l{j}"] = _dense(ks[j], d, cfg.hidden, 2 ** 0.5)
            d = cfg.hidden
    else:
        h = cfg.hidden
        actor["l0"] = _dense(ks[0], d_x, h, 2 ** 0.5)
        actor["gru_x"] = _dense(ks[1], h, 3 * h, 1.0)
        actor["gru_h"] = {"w": jnp.concatenate([_orthogonal(k, (h, h), 1.0) for k in jax.random.split(ks[2], 3)], 1),
                          "b": jnp.zeros((3 * h,))}
    actor["head"] = _dense(ks[5], cfg.hidden, n_actions, 0.01)
    critic = {"l0": _dense(ks[6], d_state, cfg.critic_hidden, 2 ** 0.5),
              "l1": _dense(ks[7], cfg.critic_hidden, cfg.critic_hidden, 2 ** 0.5),
              "head": _dense(ks[8], cfg.critic_hidden, 1, 1.0)}
    return {"actor": actor, "critic": critic}


def _gru_cell(actor, h, z):
    n = h.shape[-1]
    gx = _apply_dense(actor["gru_x"], z)
    gh = _apply_dense(actor["gru_h"], h)
    reset = jax.nn.sigmoid(gx[..., :n] + gh[..., :n])
    update = jax.nn.sigmoid(gx[..., n:2 * n] + gh[..., n:2 * n])
    cand = jnp.tanh(gx[..., 2 * n:] + reset * gh[..., 2 * n:])
    return (1 - update) * cand + update * h


def actor_logits(cfg: ProbeConfig, actor, x, h):
    """``x (..., d_x)``, hidden ``h (..., hidden)`` → (logits, next hidden); ``h`` passes through for ``ff``."""
    if cfg.actor == "ff":
        for j in range(cfg.layers):
            x = jax.nn.relu(_apply_dense(actor[f"l{j}"], x))
        return _apply_dense(actor["head"], x), h
    z = jax.nn.relu(_apply_dense(actor["l0"], x))
    h = _gru_cell(actor, h, z)
    return _apply_dense(actor["head"], h), h


def critic_value(critic, state):
    s = jax.nn.relu(_apply_dense(critic["l0"], state))
    s = jax.nn.relu(_apply_dense(critic["l1"], s))
    return _apply_dense(critic["head"], s)[..., 0]


# ---------------------------------------------------------------------------------------------
# the program: init, one PPO update (rollout + GAE + epochs), greedy evaluation


def build(cfg: ProbeConfig):
    """``(init(key), update(runner), evaluate(params, key, episodes), replay_error(params, carry), num_updates)``,
    jitted."""
    env = heuristic_env(cfg.map_name)
    agents = env.agents
    n_agents = len(agents)
    n_actions = env.action_spaces[agents[0]].n
    policy_view = policy_observer(env)
    eye = jnp.eye(n_agents)

    def observe(state):
        """(actor inputs (N, obs + N), scaled global state (S,), masks (N, A))."""
        o, ws, m = policy_view(state)
        return jnp.concatenate([o, eye], -1), ws, m

    _, s0 = env.reset(jax.random.PRNGKey(0))
    x0, ws0, _ = observe(s0)
    d_x, d_state = x0.shape[-1], ws0.shape[-1]
    num_updates = cfg.total_steps // (cfg.num_envs * cfg.rollout_len)
    if cfg.anneal:
        def lr_at(count):
            return cfg.lr * (1.0 - (count // (cfg.epochs * cfg.minibatches)) / num_updates)
    else:
        lr_at = cfg.lr
    tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(lr_at, eps=1e-5))

    def env_step(key, state, act):
        """One auto-resetting step: (next state, training reward, done, won)."""
        _, nxt, rew, dones, _ = env.step(key, state, {a: act[i] for i, a in enumerate(agents)})
        done = dones["__all__"]
        r = rew[agents[0]]
        won = done & (r >= 1.0)
        return nxt, r + cfg.win_bonus * won, done, won

    v_observe = jax.vmap(observe)
    v_step = jax.vmap(env_step)

    # ---- rollout: carry = (key, env states, actor hidden (E, N, H), episode-start flags (E,))
    def rollout(params, carry):
        def one(c, _):
            key, states, h, first = c
            key, k_act, k_env = jax.random.split(key, 3)
            x, ws, m = v_observe(states)
            logits, h_next = actor_logits(cfg, params["actor"], x, jnp.where(first[:, None, None], 0.0, h))
            logits = jnp.where(m, logits, -1e9)
            act = jax.random.categorical(k_act, logits)
            logp = jnp.take_along_axis(jax.nn.log_softmax(logits), act[..., None], -1)[..., 0]
            v = critic_value(params["critic"], ws)
            states, r, done, won = v_step(jax.random.split(k_env, cfg.num_envs), states, act)
            row = {"x": x, "ws": ws, "m": m, "act": act, "logp": logp, "v": v, "r": r, "done": done, "won": won,
                   "first": first}
            return (key, states, h_next, done), row

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

    # ---- loss: rows (FF) or (T, envs) sequences (GRU, replayed from the rollout's first hidden state)
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
        """One rollout, then the largest |replayed − recorded| log-prob of a taken action under the same
        parameters: float error only when the loss sees what the actor saw (for the GRU: the hidden
        state the rollout started from and every episode-start reset). Second: the same when the replay
        starts from zeros instead, what a loss that dropped the carried hidden state would see."""
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
        stats = {"episodes": traj["done"].sum(), "wins": traj["won"].sum(), "pg_loss": aux[0].mean(),
                 "v_loss": aux[1].mean(), "entropy": aux[2].mean()}
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

    def init(key):
        k_params, k_env, key = jax.random.split(key, 3)
        params = init_params(k_params, cfg, d_x, n_actions, d_state)
        _, states = jax.vmap(env.reset)(jax.random.split(k_env, cfg.num_envs))
        carry = (key, states, jnp.zeros((cfg.num_envs, n_agents, cfg.hidden)), jnp.ones((cfg.num_envs,), bool))
        return params, tx.init(params), carry

    return init, jax.jit(update), jax.jit(evaluate, static_argnums=2), jax.jit(replay_error), num_updates


# ---------------------------------------------------------------------------------------------
# the run


def train(cfg: ProbeConfig, out: Path, eval_every: int = 50, eval_episodes: int = 256, save_weights: bool = False,
          final_episodes: int = FINAL_EPISODES, log=print) -> dict:
    """Train, scoring greedy every ``eval_every`` updates; write ``out.json`` (and ``out.npz``); return the result."""
    init, update, evaluate, _, num_updates = build(cfg)
    runner = init(jax.random.PRNGKey(cfg.seed))
    started = time.time()
    result = {"config": dataclasses.asdict(cfg), "curve_columns": ["env_steps", "greedy_win_rate"], "curve": [],
              "eval_episodes": eval_episodes}
    wins = episodes = 0
    for u in range(num_updates):
        runner, stats = update(runner, None)
        wins, episodes = wins + int(stats["wins"]), episodes + int(stats["episodes"])
        steps = (u + 1) * cfg.num_envs * cfg.rollout_len
        if (u + 1) % 10 == 0:
            log(f"update {u + 1}/{num_updates} · {steps:,} env-steps · train win rate {wins / max(episodes, 1):.3f} · "
                f"entropy {float(stats['entropy']):.3f} · {steps / (time.time() - started):,.0f} env-steps/s")
            wins = episodes = 0
        if (u + 1) % eval_every == 0 or u + 1 == num_updates:
            score = float(evaluate(runner[0], jax.random.PRNGKey(7_000 + u), eval_episodes))
            result["curve"].append([steps, score])
            log(f"greedy win rate at {steps:,} env-steps: {score:.3f} ({eval_episodes} episodes)")
    result["final_episodes"] = final_episodes
    result["final_greedy_win_rate"] = float(evaluate(runner[0], jax.random.PRNGKey(FINAL_EVAL_SEED), final_episodes))
    result["env_steps"] = num_updates * cfg.num_envs * cfg.rollout_len
    result["wall_s"] = round(time.time() - started, 1)
    log(f"final greedy win rate over {final_episodes} episodes: {result['final_greedy_win_rate']:.3f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out.with_suffix(".json"), result)
    if save_weights:
        flat = jax.tree_util.tree_flatten_with_path(runner[0])[0]
        buf = io.BytesIO()
        np.savez(buf, **{"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(v) for path, v in flat})
        write_bytes_atomic(out.with_suffix(".npz"), buf.getvalue())
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for f in dataclasses.fields(ProbeConfig):
        ap.add_argument("--" + f.name.replace("_", "-"), type=int if f.type == "bool" else type(f.default),
                        default=f.default, **({"choices": ["ff", "gru"]} if f.name == "actor" else {}))
    ap.add_argument("--out", type=Path, required=True, help="output stem (OUT.json, OUT.npz)")
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--eval-episodes", type=int, default=256)
    ap.add_argument("--save-weights", action="store_true")
    args = vars(ap.parse_args())
    out, every, n, save = args.pop("out"), args.pop("eval_every"), args.pop("eval_episodes"), args.pop("save_weights")
    cfg = ProbeConfig(**{k: (bool(v) if k == "anneal" else v) for k, v in args.items()})
    train(cfg, out, every, n, save, log=lambda s: print(s, flush=True))


if __name__ == "__main__":
    main()
