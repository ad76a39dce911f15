"""SMAC-style maps on JaxMARL's SMAX (HeuristicEnemySMAX): no StarCraft II needed.

Reset and step are jitted and vmapped over the B copies; one call steps them all and
the results cross to torch through numpy once per call (never per agent).

World-state normalisation (SMAX's ``world_state`` is raw): per unit it holds
[health fraction, x, y, weapon cooldown, 6 unit-type bits], then every unit's team
id and unit-type id. Positions are divided by the map size (32) so they lie in [0, 1],
cooldowns are divided by the longest cooldown of any unit type (1.87 s) and clipped to
[0, 1] (SMAX lets a ready weapon's cooldown drift far below 0), type ids are divided
by the number of types minus one; health, type bits and team ids are already in [0, 1].
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np
import torch

from kdmarl_bench.envs.base import EnvSpec, Step, VecEnv
from kdmarl_bench.envs.family import Family, register_family
from kdmarl_bench.envs.registry import Task, register_task
from kdmarl_bench.envs.views import View
from kdmarl_bench.signals import deferred_interrupts

# map → (allies, enemies). Obs/state/action sizes follow from these (REFERENCE.md):
# obs = 13·(allies−1+enemies)+10, state = 12·(allies+enemies), actions = 5+enemies.
SMAX_MAPS: dict[str, tuple[int, int]] = {
    "3m": (3, 3),
    "2s3z": (5, 5),
    "8m": (8, 8),
    "5m_vs_6m": (5, 6),
    "3s5z": (8, 8),
    "3s_vs_5z": (3, 5),
    "6h_vs_8z": (6, 8),
    "10m_vs_11m": (10, 11),
    "27m_vs_30m": (27, 30),
    "2s_vs_1sc": (2, 1),
    "3s5z_vs_3s6z": (8, 9),
    "smacv2_5_units": (5, 5),
    "smacv2_10_units": (10, 10),
    "smacv2_20_units": (20, 20),
}
MAX_STEPS = 100  # SMAX default; an episode lasts at most max_steps + 1 env steps.
MAP_SIZE = 32.0
N_UNIT_TYPES = 6
MAX_COOLDOWN = 1.87  # longest weapon cooldown among SMAX unit types (stalker)


def smax_spec(map_name: str) -> EnvSpec:
    allies, enemies = SMAX_MAPS[map_name]
    obs = 13 * (allies - 1 + enemies) + 10
    note = "SMAX approximation of SMACv2 unit/position distributions" if map_name.startswith("smacv2") else ""
    return EnvSpec(
        id=f"smax/{map_name}",
        family="smax",
        n_agents=allies,
        obs_dims=(obs,) * allies,
        state_dim=12 * (allies + enemies),
        n_actions=(5 + enemies,) * allies,
        episode_limit=MAX_STEPS + 1,
        metric="win_rate",
        backend="jaxmarl",
        agent_names=tuple(f"ally_{i}" for i in range(allies)),
        notes=note,
    )


# ---- student views ------------------------------------------------------------------------
# An agent's SMAX observation is one 13-feature block per other unit (allies first, then enemies:
# [health, Δx, Δy, last move x, last move y, last target, cooldown, 6 type bits], Δ divided by the
# *observer's* sight range), then its own 10 features ([health, x, y, cooldown, 6 type bits]).
# A unit SMAX does not show (out of sight, or dead) is an all-zero block.
UNIT_FEATURES = 13
OWN_FEATURES = 10
SIGHT_RANGES = (9.0, 10.0, 10.0, 9.0, 8.0, 9.0)  # SMAX's per-type sight ranges (marine, marauder, stalker, …)
STUDENT_SIGHT = 5.0  # a marine's attack range: a student sees only what it could shoot at
N_MOVE_ACTIONS = 5  # 4 moves and stop, then one attack action per enemy
# Every view with an "m" suffix masks out attacks on hidden enemies; ``sight5`` and ``hetero`` are the
# v1 views (limited board v1) and keep the env's mask so their committed cells keep their meaning.
MASKED_SIGHTS = (5.0, 4.0, 3.0)


def _sight_mask(o: torch.Tensor, n_blocks: int, sight: float) -> torch.Tensor:
    """``(B, n_blocks)`` bool: the block's unit lies within ``sight`` of the observer."""
    blocks = o[:, : n_blocks * UNIT_FEATURES].reshape(o.shape[0], n_blocks, UNIT_FEATURES)
    own_type = o[:, n_blocks * UNIT_FEATURES + 4 :]  # one-hot of the observer's unit type
    own_sight = own_type @ torch.tensor(SIGHT_RANGES, dtype=o.dtype, device=o.device)  # 0 when dead
    dist = torch.linalg.vector_norm(blocks[..., 1:3], dim=-1) * own_sight[:, None]
    return dist < sight


def _limit(o: torch.Tensor, n_allies: int, n_enemies: int, sight: float, allies: bool) -> torch.Tensor:
    """One agent's observation with units beyond ``sight`` blanked (as SMAX blanks unseen units);
    ``allies=False`` also drops the ally blocks (the agent sees enemies and itself only)."""
    n_blocks = n_allies - 1 + n_enemies
    keep = _sight_mask(o, n_blocks, sight)
    blocks = o[:, : n_blocks * UNIT_FEATURES].reshape(o.shape[0], n_blocks, UNIT_FEATURES) * keep[..., None]
    if not allies:
        blocks = blocks[:, n_allies - 1 :]
    return torch.cat([blocks.flatten(1), o[:, n_blocks * UNIT_FEATURES :]], dim=-1)


def _attackable(o: torch.Tensor, n_allies: int, n_enemies: int, sight: float) -> torch.Tensor:
    """``(B, 5 + n_enemies)`` bool: the actions an agent limited to ``sight`` may take. Moves and stop
    always; attacking enemy j (action 5 + j, enemy block n_allies − 1 + j) only when the enemy is
    within ``sight`` (and shown: an all-zero block is a unit SMAX does not show)."""
    n_blocks = n_allies - 1 + n_enemies
    blocks = o[:, : n_blocks * UNIT_FEATURES].reshape(o.shape[0], n_blocks, UNIT_FEATURES)
    seen = _sight_mask(o, n_blocks, sight) & (blocks.abs().sum(-1) > 0)
    moves = torch.ones(o.shape[0], N_MOVE_ACTIONS, dtype=torch.bool, device=o.device)
    return torch.cat([moves, seen[:, n_allies - 1 :]], dim=-1)


def _smax_view(name: str, n_allies: int, n_enemies: int, sight: float, hetero: bool, masked: bool) -> View:
    """One limited SMAX view. ``hetero``: ally_0 keeps its full observation and the others see only
    enemies within ``sight``; else every agent sees the units within ``sight``. ``masked``: attacks on
    enemies the view hides are removed from the agent's available actions (``View.restrict``)."""
    full = 13 * (n_allies - 1 + n_enemies) + 10

    def limited(i: int) -> bool:
        return not (hetero and i == 0)

    def select(obs, state):
        return [_limit(o, n_allies, n_enemies, sight, allies=not hetero) if limited(i) else o
                for i, o in enumerate(obs)]

    def restrict(avail, obs, state):
        return [_attackable(o, n_allies, n_enemies, sight) if limited(i) else torch.ones_like(m)
                for i, (m, o) in enumerate(zip(avail, obs, strict=True))]

    if hetero:
        dims = (full,) + (UNIT_FEATURES * n_enemies + OWN_FEATURES,) * (n_allies - 1)
        what = f"ally_0 sees everything it normally sees; the others see only enemies within {sight:g}"
    else:
        dims = (full,) * n_allies
        why = " (a marine's attack range)" if sight == STUDENT_SIGHT else ""
        what = f"units farther than {sight:g}{why} are hidden, as SMAX hides units out of sight"
    mask = ("; attacks on enemies the view hides are masked out" if masked else
            "; the action mask is the env's (it can show enemies the view hides; the masked variant "
            f"is {name}m)")
    return View(name, dims, what + mask, select, limited=n_allies > 1 or not hetero,
                restrict=restrict if masked else None)


def smax_views(spec: EnvSpec) -> list[View]:
    """``sight5`` (every student sees units within 5, a marine's attack range), ``hetero`` (ally_0
    keeps the full view, the others see only enemies within 5, so their observations and
    capacity-rule widths are smaller), both with the env's action mask (v1); ``sight5m``,
    ``sight4m``, ``sight3m`` and ``heterom``: the same limits whose action masks leak nothing the
    view hides."""
    n_allies, n_enemies = SMAX_MAPS[spec.name]
    r = STUDENT_SIGHT
    views = [_smax_view("sight5", n_allies, n_enemies, r, hetero=False, masked=False),
             _smax_view("hetero", n_allies, n_enemies, r, hetero=True, masked=False)]
    views += [_smax_view(f"sight{d:g}m", n_allies, n_enemies, d, hetero=False, masked=True) for d in MASKED_SIGHTS]
    views.append(_smax_view("heterom", n_allies, n_enemies, r, hetero=True, masked=True))
    return views


def _availability() -> str | None:
    try:
        import importlib.util

        if importlib.util.find_spec("jaxmarl") is None or importlib.util.find_spec("jax") is None:
            return "SMAX needs jax and jaxmarl: pip install jax jaxmarl six"
    except (ImportError, ValueError):
        return "SMAX needs jax and jaxmarl: pip install jax jaxmarl six"
    return None


@cache
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("jaxmarl", "jax", "jaxlib"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def import_jax():
    """Import jax configured for sharing a process with torch (see REFERENCE.md)."""
    # Without this JAX grabs most GPU memory at first use and starves torch.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import sys

    # jaxmarl prints a banner at import and its mabrax module resets sys.stdout/stderr to
    # the process's originals (breaking any capture, e.g. click's). Silence fd 1 while
    # importing and put the Python-level streams back afterwards.
    py_out, py_err = sys.stdout, sys.stderr
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        with deferred_interrupts():  # a Ctrl-C mid-import would leave jax half-initialised
            import jax
            import jaxmarl.environments.smax  # noqa: F401
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
        sys.stdout, sys.stderr = py_out, py_err
    # Compiling a batched SMAX step takes seconds; keep compiled programs on disk so
    # later processes (CLI calls, tests, resumed runs) skip it.
    cache_dir = os.environ.get("KDMARL_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "kdmarl-bench", "jax"))
    if cache_dir and cache_dir != "off" and not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return jax


def state_scaling(n_units: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scale, lo, hi)``: the global state a policy sees is ``clip(world_state · scale, lo, hi)``
    (see the module docstring)."""
    n_types = N_UNIT_TYPES
    # per unit [health, x, y, cooldown, 6 bits] then teams, types
    per_unit = np.array([1.0, 1 / MAP_SIZE, 1 / MAP_SIZE, 1 / MAX_COOLDOWN] + [1.0] * n_types, np.float32)
    scale = np.concatenate(
        [np.tile(per_unit, n_units), np.ones(n_units, np.float32), np.full(n_units, 1 / (n_types - 1), np.float32)]
    )
    # SMAX keeps decrementing a ready weapon's cooldown below 0 (it drifts to large negative
    # values); clip cooldown features to [0, 1] after scaling, leave everything else as is.
    is_cd = np.zeros(scale.shape[0], bool)
    is_cd[3 : 10 * n_units : 10] = True
    return scale, np.where(is_cd, 0.0, -np.inf).astype(np.float32), np.where(is_cd, 1.0, np.inf).astype(np.float32)


def heuristic_env(map_name: str):
    """JaxMARL's SMAX map ``map_name`` against its heuristic enemy, as every SMAX task here plays it."""
    from jaxmarl.environments.smax import HeuristicEnemySMAX, map_name_to_scenario

    return HeuristicEnemySMAX(scenario=map_name_to_scenario(map_name), max_steps=MAX_STEPS)


def policy_observer(env):
    """``observe(state) → (observations (N, obs), global state (S,), action masks (N, A) bool)``: one SMAX
    state as every policy here sees it (the state scaled and clipped by ``state_scaling``), for ``env``
    from ``heuristic_env``. Pure JAX, to be vmapped and jitted by its caller."""
    import jax.numpy as jnp

    agents = env.agents
    scale, lo, hi = (jnp.asarray(a) for a in state_scaling(env.num_allies + env.num_enemies))

    def observe(state):
        obs = env.get_obs(state)
        o = jnp.stack([obs[a] for a in agents])  # (N, obs)
        avail = env.get_avail_actions(state)
        m = jnp.stack([avail[a] for a in agents]).astype(bool)
        ws = jnp.clip(env.get_world_state(state) * scale, lo, hi)
        return o, ws, m

    return observe


@cache
def _compiled(map_name: str, num_envs: int):
    """Build the env and its jitted batched reset/step for one (map, B)."""
    jax = import_jax()
    import jax.numpy as jnp

    env = heuristic_env(map_name)
    agents = env.agents
    observe = policy_observer(env)

    def strong(state):
        # SMAX's reset state has a weak-typed leaf; make every leaf strongly typed so the
        # jitted step sees one input signature and compiles once, not twice.
        return jax.tree.map(lambda x: jax.lax.convert_element_type(x, x.dtype), state)

    def reset_one(key):
        _, state = env.reset(key)
        state = strong(state)
        o, ws, m = observe(state)
        return state, o, ws, m

    def step_one(key, state, actions):
        k_step, k_reset = jax.random.split(key)
        act = {a: actions[i] for i, a in enumerate(agents)}
        _, next_state, rewards, dones, _ = env.step_env(k_step, state, act)
        reward = rewards[agents[0]]  # team reward: identical for every ally
        done = dones["__all__"]
        # The win bonus (+1) is paid on the final step only when the enemy is wiped out.
        won = done & (reward >= 1.0)
        _, reset_state = env.reset(k_reset)
        state = strong(jax.tree.map(lambda r, s: jnp.where(done, r, s), reset_state, next_state))
        o, ws, m = observe(state)
        return state, o, ws, m, reward, done, won

    reset_b = jax.jit(jax.vmap(reset_one))
    step_b = jax.jit(jax.vmap(step_one))
    return env, reset_b, step_b


class SmaxVecEnv(VecEnv):
    """B copies of a SMAX map, stepped by one jitted, vmapped call."""

    def __init__(self, map_name: str, num_envs: int):
        super().__init__(smax_spec(map_name), num_envs)
        self._jax = import_jax()
        self._env, self._reset_b, self._step_b = _compiled(map_name, num_envs)
        self._state = None
        self._key = None

    def _to_step(self, o, ws, m, reward=None, done=None, won=None) -> Step:
        obs = torch.from_numpy(np.array(o, dtype=np.float32))  # (B, N, obs)
        avail = torch.from_numpy(np.array(m, dtype=bool))
        b = self.num_envs
        return Step(
            obs=list(obs.unbind(1)),
            state=torch.from_numpy(np.array(ws, dtype=np.float32)),
            avail=list(avail.unbind(1)),
            reward=torch.zeros(b) if reward is None else torch.from_numpy(np.array(reward, dtype=np.float32)),
            done=torch.zeros(b, dtype=torch.bool) if done is None else torch.from_numpy(np.array(done)),
            won=torch.zeros(b, dtype=torch.bool) if won is None else torch.from_numpy(np.array(won)),
        )

    def _reset(self, seed: int) -> Step:
        jax = self._jax
        self._key, k = jax.random.split(jax.random.PRNGKey(seed))
        self._state, o, ws, m = self._reset_b(jax.random.split(k, self.num_envs))
        return self._to_step(o, ws, m)

    def _backend_state(self) -> object:
        # The env state is a pytree of arrays: its leaves in order (the tree's shape comes back from
        # the live state on load, so a snapshot holds arrays only).
        jax = self._jax
        leaves = [np.asarray(x) for x in jax.tree.leaves(self._state)]
        key = (np.asarray(jax.random.key_data(self._key)) if jax.dtypes.issubdtype(self._key.dtype, jax.dtypes.prng_key)
               else np.asarray(self._key))
        return {"leaves": leaves, "key": key}

    def _load_backend_state(self, state: object) -> None:
        jax = self._jax
        import jax.numpy as jnp

        if self._state is None:
            raise RuntimeError("call reset() before loading a saved state")
        live = jax.tree.leaves(self._state)
        saved = state["leaves"]  # type: ignore[index]
        if len(saved) != len(live) or any(np.shape(a) != np.shape(b) or np.asarray(a).dtype != b.dtype
                                          for a, b in zip(saved, live, strict=False)):
            raise ValueError("saved SMAX state does not match this map and env count")
        self._state = jax.tree.unflatten(jax.tree.structure(self._state), [jnp.asarray(a) for a in saved])
        self._key = jnp.asarray(state["key"])  # type: ignore[index]

    def _step(self, actions: list[torch.Tensor]) -> Step:
        jax = self._jax
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        act = np.stack([a.numpy() for a in actions], axis=1).astype(np.int32)  # (B, N)
        self._key, k = jax.random.split(self._key)
        self._state, o, ws, m, r, d, w = self._step_b(jax.random.split(k, self.num_envs), self._state, act)
        return self._to_step(o, ws, m, r, d, w)


FAMILY = register_family(Family(
    "smax", "SMAC-style maps on JaxMARL's SMAX (no StarCraft II)", eval_episodes=128, eval_seeds=4,
    # JaxMARL's MAPPO recipe scaled to a CPU batch (REFERENCE.md)
    teacher_defaults={"num_envs": 64, "rollout_len": 64, "lr": 5e-4, "epochs": 4, "minibatches": 4},
    views=smax_views,
))


def _factory(map_name: str):
    def make(num_envs: int, **_: object) -> VecEnv:
        return SmaxVecEnv(map_name, num_envs)

    return make


for _name in SMAX_MAPS:
    register_task(Task(smax_spec(_name), _factory(_name), _availability, _versions))
