"""What a deployment runtime declares, and the registry every other place reads.

A runtime is one module in this package plus one line in its ``__init__``: its path name (what
``profile --paths`` and a latency entry's ``path`` say), the short code of the leaderboard's
"best path" column, the pip extra and Python modules it needs, and how it runs a policy:

* a PyTorch path (``eager``, ``torchscript``) gives ``compile``: actors → the actors as deployed;
* an exported path (``onnxruntime``, ``executorch``) gives ``export`` (module, input width →
  serialized model bytes) and ``session`` (model bytes, threads → an object with
  ``prepare``/``call``/``run``), and, when ``kdmarl-bench export`` writes it from a checkpoint,
  the ``--format`` name and file extension.

``atol`` is the equivalence check's tolerance against the eager actors (None: reported, not
judged, e.g. int8). Below the registry: what every runtime module shares (is it installed here,
the exit-3 error naming its extra, exporter chatter silenced). This module imports no torch: the
CLI builds its choices from it at startup, and so do the runtime modules, which import torch and
their runtime only when they export or open a session.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from kdmarl_bench.errors import BackendUnavailable
from kdmarl_bench.registry import Registry

__all__ = ["EQUIVALENCE_ATOL", "RUNTIMES", "DeployRuntime", "Session", "checkpoint_formats", "checkpoint_runtime",
           "install_hint", "missing_modules", "quiet_exporters", "require_runtime", "runtimes"]

EQUIVALENCE_ATOL = 1e-5
"""Largest allowed |exported logit - eager logit| for an fp32 export, for logits up to 1 in magnitude.

fp32 rounding grows with magnitude (one ulp at |z| = 64 is 7.6e-6), so a different but equally
exact summation order in another runtime differs by a few ulps of the largest logit: the bound is
``EQUIVALENCE_ATOL * max(1, max |eager logit|)``. ``max_abs_diff`` and ``max_abs_logit`` are both
recorded, so the strict absolute reading can be applied by a reader too."""


class Session(Protocol):
    """An exported model opened by a runtime: ``prepare`` once per input, ``call`` what is timed."""

    def prepare(self, obs: Any) -> Any:
        """The runtime's own input for ``obs`` (float32, batch × width)."""

    def call(self, prepared: Any) -> Any:
        """Logits for a prepared input (the runtime's own array type)."""

    def run(self, obs: Any) -> Any:
        """Logits for ``obs`` as a numpy array."""


@dataclass(frozen=True)
class DeployRuntime:
    """One way a policy runs on the robot."""

    name: str
    """Path name: ``profile --paths`` value and a latency entry's ``path``."""
    short: str
    """Code in the leaderboard's "best path" column (``ort``); the name itself when no shorter one."""
    rank: int
    """Order in listings (help text, report rows): lower first."""
    note: str = ""
    """Said after the name in ``profile --paths`` help (``legacy``)."""
    extra: str | None = None
    """The pip extra that installs it (``deploy``); None: part of the base install."""
    modules: tuple[str, ...] = ()
    """Python modules it needs importable (checked before use: exit 3 with the install command)."""
    selectable: bool = True
    """False for a path recorded by another step (the int8 twin), not chosen with ``--paths``."""
    compile: Callable[[list[Any]], list[Any]] | None = None
    """PyTorch paths: the actors as deployed (shared modules compiled once)."""
    export: Callable[[Any, int], bytes] | None = None
    """Exported paths: ``(module, in_dim) -> serialized model``."""
    session: Callable[[bytes, int], Session] | None = None
    """Exported paths: ``(model, threads) -> session`` with ``prepare``/``call``/``run``."""
    export_format: str | None = None
    """``kdmarl-bench export --format`` name when a checkpoint can be exported for it."""
    file_ext: str | None = None
    """Extension of an exported model file (``.onnx``)."""
    atol: float | None = EQUIVALENCE_ATOL
    """Equivalence tolerance against eager (None: reported without a pass/fail bound)."""

    @property
    def exported(self) -> bool:
        """True when it runs an exported model outside PyTorch (has a ``session``)."""
        return self.session is not None

    @property
    def in_torch(self) -> bool:
        """True when it runs inside PyTorch (timed with ``time_decentralized``)."""
        return self.compile is not None


RUNTIMES: Registry[DeployRuntime] = Registry("deployment path")


def runtimes(*, selectable: bool | None = None, exported: bool | None = None) -> list[DeployRuntime]:
    """Registered runtimes in listing order, optionally only (non-)selectable or (non-)exported ones."""
    out = sorted((rt for _, rt in RUNTIMES.items()), key=lambda rt: (rt.rank, rt.name))
    if selectable is not None:
        out = [rt for rt in out if rt.selectable == selectable]
    if exported is not None:
        out = [rt for rt in out if (rt.session is not None) == exported]
    return out


def deploy_paths() -> tuple[str, ...]:
    """Every path ``--paths`` (and a suite's ``[profile] paths``) accepts, in listing order (read from the
    registry now)."""
    return tuple(rt.name for rt in runtimes(selectable=True))


def checkpoint_formats() -> tuple[str, ...]:
    """``kdmarl-bench export --format`` values that take a checkpoint, in listing order."""
    return tuple(rt.export_format for rt in runtimes() if rt.export_format)


def checkpoint_runtime(fmt: str) -> DeployRuntime:
    """The runtime a checkpoint is exported for with ``export --format fmt``."""
    for rt in runtimes():
        if rt.export_format == fmt:
            return rt
    raise ValueError(f"unknown checkpoint export format {fmt!r}; valid: {', '.join(checkpoint_formats())}")


# ---- what runtime modules share: availability, quiet exporters ---------------------------------


def install_hint(path: str) -> str:
    """``pip install 'kdmarl-bench[EXTRA]'  (modules of every runtime that extra installs)``."""
    extra = RUNTIMES.get(path).extra
    modules = dict.fromkeys(m for rt in runtimes() if rt.extra == extra for m in rt.modules)
    return f"pip install 'kdmarl-bench[{extra}]'  ({', '.join(modules)})"


def missing_modules(path: str) -> list[str]:
    """The Python modules an exported runtime path needs that are not importable here."""
    if path not in RUNTIMES or not RUNTIMES.get(path).exported:
        valid = ", ".join(rt.name for rt in runtimes(selectable=True, exported=True))
        raise ValueError(f"unknown runtime path {path!r}; valid: {valid}")
    return [m for m in RUNTIMES.get(path).modules if importlib.util.find_spec(m) is None]


def require_runtime(path: str) -> None:
    """Raise BackendUnavailable (exit 3) with the install command when ``path`` cannot run here."""
    missing = missing_modules(path)
    if missing:
        raise BackendUnavailable(
            f"deployment path {path!r} needs {', '.join(missing)}, not installed here; install with: {install_hint(path)}"
        )


@contextlib.contextmanager
def quiet_exporters() -> Iterator[None]:
    """Silence exporter chatter (torchvision/torchao probes, deprecation notices) for one export."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch._export", "torch.export", "torchao",
                                               "torch.utils._pytree", "root")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lvl in zip(loggers, levels, strict=True):
            lg.setLevel(lvl)
