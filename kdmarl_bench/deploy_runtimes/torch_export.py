"""``torch.export`` of one actor graph: the first step both exported runtimes share (ONNX, ExecuTorch).

Imported by a runtime module only when it exports (it imports torch; the registry does not).
"""

from __future__ import annotations

import torch
from torch import nn

from kdmarl_bench.deploy_runtimes.base import quiet_exporters

__all__ = ["EXAMPLE_BATCH", "MAX_BATCH", "exported_program"]

EXAMPLE_BATCH = 2  # torch.export specialises a size-1 example dim to a constant; 2 keeps batch dynamic
MAX_BATCH = 65_536


def exported_program(module: nn.Module, in_dim: int) -> torch.export.ExportedProgram:
    """``module`` exported on an input ``obs`` of shape ``(batch, in_dim)`` with a dynamic batch axis."""
    example = (torch.zeros(EXAMPLE_BATCH, in_dim),)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    with quiet_exporters():
        return torch.export.export(module.eval(), example, dynamic_shapes=({0: batch},))
