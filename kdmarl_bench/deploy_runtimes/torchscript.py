"""``torchscript``: script → freeze → optimize_for_inference (legacy: deprecated in favour of ``torch.export``)."""

from __future__ import annotations

import warnings
from typing import Any

from kdmarl_bench.deploy_runtimes.base import RUNTIMES, DeployRuntime


def torchscript(m: Any) -> Any:
    """A frozen, inference-optimised TorchScript copy of an actor."""
    import torch  # torch: the CLI reads this registry at startup without it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit deprecation notices
        scripted = torch.jit.script(m.eval())
        return torch.jit.optimize_for_inference(torch.jit.freeze(scripted))


def compile_actors(actors: list[Any]) -> list[Any]:
    """Each distinct actor scripted once (a shared module keeps being shared)."""
    compiled: dict[int, Any] = {}
    return [compiled.setdefault(id(a), torchscript(a)) for a in actors]


RUNTIMES.add("torchscript", DeployRuntime(name="torchscript", short="ts", rank=10, note="legacy",
                                          compile=compile_actors))
