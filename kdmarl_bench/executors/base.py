"""The executor interface, the worker entry point every executor calls, and the inline executor.

A job is a :class:`~kdmarl_bench.cells.CellSpec`, a ``TeacherJob`` or a ``RandomScoreJob``: plain
picklable data. Workers report ``JobStarted`` and ``JobProgress`` events to a queue the driver drains;
results come back through the executor as ``JobDone`` or ``JobFailed`` (``kdmarl_bench/executors/events.py``).
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections import deque
from typing import Any

from kdmarl_bench.errors import KdmarlError
from kdmarl_bench.executors.events import JobDone, JobEnd, JobFailed, JobProgress, JobStarted, WorkerEvent

WORKER_ENV = {
    # One thread per worker for JAX/XLA (env simulation) and BLAS: workers do not fight for cores,
    # and results do not depend on how many workers run (XLA and torch split reductions by thread).
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
"""Environment of every worker process, set before torch or jax is imported there."""
PROGRESS_EVERY_S = 0.5
"""At most one training-progress event per worker per this many seconds."""


PARENT_POLL_S = 1.0
"""How often a worker's watchdog checks that its driver is still alive."""


def die_with_parent(parent_pid: int) -> None:
    """Make this worker process end when ``parent_pid`` (its driver) does, even by SIGKILL: on Linux the
    kernel's parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), and everywhere a daemon thread that
    kills this process once its parent is no longer ``parent_pid`` (re-parented to init or a subreaper).
    An orphaned worker would otherwise train on for minutes holding gigabytes."""
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl here: the watchdog alone covers it
            pass
    if os.getppid() != parent_pid:  # the driver died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent_pid:
                os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="kdmarl-parent-watchdog", daemon=True).start()


def usable_cores() -> int:
    """CPU cores this process may run on (affinity / cgroup cpusets), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _report(events: Any, event: WorkerEvent) -> None:
    """Send a progress event; a lost queue (its node or the driver's pipe gone) costs the line, never the job."""
    try:
        events.put(event)
    except Exception:  # noqa: BLE001 - progress is cosmetic; the result travels another way
        pass


def worker_entry(job_id: int, job: Any, teacher: Any, device: str, threads: int, events: Any) -> Any:
    """Run one job in a worker: pin torch threads, report start and training progress to ``events``
    (anything with ``put``; None = silent) and return the job's result."""
    # torch and the cells' stack load here, in the worker, after its initializer set signals and thread pins
    import torch

    from kdmarl_bench.cells import execute_job

    torch.set_num_threads(threads)
    if events is None:
        return execute_job(job, teacher, device, None)
    _report(events, JobStarted(job_id, os.getpid()))
    last = [0.0]

    def progress(steps: int, metrics: dict) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:  # a progress line, not a flood through the queue
            last[0] = now
            _report(events, JobProgress(job_id, int(steps)))

    return execute_job(job, teacher, device, progress)


class Executor(ABC):
    """Runs jobs somewhere and hands results back to the driver."""

    name: str = "?"
    workers: int = 1
    """How many jobs run at once."""
    resolves_dependencies: bool = False
    """True when a cell may be submitted with a pending teacher job's handle as its teacher."""

    @abstractmethod
    def submit(self, job_id: int, job: Any, teacher: Any = None) -> None:
        """Queue a job; ``teacher`` is a CheckpointBlob, None, or (when ``resolves_dependencies``)
        ``self.handle(teacher_job_id)``."""

    def handle(self, job_id: int) -> Any:
        raise NotImplementedError(f"{self.name} executor does not pass pending results between jobs")

    @abstractmethod
    def wait(self, timeout: float) -> list[JobEnd]:
        """Finished jobs (``JobDone`` or ``JobFailed``); waits up to ``timeout`` s for the first."""

    def events(self) -> list[WorkerEvent]:
        """Worker events since the last call (``JobStarted``, ``JobProgress``)."""
        return []

    def pending(self) -> int:
        return 0

    def stop(self) -> None:  # noqa: B027 (nothing to stop for an executor without workers)
        """Stop every worker now (Ctrl-C): running jobs are abandoned, finished results are kept."""

    def close(self) -> None:  # noqa: B027
        """Release the workers after a normal end."""

    def describe(self) -> str:
        return f"{self.name} executor, {self.workers} worker(s)"

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.stop()


class InlineExecutor(Executor):
    """Runs each job in this process when the driver waits for it (library default, tests)."""

    name = "inline"

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._queue: deque = deque()
        self._events: list[WorkerEvent] = []

    def submit(self, job_id: int, job: Any, teacher: Any = None) -> None:
        self._queue.append((job_id, job, teacher))

    def wait(self, timeout: float) -> list[JobEnd]:
        from kdmarl_bench.cells import execute_job  # the cells' stack (torch, envs) loads on the first job

        if not self._queue:
            return []
        job_id, job, teacher = self._queue.popleft()
        self._events.append(JobStarted(job_id, os.getpid()))
        try:
            result = execute_job(job, teacher, self.device,
                                 lambda steps, metrics: self._events.append(JobProgress(job_id, int(steps))))
        except KdmarlError as exc:
            return [JobFailed(job_id, exc)]
        return [JobDone(job_id, result)]

    def events(self) -> list[WorkerEvent]:
        out, self._events = self._events, []
        return out

    def pending(self) -> int:
        return len(self._queue)
