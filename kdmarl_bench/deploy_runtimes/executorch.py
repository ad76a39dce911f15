"""``executorch``: ``torch.export`` → ExecuTorch program with the XNNPACK delegate, Python runtime.

* ``export_pte``: ``torch.export.export`` → ``to_edge_transform_and_lower(XnnpackPartitioner)`` →
  ``.to_executorch()``; an ExecuTorch program whose linear layers run in the XNNPACK delegate.
* ``PteSession``: ``executorch.runtime`` (the Python bindings of the C++ runtime), XNNPACK's thread
  pool reset to the session's thread count.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kdmarl_bench.deploy_runtimes.base import RUNTIMES, DeployRuntime, quiet_exporters, require_runtime


def export_pte(module: Any, in_dim: int) -> bytes:
    """Serialized ExecuTorch program (XNNPACK delegate) ``forward(obs) -> logits``."""
    require_runtime("executorch")
    from kdmarl_bench.deploy_runtimes.torch_export import exported_program  # torch: not at CLI startup

    program = exported_program(module, in_dim)
    with quiet_exporters():
        # optional runtime dependency (the deploy extra)
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        return bytes(lowered.to_executorch().buffer)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Drop what native code writes to fd 2 meanwhile (ExecuTorch's cpuinfo/threadpool info lines).

    Python exceptions still propagate; only the C++ runtime's informational prints are lost.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class PteSession:
    """One ExecuTorch program's ``forward`` method (XNNPACK delegate); ``run(obs) -> logits``."""

    def __init__(self, program: bytes | str | Path, threads: int = 1):
        require_runtime("executorch")
        import torch  # torch: the CLI reads this registry at startup without it

        self._from_numpy = torch.from_numpy
        with quiet_exporters(), native_stderr_silenced():
            # optional runtime dependency (the deploy extra)
            from executorch.extension.pybindings import portable_lib
            from executorch.runtime import Runtime

            portable_lib._unsafe_reset_threadpool(int(threads))
            data = Path(program).read_bytes() if isinstance(program, (str, Path)) else program
            self.program = Runtime.get().load_program(data)
            self.method = self.program.load_method("forward")

    def prepare(self, obs: np.ndarray) -> list[Any]:
        return [self._from_numpy(np.ascontiguousarray(obs, dtype=np.float32))]

    def call(self, prepared: list[Any]) -> Any:
        return self.method.execute(prepared)[0]

    def run(self, obs: np.ndarray) -> np.ndarray:
        return self.call(self.prepare(obs)).numpy()


def export(module: Any, in_dim: int) -> bytes:
    return export_pte(module, in_dim)


def session(model: bytes, threads: int = 1) -> PteSession:
    return PteSession(model, threads)


RUNTIMES.add("executorch", DeployRuntime(name="executorch", short="et", rank=30, extra="deploy",
                                         modules=("executorch",), export=export, session=session,
                                         export_format="executorch", file_ext=".pte"))
