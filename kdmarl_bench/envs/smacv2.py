"""The real StarCraft II: SMACv2 maps through ``smacv2`` and SMAC v1 maps through ``smac``.

Neither package is on PyPI and both need the StarCraft II binary, so they are imported
lazily: registering the tasks (and reading their static sizes) works on any machine, and
``Task.make`` raises ``BackendUnavailable`` with install steps where the game is missing.

Each of the B copies is its own game client (an SC2 process); ``SC2VecEnv`` steps them
one after another. The SMAC API is ``reset()``, ``get_obs()``, ``get_state()``,
``get_avail_actions()``, ``step(actions) -> (reward, terminated, info)``. Actions:
0 no-op (dead agents only), 1 stop, 2-5 move N/S/E/W, 6+j attack enemy j (medivacs: heal
ally j). Rewards are SMAC's shaped, scaled rewards (about 20 per won episode).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kdmarl_bench.envs.base import EnvSpec, Step, VecEnv
from kdmarl_bench.envs.family import Family, register_family
from kdmarl_bench.envs.registry import Task, register_task
from kdmarl_bench.errors import BackendUnavailable

# ---------------------------------------------------------------------------------------
# Static sizes, known without the game
# ---------------------------------------------------------------------------------------
#
# Both packages build observations and states from fixed per-unit feature blocks
# (starcraft2.py: get_obs_size / get_state_size, default options; read from
# oxwhirl/smac d6aab33 and oxwhirl/smacv2 577ab5a). With t = unit-type bits of the map,
# sa/se = 1 shield bit when allies/enemies are Protoss (else 0), n = allies, m = enemies:
#
#   obs   = 4 move feats (can-move N/S/E/W)
#         + m * (4 + t + 1 + se)          per enemy: visible, dist, dx, dy, types, health, shield
#         + (n - 1) * (4 + t + 1 + sa)    per other ally: same block
#         + (t + 1 + sa [+ 2])            own: types, health, shield [+ own x, y in SMACv2
#                                         with obs_own_pos=True]
#   state = n * (4 + sa + t)              per ally: health, cooldown/energy, rel x, rel y, ...
#         + m * (3 + se + t)              per enemy: health, rel x, rel y, ...
#         + n * actions                   last actions, one-hot (state_last_action=True)
#   actions = 6 + m                       no-op, stop, 4 moves, one target per enemy
#
# SMACv2 uses the same blocks (its unit types are "capabilities", observed because
# team_gen.observe=True). Its medivac rule (targets = allies when n > m) never applies
# here because every registered SMACv2 task has n == m. The formula reproduces every
# REFERENCE.md value (checked in tests/unit/test_smacv2_adapter.py); tasks without a
# REFERENCE.md value use the formula.

# map → (allies, enemies, ally race, enemy race, unit-type bits, episode limit),
# as in smac/env/starcraft2/maps/smac_maps.py.
SMAC_MAPS: dict[str, tuple[int, int, str, str, int, int]] = {
    "3m": (3, 3, "T", "T", 0, 60),
    "8m": (8, 8, "T", "T", 0, 120),
    "2s3z": (5, 5, "P", "P", 2, 120),
    "3s5z": (8, 8, "P", "P", 2, 150),
    "MMM2": (10, 12, "T", "T", 3, 180),
    "5m_vs_6m": (5, 6, "T", "T", 0, 70),
    "corridor": (6, 24, "P", "Z", 0, 400),  # 6 zealots vs 24 zerglings
    "6h_vs_8z": (6, 8, "Z", "P", 0, 150),  # 6 hydralisks vs 8 zealots
    "27m_vs_30m": (27, 30, "T", "T", 0, 180),
}

# SMACv2 "10gen_<race>" maps: 3 unit-type bits, episode limit 200 whatever the team size
# (smacv2 reads the limit from the map, not from n_units). Unit types, weights and
# exceptions (types that may not make up a whole team) follow smacv2's
# examples/configs/sc2_gen_<race>.yaml.
SMACV2_RACES: dict[str, tuple[str, tuple[str, ...], tuple[float, ...], tuple[str, ...]]] = {
    "protoss": ("P", ("stalker", "zealot", "colossus"), (0.45, 0.45, 0.1), ()),
    "terran": ("T", ("marine", "marauder", "medivac"), (0.45, 0.45, 0.1), ("medivac",)),
    "zerg": ("Z", ("zergling", "baneling", "hydralisk"), (0.45, 0.1, 0.45), ("baneling",)),
}
SMACV2_SIZES = (5, 10, 20)
SMACV2_TYPE_BITS = 3
SMACV2_LIMIT = 200
MAP_SIZE = 32  # start_positions map_x / map_y of the 10gen maps

# (obs, state, actions) given in REFERENCE.md; these win over the formula.
REFERENCE_DIMS: dict[str, tuple[int, int, int]] = {
    "3m": (30, 48, 9),
    "8m": (80, 168, 14),
    "2s3z": (80, 120, 11),
    "3s5z": (128, 216, 14),
    "MMM2": (176, 322, 18),
    "5m_vs_6m": (55, 98, 12),
    "protoss_5_vs_5": (92, 130, 11),
}


def smac_dims(
    n_allies: int, n_enemies: int, ally_race: str, enemy_race: str, type_bits: int, own_pos: bool
) -> tuple[int, int, int]:
    """(obs, state, actions) of a SMAC/SMACv2 map with default options (formula above)."""
    sa = 1 if ally_race == "P" else 0
    se = 1 if enemy_race == "P" else 0
    n_actions = 6 + n_enemies
    obs = (
        4
        + n_enemies * (4 + type_bits + 1 + se)
        + (n_allies - 1) * (4 + type_bits + 1 + sa)
        + (type_bits + 1 + sa + (2 if own_pos else 0))
    )
    state = n_allies * (4 + sa + type_bits) + n_enemies * (3 + se + type_bits) + n_allies * n_actions
    return obs, state, n_actions


def _spec(
    name: str, backend: str, n: int, m: int, dims: tuple[int, int, int], limit: int, notes: str
) -> EnvSpec:
    obs, state, n_actions = dims
    return EnvSpec(
        id=f"smacv2/{name}",
        family="smacv2",
        n_agents=n,
        obs_dims=(obs,) * n,
        state_dim=state,
        n_actions=(n_actions,) * n,
        episode_limit=limit,
        metric="win_rate",
        backend=backend,
        agent_names=tuple(f"ally_{i}" for i in range(n)),
        notes=notes,
    )


def smac_spec(map_name: str) -> EnvSpec:
    """Spec of a SMAC v1 map (package ``smac``)."""
    n, m, ar, er, bits, limit = SMAC_MAPS[map_name]
    if map_name in REFERENCE_DIMS:
        dims, src = REFERENCE_DIMS[map_name], "REFERENCE.md"
    else:
        dims, src = smac_dims(n, m, ar, er, bits, own_pos=False), "SMAC feature formula"
    return _spec(map_name, "smac", n, m, dims, limit, f"SMAC v1 map on StarCraft II; sizes from {src}")


def smacv2_spec(race: str, n_units: int) -> EnvSpec:
    """Spec of a SMACv2 task ``<race>_<n>_vs_<n>`` (package ``smacv2``)."""
    name = f"{race}_{n_units}_vs_{n_units}"
    letter = SMACV2_RACES[race][0]
    if name in REFERENCE_DIMS:
        dims, src = REFERENCE_DIMS[name], "REFERENCE.md"
    else:
        dims = smac_dims(n_units, n_units, letter, letter, SMACV2_TYPE_BITS, own_pos=True)
        src = "SMACv2 feature formula"
    return _spec(
        name,
        "smacv2",
        n_units,
        n_units,
        dims,
        SMACV2_LIMIT,
        f"SMACv2 10gen_{race} on StarCraft II; sizes from {src}",
    )


def capability_config(race: str, n_units: int, n_enemies: int | None = None) -> dict:
    """A fresh SMACv2 capability_config (the wrapper mutates it, so never share one)."""
    _, types, weights, exceptions = SMACV2_RACES[race]
    team_gen: dict[str, Any] = {
        "dist_type": "weighted_teams",
        "unit_types": list(types),
        "weights": list(weights),
        "observe": True,
    }
    if exceptions:
        team_gen["exception_unit_types"] = list(exceptions)
    return {
        "n_units": n_units,
        "n_enemies": n_units if n_enemies is None else n_enemies,
        "team_gen": team_gen,
        "start_positions": {
            "dist_type": "surrounded_and_reflect",
            "p": 0.5,
            "map_x": MAP_SIZE,
            "map_y": MAP_SIZE,
        },
    }


# ---------------------------------------------------------------------------------------
# Availability and versions
# ---------------------------------------------------------------------------------------

PIP_SOURCES = {
    "smacv2": "git+https://github.com/oxwhirl/smacv2.git",
    "smac": "git+https://github.com/oxwhirl/smac.git",
}
MAPS_SOURCES = {
    "smacv2": "SMAC_Maps.zip from https://github.com/oxwhirl/smacv2/releases/tag/maps",
    "smac": "https://github.com/oxwhirl/smac/releases/download/v0.1-beta1/SMAC_Maps.zip",
}
# What each backend imports to build a game; importing it also pulls in pysc2 and protobuf.
IMPORT_TARGETS = {"smacv2": "smacv2.env.starcraft2.wrapper", "smac": "smac.env"}
SC2_BUILDS = {"Base75689": "4.10"}


def sc2_path() -> Path:
    """Where pysc2 looks for StarCraft II on Linux: $SC2PATH, else ~/StarCraftII."""
    return Path(os.environ.get("SC2PATH") or Path.home() / "StarCraftII").expanduser()


@cache
def _import_problem(package: str) -> str | None:
    """None when the backend imports; else why not. Cached: an import is tried once."""
    if importlib.util.find_spec(package) is None:
        return f"the Python package {package!r} is not installed"
    try:
        importlib.import_module(IMPORT_TARGETS[package])
    except Exception as exc:  # a broken install (often protobuf) must not become a traceback
        return f"the Python package {package!r} is installed but fails to import: {type(exc).__name__}: {exc}"
    return None


def install_instructions(package: str) -> str:
    return "\n".join(
        [
            "How to install:",
            f"  1. pip install {PIP_SOURCES[package]}",
            "     (it pins protobuf<3.21, so a virtualenv of its own is safest)",
            "  2. download StarCraft II 4.10 for Linux: https://blzdistsc2-a.akamaihd.net/Linux/SC2.4.10.zip",
            "     (unzip password 'iagreetotheeula', which accepts Blizzard's AI and ML licence)",
            "  3. unzip it to ~/StarCraftII, or elsewhere and export SC2PATH=/path/to/StarCraftII",
            f"  4. put the SMAC maps in $SC2PATH/Maps/SMAC_Maps ({MAPS_SOURCES[package]})",
        ]
    )


def sc2_problems(package: str, map_file: str) -> list[str]:
    """Everything missing for one task: the package, the game, the map file."""
    problems = []
    why = _import_problem(package)
    if why is not None:
        problems.append(why)
    root = sc2_path()
    where = "SC2PATH" if os.environ.get("SC2PATH") else "SC2PATH is not set, so the default"
    if not (root / "Versions").is_dir():
        problems.append(f"StarCraft II not found: {where} {root} has no Versions/ folder")
    elif not (root / "Maps" / "SMAC_Maps" / map_file).is_file():
        problems.append(f"map {map_file} not found in {root / 'Maps' / 'SMAC_Maps'}")
    return problems


def _availability(package: str, map_file: str) -> Callable[[], str | None]:
    def check() -> str | None:
        problems = sc2_problems(package, map_file)
        if not problems:
            return None
        lines = [f"StarCraft II backend ({package}) is not ready:"]
        lines += [f"  - {p}" for p in problems]
        return "\n".join(lines + [install_instructions(package)])

    return check


def _dist_version(*names: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "missing"


def _versions(package: str) -> Callable[[], dict[str, str]]:
    def versions() -> dict[str, str]:
        dist = {"smacv2": ("SMACv2", "smacv2"), "smac": ("SMAC", "smac")}[package]
        builds = sorted(p.name for p in (sc2_path() / "Versions").glob("Base*"))
        return {
            package: _dist_version(*dist),
            "pysc2": _dist_version("pysc2"),
            "protobuf": _dist_version("protobuf"),
            "sc2_game": ",".join(SC2_BUILDS.get(b, b) for b in builds) or "missing",
        }

    return versions


# ---------------------------------------------------------------------------------------
# The batched env
# ---------------------------------------------------------------------------------------


def _takes_seed(factory: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "seed" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _copy_seed(seed: int, i: int) -> int:
    # SC2's random_seed is a uint32; keep copies apart and inside that range.
    return (seed * 1_000_003 + i) % 2**31


def _reseed_samplers(game: Any, seed: int) -> None:
    """Seed SMACv2's team/start-position samplers (they use unseeded numpy Generators).

    Best effort on smacv2 internals (``env_key_to_distribution_map``, ``.rng``); envs
    without them (SMAC v1, fakes) are left alone. smacv2 also shuffles each team with
    Python's global ``random``, which we do not touch, so unit order may still vary.
    """
    dists = getattr(game, "env_key_to_distribution_map", None)
    if not isinstance(dists, dict):
        return
    root = np.random.SeedSequence(seed)
    for (_, dist), child in zip(sorted(dists.items()), root.spawn(len(dists)), strict=True):
        _reseed(dist, child, depth=0)


def _reseed(obj: Any, seq: np.random.SeedSequence, depth: int) -> None:
    if isinstance(getattr(obj, "rng", None), np.random.Generator):
        obj.rng = np.random.default_rng(seq)
    # Samplers nest: surrounded_and_reflect -> reflect -> per-agent uniform, each with an rng.
    if depth < 3:
        inner = [v for v in vars(obj).values() if hasattr(v, "generate") and not isinstance(v, type)]
        for v, child in zip(inner, seq.spawn(len(inner)), strict=True):
            _reseed(v, child, depth + 1)


class SC2VecEnv(VecEnv):
    """B SMAC/SMACv2 games stepped in a Python loop (each game is its own SC2 process).

    ``env_factory(seed=...)`` (or ``env_factory()`` when it takes no seed) returns one
    game with the SMAC API. Games are built on the first ``reset(seed)`` so that copy i
    gets the SC2 seed derived from ``(seed, i)``; later resets keep the running games and
    only reseed SMACv2's samplers. SC2 itself is not bit-for-bit deterministic.
    """

    def __init__(self, spec: EnvSpec, num_envs: int, env_factory: Callable[..., Any]):
        super().__init__(spec, num_envs)
        if not spec.homogeneous:
            raise ValueError("SMAC agents all share one obs size and one action count")
        self._factory = env_factory
        self._factory_takes_seed = _takes_seed(env_factory)
        self._games: list[Any] = []
        b = num_envs
        self._obs = [np.zeros((b, d), np.float32) for d in spec.obs_dims]
        self._state = np.zeros((b, spec.state_dim), np.float32)
        self._avail = [np.zeros((b, a), bool) for a in spec.n_actions]

    # -- games -------------------------------------------------------------------------
    def _launch(self, seed: int) -> None:
        for i in range(self.num_envs):
            s = _copy_seed(seed, i)
            game = self._factory(seed=s) if self._factory_takes_seed else self._factory()
            self._games.append(game)  # before the check, so close() still reaches it
            self._check_env_info(game)

    def _check_env_info(self, game: Any) -> None:
        # A different package version or option set would silently change tensor sizes.
        info = game.get_env_info()
        spec = self.spec
        want = {
            "n_agents": spec.n_agents,
            "obs_shape": spec.obs_dims[0],
            "state_shape": spec.state_dim,
            "n_actions": spec.n_actions[0],
            "episode_limit": spec.episode_limit,
        }
        wrong = [f"{k}={info.get(k)} (expected {v})" for k, v in want.items() if info.get(k) != v]
        if wrong:
            self.close()
            raise BackendUnavailable(
                f"task {spec.id!r}: the installed {spec.backend} reports {', '.join(wrong)}; "
                f"this kdmarl-bench expects {spec.backend} 1.0 with its default options"
            )

    def _read(self, i: int, game: Any) -> None:
        """Copy game i's current obs/state/avail into the batch buffers."""
        obs = game.get_obs()
        for k in range(self.spec.n_agents):
            self._obs[k][i] = obs[k]
        self._state[i] = game.get_state()
        avail = game.get_avail_actions()
        for k in range(self.spec.n_agents):
            self._avail[k][i] = np.asarray(avail[k]) != 0

    def _reset_copy(self, i: int) -> None:
        game = self._games[i]
        # reset()'s return value is not used: smacv2's wrapper returns None after a retry
        # and it may predate the first observation, so read everything explicitly.
        game.reset()
        self._read(i, game)

    def _check_actions(self, act: np.ndarray) -> None:
        # SMAC asserts inside the game on an unavailable action; say which one instead.
        rows = np.arange(self.num_envs)
        for k, mask in enumerate(self._avail):
            a = act[:, k]
            in_range = (a >= 0) & (a < mask.shape[1])
            ok = in_range & mask[rows, np.clip(a, 0, mask.shape[1] - 1)]
            if not ok.all():
                i = int(np.flatnonzero(~ok)[0])
                raise ValueError(
                    f"{self.spec.id}: agent {k} of copy {i} chose action {int(a[i])}, which is not "
                    f"available (available: {np.flatnonzero(mask[i]).tolist()})"
                )

    def _batch(self, reward: np.ndarray, done: np.ndarray, won: np.ndarray) -> Step:
        return Step(
            obs=[torch.from_numpy(o.copy()) for o in self._obs],
            state=torch.from_numpy(self._state.copy()),
            avail=[torch.from_numpy(m.copy()) for m in self._avail],
            reward=torch.from_numpy(reward),
            done=torch.from_numpy(done),
            won=torch.from_numpy(won),
        )

    # -- VecEnv hooks ------------------------------------------------------------------
    def _reset(self, seed: int) -> Step:
        if not self._games:
            self._launch(seed)
        for i, game in enumerate(self._games):
            _reseed_samplers(game, _copy_seed(seed, i))
            self._reset_copy(i)
        b = self.num_envs
        return self._batch(np.zeros(b, np.float32), np.zeros(b, bool), np.zeros(b, bool))

    def _step(self, actions: list[torch.Tensor]) -> Step:
        if not self._games:
            raise RuntimeError("call reset() before step()")
        act = torch.stack([a.reshape(-1) for a in actions], dim=1).to("cpu", torch.int64).numpy()
        if act.shape[0] != self.num_envs:
            raise ValueError(f"expected actions of shape ({self.num_envs},), got {act.shape[0]} rows")
        self._check_actions(act)
        b = self.num_envs
        reward = np.zeros(b, np.float32)
        done = np.zeros(b, bool)
        won = np.zeros(b, bool)
        for i, game in enumerate(self._games):
            r, terminated, info = game.step(act[i].tolist())
            reward[i] = float(r)
            done[i] = bool(terminated)
            # After a game crash smacv2 returns (0, True, {}): no battle_won means not won.
            won[i] = done[i] and bool((info or {}).get("battle_won", False))
            if done[i]:
                self._reset_copy(i)  # auto-reset: terminal reward/done/won are kept above
            else:
                self._read(i, game)
        return self._batch(reward, done, won)

    def close(self) -> None:
        """Close every game (and its SC2 process), even if one of them fails to close."""
        games, self._games = self._games, []
        first_error: Exception | None = None
        for game in games:
            try:
                game.close()
            except Exception as exc:  # keep closing the others; report the first failure
                first_error = first_error or exc
        if first_error is not None:
            raise first_error


# ---------------------------------------------------------------------------------------
# Game constructors (lazy imports) and task registration
# ---------------------------------------------------------------------------------------


def make_smacv2_game(race: str, n_units: int, seed: int | None = None, **kwargs: Any) -> Any:
    """One SMACv2 game with the standard SMACv2 options (REFERENCE.md)."""
    from smacv2.env.starcraft2.wrapper import StarCraftCapabilityEnvWrapper

    return StarCraftCapabilityEnvWrapper(
        capability_config=capability_config(race, n_units),
        map_name=f"10gen_{race}",
        obs_own_pos=True,
        use_unit_ranges=True,
        min_attack_range=2,
        conic_fov=False,
        seed=seed,
        **kwargs,
    )


def make_smac_game(map_name: str, seed: int | None = None, **kwargs: Any) -> Any:
    """One SMAC v1 game with default options."""
    from smac.env import StarCraft2Env

    return StarCraft2Env(map_name=map_name, seed=seed, **kwargs)


def _factory(spec: EnvSpec, game: Callable[..., Any]) -> Callable[..., VecEnv]:
    def make(num_envs: int, game_kwargs: dict | None = None, **_: object) -> VecEnv:
        """``game_kwargs`` go to the game constructor (e.g. ``difficulty``, ``replay_dir``)."""
        extra = dict(game_kwargs or {})

        def one(seed: int | None = None) -> Any:
            return game(seed=seed, **extra)

        return SC2VecEnv(spec, num_envs, one)

    return make


FAMILY = register_family(Family(
    "smacv2", "the real StarCraft II (SMACv2 and SMAC maps), when installed", eval_episodes=32,
    teacher_defaults={"num_envs": 8, "rollout_len": 100, "lr": 5e-4, "epochs": 5, "minibatches": 1},
))


def _register() -> None:
    for race in SMACV2_RACES:
        for n in SMACV2_SIZES:
            spec = smacv2_spec(race, n)

            def game(seed: int | None = None, _race: str = race, _n: int = n, **kw: Any) -> Any:
                return make_smacv2_game(_race, _n, seed=seed, **kw)

            # The 10gen maps are placed on the flat 32x32 map file.
            register_task(
                Task(
                    spec,
                    _factory(spec, game),
                    _availability("smacv2", "32x32_flat.SC2Map"),
                    _versions("smacv2"),
                )
            )
    for map_name in SMAC_MAPS:
        spec = smac_spec(map_name)

        def game(seed: int | None = None, _map: str = map_name, **kw: Any) -> Any:
            return make_smac_game(_map, seed=seed, **kw)

        register_task(
            Task(spec, _factory(spec, game), _availability("smac", f"{map_name}.SC2Map"), _versions("smac"))
        )


_register()
