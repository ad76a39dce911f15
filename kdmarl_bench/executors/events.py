"""What an executor reports to the driver: one small immutable record type (a named tuple) per kind of event.

Workers send ``JobStarted`` and ``JobProgress`` through a queue (``Executor.events``); the executor hands
back each finished job as ``JobDone`` or ``JobFailed`` (``Executor.wait``). All are plain picklable data.
The runner handles each kind with one small method (``Runner._handle``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

# One line per payload-only event (the functional form keeps three look-alike classes from repeating).
# A worker began a job (a retried job may start twice); ``pid`` is the worker process.
JobStarted = NamedTuple("JobStarted", [("job_id", int), ("pid", int)])  # noqa: UP014
# A training job's env steps so far (sent at most once per worker per ``PROGRESS_EVERY_S``).
JobProgress = NamedTuple("JobProgress", [("job_id", int), ("steps", int)])  # noqa: UP014
# A job finished; ``result`` is its ``CellResult``, teacher ``CheckpointBlob`` or random-policy score.
JobDone = NamedTuple("JobDone", [("job_id", int), ("result", Any)])  # noqa: UP014


class JobFailed(NamedTuple):
    """A job raised, or its worker (or node) was lost."""

    job_id: int
    error: BaseException

    @property
    def why(self) -> str:
        """One line for the user: the exception's type and message."""
        return f"{type(self.error).__name__}: {self.error}"


WorkerEvent = JobStarted | JobProgress
"""What ``Executor.events`` returns."""


JobEnd = JobDone | JobFailed
"""What ``Executor.wait`` returns."""
