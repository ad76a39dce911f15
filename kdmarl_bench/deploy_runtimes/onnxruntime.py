"""``onnxruntime``: ``torch.export`` → ONNX → ONNX Runtime CPU session (threads pinned, no spinning)."""

from __future__ import annotations

from typing import Any

from kdmarl_bench.deploy_runtimes.base import RUNTIMES, DeployRuntime

ONNX_MODULES = ("onnx", "onnxscript", "onnxruntime")


def export(module: Any, in_dim: int) -> bytes:
    from kdmarl_bench.profiling.runtimes import export_onnx  # torch: kept out of the registry import

    return export_onnx(module, in_dim)


def session(model: bytes, threads: int = 1) -> Any:
    from kdmarl_bench.profiling.runtimes import OnnxSession  # torch: kept out of the registry import

    return OnnxSession(model, threads)


RUNTIMES.add("onnxruntime", DeployRuntime(name="onnxruntime", short="ort", rank=20, extra="deploy",
                                          modules=ONNX_MODULES, export=export, session=session,
                                          export_format="onnx", file_ext=".onnx"))
