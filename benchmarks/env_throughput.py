"""Env-steps per second of kdmarl-bench's VecEnv against each raw backend.

Same task, same batch, uniform random actions over available actions, one run:
- SMAX: raw = JaxMARL's own ``env.step`` (auto-reset) vmapped and jitted, actions
  sampled in JAX, results left on the JAX side (``block_until_ready``), one Python call
  per batched step — the fastest way to drive it step by step from Python.
- MPE: raw = B mpe2 parallel envs stepped in a Python loop with dict actions.

Prints env-steps/s (one env-step = one transition of one copy) and the ratio
VecEnv / raw. Usage: python benchmarks/env_throughput.py [--batch-smax 512] [--batch-mpe 32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from kdmarl_bench.envs import make_env, random_actions
from kdmarl_bench.envs.mpe import _make_raw
from kdmarl_bench.envs.smax import MAX_STEPS, import_jax


def time_loop(step, n_steps: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(n_steps):
        step()
    return time.perf_counter() - t0


def bench_vecenv(task: str, batch: int, n_steps: int, warmup: int) -> float:
    env = make_env(task, batch)
    state = {"s": env.reset(0)}
    gen = torch.Generator().manual_seed(0)

    def step():
        state["s"] = env.step(random_actions(state["s"].avail, gen))

    secs = time_loop(step, n_steps, warmup)
    env.close()
    return batch * n_steps / secs


def bench_raw_smax(map_name: str, batch: int, n_steps: int, warmup: int) -> float:
    jax = import_jax()
    import jax.numpy as jnp
    from jaxmarl.environments.smax import HeuristicEnemySMAX, map_name_to_scenario

    env = HeuristicEnemySMAX(scenario=map_name_to_scenario(map_name), max_steps=MAX_STEPS)
    agents = env.agents

    def one(key, state):
        k_act, k_step = jax.random.split(key)
        avail = env.get_avail_actions(state)
        keys = jax.random.split(k_act, len(agents))
        actions = {
            a: jax.random.choice(keys[i], avail[a].shape[0], p=avail[a] / avail[a].sum())
            for i, a in enumerate(agents)
        }
        obs, state, reward, done, info = env.step(k_step, state, actions)
        return obs, state, reward, done

    step_b = jax.jit(jax.vmap(one))
    _, states = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), batch))
    carry = {"s": states, "k": jax.random.PRNGKey(1)}

    def step():
        carry["k"], k = jax.random.split(carry["k"])
        obs, carry["s"], reward, done = step_b(jax.random.split(k, batch), carry["s"])
        jax.block_until_ready((obs, reward, done))

    del jnp
    return batch * n_steps / time_loop(step, n_steps, warmup)


def bench_raw_mpe(name: str, batch: int, n_steps: int, warmup: int) -> float:
    envs = [_make_raw(name) for _ in range(batch)]
    for i, e in enumerate(envs):
        e.reset(seed=i)
    rng = np.random.default_rng(0)

    def step():
        for e in envs:
            if not e.agents:
                e.reset()
            e.step({a: int(rng.integers(e.action_space(a).n)) for a in e.agents})

    return batch * n_steps / time_loop(step, n_steps, warmup)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-smax", type=int, default=512)
    ap.add_argument("--batch-mpe", type=int, default=32)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--smax-map", default="3m")
    ap.add_argument("--mpe-task", default="simple_spread_v3")
    args = ap.parse_args()
    torch.set_num_threads(1)  # rollouts in the benchmark use one torch thread; jax keeps its own pool

    rows = []
    raw = bench_raw_smax(args.smax_map, args.batch_smax, args.steps, warmup=5)
    vec = bench_vecenv(f"smax/{args.smax_map}", args.batch_smax, args.steps, warmup=5)
    rows.append((f"smax/{args.smax_map}", args.batch_smax, raw, vec))
    raw = bench_raw_mpe(args.mpe_task, args.batch_mpe, args.steps, warmup=5)
    vec = bench_vecenv(f"mpe/{args.mpe_task}", args.batch_mpe, args.steps, warmup=5)
    rows.append((f"mpe/{args.mpe_task}", args.batch_mpe, raw, vec))

    print(f"{'task':28s} {'batch':>5s} {'raw steps/s':>12s} {'VecEnv steps/s':>15s} {'ratio':>6s}")
    for task, b, r, v in rows:
        print(f"{task:28s} {b:5d} {r:12,.0f} {v:15,.0f} {v / r:6.2f}")


if __name__ == "__main__":
    main()
