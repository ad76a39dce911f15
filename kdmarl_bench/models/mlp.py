"""MLP building blocks for actors and critics."""

from __future__ import annotations

import torch
from torch import nn

NEG_INF = -1e9  # large negative logit for unavailable actions (finite: keeps softmax NaN-free)


def masked_logits(logits: torch.Tensor, avail: torch.Tensor | None) -> torch.Tensor:
    """Push unavailable actions' logits to NEG_INF."""
    if avail is None:
        return logits
    return logits.masked_fill(~avail, NEG_INF)


class MLP(nn.Module):
    """Linear → act → … → Linear; ``features`` returns the last hidden layer too."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], out_dim: int, activation: str = "relu",
                 layer_norm: bool = False, out_gain: float = 0.01):
        super().__init__()
        act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            lin = nn.Linear(d, h)
            nn.init.orthogonal_(lin.weight, gain=2**0.5)
            nn.init.zeros_(lin.bias)
            layers += [lin, act()]
            if layer_norm:
                layers.append(nn.LayerNorm(h))
            d = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(d, out_dim)
        # Small output gain: near-uniform initial policy / near-zero initial value (PPO practice).
        nn.init.orthogonal_(self.head.weight, gain=out_gain)
        nn.init.zeros_(self.head.bias)
        self.hidden_dim = d

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.head(h), h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class Actor(MLP):
    """One agent's deployable policy: observation → action logits."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: tuple[int, ...], activation: str = "relu"):
        super().__init__(obs_dim, hidden, n_actions, activation)
        self.obs_dim = obs_dim
        self.n_actions = n_actions
        self.hidden = tuple(hidden)
