"""Deployment paths: how a student would actually run on the robot.

At these model sizes framework overhead, not FLOPs, dominates latency, so the eager
PyTorch call is a pessimistic deployment. TorchScript (script → freeze →
optimize_for_inference) removes much of the per-call Python overhead.
"""

from __future__ import annotations

import warnings

from torch import nn

DEPLOY_PATHS = ("eager", "torchscript")


def torchscript(m: nn.Module) -> nn.Module:
    """A frozen, inference-optimised TorchScript copy of an actor."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit deprecation notices
        scripted = torch.jit.script(m.eval())
        return torch.jit.optimize_for_inference(torch.jit.freeze(scripted))


def deploy(actors: list[nn.Module], path: str) -> list[nn.Module]:
    """The actors as they run under a deployment path."""
    if path == "eager":
        return actors
    if path == "torchscript":
        # Scripting a shared module once keeps sharing (one compiled copy per distinct module).
        compiled: dict[int, nn.Module] = {}
        return [compiled.setdefault(id(a), torchscript(a)) for a in actors]
    raise ValueError(f"unknown deployment path {path!r}; valid: {', '.join(DEPLOY_PATHS)}")
