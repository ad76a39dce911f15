"""Deployment paths: how a student would actually run on the robot.

At these model sizes framework overhead, not FLOPs, dominates latency, so the eager PyTorch call
is a pessimistic deployment. The paths:

* ``eager``       : the ``nn.Module`` in ``torch.inference_mode`` (the reference);
* ``torchscript`` : script → freeze → optimize_for_inference (legacy: TorchScript is deprecated in
  current PyTorch in favour of ``torch.export``);
* ``onnxruntime`` : ``torch.export`` → ONNX → ONNX Runtime CPU session, 1 thread, no spinning;
* ``executorch``  : ``torch.export`` → ExecuTorch with the XNNPACK delegate, Python runtime.

``deploy_entry`` builds a non-eager path, checks it against the eager actors (random and, when
given, recorded observations) *before* timing it, times one decentralized team decision (CPU,
1 thread, batch 1) and returns the latency entry with ``path``, ``equivalence`` and ``file_bytes``.
A failed check is recorded on the entry (``equivalence.passed: false``), never hidden.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from kdmarl_bench.deploy_runtimes import RUNTIMES, deploy_paths
from kdmarl_bench.deploy_runtimes.base import require_runtime
from kdmarl_bench.envs import get_task
from kdmarl_bench.envs.registry import policy_view
from kdmarl_bench.profiling.latency import time_decentralized
from kdmarl_bench.profiling.runtimes import (
    RUNTIME_PATHS,
    RuntimeTeam,
    check_equivalence,
    time_team,
    torchscript_bytes,
)

__all__ = ["DEPLOY_PATHS", "RUNTIME_PATHS", "deploy", "deploy_entry", "deploy_paths", "recorded_observations",
           "require_paths"]


DEPLOY_PATHS = deploy_paths()


def deploy(actors: list[nn.Module], path: str) -> list[nn.Module]:
    """The actors as they run under a PyTorch deployment path (``eager``, ``torchscript``)."""
    if path not in deploy_paths():
        raise ValueError(f"unknown deployment path {path!r}; valid: {', '.join(deploy_paths())}")
    runtime = RUNTIMES.get(path)
    if runtime.compile is None:
        raise ValueError(f"{path!r} runs outside PyTorch: use deploy_entry() or runtimes.RuntimeTeam")
    return runtime.compile(actors)


def require_paths(paths: tuple[str, ...] | list[str]) -> None:
    """Exit-3 error (BackendUnavailable) with the install command for a path whose runtime is missing."""
    for path in paths:
        if path not in deploy_paths():
            raise ValueError(f"unknown deployment path {path!r}; valid: {', '.join(deploy_paths())}")
        if not RUNTIMES.get(path).in_torch:
            require_runtime(path)


class _TorchTeam:
    """The torchscript path seen through the RuntimeTeam interface the equivalence check uses."""

    def __init__(self, modules: list[nn.Module], obs_dims: list[int]):
        self.modules = modules
        self.obs_dims = [int(d) for d in obs_dims]

    def logits(self, agent: int, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.modules[agent](torch.from_numpy(np.ascontiguousarray(obs, dtype=np.float32))).numpy()


def deploy_entry(actors: list[nn.Module], obs_dims: list[int], path: str, *, warmup: int = 100, iters: int = 1000,
                 repeats: int = 3, recorded: list[np.ndarray] | None = None) -> dict:
    """Latency entry of one non-eager path, with its equivalence check and exported bytes."""
    require_paths([path])
    actors, obs_dims = list(actors), [int(d) for d in obs_dims]
    if path == "eager":
        raise ValueError("the eager path is the reference: time it with time_decentralized")
    if RUNTIMES.get(path).in_torch:
        modules = deploy(actors, path)
        eq = check_equivalence(actors, _TorchTeam(modules, obs_dims), recorded=recorded,  # type: ignore[arg-type]
                               atol=RUNTIMES.get(path).atol)
        entry = time_decentralized(modules, obs_dims, device="cpu", threads=1, warmup=warmup, iters=iters,
                                   repeats=repeats)
        size = sum(torchscript_bytes(m) for m in {id(m): m for m in modules}.values())
    else:
        team = RuntimeTeam.build(actors, obs_dims, path, threads=1)
        eq = check_equivalence(actors, team, recorded=recorded, atol=RUNTIMES.get(path).atol)
        entry = time_team(team, warmup=warmup, iters=iters, repeats=repeats, threads=1)
        size = team.file_bytes
    return {**entry, "path": path, "equivalence": eq.to_dict(), "file_bytes": size}


def recorded_observations(policy, task_id: str, n: int = 256, seed: int = 0, num_envs: int = 8) -> list[np.ndarray]:
    """``n`` observations per agent recorded from greedy rollouts of ``policy`` in the real task.

    Realistic inputs for the equivalence check (value ranges, sparsity and one-hot features as
    the environment produces them, unlike standard-normal noise).
    """
    env = get_task(task_id).make(num_envs)
    view = policy_view(task_id, policy)
    rows: list[list[np.ndarray]] = [[] for _ in policy.obs_dims]
    try:
        step = env.reset(seed)
        policy.eval()
        while sum(len(r) for r in rows[0]) < n:
            obs = view(step.obs, step.state)
            for i, o in enumerate(obs):
                rows[i].append(o.detach().cpu().numpy().astype(np.float32))
            with torch.inference_mode():
                actions = policy.act(obs, view.avail(step.avail, step.obs, step.state), greedy=True)
            step = env.step(actions)
    finally:
        env.close()
    return [np.concatenate(r)[:n] for r in rows]
