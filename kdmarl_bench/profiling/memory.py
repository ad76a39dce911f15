"""Memory footprint of a deployed policy: weight bytes (fp32, int8) and peak activation bytes.

* ``weights_fp32_bytes``: every parameter and buffer of an agent's deployed actor, 4 bytes each
  (what the fp32 model must hold).
* ``weights_int8_bytes``: the same actor after post-training dynamic quantization as ONNX Runtime's
  ``quantize_dynamic`` does it: each ``nn.Linear`` weight matrix 1 byte per element plus one fp32
  scale and one int8 zero point; biases and every other tensor stay fp32.
* ``peak_activation_bytes``: at batch 1, the largest (input + output) bytes of any one leaf module
  in a forward pass: what a runtime executing layers in sequence must hold alive at once
  (measured with forward hooks on a real forward call, so it follows the actual graph).

Team totals count a module shared by several agents once (it is stored once on the device).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["AgentMemory", "MemoryFootprint", "memory_footprint", "peak_activation_bytes", "weight_bytes"]

INT8_QPARAM_BYTES = 4 + 1  # one fp32 scale + one int8 zero point per quantized weight matrix


def _tensors(module: nn.Module) -> list[torch.Tensor]:
    """Every parameter and buffer once (a tensor reachable twice counts once)."""
    seen: dict[int, torch.Tensor] = {}
    for t in list(module.parameters()) + list(module.buffers()):
        seen.setdefault(id(t), t)
    return list(seen.values())


def weight_bytes(module: nn.Module) -> tuple[int, int]:
    """(fp32 bytes, int8 bytes) of a module's weights, as defined in the module docstring."""
    fp32 = sum(t.numel() * 4 for t in _tensors(module))
    quantized: dict[int, int] = {}
    for m in module.modules():
        if isinstance(m, nn.Linear):
            quantized.setdefault(id(m.weight), m.weight.numel())
    int8 = fp32 - sum(n * 4 for n in quantized.values()) + sum(n + INT8_QPARAM_BYTES for n in quantized.values())
    return fp32, int8


def peak_activation_bytes(module: nn.Module, in_dim: int) -> int:
    """Largest input+output bytes of one leaf module during a batch-1 forward pass."""
    peak = 0

    def nbytes(x) -> int:
        if isinstance(x, torch.Tensor):
            return x.numel() * x.element_size()
        if isinstance(x, (tuple, list)):
            return sum(nbytes(v) for v in x)
        return 0

    def hook(_m, inputs, output) -> None:
        nonlocal peak
        peak = max(peak, nbytes(inputs) + nbytes(output))

    leaves = [m for m in module.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.inference_mode():
            x = torch.zeros(1, int(in_dim))
            out = module.eval()(x)
    finally:
        for h in handles:
            h.remove()
    # A module without leaves (or a pure-functional forward) still holds its input and output.
    return max(peak, nbytes(x) + nbytes(out))


@dataclass
class AgentMemory:
    agent: int
    weights_fp32_bytes: int
    weights_int8_bytes: int
    peak_activation_bytes: int
    """Batch 1, see the module docstring."""


@dataclass
class MemoryFootprint:
    weights_fp32_bytes: int
    """Team total, shared modules once."""
    weights_int8_bytes: int
    """Team total after dynamic int8 quantization of the linear weights, shared modules once."""
    peak_activation_bytes: int
    """Largest per-agent peak (agents act one after another on one device, or each on its own)."""
    per_agent: list[AgentMemory]

    def to_dict(self) -> dict:
        return asdict(self)


def memory_footprint(actors: list[nn.Module], obs_dims: list[int]) -> MemoryFootprint:
    """Memory footprint of the deployed actors (``policy.deploy_actors()``, ``policy.obs_dims``)."""
    per_agent = []
    team: dict[int, torch.Tensor] = {}
    team_linear: dict[int, int] = {}
    for i, (actor, dim) in enumerate(zip(actors, obs_dims, strict=True)):
        fp32, int8 = weight_bytes(actor)
        per_agent.append(AgentMemory(i, fp32, int8, peak_activation_bytes(actor, int(dim))))
        for t in _tensors(actor):
            team.setdefault(id(t), t)
        for m in actor.modules():
            if isinstance(m, nn.Linear):
                team_linear.setdefault(id(m.weight), m.weight.numel())
    fp32_total = sum(t.numel() * 4 for t in team.values())
    int8_total = fp32_total - sum(n * 4 for n in team_linear.values()) + sum(
        n + INT8_QPARAM_BYTES for n in team_linear.values())
    return MemoryFootprint(fp32_total, int8_total, max((a.peak_activation_bytes for a in per_agent), default=0),
                           per_agent)


def team_weight_bytes(actors: list[nn.Module]) -> int:
    """fp32 bytes of the team's weights, a tensor shared by several agents once."""
    seen: dict[int, torch.Tensor] = {}
    for a in actors:
        for t in _tensors(a):
            seen.setdefault(id(t), t)
    return sum(t.numel() * 4 for t in seen.values())


def weight_traffic_bytes(actors: list[nn.Module]) -> int:
    """fp32 weight bytes read by one team decision: each agent's call reads its actor's weights.

    A shared actor called by k agents is read k times (the floor's model for weights too large to
    stay in the last-level cache between calls; see :mod:`kdmarl_bench.profiling.floor`).
    """
    return sum(weight_bytes(a)[0] for a in actors)
