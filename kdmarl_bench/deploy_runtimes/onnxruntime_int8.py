"""``onnxruntime-int8``: the ONNX model after dynamic int8 quantization (QInt8 weights), on ONNX Runtime.

``quantize_int8(model)`` runs ``onnxruntime.quantization.quantize_dynamic`` on an fp32 ONNX model:
weights of MatMul/Gemm become int8 (per tensor, symmetric ``QInt8``), activations are quantized on
the fly at run time. No calibration data is needed, so any saved student can be quantized.

Recorded by the ``[profile] quantize`` step (and ``export --format onnx --int8``), not chosen with
``--paths``; its equivalence against eager is reported without a pass/fail bound.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from kdmarl_bench.deploy_runtimes.base import RUNTIMES, DeployRuntime, quiet_exporters, require_runtime
from kdmarl_bench.deploy_runtimes.onnxruntime import ONNX_MODULES, export_onnx, session


def quantize_int8(model: bytes) -> bytes:
    """Dynamic int8 quantization (weights QInt8) of a serialized fp32 ONNX model."""
    require_runtime("onnxruntime")
    from onnxruntime.quantization import QuantType, quantize_dynamic  # optional runtime (the deploy extra)

    with tempfile.TemporaryDirectory(prefix="kdmarl-int8-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(model)
        with quiet_exporters():
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        return dst.read_bytes()


def export(module: Any, in_dim: int) -> bytes:
    return quantize_int8(export_onnx(module, in_dim))


RUNTIMES.add("onnxruntime-int8", DeployRuntime(name="onnxruntime-int8", short="onnxruntime-int8", rank=25, extra="deploy",
                                               modules=ONNX_MODULES, selectable=False, export=export,
                                               session=session, atol=None))
