"""``run --log-dir DIR``: TensorBoard event files per cell, written by the worker that trains it.

One folder per cell, ``DIR/<family>_<task>/<method>/<size>/seed<S>`` (the same layout as the
students), holding ``torch.utils.tensorboard`` events: every loss the method reports through its
progress callback (``loss/<name>``), the env-steps per wall second (``train/env_steps_per_s``), the
learning curve (``eval/score`` and, where the teacher's score is known, nothing more: retention is a
board-level number) and the final score. The x axis is env-steps. Off by default; it needs the
``tensorboard`` package (``pip install "kdmarl-bench[tensorboard]"``). With Ray, each worker writes on
its own machine's disk.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kdmarl_bench.errors import BackendUnavailable
from kdmarl_bench.results.model.records import CurvePoint
from kdmarl_bench.safeio import confine

INSTALL_HINT = 'pip install "kdmarl-bench[tensorboard]" (or: pip install tensorboard)'


def check_tensorboard() -> None:
    """BackendUnavailable (exit 3) when ``torch.utils.tensorboard`` cannot write event files here."""
    if importlib.util.find_spec("tensorboard") is None:
        raise BackendUnavailable(f"--log-dir writes TensorBoard event files and needs the tensorboard package: "
                                 f"{INSTALL_HINT}")


def cell_log_dir(root: str | Path, checkpoint_stem: str) -> Path:
    """A cell's event folder under ``root``: the student's stem without the leading ``students/``."""
    rel = Path(checkpoint_stem)
    rel = rel.relative_to("students") if rel.parts and rel.parts[0] == "students" else rel
    return confine(root, Path(root) / rel, "log folder")


class CellLog:
    """The event writer of one cell (created in the worker)."""

    def __init__(self, folder: str | Path):
        from torch.utils.tensorboard import SummaryWriter

        Path(folder).mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(log_dir=str(folder))
        self._t0 = time.perf_counter()

    def progress(self, env_steps: int, metrics: dict[str, Any]) -> None:
        for name, value in metrics.items():
            if isinstance(value, (int, float)):
                self.writer.add_scalar(f"loss/{name}" if name != "beta" else "train/beta", float(value), env_steps)
        elapsed = time.perf_counter() - self._t0
        if elapsed > 0:
            self.writer.add_scalar("train/env_steps_per_s", env_steps / elapsed, env_steps)

    def curve(self, points: list[CurvePoint]) -> None:
        for p in points:
            self.writer.add_scalar("eval/score", float(p.score), int(p.env_steps))

    def final(self, score: float | None, env_steps: int) -> None:
        if score is not None:
            self.writer.add_scalar("eval/final_score", float(score), env_steps)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def tee(log: CellLog | None, progress: Callable[[int, dict], None] | None) -> Callable[[int, dict], None] | None:
    """A progress callback that writes to ``log`` and forwards to ``progress``."""
    if log is None:
        return progress

    def both(env_steps: int, metrics: dict) -> None:
        log.progress(env_steps, metrics)
        if progress is not None:
            progress(env_steps, metrics)

    return both
