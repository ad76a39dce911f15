"""``torchscript``: script → freeze → optimize_for_inference (legacy: deprecated in favour of ``torch.export``)."""

from __future__ import annotations

from typing import Any

from kdmarl_bench.deploy_runtimes.base import RUNTIMES, DeployRuntime


def compile_actors(actors: list[Any]) -> list[Any]:
    """Each distinct actor scripted once (a shared module keeps being shared)."""
    from kdmarl_bench.profiling.deploy import torchscript  # torch: kept out of the registry import

    compiled: dict[int, Any] = {}
    return [compiled.setdefault(id(a), torchscript(a)) for a in actors]


RUNTIMES.add("torchscript", DeployRuntime(name="torchscript", short="ts", rank=10, note="legacy",
                                          compile=compile_actors))
