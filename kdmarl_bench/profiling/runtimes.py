"""Exported students as a team: every agent's graph under one registered runtime, checked and timed.

A policy's deployed actors become *units*: one exported graph per distinct module. A student has
one unit per agent; a parameter-shared teacher has one unit per agent group, and agent i feeds it
``obs_i ++ one_hot(i, n_agents)`` (exactly what the eager ``_SharedActorView`` computes), so shared
weights are exported once. Each unit is exported and opened by its runtime's module
(:mod:`kdmarl_bench.deploy_runtimes`: ONNX Runtime, ExecuTorch, ...), read from the registry.

``RuntimeTeam`` holds the sessions of one policy and answers ``logits(i, obs)``; ``time_team`` times
one decentralized team decision through it with the same statistics as
:mod:`kdmarl_bench.profiling.latency`; ``check_equivalence`` compares it with the eager actors.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import torch
from torch import nn

from kdmarl_bench.deploy_runtimes import EQUIVALENCE_ATOL, RUNTIMES, runtimes
from kdmarl_bench.deploy_runtimes.base import Session, quiet_exporters, require_runtime
from kdmarl_bench.models.policy import TeamPolicy
from kdmarl_bench.profiling.latency import latency_entry, sample_cpu, timer_median_ms

__all__ = [
    "EQUIVALENCE_ATOL",
    "RUNTIME_PATHS",
    "Equivalence",
    "ExportUnit",
    "RuntimePolicy",
    "RuntimeTeam",
    "check_equivalence",
    "export_units",
    "make_session",
    "runtime_versions",
    "time_team",
]

RUNTIME_PATHS = tuple(rt.name for rt in runtimes(selectable=True, exported=True))
"""Selectable deployment paths that run outside PyTorch (from the runtime registry)."""


def _exported(path: str) -> bool:
    """True when ``path`` is a registered runtime that runs an exported model (has a session)."""
    return path in RUNTIMES and RUNTIMES.get(path).exported


# ---- versions ---------------------------------------------------------------------------------


def runtime_versions(path: str) -> dict[str, str]:
    """Versions of the packages a path's artifacts depend on (for manifests and latency entries)."""
    out = {"torch": torch.__version__}
    for mod in (RUNTIMES.get(path).modules if path in RUNTIMES else ()):
        try:
            out[mod] = version(mod)
        except PackageNotFoundError:
            out[mod] = "missing"
    return out


# ---- units: what gets exported ----------------------------------------------------------------


@dataclass
class ExportUnit:
    """One exported graph and the agents that call it."""

    module: nn.Module | None
    """The module exported (a student's actor, or a shared teacher MLP); None when loaded from files."""
    in_dim: int
    """Width of the graph's input ``obs``."""
    n_actions: int
    agents: list[int]
    """Agent indices served by this graph."""
    append_agent_id: bool
    """True when agent i's input is ``obs_i ++ one_hot(i, n_agents)``."""


def export_units(actors: list[nn.Module], obs_dims: list[int]) -> list[ExportUnit]:
    """Group the deployed actors into distinct exported graphs (shared modules once)."""
    units: dict[int, ExportUnit] = {}
    for i, (actor, dim) in enumerate(zip(actors, obs_dims, strict=True)):
        inner = getattr(actor, "actor", None)
        agent_id = getattr(actor, "agent_id", None)
        if isinstance(inner, nn.Module) and isinstance(agent_id, torch.Tensor):  # a shared actor's agent view
            module, in_dim, append = inner, int(dim) + int(agent_id.shape[-1]), True
        else:
            module, in_dim, append = actor, int(dim), False
        with torch.no_grad():
            n_actions = int(actor.eval()(torch.zeros(1, int(dim))).shape[-1])
        unit = units.setdefault(id(module), ExportUnit(module, in_dim, n_actions, [], append))
        unit.agents.append(i)
    return list(units.values())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- a policy's sessions ----------------------------------------------------------------------


def make_session(path: str, model: bytes, threads: int = 1) -> Session:
    """A session of ``path``'s runtime on one serialized model (the registry's ``session``)."""
    if not _exported(path):
        raise ValueError(f"unknown runtime path {path!r}; valid: {', '.join(RUNTIME_PATHS)}")
    return RUNTIMES.get(path).session(model, threads)


@dataclass
class RuntimeTeam:
    """Every agent's exported policy under one runtime."""

    path: str
    """``onnxruntime`` or ``executorch`` (``onnxruntime`` also for int8 ONNX models)."""
    units: list[ExportUnit]
    models: list[bytes]
    """Serialized model of each unit (what a device loads)."""
    sessions: list[Session]
    n_agents: int
    obs_dims: list[int]

    @classmethod
    def build(cls, actors: list[nn.Module], obs_dims: list[int], path: str, threads: int = 1,
              models: list[bytes] | None = None) -> RuntimeTeam:
        """Export (unless ``models`` are given, one per unit) and open a session per unit."""
        require_runtime(path)
        units = export_units(list(actors), [int(d) for d in obs_dims])
        if models is None:
            exporter = RUNTIMES.get(path).export
            models = [exporter(u.module, u.in_dim) for u in units]
        sessions = [make_session(path, m, threads) for m in models]
        return cls(path, units, list(models), sessions, len(obs_dims), [int(d) for d in obs_dims])

    def _unit_of(self, agent: int) -> tuple[ExportUnit, Session]:
        for unit, sess in zip(self.units, self.sessions, strict=True):
            if agent in unit.agents:
                return unit, sess
        raise IndexError(f"agent {agent} has no exported unit")

    def agent_input(self, agent: int, obs: np.ndarray) -> np.ndarray:
        """Agent ``agent``'s graph input for observations ``obs`` of shape (batch, obs_dim)."""
        unit, _ = self._unit_of(agent)
        obs = np.ascontiguousarray(obs, dtype=np.float32)
        if not unit.append_agent_id:
            return obs
        one_hot = np.zeros((obs.shape[0], self.n_agents), dtype=np.float32)
        one_hot[:, agent] = 1.0
        return np.concatenate([obs, one_hot], axis=1)

    def logits(self, agent: int, obs: np.ndarray) -> np.ndarray:
        _, sess = self._unit_of(agent)
        return np.asarray(sess.run(self.agent_input(agent, obs)))

    def decision_calls(self, obs: list[np.ndarray]) -> list[Callable[[], object]]:
        """One zero-argument call per agent on fixed inputs (what ``time_team`` times).

        A shared teacher graph gets its agent one-hot appended inside the call, as on a device.
        """
        calls: list[Callable[[], object]] = []
        for i, o in enumerate(obs):
            unit, sess = self._unit_of(i)
            if unit.append_agent_id:
                one_hot = np.zeros((o.shape[0], self.n_agents), dtype=np.float32)
                one_hot[:, i] = 1.0
                o32 = np.ascontiguousarray(o, dtype=np.float32)

                def call(sess=sess, o32=o32, one_hot=one_hot):
                    return sess.call(sess.prepare(np.concatenate([o32, one_hot], axis=1)))
            else:
                prepared = sess.prepare(o)

                def call(sess=sess, prepared=prepared):
                    return sess.call(prepared)
            calls.append(call)
        return calls

    @property
    def file_bytes(self) -> int:
        """Bytes of all exported files (shared graphs once)."""
        return sum(len(m) for m in self.models)


# ---- equivalence with eager -------------------------------------------------------------------


@dataclass
class Equivalence:
    """How closely an exported policy reproduces the eager actors' logits."""

    max_abs_diff: float
    """Largest |exported - eager| logit over all agents and observations."""
    max_abs_logit: float
    """Largest |eager logit| seen (the scale of the tolerance)."""
    actions_equal: bool
    """True when every greedy (argmax) action agrees."""
    action_agreement: float
    """Fraction of (agent, observation) pairs whose greedy actions agree."""
    n: int
    """Observations checked per agent (random + recorded)."""
    n_recorded: int
    """Of which recorded in the real environment (0 when none were given)."""
    atol: float | None
    """Tolerance on max_abs_diff per unit of logit scale (None: not a pass/fail check, e.g. int8)."""
    passed: bool
    """max_abs_diff <= atol * max(1, max_abs_logit) and actions_equal (False when atol is None)."""

    def to_dict(self) -> dict:
        return asdict(self)


def random_observations(obs_dims: list[int], n: int = 256, seed: int = 0) -> list[np.ndarray]:
    """``n`` standard-normal observations per agent (float32), reproducible."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, int(d))).astype(np.float32) for d in obs_dims]


def check_equivalence(actors: list[nn.Module], team: RuntimeTeam, *, recorded: list[np.ndarray] | None = None,
                      n_random: int = 256, atol: float | None = EQUIVALENCE_ATOL, seed: int = 0) -> Equivalence:
    """Compare the exported team with the eager actors on random (+ recorded) observations."""
    obs = random_observations(team.obs_dims, n_random, seed)
    n_recorded = 0
    if recorded is not None:
        if len(recorded) != len(obs):
            raise ValueError(f"{len(recorded)} recorded observation arrays for {len(obs)} agents")
        n_recorded = min(int(r.shape[0]) for r in recorded)
        obs = [np.concatenate([o, np.asarray(r[:n_recorded], dtype=np.float32)]) for o, r in zip(obs, recorded,
                                                                                                strict=True)]
    max_diff, max_logit, agree, total = 0.0, 0.0, 0, 0
    with torch.inference_mode():
        for i, (actor, o) in enumerate(zip(actors, obs, strict=True)):
            ref = actor.eval()(torch.from_numpy(o)).numpy()
            got = team.logits(i, o)
            max_diff = max(max_diff, float(np.max(np.abs(got - ref))))
            max_logit = max(max_logit, float(np.max(np.abs(ref))))
            agree += int(np.sum(np.argmax(got, -1) == np.argmax(ref, -1)))
            total += int(o.shape[0])
    equal = agree == total
    passed = bool(atol is not None and max_diff <= atol * max(1.0, max_logit) and equal)
    return Equivalence(max_diff, max_logit, equal, agree / total, n_random + n_recorded, n_recorded, atol, passed)


# ---- timing -----------------------------------------------------------------------------------


def time_team(team: RuntimeTeam, *, warmup: int = 100, iters: int = 1000, repeats: int = 3, threads: int = 1,
              batch: int = 1) -> dict:
    """Latency of one decentralized team decision through ``team``'s sessions (CPU).

    Same method and fields as :func:`kdmarl_bench.profiling.latency.time_decentralized`: ``warmup``
    untimed decisions, ``repeats`` blocks of ``iters`` decisions timed with ``perf_counter_ns``,
    and a ``torch.utils.benchmark.Timer`` cross-check. The sessions' own thread count is what was
    given to ``RuntimeTeam.build``; ``threads`` is recorded with the entry.
    """
    if iters < 1 or repeats < 1 or warmup < 0 or batch < 1:
        raise ValueError(f"need iters >= 1, repeats >= 1, warmup >= 0, batch >= 1 (got {iters}, {repeats}, "
                         f"{warmup}, {batch})")
    calls = team.decision_calls(random_observations(team.obs_dims, batch, seed=1))

    def decision() -> None:
        for call in calls:
            call()

    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        for _ in range(warmup):
            decision()
        blocks = [sample_cpu(decision, iters) for _ in range(repeats)]
        timer_ms = timer_median_ms(decision, threads)
    finally:
        torch.set_num_threads(previous)
    entry = latency_entry(blocks, timer_ms, torch.device("cpu"), int(threads), batch, "decentralized", iters, repeats)
    return {**entry, "runtime": runtime_versions(team.path)}


def torchscript_bytes(module: nn.Module) -> int:
    """Size of a TorchScript module saved with ``torch.jit.save``."""
    buf = io.BytesIO()
    with quiet_exporters():
        torch.jit.save(module, buf)
    return len(buf.getvalue())


def write_atomic_bytes(dest: Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` through a temporary file in the same folder."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the artifact from the device's user
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---- a TeamPolicy that runs through a runtime (for evaluation) --------------------------------


class RuntimePolicy(TeamPolicy):
    """A TeamPolicy whose logits come from a :class:`RuntimeTeam`'s sessions.

    ``kdmarl_bench.evaluate.evaluate`` runs it under the usual protocol (greedy, masked by the
    available actions), so an exported or quantized student is scored exactly like its checkpoint.
    """

    def __init__(self, team: RuntimeTeam, n_actions: list[int], view: str = "full"):
        super().__init__()
        self.team = team
        self.view = view
        self.obs_dims = tuple(team.obs_dims)
        self.n_actions = tuple(int(a) for a in n_actions)

    def logits(self, obs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.from_numpy(np.asarray(self.team.logits(i, o.detach().cpu().numpy())))
                for i, o in enumerate(obs)]

    def features(self, obs):
        raise NotImplementedError("an exported policy exposes logits only")

    def deploy_actors(self) -> list[nn.Module]:
        raise NotImplementedError("an exported policy has no torch actors")

    def architecture(self) -> dict:
        return {"class": "RuntimePolicy", "path": self.team.path, "obs_dims": list(self.obs_dims),
                "n_actions": list(self.n_actions)}
