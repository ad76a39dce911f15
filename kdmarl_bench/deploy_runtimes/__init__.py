"""Deployment runtimes, one module each; a new runtime is one module plus one line below.

:mod:`~kdmarl_bench.deploy_runtimes.base` holds :class:`DeployRuntime` and the
``RUNTIMES`` registry; ``profile --paths``, ``export --format``, the deployment and export code, the
leaderboard's "best path" codes and the report's path rows all read it.
"""

from kdmarl_bench.deploy_runtimes import (  # noqa: F401  (registers)
    eager,
    executorch,
    onnxruntime,
    onnxruntime_int8,
    torchscript,
)
from kdmarl_bench.deploy_runtimes.base import (
    EQUIVALENCE_ATOL,
    RUNTIMES,
    DeployRuntime,
    checkpoint_formats,
    checkpoint_runtime,
    deploy_paths,
    runtimes,
)

__all__ = ["EQUIVALENCE_ATOL", "RUNTIMES", "DeployRuntime", "checkpoint_formats", "checkpoint_runtime", "deploy_paths",
           "runtimes"]
