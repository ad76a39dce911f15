"""``executorch``: ``torch.export`` → ExecuTorch program with the XNNPACK delegate, Python runtime."""

from __future__ import annotations

from typing import Any

from kdmarl_bench.deploy_runtimes.base import RUNTIMES, DeployRuntime


def export(module: Any, in_dim: int) -> bytes:
    from kdmarl_bench.profiling.runtimes import export_pte  # torch: kept out of the registry import

    return export_pte(module, in_dim)


def session(model: bytes, threads: int = 1) -> Any:
    from kdmarl_bench.profiling.runtimes import PteSession  # torch: kept out of the registry import

    return PteSession(model, threads)


RUNTIMES.add("executorch", DeployRuntime(name="executorch", short="et", rank=30, extra="deploy",
                                         modules=("executorch",), export=export, session=session,
                                         export_format="executorch", file_ext=".pte"))
