"""Team policies: the centralized-training teacher and the per-agent student.

Both expose the same interface so evaluation, profiling and distillation never care
which one they hold:

- ``features(obs) -> (logits, hidden)``: per-agent lists, unmasked logits ``(B, A_i)``
  and last hidden features ``(B, H_i)``;
- ``act(obs, avail, greedy)``: per-agent actions;
- ``deploy_actors()``: per-agent modules that map one agent's obs to logits, exactly
  what runs on the robot (used for FLOPs and latency).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Categorical

from kdmarl_bench.models.mlp import MLP, Actor, masked_logits
from kdmarl_bench.models.value_norm import ValueNorm


class TeamPolicy(nn.Module):
    obs_dims: tuple[int, ...]
    n_actions: tuple[int, ...]
    view: str = "full"
    """The observation view this policy acts through (``kdmarl_bench/envs/views.py``): its
    ``obs_dims`` are that view's sizes. Recorded in the architecture when not ``full``."""

    def features(self, obs: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        raise NotImplementedError

    def logits(self, obs: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.features(obs)[0]

    def deploy_actors(self) -> list[nn.Module]:
        raise NotImplementedError

    def architecture(self) -> dict:
        """JSON-ready constructor arguments (stored in checkpoint cards)."""
        raise NotImplementedError

    @torch.no_grad()
    def act(self, obs: list[torch.Tensor], avail: list[torch.Tensor], greedy: bool = True,
            generator: torch.Generator | None = None) -> list[torch.Tensor]:
        out = []
        for z, m in zip(self.logits(obs), avail, strict=True):
            z = masked_logits(z, m)
            if greedy:
                out.append(z.argmax(-1))
            else:
                probs = torch.softmax(z, -1)
                out.append(torch.multinomial(probs, 1, generator=generator).squeeze(-1))
        return out

    def dist(self, obs: list[torch.Tensor], avail: list[torch.Tensor]) -> list[Categorical]:
        return [Categorical(logits=masked_logits(z, m)) for z, m in zip(self.logits(obs), avail, strict=True)]


def agent_groups(obs_dims: tuple[int, ...], n_actions: tuple[int, ...]) -> list[list[int]]:
    """Agents with the same (obs, action) sizes share one teacher actor."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, key in enumerate(zip(obs_dims, n_actions, strict=True)):
        groups.setdefault(key, []).append(i)
    return list(groups.values())


class _SharedActorView(nn.Module):
    """Agent i's deployed view of a shared actor: appends its one-hot id to the obs."""

    def __init__(self, actor: MLP, agent_id: torch.Tensor):
        super().__init__()
        self.actor = actor
        self.register_buffer("agent_id", agent_id, persistent=False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        ids = self.agent_id.expand(obs.shape[0], -1)
        return self.actor(torch.cat([obs, ids], dim=-1))


class TeacherPolicy(TeamPolicy):
    """MAPPO teacher: one shared actor per agent group (obs + agent one-hot) and a
    centralized critic V(s) on the global state."""

    def __init__(self, obs_dims, n_actions, state_dim: int, actor_hidden=(512, 512, 512),
                 critic_hidden=(512, 512, 512), activation: str = "relu", view: str = "full"):
        super().__init__()
        self.view = view
        self.obs_dims = tuple(obs_dims)
        self.n_actions = tuple(n_actions)
        self.state_dim = state_dim
        self.actor_hidden = tuple(actor_hidden)
        self.critic_hidden = tuple(critic_hidden)
        self.activation = activation
        self.n_agents = len(self.obs_dims)
        self.groups = agent_groups(self.obs_dims, self.n_actions)
        self.group_of = {i: g for g, members in enumerate(self.groups) for i in members}
        self.actors = nn.ModuleList(
            MLP(self.obs_dims[m[0]] + self.n_agents, self.actor_hidden, self.n_actions[m[0]], activation)
            for m in self.groups
        )
        self.critic = MLP(state_dim, self.critic_hidden, 1, activation, out_gain=1.0)
        self.register_buffer("eye", torch.eye(self.n_agents), persistent=False)
        # Running statistics of the value targets (MAPPO value normalisation); saved with the weights.
        self.value_norm = ValueNorm()

    def features(self, obs):
        logits: list[torch.Tensor] = [None] * self.n_agents  # type: ignore[list-item]
        hidden: list[torch.Tensor] = [None] * self.n_agents  # type: ignore[list-item]
        for g, members in enumerate(self.groups):
            # One forward per group over all its agents stacked: (k·B, obs+N).
            b = obs[members[0]].shape[0]
            x = torch.cat([torch.cat([obs[i], self.eye[i].expand(b, -1)], -1) for i in members], 0)
            z, h = self.actors[g].features(x)
            for k, i in enumerate(members):
                logits[i] = z[k * b:(k + 1) * b]
                hidden[i] = h[k * b:(k + 1) * b]
        return logits, hidden

    def value_normed(self, state: torch.Tensor) -> torch.Tensor:
        """Centralized critic output in normalised units (what the loss trains)."""
        return self.critic(state).squeeze(-1)

    def value(self, state: torch.Tensor) -> torch.Tensor:
        """V(s) in return units."""
        return self.value_norm.denormalize(self.value_normed(state))

    def deploy_actors(self) -> list[nn.Module]:
        return [_SharedActorView(self.actors[self.group_of[i]], self.eye[i:i + 1].clone()) for i in range(self.n_agents)]

    def architecture(self) -> dict:
        return {
            "class": "TeacherPolicy",
            "obs_dims": list(self.obs_dims),
            "n_actions": list(self.n_actions),
            "state_dim": self.state_dim,
            "actor_hidden": list(self.actor_hidden),
            "critic_hidden": list(self.critic_hidden),
            "activation": self.activation,
            **({"view": self.view} if self.view != "full" else {}),
        }


class StudentPolicy(TeamPolicy):
    """Decentralized student: agent i has its own small actor sized for its obs."""

    def __init__(self, obs_dims, n_actions, widths: list[tuple[int, ...]], activation: str = "relu",
                 view: str = "full"):
        super().__init__()
        self.view = view
        self.obs_dims = tuple(obs_dims)
        self.n_actions = tuple(n_actions)
        self.widths = [tuple(w) for w in widths]
        self.activation = activation
        self.actors = nn.ModuleList(
            Actor(o, a, w, activation) for o, a, w in zip(self.obs_dims, self.n_actions, self.widths, strict=True)
        )

    def features(self, obs):
        out = [a.features(o) for a, o in zip(self.actors, obs, strict=True)]
        return [z for z, _ in out], [h for _, h in out]

    def deploy_actors(self) -> list[nn.Module]:
        return list(self.actors)

    def architecture(self) -> dict:
        return {
            "class": "StudentPolicy",
            "obs_dims": list(self.obs_dims),
            "n_actions": list(self.n_actions),
            "widths": [list(w) for w in self.widths],
            "activation": self.activation,
            **({"view": self.view} if self.view != "full" else {}),
        }


def build_policy(arch: dict) -> TeamPolicy:
    """Rebuild a policy from ``architecture()`` output."""
    arch = dict(arch)
    cls = arch.pop("class")
    if cls == "TeacherPolicy":
        return TeacherPolicy(**arch)
    if cls == "StudentPolicy":
        arch["widths"] = [tuple(w) for w in arch["widths"]]
        return StudentPolicy(**arch)
    raise ValueError(f"unknown policy class {cls!r}")
