"""``eager``: the ``nn.Module`` in ``torch.inference_mode`` (the reference every other path is checked against)."""

from __future__ import annotations

from kdmarl_bench.deploy_runtimes.base import RUNTIMES, DeployRuntime

RUNTIMES.add("eager", DeployRuntime(name="eager", short="eager", rank=0, compile=list))
