"""The one batched environment interface every backend implements.

A ``VecEnv`` steps B copies of a task at once and speaks torch tensors:
per-agent observations ``(B, obs_i)``, global state ``(B, S)``, available-action
masks ``(B, A_i)``, team reward ``(B,)``, done ``(B,)`` and won ``(B,)``.
Copies reset themselves when their episode ends; the values of the finished
transition (reward, done, won, episode return/length) are kept in the returned
``Step`` while ``obs``/``state``/``avail`` already belong to the new episode.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch

METRICS = ("win_rate", "return")


@dataclass(frozen=True)
class EnvSpec:
    """Static facts about a task; known without importing its backend."""

    id: str
    """Task id ``family/name``, e.g. ``smax/3m``."""
    family: str
    """Backend family: ``mpe``, ``smax`` or ``smacv2``."""
    n_agents: int
    obs_dims: tuple[int, ...]
    """Observation size of each agent (may differ between agents)."""
    state_dim: int
    """Size of the global state given to centralized critics."""
    n_actions: tuple[int, ...]
    """Number of discrete actions of each agent (may differ)."""
    episode_limit: int
    """Maximum number of steps in an episode."""
    metric: str
    """Success metric: ``win_rate`` (SMAX/SMAC) or ``return`` (MPE)."""
    backend: str
    """Backend package the task runs on (``jaxmarl``, ``mpe2``, ``smacv2``, ``smac``)."""
    agent_names: tuple[str, ...] = ()
    notes: str = ""

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[1]

    @property
    def homogeneous(self) -> bool:
        """True when every agent has the same observation and action sizes."""
        return len(set(self.obs_dims)) == 1 and len(set(self.n_actions)) == 1

    @property
    def has_win(self) -> bool:
        return self.metric == "win_rate"

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "family": self.family,
            "n_agents": self.n_agents,
            "obs_dims": list(self.obs_dims),
            "state_dim": self.state_dim,
            "n_actions": list(self.n_actions),
            "episode_limit": self.episode_limit,
            "metric": self.metric,
            "backend": self.backend,
        }


@dataclass
class Step:
    """What a VecEnv returns from ``reset`` and ``step`` (all tensors on the CPU)."""

    obs: list[torch.Tensor]
    """Per agent ``(B, obs_i)`` float32; after a done, the new episode's first obs."""
    state: torch.Tensor
    """``(B, S)`` float32 global state (normalised for learning)."""
    avail: list[torch.Tensor]
    """Per agent ``(B, A_i)`` bool mask of available actions."""
    reward: torch.Tensor
    """``(B,)`` float32 team reward of the transition (zeros after reset)."""
    done: torch.Tensor
    """``(B,)`` bool: this transition ended the episode."""
    won: torch.Tensor
    """``(B,)`` bool: the episode ended in a win (always False for return tasks)."""
    ep_return: torch.Tensor = field(default=None)  # type: ignore[assignment]
    """``(B,)`` float32 return of the episode that just ended (valid where done)."""
    ep_length: torch.Tensor = field(default=None)  # type: ignore[assignment]
    """``(B,)`` int64 length of the episode that just ended (valid where done)."""


class VecEnv(ABC):
    """B copies of one task, stepped together. Subclasses implement _reset/_step."""

    spec: EnvSpec
    num_envs: int

    def __init__(self, spec: EnvSpec, num_envs: int):
        if num_envs < 1:
            raise ValueError("num_envs must be >= 1")
        self.spec = spec
        self.num_envs = num_envs
        self._ret = torch.zeros(num_envs)
        self._len = torch.zeros(num_envs, dtype=torch.int64)

    # -- backend hooks -------------------------------------------------------------
    @abstractmethod
    def _reset(self, seed: int) -> Step: ...

    @abstractmethod
    def _step(self, actions: list[torch.Tensor]) -> Step: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release backend resources (processes, game clients)."""

    def _backend_state(self) -> object:
        raise NotImplementedError(f"{type(self).__name__} cannot save its state (training resume needs it)")

    def _load_backend_state(self, state: object) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot restore its state")

    # -- snapshots (exact training resume) -----------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue stepping exactly as if never stopped."""
        return {"ret": self._ret.clone(), "len": self._len.clone(), "backend": self._backend_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore a snapshot; call ``reset`` once first so the backend is built."""
        self._ret = state["ret"].clone()
        self._len = state["len"].clone()
        self._load_backend_state(state["backend"])

    # -- public API ----------------------------------------------------------------
    def reset(self, seed: int = 0) -> Step:
        """Reset every copy; copy i is seeded from ``seed`` deterministically."""
        self._ret.zero_()
        self._len.zero_()
        step = self._reset(seed)
        step.ep_return = torch.zeros(self.num_envs)
        step.ep_length = torch.zeros(self.num_envs, dtype=torch.int64)
        return step

    def step(self, actions: list[torch.Tensor]) -> Step:
        """Step every copy with per-agent integer actions ``(B,)``."""
        if len(actions) != self.spec.n_agents:
            raise ValueError(f"expected {self.spec.n_agents} action tensors, got {len(actions)}")
        step = self._step(actions)
        # Episode bookkeeping lives here so every backend reports it the same way.
        self._ret += step.reward
        self._len += 1
        step.ep_return = torch.where(step.done, self._ret, torch.zeros_like(self._ret))
        step.ep_length = torch.where(step.done, self._len, torch.zeros_like(self._len))
        self._ret = torch.where(step.done, torch.zeros_like(self._ret), self._ret)
        self._len = torch.where(step.done, torch.zeros_like(self._len), self._len)
        return step

    def __enter__(self) -> VecEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def random_actions(avail: list[torch.Tensor], generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Uniform random actions over each agent's available actions."""
    out = []
    for mask in avail:
        probs = mask.float()
        out.append(torch.multinomial(probs, 1, generator=generator).squeeze(-1))
    return out
