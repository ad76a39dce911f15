"""MPE tasks on mpe2 (PettingZoo's successor), discrete actions, max_cycles 25.

The B copies are plain PettingZoo parallel envs stepped in a loop; all actions are
always available; the global state is the env's ``state()`` (concatenated obs). Team
reward per step = mean over agents of their rewards (REFERENCE.md protocol).
"""

from __future__ import annotations

import copy
import importlib
import warnings
from functools import cache

import numpy as np
import torch

from kdmarl_bench.envs.base import EnvSpec, Step, VecEnv
from kdmarl_bench.envs.family import Family, register_family
from kdmarl_bench.envs.registry import Task, register_task
from kdmarl_bench.envs.views import View, columns
from kdmarl_bench.signals import deferred_interrupts

MAX_CYCLES = 25

# name → (agent names, obs dims, action counts). Measured on mpe2 1.1.1.
MPE_TASKS: dict[str, tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]] = {
    "simple_spread_v3": (("agent_0", "agent_1", "agent_2"), (18, 18, 18), (5, 5, 5)),
    "simple_reference_v3": (("agent_0", "agent_1"), (21, 21), (50, 50)),
    "simple_speaker_listener_v4": (("speaker_0", "listener_0"), (3, 11), (3, 5)),
    "simple_formation_v1": (("agent_0", "agent_1", "agent_2", "agent_3"), (6, 6, 6, 6), (5, 5, 5, 5)),
    "simple_line_v1": (("agent_0", "agent_1", "agent_2", "agent_3"), (8, 8, 8, 8), (5, 5, 5, 5)),
}


def mpe_spec(name: str) -> EnvSpec:
    agents, obs, acts = MPE_TASKS[name]
    return EnvSpec(
        id=f"mpe/{name}",
        family="mpe",
        n_agents=len(agents),
        obs_dims=obs,
        state_dim=sum(obs),
        n_actions=acts,
        episode_limit=MAX_CYCLES,
        metric="return",
        backend="mpe2",
        agent_names=agents,
    )


# ---- student views ------------------------------------------------------------------------
# simple_spread_v3 (3 agents, 3 landmarks): an agent's observation is [own velocity (2), own
# position (2), each landmark's position relative to it (3×2), each other agent's relative
# position (2×2), the others' communication (2×2, always zero: spread agents are silent)].
SPREAD_VEL, SPREAD_POS, SPREAD_LANDMARKS = slice(0, 2), slice(2, 4), slice(4, 10)


def _nearest_landmarks(o: torch.Tensor, k: int) -> torch.Tensor:
    """Own velocity and position, then the ``k`` nearest landmarks' relative positions, nearest first."""
    rel = o[:, SPREAD_LANDMARKS].reshape(o.shape[0], 3, 2)
    order = torch.linalg.vector_norm(rel, dim=-1).argsort(dim=-1, stable=True)[:, :k]
    near = torch.gather(rel, 1, order[..., None].expand(-1, -1, 2))
    return torch.cat([o[:, SPREAD_VEL], o[:, SPREAD_POS], near.flatten(1)], dim=-1)


# simple_reference_v3 (2 agents, 3 landmarks): [own velocity (2), each landmark's position relative to
# it (3×2), the colour of the landmark the *other* agent must reach (3), the other's message (10)].
REF_VEL, REF_LANDMARKS, REF_REST = slice(0, 2), slice(2, 8), slice(8, 21)
REF_SIGHT = 0.5  # world units; landmarks start up to ~2.8 apart, so most are out of sight at first


def _landmarks_in_sight(o: torch.Tensor, sight: float) -> torch.Tensor:
    """simple_reference: landmarks farther than ``sight`` blanked, one visibility flag per landmark
    (landmark k's slot keeps its colour's place, so messages can still name it)."""
    rel = o[:, REF_LANDMARKS].reshape(o.shape[0], 3, 2)
    seen = (torch.linalg.vector_norm(rel, dim=-1) < sight).to(o.dtype)
    return torch.cat([o[:, REF_VEL], (rel * seen[..., None]).flatten(1), seen, o[:, REF_REST]], dim=-1)


def mpe_views(spec: EnvSpec) -> list[View]:
    """simple_spread: ``near2`` (the 2 nearest landmarks, no other agents), ``near1`` (the nearest one
    only) and ``hetero`` (agent_0 sees landmarks and agents, agent_1 the 2 nearest landmarks, agent_2
    the nearest one). simple_reference: ``fog`` (landmarks farther than 0.5 hidden). Other MPE tasks
    have no limited view (speaker_listener is heterogeneous as the env defines it)."""
    if spec.name == "simple_reference_v3":
        def fog(obs, state):
            return [_landmarks_in_sight(o, REF_SIGHT) for o in obs]

        return [View("fog", (24, 24), f"landmarks farther than {REF_SIGHT:g} are hidden (each landmark's slot "
                     "gets a seen flag); own velocity, the other's goal colour and its message as the env gives them",
                     fog, limited=True)]
    if spec.name != "simple_spread_v3":
        return []

    def near2(obs, state):
        return [_nearest_landmarks(o, 2) for o in obs]

    def near1(obs, state):
        return [_nearest_landmarks(o, 1) for o in obs]

    no_comm = columns([list(range(14))])

    def hetero(obs, state):
        return [no_comm([obs[0]], state)[0], _nearest_landmarks(obs[1], 2), _nearest_landmarks(obs[2], 1)]

    return [
        View("near2", (8, 8, 8), "own velocity and position and the 2 nearest landmarks (relative, nearest "
             "first); no other agent", near2, limited=True),
        View("near1", (6, 6, 6), "own velocity and position and the nearest landmark (relative); no other "
             "agent", near1, limited=True),
        View("hetero", (14, 8, 6), "agent_0: landmarks and other agents; agent_1: the 2 nearest landmarks; "
             "agent_2: the nearest landmark only", hetero, limited=True),
    ]


def _availability() -> str | None:
    if importlib.util.find_spec("mpe2") is None:
        return "MPE needs mpe2 and pettingzoo: pip install mpe2 pettingzoo"
    return None


@cache
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("mpe2", "pettingzoo"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def _make_raw(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with deferred_interrupts():  # never leave mpe2/pygame half-imported
            mod = importlib.import_module(f"mpe2.{name}")
        return mod.parallel_env(max_cycles=MAX_CYCLES, continuous_actions=False)


_LINKS = ("env", "aec_env")
# Rendering handles (fonts, screens) are not state and cannot be copied.
_SKIP = _LINKS + ("game_font", "screen", "viewer")


def _layers(env) -> list:
    """The wrapper chain of a PettingZoo parallel env, outermost first, raw env last."""
    out, layer = [], env
    while layer is not None:
        out.append(layer)
        layer = layer.__dict__.get("aec_env") or layer.__dict__.get("env")
    return out


def _layer_dicts(env) -> list[dict]:
    return [{k: v for k, v in layer.__dict__.items() if k not in _SKIP} for layer in _layers(env)]


class MpeVecEnv(VecEnv):
    """B copies of one mpe2 parallel env; copy i is seeded seed·B + i on reset."""

    def __init__(self, name: str, num_envs: int):
        super().__init__(mpe_spec(name), num_envs)
        self._envs = [_make_raw(name) for _ in range(num_envs)]
        self._agents = self.spec.agent_names
        self._avail = [torch.ones(num_envs, a, dtype=torch.bool) for a in self.spec.n_actions]
        self._obs = [np.zeros((num_envs, d), np.float32) for d in self.spec.obs_dims]
        self._next_seed = 0

    def _reset_copy(self, i: int) -> None:
        obs, _ = self._envs[i].reset(seed=self._next_seed)
        self._next_seed += 1
        for k, a in enumerate(self._agents):
            self._obs[k][i] = obs[a]

    def _observation(self) -> tuple[list[torch.Tensor], torch.Tensor]:
        obs = [torch.from_numpy(o.copy()) for o in self._obs]
        # state() = concatenated per-agent obs in mpe2; building it from obs is identical and cheaper.
        return obs, torch.cat(obs, dim=1)

    def _reset(self, seed: int) -> Step:
        # Each copy gets its own deterministic stream of episode seeds.
        self._next_seed = seed * 1_000_003
        for i in range(self.num_envs):
            self._reset_copy(i)
        obs, state = self._observation()
        b = self.num_envs
        z = torch.zeros(b, dtype=torch.bool)
        return Step(obs, state, [m.clone() for m in self._avail], torch.zeros(b), z, z.clone())

    def _step(self, actions: list[torch.Tensor]) -> Step:
        b = self.num_envs
        act = np.stack([a.numpy() for a in actions], axis=1)  # (B, N)
        reward = np.zeros(b, np.float32)
        done = np.zeros(b, bool)
        for i, env in enumerate(self._envs):
            obs, rew, term, trunc, _ = env.step({a: int(act[i, k]) for k, a in enumerate(self._agents)})
            reward[i] = sum(rew[a] for a in self._agents) / len(self._agents)
            if not env.agents or any(term.values()) or any(trunc.values()):
                done[i] = True
                self._reset_copy(i)
            else:
                for k, a in enumerate(self._agents):
                    self._obs[k][i] = obs[a]
        obs_t, state = self._observation()
        return Step(
            obs_t,
            state,
            [m.clone() for m in self._avail],
            torch.from_numpy(reward),
            torch.from_numpy(done),
            torch.zeros(b, dtype=torch.bool),
        )

    def _backend_state(self) -> object:
        # copy.deepcopy of an mpe2 env re-runs its constructor (EzPickle) and drops the episode
        # state; snapshot every wrapper layer's attributes instead (world, RNG, counters).
        return {"layers": copy.deepcopy([_layer_dicts(e) for e in self._envs]),
                "obs": [o.copy() for o in self._obs], "next_seed": self._next_seed}

    def _load_backend_state(self, state: object) -> None:
        layers = copy.deepcopy(state["layers"])  # type: ignore[index]
        for env, saved in zip(self._envs, layers, strict=True):
            for layer, attrs in zip(_layers(env), saved, strict=True):
                layer.__dict__.update(attrs)
        self._obs = [o.copy() for o in state["obs"]]  # type: ignore[index]
        self._next_seed = state["next_seed"]  # type: ignore[index]

    def close(self) -> None:
        for env in self._envs:
            env.close()


FAMILY = register_family(Family(
    "mpe", "Multi-Particle Environments on mpe2", eval_episodes=100,
    # more, shorter rollouts than SMAX: episodes last 25 steps
    teacher_defaults={"num_envs": 32, "rollout_len": 50, "lr": 7e-4, "epochs": 4, "minibatches": 4},
    views=mpe_views,
))


def _factory(name: str):
    def make(num_envs: int, **_: object) -> VecEnv:
        return MpeVecEnv(name, num_envs)

    return make


for _name in MPE_TASKS:
    register_task(Task(mpe_spec(_name), _factory(_name), _availability, _versions))
