"""What an executor reports to the driver: one small frozen dataclass per kind of event.

Workers send ``JobStarted`` and ``JobProgress`` through a queue (``Executor.events``); the executor hands
back each finished job as ``JobDone`` or ``JobFailed`` (``Executor.wait``). All are plain picklable data.
The runner handles each kind with one small method (``Runner._handle``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobStarted:
    """A worker began a job (a retried job may start twice)."""

    job_id: int
    pid: int
    """The worker process."""


@dataclass(frozen=True)
class JobProgress:
    """A training job's env steps so far (at most one per worker per ``PROGRESS_EVERY_S``)."""

    job_id: int
    steps: int


@dataclass(frozen=True)
class JobDone:
    """A job finished; ``result`` is its ``CellResult``, teacher ``CheckpointBlob`` or random-policy score."""

    job_id: int
    result: Any


@dataclass(frozen=True)
class JobFailed:
    """A job raised, or its worker (or node) was lost."""

    job_id: int
    error: BaseException


WorkerEvent = JobStarted | JobProgress
"""What ``Executor.events`` returns."""
JobEnd = JobDone | JobFailed
"""What ``Executor.wait`` returns."""
