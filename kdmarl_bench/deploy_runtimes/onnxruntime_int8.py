"""``onnxruntime-int8``: the ONNX model after dynamic int8 quantization (QInt8 weights), on ONNX Runtime.

Recorded by the ``[profile] quantize`` step (and ``export --format onnx --int8``), not chosen with
``--paths``; its equivalence against eager is reported without a pass/fail bound.
"""

from __future__ import annotations

from typing import Any

from kdmarl_bench.deploy_runtimes.base import RUNTIMES, DeployRuntime
from kdmarl_bench.deploy_runtimes.onnxruntime import ONNX_MODULES, session
from kdmarl_bench.deploy_runtimes.onnxruntime import export as export_fp32


def export(module: Any, in_dim: int) -> bytes:
    from kdmarl_bench.profiling.quantize import quantize_int8  # torch: kept out of the registry import

    return quantize_int8(export_fp32(module, in_dim))


RUNTIMES.add("onnxruntime-int8", DeployRuntime(name="onnxruntime-int8", short="onnxruntime-int8", rank=25, extra="deploy",
                                               modules=ONNX_MODULES, selectable=False, export=export,
                                               session=session, atol=None))
