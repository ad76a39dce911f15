"""``onnxruntime``: ``torch.export`` → ONNX → ONNX Runtime CPU session (threads pinned, no spinning).

* ``export_onnx``: ``torch.onnx.export(dynamo=True)`` (the ``torch.export`` based exporter), input
  ``obs`` of shape ``(batch, in_dim)`` with a dynamic batch axis, output ``logits``.
* ``OnnxSession``: CPU execution provider, ``intra_op_num_threads`` / ``inter_op_num_threads`` pinned
  (1 by default) and the intra-op thread pool's spinning off, so an idle session never burns a core
  (what a robot sharing its CPU with other processes needs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kdmarl_bench.deploy_runtimes.base import RUNTIMES, DeployRuntime, quiet_exporters, require_runtime

ONNX_MODULES = ("onnx", "onnxscript", "onnxruntime")
ONNX_OPSET = 18


def export_onnx(module: Any, in_dim: int, opset: int = ONNX_OPSET) -> bytes:
    """Serialized fp32 ONNX model ``obs (batch, in_dim) -> logits (batch, A)``."""
    require_runtime("onnxruntime")
    import torch  # torch: the CLI reads this registry at startup without it

    from kdmarl_bench.deploy_runtimes.torch_export import exported_program  # imports torch, as above

    program = exported_program(module, in_dim)
    with quiet_exporters():
        onnx_program = torch.onnx.export(program, dynamo=True, input_names=["obs"], output_names=["logits"],
                                         opset_version=opset, optimize=True, verbose=False)
    return onnx_program.model_proto.SerializeToString()


def onnx_opset(model: bytes) -> int:
    """The default-domain opset a serialized ONNX model was written for (-1 when none)."""
    import onnx  # optional runtime dependency (the deploy extra)

    proto = onnx.load_model_from_string(model)
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), -1)


class OnnxSession:
    """One ONNX Runtime CPU session, threads pinned and spinning off; ``run(obs) -> logits``."""

    def __init__(self, model: bytes | str | Path, threads: int = 1):
        require_runtime("onnxruntime")
        import onnxruntime as ort  # optional runtime dependency (the deploy extra)

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = int(threads)
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        opts.log_severity_level = 3
        source = str(model) if isinstance(model, Path) else model
        self.session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [self.session.get_outputs()[0].name]

    def prepare(self, obs: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(obs, dtype=np.float32)

    def call(self, prepared: np.ndarray) -> np.ndarray:
        return self.session.run(self.output_names, {self.input_name: prepared})[0]

    def run(self, obs: np.ndarray) -> np.ndarray:
        return self.call(self.prepare(obs))


def export(module: Any, in_dim: int) -> bytes:
    return export_onnx(module, in_dim)


def session(model: bytes, threads: int = 1) -> OnnxSession:
    return OnnxSession(model, threads)


RUNTIMES.add("onnxruntime", DeployRuntime(name="onnxruntime", short="ort", rank=20, extra="deploy",
                                          modules=ONNX_MODULES, export=export, session=session,
                                          export_format="onnx", file_ext=".onnx"))
